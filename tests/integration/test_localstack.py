"""The local stack as users and the plugin see it: provisioning, the Kubernetes API through
kr8s, the DNS plane behind the target, pod-kill restarts, and that nothing outlives it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from textwrap import dedent
from typing import Any

import httpx
import kr8s.asyncio
import pytest

from pytest_bindy_load.bindcar import BindcarClient
from pytest_bindy_load.dns import DnsClient
from pytest_bindy_load.errors import ProvisionError, TargetError
from pytest_bindy_load.localstack import provision
from pytest_bindy_load.localstack.crds import crd_names
from pytest_bindy_load.localstack.processes import port_is_free
from pytest_bindy_load.localstack.stack import LocalStack, StackOptions, local_stack

# Taken at import: pytester points HOME at a temporary dir, which would hide the binary cache.
REAL_CACHE = provision.cache_dir()
# A kind the reference operator does not reconcile, so only this test writes its status.
BIND9CLUSTER = kr8s.asyncio.objects.new_class(
    "Bind9Cluster", "bindy.firestoned.io/v1beta1", asyncio=True
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is dead for our purpose.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_a_warm_provision_reuses_the_cache_in_under_ten_seconds() -> None:
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "pytest_bindy_load.localstack", "provision"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    elapsed = time.monotonic() - started
    assert elapsed < 10, out.stderr
    assert "cached" in out.stderr
    assert "building" not in out.stderr


def test_a_missing_go_toolchain_is_reported_with_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(provision.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path))  # no go, no cargo
    for var in ("PYTEST_BINDY_LOAD_ETCD", "TEST_ASSET_ETCD", "KUBEBUILDER_ASSETS"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ProvisionError, match=r"go not found on PATH: install Go"):
        provision._go_build(
            module="etcd",
            packages={"etcd": "go.etcd.io/etcd/server/v3"},
            ldflags="",
            tags="",
            cache=tmp_path / "cache",
            progress=lambda _m: None,
        )


def test_a_missing_cargo_is_reported_with_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ProvisionError, match=r"cargo not found on PATH: install Rust"):
        provision._bindcar(tmp_path, lambda _m: None)


def test_a_binary_override_that_is_not_executable_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_BINDY_LOAD_ETCD", str(tmp_path / "nope"))
    with pytest.raises(
        ProvisionError, match=r"PYTEST_BINDY_LOAD_ETCD=.*nope.* is not an executable"
    ):
        provision._override("etcd")


async def test_the_stack_is_up_within_thirty_seconds_with_every_crd_established(
    stack: LocalStack, kube: kr8s.asyncio.Api
) -> None:
    assert stack.started_s <= 30, f"stack took {stack.started_s:.1f} s"
    established = set()
    async for crd in kube.async_get("customresourcedefinitions"):
        conds = {c["type"]: c["status"] for c in crd.raw["status"]["conditions"]}
        if conds.get("Established") == "True":
            established.add(crd.name)
    assert set(crd_names()) <= established


async def test_a_namespace_a_status_subresource_a_watch_and_namespace_deletion_all_work(
    kube: kr8s.asyncio.Api,
) -> None:
    ns = await kr8s.asyncio.objects.Namespace(
        {
            "metadata": {
                "name": "ls-roundtrip",
                "labels": {"app.kubernetes.io/managed-by": "pytest-bindy-load"},
            }
        },
        api=kube,
    )
    await ns.create()
    rec = await BIND9CLUSTER(
        {
            "metadata": {"name": "a-one", "namespace": "ls-roundtrip"},
            "spec": {"version": "9.18", "primary": {"replicas": 1}},
        },
        api=kube,
    )
    await rec.create()
    events: list[tuple[str, str, str | None]] = []
    listed, changed = asyncio.Event(), asyncio.Event()

    async def watch() -> None:
        async for event, obj in kube.async_watch(
            "bind9clusters.bindy.firestoned.io", namespace="ls-roundtrip"
        ):
            zone = obj.raw.get("status", {}).get("zone")
            events.append((event, obj.name, zone))
            listed.set()
            if event == "MODIFIED" and zone == "example.test":
                changed.set()

    watcher = asyncio.create_task(watch())
    try:
        # The object existed before the watch: the stream opens with it as ADDED, so after that
        # event every change must arrive as MODIFIED.
        await asyncio.wait_for(listed.wait(), 30)
        assert events[0] == ("ADDED", "a-one", None)
        async with kube.call_api(
            "PATCH",
            version="bindy.firestoned.io/v1beta1",
            base="/apis",
            namespace="ls-roundtrip",
            url="bind9clusters/a-one/status",
            content=json.dumps({"status": {"zone": "example.test", "observedGeneration": 1}}),
            headers={"Content-Type": "application/merge-patch+json"},
        ):
            pass
        await rec.refresh()
        assert rec.raw["status"] == {"zone": "example.test", "observedGeneration": 1}
        assert rec.raw["spec"]["primary"] == {"replicas": 1}  # status writes leave spec alone
        await asyncio.wait_for(changed.wait(), 30)
    finally:
        watcher.cancel()
    await ns.delete()
    deadline = time.monotonic() + 60
    while await _namespace_exists(kube, "ls-roundtrip"):
        assert time.monotonic() < deadline, "namespace deletion did not complete in 60 s"
        await asyncio.sleep(0.5)


async def _namespace_exists(kube: kr8s.asyncio.Api, name: str) -> bool:
    try:
        async with kube.call_api("GET", version="v1", url=f"namespaces/{name}"):
            return True
    except kr8s.NotFoundError:
        return False
    except kr8s.ServerError as e:
        if e.response is not None and e.response.status_code == 404:
            return False
        raise


async def test_named_behind_the_target_answers_soa_for_a_zone_made_through_bindcar(
    stack: LocalStack,
) -> None:
    t = stack.target
    assert t.bindcar_url is not None
    assert t.dns_server is not None
    assert t.tsig is not None
    soa = {
        "primaryNs": "ns1.ls-soa.test.",
        "adminEmail": "admin.ls-soa.test.",
        "serial": 2026120401,
        "refresh": 3600,
        "retry": 600,
        "expire": 604800,
        "negativeTtl": 300,
    }
    async with BindcarClient(t.bindcar_url, t.bindcar_token) as client:
        await client.create_zone(
            "ls-soa.test",
            soa=soa,
            name_servers=["ns1.ls-soa.test."],
            name_server_ips={"ns1.ls-soa.test.": "10.0.0.53"},
            update_key_name=t.tsig.name,
        )
        try:
            dns = DnsClient(t.dns_server)
            assert await dns.soa_serial("ls-soa.test") == 2026120401
            rcode = await dns.replace_rrset("ls-soa.test", "www", "A", 300, ["10.9.8.7"], t.tsig)
            assert rcode == "NOERROR"
            answer = await dns.wait_answerable(
                "www.ls-soa.test.", "A", {"10.9.8.7"}, time.monotonic() + 5
            )
            assert answer.rdatas == {"10.9.8.7"}
            refused = await dns.replace_rrset("ls-soa.test", "evil", "A", 300, ["10.6.6.6"], None)
            assert refused == "REFUSED"
        finally:
            await client.delete_zone("ls-soa.test")


async def _pod_of(kube: kr8s.asyncio.Api, selector: str) -> Any:
    pods = [
        p async for p in kube.async_get("pods", namespace="bindy-system", label_selector=selector)
    ]
    assert len(pods) == 1, [p.name for p in pods]
    return pods[0]


@pytest.mark.parametrize(("group", "selector"), [("bind9", "app=bind9"), ("bindy", "app=bindy")])
async def test_deleting_a_pod_kills_its_processes_and_restarts_them_under_a_new_pod(
    stack: LocalStack, kube: kr8s.asyncio.Api, group: str, selector: str
) -> None:
    pod = await _pod_of(kube, selector)
    assert pod.raw["status"]["phase"] == "Running"
    old_pids = [p.pid for p in stack.supervisor.group(group).processes]
    restarts = stack.supervisor.group(group).restarts
    await pod.delete()
    deadline = time.monotonic() + 60
    while stack.supervisor.group(group).restarts == restarts or not all(
        p.running for p in stack.supervisor.group(group).processes
    ):
        assert time.monotonic() < deadline, f"{group} was not restarted in 60 s"
        await asyncio.sleep(0.2)
    new_pids = [p.pid for p in stack.supervisor.group(group).processes]
    assert all(pid is not None and not _alive(pid) for pid in old_pids)
    assert set(new_pids).isdisjoint(old_pids)
    new_pod = await _pod_of(kube, selector)
    assert new_pod.name != pod.name
    assert new_pod.raw["status"]["phase"] == "Running"
    if group == "bind9":
        assert stack.target.dns_server is not None
        answer = await DnsClient(stack.target.dns_server).query(".", "SOA")
        assert answer.rcode in {"REFUSED", "NOERROR"}
    else:
        assert stack.target.operator_metrics_url is not None
        async with httpx.AsyncClient() as client:
            assert (await client.get(stack.target.operator_metrics_url)).status_code == 200


async def test_a_component_that_fails_to_start_shows_its_log_and_nothing_is_left_running(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PYTEST_BINDY_LOAD_KUBE_CONTROLLER_MANAGER", "/bin/false")
    before = _stack_pids()
    with pytest.raises(TargetError, match=r"kube-controller-manager exited with code 1") as info:
        async with local_stack(StackOptions(with_operator=False)):
            pytest.fail("the stack must not start")
    assert "last lines of" in str(info.value)
    assert _stack_pids() == before


def _stack_pids() -> set[int]:
    """Processes of any stack started from this test session (children of this process)."""
    me = os.getpid()
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().split()
        except OSError:
            continue
        if int(fields[3]) == me and fields[2] != "Z":
            found.add(int(fields[0]))
    return found


def test_up_status_and_down_leave_no_process_and_free_ports(tmp_path: Path) -> None:
    env = dict(os.environ, PYTEST_BINDY_LOAD_CACHE=str(REAL_CACHE))
    name = f"t{os.getpid()}"
    cli = [sys.executable, "-m", "pytest_bindy_load.localstack"]
    up = subprocess.run(
        [*cli, "up", "--name", name], capture_output=True, text=True, env=env, timeout=300
    )
    assert up.returncode == 0, up.stderr[-2000:]
    state = json.loads((REAL_CACHE / "run" / f"{name}.json").read_text())
    status = subprocess.run(
        [*cli, "status", "--name", name], capture_output=True, text=True, env=env
    )
    assert status.returncode == 0
    assert "up" in status.stdout
    pids = [int(p) for p in state["processes"].values()] + [int(state["pid"])]
    assert all(_alive(p) for p in pids)
    ports = _ports_of(state)
    down = subprocess.run(
        [*cli, "down", "--name", name], capture_output=True, text=True, env=env, timeout=120
    )
    assert down.returncode == 0, down.stderr
    assert not [p for p in pids if _alive(p)]
    assert all(port_is_free(p) for p in ports)
    assert not Path(state["run_dir"]).exists()
    status = subprocess.run(
        [*cli, "status", "--name", name], capture_output=True, text=True, env=env
    )
    assert status.returncode == 3


def _ports_of(state: dict[str, Any]) -> list[int]:
    ports = [int(state["dns_server"][1])]
    for url in (state["bindcar_url"], state["operator_metrics_url"]):
        if url:
            ports.append(int(url.rsplit(":", 1)[1].split("/")[0]))
    return ports


def test_sigint_to_a_pytest_run_using_the_stack_stops_every_process(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini(
        dedent(
            """
            [pytest]
            asyncio_mode = auto
            asyncio_default_fixture_loop_scope = session
            asyncio_default_test_loop_scope = session
            """
        )
    )
    state_file = pytester.path / "state.json"
    pytester.makepyfile(
        test_sleepy=dedent(
            f"""
            import asyncio, json, os
            async def test_uses_the_stack(bindy_local_stack):
                s = bindy_local_stack
                t = s.target
                with open({str(state_file)!r}, "w") as f:
                    json.dump({{
                        "pids": [p.pid for p in s.processes],
                        "ports": [t.dns_server[1], int(t.bindcar_url.rsplit(":", 1)[1])],
                        "run_dir": str(s.run_dir),
                    }}, f)
                await asyncio.sleep(600)
            """
        )
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "test_sleepy.py"],
        cwd=pytester.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, provision.CACHE_ENV: str(REAL_CACHE)},
    )
    try:
        deadline = time.monotonic() + 180
        while not state_file.exists():
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            assert time.monotonic() < deadline, "the stack did not come up in the child run"
            time.sleep(0.2)
        time.sleep(0.5)
        state = json.loads(state_file.read_text())
        assert all(_alive(p) for p in state["pids"])
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    time.sleep(0.5)
    assert not [p for p in state["pids"] if _alive(p)]
    assert all(port_is_free(p) for p in state["ports"])
    assert not Path(state["run_dir"]).exists()
