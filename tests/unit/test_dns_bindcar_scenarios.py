"""Pure parts of the dns and bindcar scenarios (loadtests/test_dns.py, loadtests/test_bindcar.py):
how an answer is judged, how one query becomes one result, and how the bindcar load is laid out.
Queries go to loopback UDP stand-ins whose exact reply each test chooses."""

from __future__ import annotations

import time

import dns.message
import dns.name
import pytest

from loadtests.test_bindcar import ZONE_PREFIX, evenly_spaced_ns, soa_of, zone_names
from loadtests.test_dns import Expected, QueryLoad, mismatch
from pytest_bindy_load.dns import DnsAnswer, DnsClient
from pytest_bindy_load.generators import FixtureGenerator
from pytest_bindy_load.results import RDTYPES, RECORD_KINDS, ErrorKind, Operation
from tests.unit.test_dns import _answer_a, _responder, _silent_udp_port

RUN_ID = "5eed0f1e2d3c4b5a69788776a5b4c3d2"
NS_PER_S = 1_000_000_000


def expected_a(*values: str, name: str = "www.z.example.") -> Expected:
    rdatas = frozenset(values)
    return Expected(kind="ARecord", name=name, rdtype="A", rdatas=rdatas, canonical=rdatas)


def answer(rdtype: str, *rdatas: str, rcode: str = "NOERROR") -> DnsAnswer:
    return DnsAnswer(
        name="x.z.example.",
        rdtype=rdtype,
        rcode=rcode,
        rdatas=frozenset(rdatas),
        ttl=60 if rdatas else None,
        authoritative=True,
    )


def generated(kind: str) -> Expected:
    gen = FixtureGenerator(7, RUN_ID)
    zone = gen.zone(0, instance_selector={"a": "b"}, namespace="ns")
    return Expected.of(gen.record(kind, zone, 0, namespace="ns"))


# --- judging one answer -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", RECORD_KINDS)
def test_every_generated_kind_is_expected_as_dns_prints_it(kind: str) -> None:
    want = generated(kind)
    assert want.kind == kind
    assert want.rdtype == RDTYPES[kind]
    assert want.name.endswith(".loadtest.example.")
    assert want.rdatas
    assert mismatch(answer(want.rdtype, *want.rdatas), want) is None


def test_an_answer_spelled_differently_but_equal_is_correct() -> None:
    cname = generated("CNAMERecord")
    (target,) = cname.rdatas
    assert mismatch(answer("CNAME", target.upper()), cname) is None
    txt = generated("TXTRecord")
    (text,) = txt.rdatas
    assert " " not in text  # one string: with or without quotes it is the same TXT
    assert mismatch(answer("TXT", text.strip('"')), txt) is None


@pytest.mark.parametrize(
    ("reply", "fragment"),
    [
        (answer("A", "10.0.0.9"), "answered ['10.0.0.9'], expected ['10.0.0.1']"),
        (answer("A", "10.0.0.1", "10.0.0.2"), "answered ['10.0.0.1', '10.0.0.2']"),
        (answer("A"), "answered [], expected ['10.0.0.1']"),
        (answer("A", rcode="NXDOMAIN"), "rcode NXDOMAIN, expected NOERROR with ['10.0.0.1']"),
        (answer("A", rcode="SERVFAIL"), "rcode SERVFAIL"),
    ],
)
def test_a_wrong_empty_or_failed_answer_is_a_mismatch_naming_both_sides(
    reply: DnsAnswer, fragment: str
) -> None:
    problem = mismatch(reply, expected_a("10.0.0.1"))
    assert problem is not None
    assert fragment in problem


# --- one query, one result --------------------------------------------------------------------


async def test_a_query_answered_with_the_records_data_is_one_successful_result() -> None:
    async with _responder(_answer_a("10.0.0.1")) as server:
        load = QueryLoad(DnsClient(server).query, [expected_a("10.0.0.1")], namespace="ns")
        intended = time.monotonic_ns()
        r = await load.next_operation()(intended)
    assert r.success
    assert (r.kind, r.name, r.namespace) == ("ARecord", "www.z.example.", "ns")
    assert r.operation is Operation.QUERY
    assert r.error_kind is ErrorKind.NONE
    assert r.sent_ns is not None
    assert r.acknowledged_ns is not None
    assert intended <= r.sent_ns <= r.acknowledged_ns
    assert r.operation_latency_ns is not None
    assert r.operation_latency_ns > 0


async def test_a_wrong_answer_is_a_received_but_failed_dns_mismatch() -> None:
    async with _responder(_answer_a("10.0.0.9")) as server:
        load = QueryLoad(DnsClient(server).query, [expected_a("10.0.0.1")], namespace="ns")
        r = await load.next_operation()(0)
    assert not r.success
    assert r.error_kind is ErrorKind.DNS_MISMATCH
    assert r.acknowledged_ns is not None  # a reply came: the server answered wrongly
    assert r.error_message == ("www.z.example. A: answered ['10.0.0.9'], expected ['10.0.0.1']")


async def test_a_query_without_a_reply_is_a_timeout_never_acknowledged() -> None:
    with _silent_udp_port() as s:
        client = DnsClient(s.getsockname(), timeout_s=0.1)
        load = QueryLoad(client.query, [expected_a("10.0.0.1")], namespace="ns")
        r = await load.next_operation()(0)
    assert not r.success
    assert r.error_kind is ErrorKind.TIMEOUT
    assert r.acknowledged_ns is None
    assert r.sent_ns is not None


async def test_the_load_asks_for_each_record_in_turn() -> None:
    asked: list[str] = []
    reply_a = _answer_a("10.0.0.1")

    def build(query: dns.message.Message) -> dns.message.Message:
        asked.append(query.question[0].name.to_text())
        return reply_a(query)

    targets = [expected_a("10.0.0.1", name=f"n{i}.z.example.") for i in range(3)]
    async with _responder(build) as server:
        load = QueryLoad(DnsClient(server).query, targets, namespace="ns")
        results = [await load.next_operation()(0) for _ in range(7)]
    assert all(r.success for r in results)
    assert asked == [f"n{i % 3}.z.example." for i in range(7)]
    assert [dns.name.from_text(r.name).labels[0] for r in results] == [
        f"n{i % 3}".encode() for i in range(7)
    ]


def test_a_load_without_records_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one record"):
        QueryLoad(DnsClient(("127.0.0.1", 53)).query, [], namespace="ns")


# --- bindcar: names and spacing ---------------------------------------------------------------


def test_bindcar_zones_carry_their_own_prefix_and_the_run_id() -> None:
    names = zone_names(FixtureGenerator(7, RUN_ID, zone_prefix=ZONE_PREFIX), 3)
    assert names == [f"bindcar{i:04d}-5eed0f1e.loadtest.example" for i in range(3)]
    operator_zone = FixtureGenerator(7, RUN_ID, zone_prefix="t1z").zone_name(0)
    assert operator_zone not in names


def test_the_soa_sent_names_the_zones_own_servers() -> None:
    soa = soa_of("bindcar0000-5eed0f1e.loadtest.example")
    assert soa["primaryNs"] == "ns1.bindcar0000-5eed0f1e.loadtest.example."
    assert soa["adminEmail"] == "hostmaster.bindcar0000-5eed0f1e.loadtest.example."
    assert isinstance(soa["serial"], int)


@pytest.mark.parametrize(
    ("count", "rate", "offsets_s"),
    [
        (5, 2.0, [0, 0.5, 1.0, 1.5, 2.0]),
        (3, 3.0, [0, 1 / 3, 2 / 3]),
        (1, 0.1, [0]),
        (0, 5.0, []),
    ],
)
def test_bindcar_requests_are_spaced_evenly_and_exactly_counted(
    count: int, rate: float, offsets_s: list[float]
) -> None:
    assert evenly_spaced_ns(count, rate) == [round(t * NS_PER_S) for t in offsets_s]


@pytest.mark.parametrize(("count", "rate"), [(3, 0.0), (3, -1.0), (-1, 1.0)])
def test_a_zero_or_negative_rate_or_count_is_refused(count: int, rate: float) -> None:
    with pytest.raises(ValueError, match="need count >= 0 and a rate > 0"):
        evenly_spaced_ns(count, rate)
