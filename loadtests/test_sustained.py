"""Sustained: an open-loop create/update/delete mix at the profile's rate for its duration,
judged on reconcile latency, errors, the rate the target sustained and operator memory growth.

Operations start on a fixed schedule whatever the target does (k6's constant-arrival-rate):
latency counts from the intended start, and an operation due while ``max_in_flight`` are still
running is dropped and counted instead of delayed. The sustained rate is the operations the API
server accepted per second of the offered window; readiness failures count in the error rate.
Operator memory growth is fitted from when the live records reached ``max_live_records`` (the
workload holds them there), so it measures leaks rather than the data growing.
"""

from __future__ import annotations

import dataclasses

import pytest

from pytest_bindy_load.profiles import SustainedConfig
from pytest_bindy_load.report import ScenarioReport
from pytest_bindy_load.results import RECORD_KINDS
from pytest_bindy_load.runner import run_stream
from pytest_bindy_load.scenario import ScenarioContext, failure_message
from pytest_bindy_load.scheduler import Phase, Schedule
from pytest_bindy_load.usage import MemorySampler

SUSTAINED_CRITERIA = (
    "reconcile_p99_s",
    "operation_p99_s",
    "error_rate_max",
    "sustained_rate_per_s",
    "memory_growth_mb_per_h",
)


@pytest.mark.sustained
async def test_sustained(
    sustained_config: SustainedConfig, bindy_scenario: ScenarioContext
) -> None:
    cfg, sc = sustained_config, bindy_scenario
    ops = sc.operations(ready_timeout_s=cfg.ready_timeout_s)
    await sc.open_watches(RECORD_KINDS)
    zones, _ = await sc.create_zones(ops, cfg.zones, timeout_s=cfg.ready_timeout_s)
    workload = sc.mixed_workload(ops, zones, kinds=RECORD_KINDS, timeout_s=cfg.ready_timeout_s)
    schedule = Schedule(phases=(Phase.constant(cfg.duration_s, cfg.rate_per_s),))
    sampler = MemorySampler(sc.target.operator_metrics_url)
    async with sampler.running():
        run = await run_stream(
            schedule.iter_offsets_ns(), workload.next_operation, max_in_flight=cfg.max_in_flight
        )
    sc.metrics.add_all(run.results)
    snapshot = sc.metrics.snapshot()
    accepted = sum(r.acknowledged_ns is not None for r in run.results)
    stats = workload.stats()
    if stats.max_live is not None and stats.steady_since_ns is None:
        memory = dataclasses.replace(
            sampler.trend(),
            note=f"the live set grew all run ({stats.live_records} records, cap "
            f"{stats.max_live}): memory grew with the data",
        )
    else:
        memory = sampler.trend(since_ns=stats.steady_since_ns)
    observed = {"sustained_rate_per_s": accepted / cfg.duration_s}
    if memory.judged and memory.growth_mb_per_h is not None:
        observed["memory_growth_mb_per_h"] = memory.growth_mb_per_h
    results = sc.judge(
        snapshot,
        SUSTAINED_CRITERIA,
        observed=observed,
        required=("reconcile_p99_s", "sustained_rate_per_s"),
    )
    notes = [f"memory growth not judged: {memory.note}"] if memory.note else []
    if run.dropped:
        notes.append(f"{run.dropped} operations dropped: {cfg.max_in_flight} still in flight")
    sc.record(
        ScenarioReport(
            name="sustained",
            parameters={
                "rate_per_s": cfg.rate_per_s,
                "duration_s": cfg.duration_s,
                "zones": cfg.zones,
                "max_in_flight": cfg.max_in_flight,
                "mix": cfg.mix.describe(),
                "offered": len(run.results) + run.dropped,
                "dropped": run.dropped,
                "accepted": accepted,
                "workload": stats.to_dict(),
                "operator_memory": memory.to_dict(),
            },
            metrics=snapshot,
            criteria=results,
            notes=tuple(notes),
        )
    )
    failure = failure_message(
        f"sustained {cfg.rate_per_s:g} ops/s for {cfg.duration_s:g} s", results
    )
    assert not failure, failure
