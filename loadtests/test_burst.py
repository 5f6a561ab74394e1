"""Burst: create the zones, then every record at once, wait for all to be Ready, and hold the
profile's success criteria.

Every record is *intended* to start at t0; ``concurrency`` caps API requests in flight, not the
waits for Ready, so the operator sees the whole burst. Time spent queued behind the cap counts
in each record's latency: the burst measures how long users wait, not how fast one request is.
"""

from __future__ import annotations

import asyncio

import pytest

from pytest_bindy_load.profiles import BurstConfig
from pytest_bindy_load.report import ScenarioReport
from pytest_bindy_load.scenario import ScenarioContext, create_all, failure_message

# The burst is judged on reconcile latency, API latency and errors; the sustained rate and memory
# growth belong to the sustained scenario.
BURST_CRITERIA = ("reconcile_p99_s", "operation_p99_s", "error_rate_max")


@pytest.mark.burst
async def test_burst(burst_config: BurstConfig, bindy_scenario: ScenarioContext) -> None:
    cfg, sc = burst_config, bindy_scenario
    ops = sc.operations(ready_timeout_s=cfg.timeout_s, api_gate=asyncio.Semaphore(cfg.concurrency))
    await sc.open_watches(cfg.record_kinds)
    zones, zone_run = await sc.create_zones(ops, cfg.zones, timeout_s=cfg.timeout_s)
    records = sc.records_over(zones, cfg.records, kinds=cfg.record_kinds)
    run = await create_all(
        lambda m, t: ops.create(m, intended_ns=t, timeout_s=cfg.timeout_s), records
    )
    sc.metrics.add_all(run.results)
    snapshot = sc.metrics.snapshot()
    results = sc.judge(snapshot, BURST_CRITERIA, required=("reconcile_p99_s",))
    sc.record(
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
