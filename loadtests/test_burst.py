"""Burst: create the zones, then every record at once, wait for all to be Ready, and hold the
profile's success criteria.

Every record is *intended* to start at t0; ``concurrency`` caps API requests in flight, not the
waits for Ready, so the operator sees the whole burst. Time spent queued behind the cap counts
in each record's latency: the burst measures how long users wait, not how fast one request is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from pytest_bindy_load.cluster import TestCluster, WatchHub
from pytest_bindy_load.generators import FixtureGenerator
from pytest_bindy_load.metrics import MetricsCollector
from pytest_bindy_load.operations import CROperations
from pytest_bindy_load.profiles import BurstConfig, Profile
from pytest_bindy_load.report import ScenarioReport
from pytest_bindy_load.scenario import (
    create_all,
    create_zones,
    failure_message,
    judge,
    open_watches,
    records_over,
)
from pytest_bindy_load.target import BindyTarget

# The burst is judged on reconcile latency, API latency and errors; the sustained rate and memory
# growth belong to the sustained scenario.
BURST_CRITERIA = ("reconcile_p99_s", "operation_p99_s", "error_rate_max")


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
    await open_watches(watch_hub, cfg.record_kinds, load_namespace)
    zones, zone_run = await create_zones(
        ops, generator, bindy_target, cfg.zones, timeout_s=cfg.timeout_s
    )
    records = records_over(
        generator, zones, cfg.records, kinds=cfg.record_kinds, namespace=load_namespace
    )
    run = await create_all(
        lambda m, t: ops.create(m, intended_ns=t, timeout_s=cfg.timeout_s), records
    )
    metrics.add_all(run.results)
    snapshot = metrics.snapshot()
    results = judge(snapshot, bindy_profile.criteria, BURST_CRITERIA, required=("reconcile_p99_s",))
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
            criteria=results,
        )
    )
    failure = failure_message(f"burst of {cfg.records} records", results)
    assert not failure, failure
