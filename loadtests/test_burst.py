"""Burst: create zones, then every record at once (bounded concurrency), wait for all to be
Ready, and hold the profile's success criteria.

Every record is *intended* to start at t0, so time spent queued behind the concurrency cap is
part of its latency: the burst measures how long users wait, not how fast one request is.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pytest_bindy_load.generators import FixtureGenerator
from pytest_bindy_load.metrics import MetricsCollector
from pytest_bindy_load.operations import CROperations
from pytest_bindy_load.profiles import BurstConfig, Profile
from pytest_bindy_load.report import ScenarioReport, check
from pytest_bindy_load.runner import run_open_loop
from pytest_bindy_load.scheduler import burst
from pytest_bindy_load.target import BindyTarget

# The burst is judged on reconcile latency, API latency and errors; the sustained rate and memory
# growth belong to the sustained scenario.
BURST_CRITERIA = ("reconcile_p99_s", "operation_p99_s", "error_rate_max")


@pytest.mark.burst
async def test_burst(
    burst_config: BurstConfig,
    bindy_profile: Profile,
    bindy_target: BindyTarget,
    load_namespace: str,
    generator: FixtureGenerator,
    cr_operations: CROperations,
    metrics: MetricsCollector,
    record_scenario: Callable[[ScenarioReport], None],
) -> None:
    cfg = burst_config
    zones = generator.zones(
        cfg.zones, instance_selector=bindy_target.instance_selector, namespace=load_namespace
    )
    zone_ops = [
        (
            lambda intended, z=z: cr_operations.create(
                z, intended_ns=intended, timeout_s=cfg.timeout_s
            )
        )
        for z in zones
    ]
    zone_run = await run_open_loop(
        burst(len(zones)).intended_offsets_ns(), zone_ops, concurrency=cfg.concurrency
    )
    failed_zones = [r for r in zone_run.results if not r.success]
    assert not failed_zones, "zones not Ready: " + "; ".join(
        f"{r.name}: {r.error_kind} {r.error_message}" for r in failed_zones
    )

    per_zone, extra = divmod(cfg.records, len(zones))
    records = [
        rec
        for i, zone in enumerate(zones)
        for rec in generator.records(
            zone,
            per_zone + (1 if i < extra else 0),
            kinds=cfg.record_kinds,
            namespace=load_namespace,
        )
    ]
    record_ops = [
        (
            lambda intended, r=r: cr_operations.create(
                r, intended_ns=intended, timeout_s=cfg.timeout_s
            )
        )
        for r in records
    ]
    run = await run_open_loop(
        burst(len(records)).intended_offsets_ns(), record_ops, concurrency=cfg.concurrency
    )
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
