"""DNS: open-loop queries at the profile's rate against the target's DNS server, over records the
operator published, every answer checked against the record's data.

The records are created as CRs and must be Ready *and* answering before t0, so a wrong answer
under load is the server's, not propagation's. Queries start on a fixed schedule whatever the
server does: latency counts from the intended start, so a client or server that falls behind
shows in the p99, and a query due while ``max_in_flight`` are outstanding is dropped and
counted. The client is one Python process sharing one UDP socket (TCP: a connection per
query); its own ceiling bounds what this scenario can offer, whatever the server could take,
and a client behind its schedule says so in the report. Only ``sc.target.dns_server`` is
queried (loopback on the local stack).
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial

import pytest

from pytest_bindy_load.dns import DnsAnswer, DnsError, client_for, normalize_rdatas
from pytest_bindy_load.errors import OperationError
from pytest_bindy_load.generators import ZONE_LABEL, expected_rdata
from pytest_bindy_load.profiles import DnsLoadConfig
from pytest_bindy_load.report import ScenarioReport
from pytest_bindy_load.results import RECORD_KINDS, ErrorKind, Operation, OperationResult
from pytest_bindy_load.runner import OperationFactory, run_stream
from pytest_bindy_load.scenario import (
    Manifest,
    ScenarioContext,
    create_all,
    describe_failure,
    failure_message,
    missing_data,
    missing_data_plane,
)
from pytest_bindy_load.scheduler import Phase, Schedule

# The query p99 is the point of the scenario (required); the answer rate only when the profile
# sets a minimum.
DNS_CRITERIA = ("dns_p99_s", "dns_rate_per_s", "error_rate_max")
MAX_LISTED = 10
# A client behind its schedule by more than this gets a note: its own delay is in the latency.
LAG_NOTE_MS = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Expected:
    """What one record must answer: its RRset as dnspython prints it, and canonicalised."""

    kind: str
    name: str
    rdtype: str
    rdatas: frozenset[str]
    canonical: frozenset[str]

    @classmethod
    def of(cls, manifest: Manifest) -> Expected:
        name, rdtype, rdatas = expected_rdata(manifest, manifest["metadata"]["labels"][ZONE_LABEL])
        return cls(
            kind=manifest["kind"],
            name=name,
            rdtype=rdtype,
            rdatas=rdatas,
            canonical=normalize_rdatas(rdtype, rdatas),
        )


def mismatch(answer: DnsAnswer, want: Expected) -> str | None:
    """None when ``answer`` is exactly the record's RRset, else what is wrong with it.

    Most answers print as the generator predicts, so the text comparison decides cheaply; only
    a difference is canonicalised (case, quoting) before it counts as a mismatch.
    """
    if answer.rcode != "NOERROR":
        return f"rcode {answer.rcode}, expected NOERROR with {sorted(want.rdatas)}"
    if answer.rdatas == want.rdatas:
        return None
    try:
        if answer.rdatas and normalize_rdatas(want.rdtype, answer.rdatas) == want.canonical:
            return None
    except OperationError:
        pass  # unparsable rdata is a mismatch like any other
    return f"answered {sorted(answer.rdatas)}, expected {sorted(want.rdatas)}"


Ask = Callable[[str, str], Awaitable[DnsAnswer]]  # one query: name, type -> the reply


class QueryLoad:
    """Hands ``run_stream`` one query at a time, cycling over the records in order, so every
    record (and every kind) gets its share of the load."""

    def __init__(self, ask: Ask, targets: Sequence[Expected], *, namespace: str) -> None:
        if not targets:
            raise ValueError("a query load needs at least one record to ask for")
        self._ask = ask
        self._targets = tuple(targets)
        self._namespace = namespace
        self._turn = itertools.cycle(self._targets)

    def next_operation(self) -> OperationFactory:
        want = next(self._turn)
        return lambda intended_ns: self.query(want, intended_ns)

    async def query(self, want: Expected, intended_ns: int) -> OperationResult:
        """One query as one result: acknowledged when a reply arrives, successful only when it
        is the record's RRset (a wrong or empty reply is DNS_MISMATCH)."""
        sent = time.monotonic_ns()
        try:
            answer = await self._ask(want.name, want.rdtype)
        except DnsError as e:
            return self._result(want, intended_ns, sent, None, e.error_kind, str(e))
        replied = time.monotonic_ns()
        problem = mismatch(answer, want)
        if problem is None:
            return self._result(want, intended_ns, sent, replied, ErrorKind.NONE, "")
        message = f"{want.name} {want.rdtype}: {problem}"
        return self._result(want, intended_ns, sent, replied, ErrorKind.DNS_MISMATCH, message)

    def _result(
        self,
        want: Expected,
        intended_ns: int,
        sent_ns: int,
        replied_ns: int | None,
        error_kind: ErrorKind,
        message: str,
    ) -> OperationResult:
        return OperationResult(
            name=want.name,
            namespace=self._namespace,
            kind=want.kind,
            operation=Operation.QUERY,
            intended_ns=intended_ns,
            sent_ns=sent_ns,
            acknowledged_ns=replied_ns,
            success=error_kind is ErrorKind.NONE,
            error_kind=error_kind,
            error_message=message,
        )


class Tally:
    """Counts each query's result as it completes and passes it on to the metrics, so a long
    load keeps histograms and counters, not a result per query."""

    def __init__(self, record: Callable[[OperationResult], None]) -> None:
        self._record = record
        self.started = self.answered = self.correct = 0

    def add(self, result: OperationResult) -> None:
        self.started += 1
        self.answered += result.acknowledged_ns is not None
        self.correct += result.success
        self._record(result)


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """Keep the objects that exist before the load out of the garbage collector's full passes
    during it: on this plugin's heap one such pass stalls the event loop for ~70 ms, which open
    loop would charge to the server as query latency. Objects made during the load are still
    collected."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@pytest.mark.dns
async def test_dns(dns_config: DnsLoadConfig, bindy_scenario: ScenarioContext) -> None:
    cfg, sc = dns_config, bindy_scenario
    if why := missing_data_plane(sc.target, "dns"):
        pytest.fail(why)
    dns = client_for(sc.target, timeout_s=cfg.query_timeout_s)
    assert dns is not None
    tcp = cfg.tcp or dns.tcp
    ops = sc.operations(ready_timeout_s=cfg.ready_timeout_s)
    await sc.open_watches(RECORD_KINDS)
    zones, _ = await sc.create_zones(ops, cfg.zones, timeout_s=cfg.ready_timeout_s)
    records = sc.records_over(zones, cfg.records, kinds=RECORD_KINDS)
    created = await create_all(
        lambda m, t: ops.create(m, intended_ns=t, timeout_s=cfg.ready_timeout_s), records
    )
    not_ready = [describe_failure(r) for r in created.results if not r.success]
    if not_ready:
        pytest.fail(
            f"dns: {len(not_ready)} of {len(records)} records not Ready, nothing to query:\n  "
            + "\n  ".join(not_ready[:MAX_LISTED])
        )
    silent = await missing_data(ops, dns, records, timeout_s=cfg.ready_timeout_s)
    if silent:
        pytest.fail(
            f"dns: {len(silent)} of {len(records)} records Ready but not answering before the "
            "load:\n  " + "\n  ".join(silent[:MAX_LISTED])
        )

    schedule = Schedule(phases=(Phase.constant(cfg.duration_s, cfg.rate_qps),))
    async with dns.udp_socket() as udp:
        ask: Ask = partial(dns.query, tcp=True) if tcp else udp.query
        load = QueryLoad(ask, [Expected.of(m) for m in records], namespace=sc.namespace)
        tally = Tally(sc.metrics.add)
        with frozen_heap():
            run = await run_stream(
                schedule.iter_offsets_ns(),
                load.next_operation,
                max_in_flight=cfg.max_in_flight,
                on_result=tally.add,
            )
    snapshot = sc.metrics.snapshot()
    answered, correct = tally.answered, tally.correct
    query = snapshot.latency["operation"]
    observed = {"dns_rate_per_s": correct / cfg.duration_s}
    if query.count:
        observed["dns_p99_s"] = query.p99_ms / 1000
    results = sc.judge(snapshot, DNS_CRITERIA, observed=observed, required=("dns_p99_s",))
    notes = []
    if run.dropped:
        notes.append(f"{run.dropped} queries dropped: {cfg.max_in_flight} still in flight")
    lag = snapshot.latency["scheduler_lag"]
    if lag.p99_ms > LAG_NOTE_MS:
        notes.append(
            f"the client fell behind its schedule (scheduler lag p99 {lag.p99_ms:g} ms), and "
            "that delay counts in the query latency: the load may exceed what one client offers"
        )
    sc.record(
        ScenarioReport(
            name="dns",
            parameters={
                "zones": cfg.zones,
                "records": cfg.records,
                "rate_qps": cfg.rate_qps,
                "duration_s": cfg.duration_s,
                "max_in_flight": cfg.max_in_flight,
                "transport": "tcp" if tcp else "udp",
                "offered": tally.started + run.dropped,
                "dropped": run.dropped,
                "answered": answered,
                "correct": correct,
                "qps_achieved": correct / cfg.duration_s,
                "query_p50_ms": query.p50_ms,
                "query_p99_ms": query.p99_ms,
                "records_ready_s": created.first_create_to_last_ready_s,
            },
            metrics=snapshot,
            criteria=results,
            notes=tuple(notes),
        )
    )
    failure = failure_message(
        f"dns at {cfg.rate_qps:g} queries/s for {cfg.duration_s:g} s", results
    )
    assert not failure, failure
