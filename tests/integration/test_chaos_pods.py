"""Pod-kill chaos against the real local stack: the operator and named+bindcar are really killed
(their PIDs vanish), come back under new Pods, and serve again; nothing else is touched."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import kr8s.asyncio
import pytest

from pytest_bindy_load.bindcar import BindcarClient
from pytest_bindy_load.chaos import ChaosInjector, FaultWindow, NoChaosTargetError
from pytest_bindy_load.cluster import TestCluster
from pytest_bindy_load.dns import DnsClient
from pytest_bindy_load.errors import TargetError
from pytest_bindy_load.localstack.stack import LocalStack
from pytest_bindy_load.profiles import ChaosConfig, ChaosTarget

RECOVERY_TIMEOUT_S = 60.0
GROUP = {ChaosTarget.OPERATOR: "bindy", ChaosTarget.BIND9: "bind9"}
SELECTOR = {ChaosTarget.OPERATOR: "app=bindy", ChaosTarget.BIND9: "app=bind9"}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie still answers kill(0); it is dead for our purpose
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


async def _pods(kube: kr8s.asyncio.Api, selector: str) -> dict[str, str]:
    """name -> uid of the pods matching ``selector`` in bindy-system."""
    out: dict[str, str] = {}
    async for p in kube.async_get("pods", namespace="bindy-system", label_selector=selector):
        raw = p if isinstance(p, dict) else p.raw
        out[raw["metadata"]["name"]] = raw["metadata"]["uid"]
    return out


def _pids(stack: LocalStack, target: ChaosTarget) -> list[int]:
    pids = [p.pid for p in stack.supervisor.group(GROUP[target]).processes]
    assert pids
    assert all(pid is not None for pid in pids)
    return [pid for pid in pids if pid is not None]


def _assert_recovered(window: FaultWindow, target: ChaosTarget) -> None:
    assert window.target is target
    assert window.namespace == "bindy-system"
    assert window.recovered, window
    assert window.replacement is not None
    assert window.replacement != window.pod
    assert window.recovery_s is not None
    assert 0 < window.recovery_s < RECOVERY_TIMEOUT_S
    assert window.contains(window.started_ns)
    assert window.contains(window.recovered_ns)


async def _wait_operator_ready(stack: LocalStack, kube: kr8s.asyncio.Api) -> None:
    """For tests that leave a kill unfinished: give the next test a Ready operator."""
    cluster = TestCluster(kube, stack.target)
    deadline = time.monotonic() + RECOVERY_TIMEOUT_S
    while True:
        try:
            await cluster.check_operator()
            return
        except TargetError:
            assert time.monotonic() < deadline, "the operator did not come back"
            await asyncio.sleep(0.2)


@pytest.fixture
def chaos(stack: LocalStack, kube: kr8s.asyncio.Api) -> ChaosInjector:
    return ChaosInjector(kube, stack.target)


async def test_killing_the_operator_pod_replaces_its_process_and_the_new_one_serves_metrics(
    stack: LocalStack, kube: kr8s.asyncio.Api, chaos: ChaosInjector
) -> None:
    before = await _pods(kube, SELECTOR[ChaosTarget.OPERATOR])
    bind9_before = await _pods(kube, SELECTOR[ChaosTarget.BIND9])
    old_pids = _pids(stack, ChaosTarget.OPERATOR)

    window = await chaos.kill(ChaosTarget.OPERATOR, recovery_timeout_s=RECOVERY_TIMEOUT_S)

    _assert_recovered(window, ChaosTarget.OPERATOR)
    assert window.pod in before
    after = await _pods(kube, SELECTOR[ChaosTarget.OPERATOR])
    assert set(after) == {window.replacement}
    assert set(after.values()).isdisjoint(before.values())
    assert not [pid for pid in old_pids if _alive(pid)]
    assert set(_pids(stack, ChaosTarget.OPERATOR)).isdisjoint(old_pids)
    assert stack.target.operator_metrics_url is not None
    async with httpx.AsyncClient(timeout=5.0) as client:
        assert (await client.get(stack.target.operator_metrics_url)).status_code == 200
    # Only the operator's pod was deleted.
    assert await _pods(kube, SELECTOR[ChaosTarget.BIND9]) == bind9_before
    assert chaos.windows == (window,)
    print(f"operator recovery: {window.recovery_s:.2f} s")


async def test_killing_the_bind9_pod_restarts_an_empty_named_that_answers_again(
    stack: LocalStack, kube: kr8s.asyncio.Api, chaos: ChaosInjector
) -> None:
    t = stack.target
    assert t.bindcar_url is not None
    assert t.dns_server is not None
    assert t.tsig is not None
    zone = "chaos-before-kill.test"
    dns = DnsClient(t.dns_server)
    operator_before = await _pods(kube, SELECTOR[ChaosTarget.OPERATOR])
    old_pids = _pids(stack, ChaosTarget.BIND9)
    async with BindcarClient(t.bindcar_url, t.bindcar_token) as client:
        # Made through bindcar alone, so no DNSZone exists and the operator never restores it.
        await client.create_zone(
            zone,
            soa={
                "primaryNs": f"ns1.{zone}.",
                "adminEmail": f"admin.{zone}.",
                "serial": 2026010101,
                "refresh": 3600,
                "retry": 600,
                "expire": 604800,
                "negativeTtl": 300,
            },
            name_servers=[f"ns1.{zone}."],
            name_server_ips={f"ns1.{zone}.": "10.0.0.53"},
            update_key_name=t.tsig.name,
        )
        try:
            assert await dns.soa_serial(zone) == 2026010101

            window = await chaos.kill(ChaosTarget.BIND9, recovery_timeout_s=RECOVERY_TIMEOUT_S)

            _assert_recovered(window, ChaosTarget.BIND9)
            assert set(await _pods(kube, "app=bind9,instance=local-primary-0")) == {
                window.replacement
            }
            assert not [pid for pid in old_pids if _alive(pid)]
            # The new named answers at once, and it is a new one: the zone went with the old.
            answer = await dns.query(f"{zone}.", "SOA")
            assert answer.rcode == "REFUSED"
            assert (await dns.query(".", "SOA")).rcode in {"REFUSED", "NOERROR"}
            assert await _pods(kube, SELECTOR[ChaosTarget.OPERATOR]) == operator_before
            print(f"bind9 recovery: {window.recovery_s:.2f} s")
        finally:
            with contextlib.suppress(Exception):  # gone with the old named, unless we failed early
                await client.delete_zone(zone)


async def test_a_run_kills_its_targets_in_turn_interval_apart_and_reports_each_window(
    chaos: ChaosInjector,
) -> None:
    seen: list[FaultWindow] = []
    config = ChaosConfig(
        targets=(ChaosTarget.BIND9, ChaosTarget.OPERATOR),
        kills=3,
        interval_s=2.0,
        recovery_timeout_s=RECOVERY_TIMEOUT_S,
    )
    windows = await chaos.run(config, on_window=seen.append)

    assert [w.target for w in windows] == [
        ChaosTarget.BIND9,
        ChaosTarget.OPERATOR,
        ChaosTarget.BIND9,
    ]
    assert seen == list(windows)
    assert chaos.windows == windows
    for w in windows:
        _assert_recovered(w, w.target)
    for earlier, later in itertools.pairwise(windows):
        assert later.started_ns > earlier.recovered_ns
        assert later.started_ns - earlier.started_ns >= 2.0 * 1e9 * 0.99
    # The second bind9 kill hit the pod the first one produced.
    assert windows[2].pod == windows[0].replacement
    print("run recoveries: " + ", ".join(f"{w.target} {w.recovery_s:.2f} s" for w in windows))


async def test_cancelling_a_run_between_kills_stops_it_at_once_and_kills_nothing_more(
    kube: kr8s.asyncio.Api, chaos: ChaosInjector
) -> None:
    first = asyncio.Event()
    config = ChaosConfig(
        targets=(ChaosTarget.OPERATOR,), kills=2, interval_s=300.0, recovery_timeout_s=60.0
    )
    tasks_before = asyncio.all_tasks()
    run = asyncio.create_task(chaos.run(config, on_window=lambda _w: first.set()))
    await asyncio.wait_for(first.wait(), RECOVERY_TIMEOUT_S)
    pods_after_first = await _pods(kube, SELECTOR[ChaosTarget.OPERATOR])

    run.cancel()
    started = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert time.monotonic() - started < 2.0
    # httpx's inner stream iterators of an abandoned watch are closed by the loop's async-generator
    # finalizer, as short-lived tasks created at garbage collection: let those run first.
    gc.collect()
    await asyncio.sleep(0.1)
    assert asyncio.all_tasks() - tasks_before == set()
    (window,) = chaos.windows
    _assert_recovered(window, ChaosTarget.OPERATOR)
    assert set(pods_after_first) == {window.replacement}
    await asyncio.sleep(1.0)
    assert await _pods(kube, SELECTOR[ChaosTarget.OPERATOR]) == pods_after_first


async def test_a_target_that_is_not_back_in_time_gives_an_unrecovered_window_without_hanging(
    stack: LocalStack, kube: kr8s.asyncio.Api, chaos: ChaosInjector
) -> None:
    started = time.monotonic()
    window = await chaos.kill(ChaosTarget.OPERATOR, recovery_timeout_s=0.05)
    assert time.monotonic() - started < 5.0
    assert not window.recovered
    assert window.replacement is None
    assert window.recovery_s is None
    assert window.contains(window.recovered_ns + 3600 * 1_000_000_000)  # still open
    await _wait_operator_ready(stack, kube)


@pytest.mark.parametrize(
    ("change", "target", "message"),
    [
        (
            {"operator_namespace": "chaos-nowhere"},
            ChaosTarget.OPERATOR,
            r"^no operator pod to kill: no pod matches app=bindy in namespace chaos-nowhere$",
        ),
        (
            {"instance_selector": {"bindy.firestoned.io/cluster": "nowhere"}},
            ChaosTarget.BIND9,
            r"^no bind9 pod to kill: no Bind9Instance matches "
            r"bindy.firestoned.io/cluster=nowhere in any namespace$",
        ),
    ],
)
async def test_a_selector_matching_no_pod_is_refused_in_one_line_and_deletes_nothing(
    stack: LocalStack,
    kube: kr8s.asyncio.Api,
    change: dict[str, Any],
    target: ChaosTarget,
    message: str,
) -> None:
    before = await _pods(kube, "app in (bindy,bind9)")
    injector = ChaosInjector(kube, replace(stack.target, **change))
    with pytest.raises(NoChaosTargetError, match=message):
        await injector.kill(target, recovery_timeout_s=5.0)
    assert injector.windows == ()
    assert await _pods(kube, "app in (bindy,bind9)") == before
