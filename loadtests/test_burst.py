"""Burst: create the zones, then every record at once, wait for all to be Ready, and hold the
profile's success criteria.

Every record is *intended* to start at t0; ``concurrency`` caps API requests in flight, not the
waits for Ready, so the operator sees the whole burst. Time spent queued behind the cap counts
in each record's latency: the burst measures how long users wait, not how fast one request is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from pytest_bindy_load.cluster import TestCluster, WatchHub
from pytest_bindy_load.generators import FixtureGenerator
from pytest_bindy_load.metrics import MetricsCollector
from pytest_bindy_load.operations import CROperations
from pytest_bindy_load.profiles import BurstConfig, Profile
from pytest_bindy_load.report import ScenarioReport, check
from pytest_bindy_load.results import ZONE_KIND
from pytest_bindy_load.runner import RunOutcome, run_open_loop
from pytest_bindy_load.scheduler import burst
from pytest_bindy_load.target import BindyTarget

# The burst is judged on reconcile latency, API latency and errors; the sustained rate and memory
# growth belong to the sustained scenario.
BURST_CRITERIA = ("reconcile_p99_s", "operation_p99_s", "error_rate_max")


async def _create_all(
    ops: CROperations, manifests: Sequence[dict[str, Any]], timeout_s: float
) -> RunOutcome:
    calls = [
        (lambda intended, m=m: ops.create(m, intended_ns=intended, timeout_s=timeout_s))
        for m in manifests
    ]
    return await run_open_loop(burst(len(manifests)).intended_offsets_ns(), calls)


@pytest.mark.burst
async def test_burst(
    burst_config: BurstConfig,
    bindy_profile: Profile,
    bindy_target: BindyTarget,
    cluster: TestCluster,
    watch_hub: WatchHub,
    load_namespace: str,
    generator: FixtureGenerator,
    metrics: MetricsCollector,
    record_scenario: Callable[[ScenarioReport], None],
) -> None:
    cfg = burst_config
    ops = CROperations(
        cluster.api,
        watch_hub,
        load_namespace,
        ready_timeout_s=cfg.timeout_s,
        api_gate=asyncio.Semaphore(cfg.concurrency),
    )
    # Open every watch before t0, so watch start-up is not charged to the first records.
    for kind in {ZONE_KIND, *cfg.record_kinds}:
        await watch_hub.ensure_watching(kind, load_namespace)

    zones = generator.zones(
        cfg.zones, instance_selector=bindy_target.instance_selector, namespace=load_namespace
    )
    zone_run = await _create_all(ops, zones, cfg.timeout_s)
    failed_zones = [r for r in zone_run.results if not r.success]
    assert not failed_zones, "zones not Ready: " + "; ".join(
        f"{r.name}: {r.error_kind} {r.error_message}" for r in failed_zones
    )

    per_zone, extra = divmod(cfg.records, len(zones))
    records = [
        rec
        for i, zone in enumerate(zones)
        for rec in generator.records(
            zone, per_zone + (i < extra), kinds=cfg.record_kinds, namespace=load_namespace
        )
    ]
    run = await _create_all(ops, records, cfg.timeout_s)
    metrics.add_all(run.results)
    snapshot = metrics.snapshot()
    criteria = {
        name: limit
        for name in BURST_CRITERIA
        if (limit := getattr(bindy_profile.criteria, name)) is not None
    }
    results = check(snapshot, criteria, required=("reconcile_p99_s",))
    record_scenario(
        ScenarioReport(
            name="burst",
            parameters={
                "zones": cfg.zones,
                "records": cfg.records,
                "concurrency": cfg.concurrency,
                "record_kinds": list(cfg.record_kinds),
                "first_create_to_last_ready_s": run.first_create_to_last_ready_s,
                "zones_ready_s": zone_run.first_create_to_last_ready_s,
            },
            metrics=snapshot,
            criteria=tuple(results),
        )
    )
    violations = [v for r in results if (v := r.violation)]
    assert not violations, (
        f"burst of {cfg.records} records violated {len(violations)} criteria:\n"
        + "\n".join(f"  - {v}" for v in violations)
    )
