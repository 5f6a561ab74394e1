"""Steps every scenario in ``loadtests/`` shares, so a new scenario is its workload and little
else: one ``ScenarioContext`` fixture, watches opened before t0, zones, records spread over them,
judging against the profile's criteria, and the check that nothing was lost."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_bindy_load.cluster import ReadyState, TestCluster, WatchHub
from pytest_bindy_load.dns import DnsClient
from pytest_bindy_load.errors import DeadlineExceeded, OperationError
from pytest_bindy_load.generators import ZONE_LABEL, FixtureGenerator, expected_rdata
from pytest_bindy_load.metrics import MetricsCollector, MetricsSnapshot
from pytest_bindy_load.operations import CROperations
from pytest_bindy_load.profiles import Profile, RunContext, SuccessCriteria
from pytest_bindy_load.report import CriterionResult, ScenarioReport, check
from pytest_bindy_load.results import ZONE_KIND, OperationResult
from pytest_bindy_load.runner import RunOutcome, run_open_loop
from pytest_bindy_load.scheduler import burst
from pytest_bindy_load.target import BindyTarget
from pytest_bindy_load.workload import MixedWorkload

Manifest = dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class ScenarioContext:
    """What every scenario test needs, as the one ``bindy_scenario`` fixture: the run's profile
    and seed, the target, the cluster with its shared watches, a fresh labelled namespace, the
    fixture generator, a metrics collector, and ``record`` to hand the report to the session."""

    profile: Profile
    run: RunContext
    target: BindyTarget
    cluster: TestCluster
    hub: WatchHub
    namespace: str
    generator: FixtureGenerator
    metrics: MetricsCollector
    record: Callable[[ScenarioReport], None]

    def operations(self, **options: Any) -> CROperations:
        """CROperations in this scenario's namespace through the shared watches."""
        return CROperations(self.cluster.api, self.hub, self.namespace, **options)

    async def open_watches(self, record_kinds: Iterable[str]) -> None:
        """Before t0, so watch start-up is not charged to the first operations."""
        for kind in {ZONE_KIND, *record_kinds}:
            await self.hub.ensure_watching(kind, self.namespace)

    async def create_zones(
        self, ops: CROperations, count: int, *, timeout_s: float
    ) -> tuple[list[Manifest], RunOutcome]:
        """The scenario's zones, all Ready; ``OperationError`` naming each zone that is not."""
        zones = self.generator.zones(
            count, instance_selector=self.target.instance_selector, namespace=self.namespace
        )
        outcome = await create_all(
            lambda m, t: ops.create(m, intended_ns=t, timeout_s=timeout_s), zones
        )
        failed = [r for r in outcome.results if not r.success]
        if failed:
            raise OperationError("zones not Ready: " + "; ".join(map(describe_failure, failed)))
        return zones, outcome

    def records_over(
        self, zones: Sequence[Mapping[str, Any]], count: int, *, kinds: Sequence[str]
    ) -> list[Manifest]:
        return records_over(self.generator, zones, count, kinds=kinds, namespace=self.namespace)

    def mixed_workload(
        self,
        ops: CROperations,
        zones: Sequence[Mapping[str, Any]],
        *,
        kinds: Sequence[str],
        timeout_s: float,
    ) -> MixedWorkload:
        """The profile's [sustained] mix over these zones, seeded by the run, its live set held
        at ``max_live_records``."""
        return MixedWorkload(
            ops,
            self.generator,
            zones,
            mix=self.profile.sustained.mix,
            kinds=kinds,
            namespace=self.namespace,
            seed=self.run.seed,
            timeout_s=timeout_s,
            max_live=self.profile.sustained.max_live_records,
        )

    def judge(
        self,
        snapshot: MetricsSnapshot,
        names: Iterable[str],
        *,
        observed: Mapping[str, float] | None = None,
        required: Collection[str] = (),
    ) -> tuple[CriterionResult, ...]:
        return judge(snapshot, self.profile.criteria, names, observed=observed, required=required)


async def create_all(
    create: Callable[[Manifest, int], Awaitable[OperationResult]], manifests: Sequence[Manifest]
) -> RunOutcome:
    """Every manifest intended at the same t0 (a burst); ``create(manifest, intended_ns)``."""
    calls = [(lambda intended, m=m: create(m, intended)) for m in manifests]
    return await run_open_loop(burst(len(manifests)).intended_offsets_ns(), calls)


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


async def missing_data(
    ops: CROperations,
    dns: DnsClient | None,
    manifests: Sequence[Mapping[str, Any]],
    *,
    timeout_s: float,
    poll_interval_s: float = 0.2,
) -> list[str]:
    """What the target lost: each manifest must be Ready for its current generation and, when
    ``dns`` is given, answer with its rdata, all within ``timeout_s``. One line per loss."""
    deadline = time.monotonic() + timeout_s
    gate = asyncio.Semaphore(50)

    async def check_one(m: Mapping[str, Any]) -> str | None:
        kind, name = m["kind"], m["metadata"]["name"]
        async with gate:
            try:
                _obj, readiness, _ts = await ops.wait_for_ready(
                    kind, name, None, timeout_s=max(0.1, deadline - time.monotonic())
                )
            except DeadlineExceeded:
                return f"{kind}/{name}: not Ready within {timeout_s:g} s"
            if readiness.state is not ReadyState.READY:
                return f"{kind}/{name}: {readiness.reason} {readiness.message}".rstrip()
            if dns is None:
                return None
            fqdn, rdtype, rdatas = expected_rdata(m, m["metadata"]["labels"][ZONE_LABEL])
            try:
                await dns.wait_answerable(
                    fqdn, rdtype, rdatas, deadline, interval_s=poll_interval_s
                )
            except DeadlineExceeded as exc:
                return f"{kind}/{name}: Ready but not in DNS: {exc}"
            return None

    found = await asyncio.gather(*(check_one(m) for m in manifests))
    return [f for f in found if f]


def missing_data_plane(target: BindyTarget, scenario: str, *, bindcar: bool = False) -> str:
    """Why ``scenario`` cannot reach the target's DNS server (and bindcar), as one line naming
    the options that fix it; empty when it can. Nothing is guessed on a cluster."""
    missing = [
        option
        for option, value in (
            ("--dns-server HOST:PORT", target.dns_server),
            ("--bindcar-url URL (token in BINDY_LOAD_BINDCAR_TOKEN)", target.bindcar_url),
        )
        if value is None and (bindcar or option.startswith("--dns"))
    ]
    if not missing:
        return ""
    return (
        f"{scenario} needs addresses {target.description} does not have: port-forward them to "
        f"loopback and pass {' and '.join(missing)}, or run on the local stack"
    )
