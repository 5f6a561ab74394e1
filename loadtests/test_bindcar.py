"""bindcar: zones created, then deleted, through bindcar's REST API directly (the calls bindy
makes for a DNSZone), open-loop at the profile's rate, each followed to DNS.

Requests start on a fixed schedule whatever bindcar does: latency is intended start -> HTTP
response, so queueing behind slow ``rndc addzone`` calls counts, and a request due while
``max_in_flight`` are outstanding is dropped and counted. A created zone must answer its SOA
with the serial sent, a deleted one must stop answering, both within ``timeout_s``; a zone that
does not counts as failed (DNS_MISMATCH). These zones are not DNSZone resources: their names
carry their own prefix and the run id, so they never meet the operator's zones, and every one
is deleted at the end, whatever happened. bindcar's default rate limit (1 request/s, burst 10,
per client address; the local stack turns it off) shows as THROTTLED errors, not as latency.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence

import pytest

from pytest_bindy_load.bindcar import BindcarClient, BindcarError
from pytest_bindy_load.dns import DnsClient, DnsError, client_for
from pytest_bindy_load.generators import FixtureGenerator
from pytest_bindy_load.metrics import MetricsCollector, MetricsSnapshot
from pytest_bindy_load.profiles import BindcarLoadConfig, Profile, RunContext
from pytest_bindy_load.report import ScenarioReport
from pytest_bindy_load.results import ErrorKind, Operation, OperationResult
from pytest_bindy_load.runner import RunOutcome, run_stream
from pytest_bindy_load.scenario import (
    describe_failure,
    failure_message,
    judge,
    missing_data_plane,
)
from pytest_bindy_load.target import BindyTarget

log = logging.getLogger(__name__)

BINDCAR_CRITERIA = ("bindcar_p99_s", "error_rate_max")
# Kind of the results: zones that exist in bindcar and named only, not DNSZone resources.
ZONE = "Zone"
ZONE_PREFIX = "bindcar"  # the operator's zones use the generator fixture's t<n>z prefixes
SERIAL = 2026010101
NS_PER_S = 1_000_000_000
POLL_INTERVAL_S = 0.05
CHECK_CONCURRENCY = 20
MAX_LISTED = 10


def zone_names(generator: FixtureGenerator, count: int) -> list[str]:
    """``bindcar0000-<run8>.loadtest.example`` ...: unique to this run and this scenario."""
    return [generator.zone_name(i) for i in range(count)]


def evenly_spaced_ns(count: int, rate_per_s: float) -> list[int]:
    """Intended offsets of ``count`` requests at ``rate_per_s``: exactly ``count``, the first at
    0 (a schedule built from a duration could round to one more or one less)."""
    if count < 0 or not rate_per_s > 0:
        raise ValueError(f"need count >= 0 and a rate > 0, got {count} at {rate_per_s}")
    return [round(i * NS_PER_S / rate_per_s) for i in range(count)]


def soa_of(zone: str) -> dict[str, object]:
    return {
        "primaryNs": f"ns1.{zone}.",
        "adminEmail": f"hostmaster.{zone}.",
        "serial": SERIAL,
        "refresh": 3600,
        "retry": 600,
        "expire": 604800,
        "negativeTtl": 300,
    }


class ZoneRequests:
    """One bindcar request per call, each measured as an ``OperationResult``."""

    def __init__(self, client: BindcarClient, target: BindyTarget, *, glue_ip: str) -> None:
        self._client = client
        self._glue_ip = glue_ip  # the A record of the zone's ns1, as bindy sends pod IPs
        # bindy names the instance's TSIG key, so named accepts signed updates to the zone.
        self._key_name = target.tsig.name if target.tsig is not None else None

    async def create(self, zone: str, intended_ns: int) -> OperationResult:
        return await self._timed(
            Operation.CREATE,
            zone,
            intended_ns,
            lambda: self._client.create_zone(
                zone,
                soa=soa_of(zone),
                name_servers=[f"ns1.{zone}."],
                name_server_ips={f"ns1.{zone}.": self._glue_ip},
                update_key_name=self._key_name,
            ),
        )

    async def delete(self, zone: str, intended_ns: int) -> OperationResult:
        return await self._timed(
            Operation.DELETE, zone, intended_ns, lambda: self._client.delete_zone(zone)
        )

    async def _timed(
        self,
        operation: Operation,
        zone: str,
        intended_ns: int,
        call: Callable[[], Awaitable[object]],
    ) -> OperationResult:
        result = OperationResult(
            name=zone,
            namespace="",  # not a Kubernetes object
            kind=ZONE,
            operation=operation,
            intended_ns=intended_ns,
            sent_ns=time.monotonic_ns(),
        )
        try:
            await call()
        except BindcarError as e:
            responded = time.monotonic_ns() if e.status is not None else None
            return dataclasses.replace(
                result,
                acknowledged_ns=responded,
                error_kind=e.error_kind,
                error_message=str(e),
            )
        return dataclasses.replace(result, acknowledged_ns=time.monotonic_ns(), success=True)


async def run_requests(
    zones: Sequence[str],
    request: Callable[[str, int], Awaitable[OperationResult]],
    cfg: BindcarLoadConfig,
) -> RunOutcome:
    """``request(zone, intended_ns)`` for every zone, open-loop at ``cfg.rate_per_s``."""
    pending = iter(zones)

    def next_operation() -> Callable[[int], Awaitable[OperationResult]]:
        zone = next(pending)
        return lambda intended_ns: request(zone, intended_ns)

    offsets = evenly_spaced_ns(len(zones), cfg.rate_per_s)
    return await run_stream(offsets, next_operation, max_in_flight=cfg.max_in_flight)


async def follow_to_dns(
    dns: DnsClient, results: Iterable[OperationResult], *, present: bool, timeout_s: float
) -> list[OperationResult]:
    """Each successful result stays successful only if DNS follows within ``timeout_s``: the
    zone answers its SOA with ``SERIAL`` (``present``) or stops answering it."""
    deadline = time.monotonic() + timeout_s
    gate = asyncio.Semaphore(CHECK_CONCURRENCY)

    async def one(r: OperationResult) -> OperationResult:
        if not r.success:
            return r
        async with gate:
            seen: int | str | None = "no reply"
            while True:
                try:
                    seen = await dns.soa_serial(r.name)
                except DnsError as e:
                    seen = f"no reply ({e.error_kind})"
                if (seen == SERIAL) if present else (seen is None):
                    return r
                if time.monotonic() >= deadline:
                    break
                await asyncio.sleep(POLL_INTERVAL_S)
        want = f"SOA serial {SERIAL}" if present else "no SOA"
        return dataclasses.replace(
            r,
            success=False,
            error_kind=ErrorKind.DNS_MISMATCH,
            error_message=f"{r.operation} {r.name}: DNS gave {seen!r}, not {want}, "
            f"within {timeout_s:g} s of the response",
        )

    return list(await asyncio.gather(*(one(r) for r in results)))


async def delete_quietly(client: BindcarClient, zones: Iterable[str]) -> list[str]:
    """Best-effort cleanup: delete each zone, ignoring bindcar's 500 for one it does not have;
    returns the zones bindcar still lists afterwards."""
    gate = asyncio.Semaphore(CHECK_CONCURRENCY)
    wanted = set(zones)

    async def one(zone: str) -> None:
        async with gate:
            try:
                await client.delete_zone(zone)
            except BindcarError as e:
                log.debug("cleanup of bindcar zone %s: %s", zone, e)

    await asyncio.gather(*(one(z) for z in sorted(wanted)))
    try:
        listed = await client.list_zones()
    except BindcarError as e:
        return [f"cannot list bindcar's zones to check the cleanup: {e}"]
    return sorted(z for z in listed if z.rstrip(".") in wanted)


def by_operation_ms(snapshot: MetricsSnapshot, operation: Operation) -> dict[str, float]:
    stats = snapshot.by_operation.get(str(operation), {}).get("operation")
    if stats is None or stats.count == 0:
        return {}
    return {"count": stats.count, "p50_ms": stats.p50_ms, "p99_ms": stats.p99_ms}


@pytest.mark.bindcar
async def test_bindcar(
    bindcar_config: BindcarLoadConfig,
    bindy_profile: Profile,
    bindy_run: RunContext,
    bindy_target: BindyTarget,
    metrics: MetricsCollector,
    record_scenario: Callable[[ScenarioReport], None],
) -> None:
    cfg = bindcar_config
    if why := missing_data_plane(bindy_target, "bindcar", bindcar=True):
        pytest.fail(why)
    assert bindy_target.bindcar_url is not None
    names = FixtureGenerator(bindy_run.seed, bindy_run.run_id, zone_prefix=ZONE_PREFIX)
    zones = zone_names(names, cfg.zones)
    dns = client_for(bindy_target, timeout_s=min(cfg.timeout_s, 2.0))
    assert dns is not None
    deleted: set[str] = set()
    async with BindcarClient(
        bindy_target.bindcar_url, bindy_target.bindcar_token, timeout=cfg.timeout_s
    ) as client:
        requests = ZoneRequests(client, bindy_target, glue_ip=bindy_target.dns_server[0])
        try:
            creates = await run_requests(zones, requests.create, cfg)
            created = await follow_to_dns(
                dns, creates.results, present=True, timeout_s=cfg.timeout_s
            )
            # Every zone bindcar said it created is deleted, also one DNS did not show.
            to_delete = [r.name for r in creates.results if r.success]
            deletes = await run_requests(to_delete, requests.delete, cfg)
            deleted.update(r.name for r in deletes.results if r.success)
            gone = await follow_to_dns(dns, deletes.results, present=False, timeout_s=cfg.timeout_s)
        finally:
            # Anything not confirmed deleted: a failed or timed-out create may still have
            # made its zone, and a failure above must not leave zones behind either.
            left = await delete_quietly(client, [z for z in zones if z not in deleted])
    metrics.add_all(created)
    metrics.add_all(gone)
    snapshot = metrics.snapshot()
    requests_stats = snapshot.latency["operation"]
    observed = {"bindcar_p99_s": requests_stats.p99_ms / 1000} if requests_stats.count else {}
    results = judge(
        snapshot,
        bindy_profile.criteria,
        BINDCAR_CRITERIA,
        observed=observed,
        required=("bindcar_p99_s",),
    )
    problems = []
    if left:
        problems.append(f"zones left in bindcar after cleanup: {', '.join(left[:MAX_LISTED])}")
    failed = [describe_failure(r) for r in (*created, *gone) if not r.success]
    notes = [f"failed: {line}" for line in failed[:MAX_LISTED]]
    dropped = creates.dropped + deletes.dropped
    if dropped:
        notes.append(f"{dropped} requests dropped: {cfg.max_in_flight} still in flight")
    record_scenario(
        ScenarioReport(
            name="bindcar",
            parameters={
                "zones": cfg.zones,
                "rate_per_s": cfg.rate_per_s,
                "timeout_s": cfg.timeout_s,
                "max_in_flight": cfg.max_in_flight,
                "zone_prefix": ZONE_PREFIX,
                "created": len(to_delete),
                "answering_soa": sum(r.success for r in created),
                "deleted": len(deleted),
                "gone_from_dns": sum(r.success for r in gone),
                "dropped_creates": creates.dropped,
                "dropped_deletes": deletes.dropped,
                "create": by_operation_ms(snapshot, Operation.CREATE),
                "delete": by_operation_ms(snapshot, Operation.DELETE),
                "left_after_cleanup": len(left),
            },
            metrics=snapshot,
            criteria=results,
            notes=tuple(notes),
        )
    )
    failure = failure_message(
        f"bindcar: {cfg.zones} zones created and deleted at {cfg.rate_per_s:g}/s",
        results,
        problems,
    )
    assert not failure, failure
