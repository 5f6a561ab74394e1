"""Steps every scenario in ``loadtests/`` shares, so a new scenario is its workload and little
else: open the watches before t0, create the zones, spread records over them, and judge the
measurements against the profile's criteria."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from typing import Any

from pytest_bindy_load.cluster import WatchHub
from pytest_bindy_load.errors import OperationError
from pytest_bindy_load.generators import FixtureGenerator
from pytest_bindy_load.metrics import MetricsSnapshot
from pytest_bindy_load.operations import CROperations
from pytest_bindy_load.profiles import SuccessCriteria
from pytest_bindy_load.report import CriterionResult, check
from pytest_bindy_load.results import ZONE_KIND, OperationResult
from pytest_bindy_load.runner import RunOutcome, run_open_loop
from pytest_bindy_load.scheduler import burst
from pytest_bindy_load.target import BindyTarget

Manifest = dict[str, Any]


async def open_watches(hub: WatchHub, record_kinds: Iterable[str], namespace: str) -> None:
    """Before t0, so watch start-up is not charged to the first operations."""
    for kind in {ZONE_KIND, *record_kinds}:
        await hub.ensure_watching(kind, namespace)


async def create_all(
    create: Callable[[Manifest, int], Awaitable[OperationResult]], manifests: Sequence[Manifest]
) -> RunOutcome:
    """Every manifest intended at the same t0 (a burst); ``create(manifest, intended_ns)``."""
    calls = [(lambda intended, m=m: create(m, intended)) for m in manifests]
    return await run_open_loop(burst(len(manifests)).intended_offsets_ns(), calls)


async def create_zones(
    ops: CROperations,
    generator: FixtureGenerator,
    target: BindyTarget,
    count: int,
    *,
    timeout_s: float,
) -> tuple[list[Manifest], RunOutcome]:
    """The scenario's zones, all Ready; ``OperationError`` naming each zone that is not."""
    zones = generator.zones(
        count, instance_selector=target.instance_selector, namespace=ops.namespace
    )
    outcome = await create_all(
        lambda m, t: ops.create(m, intended_ns=t, timeout_s=timeout_s), zones
    )
    failed = [r for r in outcome.results if not r.success]
    if failed:
        raise OperationError("zones not Ready: " + "; ".join(map(describe_failure, failed)))
    return zones, outcome


def records_over(
    generator: FixtureGenerator,
    zones: Sequence[Mapping[str, Any]],
    count: int,
    *,
    kinds: Sequence[str],
    namespace: str,
) -> list[Manifest]:
    """``count`` records spread evenly over the zones (the first zones take the remainder)."""
    per_zone, extra = divmod(count, len(zones))
    return [
        rec
        for i, zone in enumerate(zones)
        for rec in generator.records(zone, per_zone + (i < extra), kinds=kinds, namespace=namespace)
    ]


def judge(
    snapshot: MetricsSnapshot,
    criteria: SuccessCriteria,
    names: Iterable[str],
    *,
    observed: Mapping[str, float] | None = None,
    required: Collection[str] = (),
) -> tuple[CriterionResult, ...]:
    """The named criteria of the profile that are set (None turns one off), each evaluated."""
    limits = {n: limit for n in names if (limit := getattr(criteria, n)) is not None}
    return tuple(check(snapshot, limits, observed=observed, required=required))


def failure_message(
    headline: str, results: Iterable[CriterionResult], problems: Iterable[str] = ()
) -> str:
    """Every violated criterion and every other problem, one per line; empty when none."""
    lines = [str(v) for r in results if (v := r.violation)] + list(problems)
    if not lines:
        return ""
    return f"{headline} failed {len(lines)} checks:\n" + "\n".join(f"  - {x}" for x in lines)


def describe_failure(r: OperationResult) -> str:
    return f"{r.operation} {r.kind}/{r.name}: {r.error_kind} {r.error_message}".rstrip()
