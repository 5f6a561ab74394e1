"""End to end: create records, wait for Ready, then follow each one to a DNS answer, and hold
the profile's success criteria; one update and one delete must reach DNS too.

Every record is *intended* to start at t0, as in the burst. Each record polls DNS as soon as
its own Ready arrives, so the propagation stage (Ready -> the expected answer) is measured per
record, not behind the slowest one. DNS has no watch: ``poll_interval_s`` bounds the
resolution of that stage. Only ``sc.target.dns_server`` is queried (loopback on the local
stack).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import pytest

from pytest_bindy_load.dns import DnsClient, client_for, stamp_answerable
from pytest_bindy_load.generators import ZONE_LABEL, FixtureGenerator
from pytest_bindy_load.operations import CROperations
from pytest_bindy_load.profiles import E2EConfig
from pytest_bindy_load.report import ScenarioReport
from pytest_bindy_load.results import OperationResult
from pytest_bindy_load.scenario import (
    Manifest,
    ScenarioContext,
    create_all,
    describe_failure,
    failure_message,
    missing_data_plane,
)

# Judged on Ready -> DNS (the point of the scenario, so required), created -> Ready and errors.
E2E_CRITERIA = ("e2e_p99_s", "reconcile_p99_s", "error_rate_max")
NS_PER_S = 1_000_000_000


class _Follower:
    """Times one record from its write to the DNS answer that reflects it."""

    def __init__(self, ops: CROperations, dns: DnsClient, cfg: E2EConfig) -> None:
        self.ops = ops
        self.dns = dns
        self.cfg = cfg

    async def answerable(
        self, result: OperationResult, manifest: Mapping[str, Any], *, gone: bool = False
    ) -> OperationResult:
        """Poll until DNS gives the manifest's rdata (``gone``: until the name stops answering),
        within ``timeout_s`` of the operation's intended start."""
        zone = manifest["metadata"]["labels"][ZONE_LABEL]
        fqdn, rdtype, rdatas = FixtureGenerator.expected_rdata(manifest, zone)
        return await stamp_answerable(
            self.dns,
            result,
            fqdn,
            rdtype,
            frozenset() if gone else rdatas,
            deadline=result.intended_ns / NS_PER_S + self.cfg.timeout_s,
            interval_s=self.cfg.poll_interval_s,
        )

    async def create(self, manifest: Manifest, intended_ns: int) -> OperationResult:
        result = await self.ops.create(
            manifest, intended_ns=intended_ns, timeout_s=self.cfg.timeout_s
        )
        return await self.answerable(result, manifest)

    async def update(self, manifest: Manifest, new: Manifest) -> OperationResult:
        result = await self.ops.update(
            manifest["kind"],
            manifest["metadata"]["name"],
            intended_ns=time.monotonic_ns(),
            spec=new["spec"],
            timeout_s=self.cfg.timeout_s,
        )
        return await self.answerable(result, new)

    async def delete(self, manifest: Manifest) -> OperationResult:
        result = await self.ops.delete(
            manifest["kind"],
            manifest["metadata"]["name"],
            intended_ns=time.monotonic_ns(),
            timeout_s=self.cfg.timeout_s,
        )
        return await self.answerable(result, manifest, gone=True)


def _propagation_s(r: OperationResult) -> float | None:
    if r.answerable_ns is None or r.ready_ns is None:
        return None
    return (r.answerable_ns - r.ready_ns) / NS_PER_S


@pytest.mark.e2e
async def test_e2e(e2e_config: E2EConfig, bindy_scenario: ScenarioContext) -> None:
    cfg, sc = e2e_config, bindy_scenario
    if why := missing_data_plane(sc.target, "e2e"):
        pytest.fail(why)
    dns = client_for(sc.target, timeout_s=cfg.query_timeout_s)
    assert dns is not None
    ops = sc.operations(ready_timeout_s=cfg.timeout_s)
    follow = _Follower(ops, dns, cfg)
    await sc.open_watches(cfg.record_kinds)
    zones, zone_run = await sc.create_zones(ops, cfg.zones, timeout_s=cfg.timeout_s)
    records = sc.records_over(zones, cfg.records, kinds=cfg.record_kinds)
    run = await create_all(follow.create, records)

    # One update and one delete of records that made it, each followed to DNS as well.
    made_it = [m for m, r in zip(records, run.results, strict=True) if r.success]
    changes: list[OperationResult] = []
    if made_it:
        changes.append(await follow.update(made_it[0], sc.generator.mutate(made_it[0])))
        changes.append(await follow.delete(made_it[-1]))

    sc.metrics.add_all(run.results)
    sc.metrics.add_all(changes)
    snapshot = sc.metrics.snapshot()
    propagations = [(s, r) for r in run.results if (s := _propagation_s(r)) is not None]
    worst = max(propagations, key=lambda p: p[0], default=None)
    results = sc.judge(snapshot, E2E_CRITERIA, required=("e2e_p99_s",))
    sc.record(
        ScenarioReport(
            name="e2e",
            parameters={
                "zones": cfg.zones,
                "records": cfg.records,
                "record_kinds": list(cfg.record_kinds),
                "poll_interval_s": cfg.poll_interval_s,
                "answerable": len(propagations),
                "worst_propagation_s": worst[0] if worst else None,
                "worst_propagation_record": f"{worst[1].kind}/{worst[1].name}" if worst else None,
                "update_propagation_s": _propagation_s(changes[0]) if changes else None,
                "delete_propagation_s": _propagation_s(changes[1]) if changes else None,
                "zones_ready_s": zone_run.first_create_to_last_ready_s,
            },
            metrics=snapshot,
            criteria=results,
            notes=tuple(f"not propagated: {describe_failure(r)}" for r in changes if not r.success),
        )
    )
    problems = [f"did not reach DNS: {describe_failure(r)}" for r in changes if not r.success]
    if not changes:
        problems.append("no record became answerable, so no update or delete was tried")
    failure = failure_message(f"e2e of {cfg.records} records", results, problems)
    assert not failure, failure
