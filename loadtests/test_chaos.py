"""Chaos: kill operator and BIND9 pods under open-loop background load, then check that every
fault recovered and nothing was lost.

Load runs for ``(kills + 1) * interval_s``: a steady interval first, then one kill every
``interval_s`` (cycling through ``targets``), each followed by load until the next. Operations
whose span overlaps a fault (until recovery plus ``grace_s``) are summarised in the chaos
window, apart from the steady ones the profile's limits apply to. Afterwards every record the
workload left in place must be Ready and answer in DNS with its last accepted data within
``recovery_timeout_s``: a record that does not is lost data.
"""

from __future__ import annotations

import asyncio

import pytest

from pytest_bindy_load.chaos import ChaosInjector, mark_chaos
from pytest_bindy_load.dns import client_for
from pytest_bindy_load.profiles import ChaosConfig
from pytest_bindy_load.report import ScenarioReport, check
from pytest_bindy_load.results import RECORD_KINDS
from pytest_bindy_load.runner import run_stream
from pytest_bindy_load.scenario import ScenarioContext, failure_message, missing_data
from pytest_bindy_load.scheduler import Phase, Schedule

MAX_IN_FLIGHT = 1000
MAX_LISTED_LOSSES = 10


@pytest.mark.chaos
async def test_chaos(chaos_config: ChaosConfig, bindy_scenario: ScenarioContext) -> None:
    cfg, sc = chaos_config, bindy_scenario
    ops = sc.operations(ready_timeout_s=cfg.recovery_timeout_s)
    await sc.open_watches(RECORD_KINDS)
    zones, _ = await sc.create_zones(ops, cfg.zones, timeout_s=cfg.recovery_timeout_s)
    workload = sc.mixed_workload(ops, zones, kinds=RECORD_KINDS, timeout_s=cfg.recovery_timeout_s)
    duration_s = (cfg.kills + 1) * cfg.interval_s
    schedule = Schedule(phases=(Phase.constant(duration_s, cfg.rate_per_s),))
    injector = ChaosInjector.for_cluster(sc.cluster)

    async def faults() -> None:
        await asyncio.sleep(cfg.interval_s)  # a steady interval before the first kill
        await injector.run(cfg)

    async with asyncio.TaskGroup() as tg:
        fault_task = tg.create_task(faults())
        run = await run_stream(
            schedule.iter_offsets_ns(), workload.next_operation, max_in_flight=MAX_IN_FLIGHT
        )
        await fault_task
    windows = injector.windows

    marked = mark_chaos(
        run.results, windows, grace_s=cfg.grace_s, wait_timeout_s=cfg.recovery_timeout_s
    )
    sc.metrics.add_all(marked)
    snapshot = sc.metrics.snapshot()
    dns = client_for(sc.target)
    live = workload.live()
    lost = await missing_data(ops, dns, live, timeout_s=cfg.recovery_timeout_s)

    c = sc.profile.criteria
    limits = {
        "reconcile_p99_s": c.reconcile_p99_s,  # outside the fault windows
        "steady_error_rate_max": c.error_rate_max,
        "chaos_reconcile_p99_s": c.chaos_reconcile_p99_s,
        "chaos_error_rate_max": c.chaos_error_rate_max,
    }
    results = tuple(check(snapshot, {k: v for k, v in limits.items() if v is not None}))
    problems = [f"{w.target} pod {w.pod} not back within {cfg.recovery_timeout_s:g} s"
                for w in windows if not w.recovered]  # fmt: skip
    if len(windows) < cfg.kills and all(w.recovered for w in windows):
        problems.append(f"only {len(windows)} of {cfg.kills} kills happened")
    if lost:
        problems.append(f"{len(lost)} of {len(live)} records lost after the faults:")
        problems += [f"  {line}" for line in lost[:MAX_LISTED_LOSSES]]
    recoveries = [w.recovery_s for w in windows if w.recovery_s is not None]
    sc.record(
        ScenarioReport(
            name="chaos",
            parameters={
                "targets": [str(t) for t in cfg.targets],
                "kills": cfg.kills,
                "interval_s": cfg.interval_s,
                "rate_per_s": cfg.rate_per_s,
                "grace_s": cfg.grace_s,
                "duration_s": duration_s,
                "faults": [w.to_report() for w in windows],
                "max_recovery_s": max(recoveries, default=None),
                "records_checked": len(live),
                "records_lost": len(lost),
                "dns_checked": dns is not None,
                "dropped": run.dropped,
                "workload": workload.stats().to_dict(),
            },
            metrics=snapshot,
            criteria=results,
            notes=tuple(lost[:MAX_LISTED_LOSSES]),
        )
    )
    failure = failure_message(
        f"chaos ({cfg.kills} kills of {', '.join(cfg.targets)})", results, problems
    )
    assert not failure, failure
