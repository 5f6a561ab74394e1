"""Pure parts of the DNS adapter: value normalisation, loopback guard, error translation."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import dns.flags
import dns.message
import dns.rrset
import pytest

from pytest_bindy_load.dns import (
    DnsAnswer,
    DnsClient,
    DnsError,
    normalize_rdatas,
    propagation_error_kind,
    stamp_answerable,
    tsig_key,
)
from pytest_bindy_load.errors import DeadlineExceeded, OperationError, TargetError
from pytest_bindy_load.results import ErrorKind, Operation, OperationResult
from pytest_bindy_load.target import Secret, TsigKey


def test_txt_values_compare_equal_with_or_without_quotes() -> None:
    assert normalize_rdatas("TXT", ["hello"]) == normalize_rdatas("TXT", ['"hello"'])


def test_names_in_rdata_are_absolute_and_case_folded_for_comparison() -> None:
    assert normalize_rdatas("CNAME", ["Target.Example.COM"]) == normalize_rdatas(
        "CNAME", ["target.example.com."]
    )


def test_mx_and_srv_values_keep_their_numbers() -> None:
    assert normalize_rdatas("MX", ["10 mail.example.com."]) == frozenset({"10 mail.example.com."})
    assert normalize_rdatas("SRV", ["1 2 443 svc.example.com."]) == frozenset(
        {"1 2 443 svc.example.com."}
    )


def test_an_invalid_value_raises_an_operation_error_naming_it() -> None:
    with pytest.raises(OperationError, match="not-an-ip"):
        normalize_rdatas("A", ["not-an-ip"])


def test_a_non_loopback_server_is_refused() -> None:
    with pytest.raises(TargetError, match="loopback"):
        DnsClient(("192.0.2.1", 53))


def test_only_noerror_counts_as_ok() -> None:
    def answer(rcode: str) -> DnsAnswer:
        return DnsAnswer(
            name="a.", rdtype="A", rcode=rcode, rdatas=frozenset(), ttl=None, authoritative=True
        )

    assert answer("NOERROR").ok
    assert not answer("REFUSED").ok


def test_a_bad_tsig_secret_error_does_not_show_the_secret() -> None:
    key = TsigKey(name="k", algorithm="hmac-sha256", secret=Secret("!!not*base64!!"))
    with pytest.raises(OperationError) as info:
        tsig_key(key)
    assert "!!not*base64!!" not in str(info.value)
    assert "'k'" in str(info.value)


def _silent_udp_port() -> socket.socket:
    """A bound UDP socket nobody reads: queries to it time out without touching the network."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    return s


async def test_a_server_that_never_answers_gives_a_timeout_dns_error() -> None:
    with _silent_udp_port() as s:
        client = DnsClient(s.getsockname(), timeout_s=0.2)
        with pytest.raises(DnsError) as info:
            await client.query("example.com", "A")
    assert info.value.error_kind is ErrorKind.TIMEOUT


async def test_wait_answerable_gives_up_at_its_deadline() -> None:
    with _silent_udp_port() as s:
        client = DnsClient(s.getsockname(), timeout_s=0.1)
        t0 = time.monotonic()
        with pytest.raises(DeadlineExceeded, match="did not become"):
            await client.wait_answerable("www.example.com", "A", {"10.0.0.1"}, t0 + 0.5)
        assert time.monotonic() - t0 < 1.5


async def test_an_unknown_record_type_is_an_operation_error() -> None:
    with _silent_udp_port() as s:
        client = DnsClient(s.getsockname(), timeout_s=0.1)
        with pytest.raises(OperationError, match="NOPE"):
            await client.query("example.com", "NOPE")


class _Responder(asyncio.DatagramProtocol):
    """A loopback UDP server that answers every query with ``build(query)``; a stand-in for a
    server whose exact reply the test must choose (a referral, a wrong value)."""

    def __init__(self, build: Callable[[dns.message.Message], dns.message.Message]) -> None:
        self.build = build
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # 3.11's selector transport does not subclass DatagramTransport, though it is one.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(self.build(dns.message.from_wire(data)).to_wire(), addr)


@contextlib.asynccontextmanager
async def _responder(
    build: Callable[[dns.message.Message], dns.message.Message],
) -> AsyncIterator[tuple[str, int]]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _Responder(build), local_addr=("127.0.0.1", 0)
    )
    try:
        yield transport.get_extra_info("sockname")[:2]
    finally:
        transport.close()


def _answer_a(value: str) -> Callable[[dns.message.Message], dns.message.Message]:
    def build(query: dns.message.Message) -> dns.message.Message:
        reply = dns.message.make_response(query)
        reply.flags |= dns.flags.AA
        qname = query.question[0].name
        reply.answer.append(dns.rrset.from_text(qname, 60, "IN", "A", value))
        return reply

    return build


def _ready(**more: object) -> OperationResult:
    base: dict[str, Any] = {
        "name": "a-z-00000",
        "namespace": "ns",
        "kind": "ARecord",
        "operation": Operation.CREATE,
        "intended_ns": 1,
        "acknowledged_ns": 2,
        "ready_ns": 3,
        "success": True,
    }
    return OperationResult(**(base | more))


async def test_a_delegation_is_read_from_the_referral_authority_section() -> None:
    def referral(query: dns.message.Message) -> dns.message.Message:
        reply = dns.message.make_response(query)  # no AA: a referral
        reply.authority.append(
            dns.rrset.from_text(query.question[0].name, 300, "IN", "NS", "ns1.child.example.")
        )
        return reply

    async with _responder(referral) as server:
        answer = await DnsClient(server, timeout_s=1).query("sub.zone.example.", "NS")
    assert answer.rdatas == {"ns1.child.example."}
    assert not answer.authoritative


async def test_stamp_answerable_sets_answerable_ns_when_the_expected_answer_arrives() -> None:
    async with _responder(_answer_a("10.0.0.9")) as server:
        before = time.monotonic_ns()
        stamped = await stamp_answerable(
            DnsClient(server, timeout_s=1),
            _ready(),
            "www.zone.example.",
            "A",
            {"10.0.0.9"},
            deadline=time.monotonic() + 5,
        )
    assert stamped.success
    assert stamped.answerable_ns is not None
    assert before <= stamped.answerable_ns <= time.monotonic_ns()
    assert stamped.ready_ns == 3


async def test_a_wrong_answer_until_the_deadline_fails_the_result_as_a_dns_mismatch() -> None:
    async with _responder(_answer_a("10.0.0.9")) as server:
        stamped = await stamp_answerable(
            DnsClient(server, timeout_s=1),
            _ready(),
            "www.zone.example.",
            "A",
            {"10.0.0.1"},
            deadline=time.monotonic() + 0.3,
            interval_s=0.05,
        )
    assert not stamped.success
    assert stamped.error_kind is ErrorKind.DNS_MISMATCH
    assert "10.0.0.9" in stamped.error_message
    assert stamped.answerable_ns is None


async def test_a_server_that_never_replies_fails_the_result_as_a_timeout() -> None:
    with _silent_udp_port() as s:
        stamped = await stamp_answerable(
            DnsClient(s.getsockname(), timeout_s=0.1),
            _ready(),
            "www.zone.example.",
            "A",
            {"10.0.0.1"},
            deadline=time.monotonic() + 0.3,
        )
    assert not stamped.success
    assert stamped.error_kind is ErrorKind.TIMEOUT


async def test_a_result_that_never_became_ready_is_returned_unchanged_without_a_query() -> None:
    failed = _ready(success=False, ready_ns=None, error_kind=ErrorKind.NOT_READY)
    with _silent_udp_port() as s:
        t0 = time.monotonic()
        stamped = await stamp_answerable(
            DnsClient(s.getsockname(), timeout_s=5),
            failed,
            "www.zone.example.",
            "A",
            {"10.0.0.1"},
            deadline=time.monotonic() + 5,
        )
    assert stamped is failed
    assert time.monotonic() - t0 < 1


def test_a_deadline_without_a_query_failure_behind_it_is_a_mismatch() -> None:
    assert propagation_error_kind(DeadlineExceeded("late")) is ErrorKind.DNS_MISMATCH
    late = DeadlineExceeded("late")
    late.__cause__ = DnsError("refused", error_kind=ErrorKind.CONNECTION)
    assert propagation_error_kind(late) is ErrorKind.CONNECTION


# --- many queries over one UDP socket -------------------------------------------------------


async def test_concurrent_queries_on_one_socket_each_get_the_answer_to_their_own_question() -> None:
    def echo_name(query: dns.message.Message) -> dns.message.Message:
        # The address encodes the question, so a reply routed to the wrong query shows.
        n = int(query.question[0].name.labels[0][1:])
        return _answer_a(f"10.0.{n // 256}.{n % 256}")(query)

    async with _responder(echo_name) as server, DnsClient(server, timeout_s=2).udp_socket() as udp:
        answers = await asyncio.gather(*(udp.query(f"n{i}.z.example.", "A") for i in range(100)))
    assert [a.rdatas for a in answers] == [
        frozenset({f"10.0.{i // 256}.{i % 256}"}) for i in range(100)
    ]
    assert all(a.authoritative and a.ttl == 60 for a in answers)


async def test_a_reply_to_another_question_under_the_same_id_is_not_taken_as_the_answer() -> None:
    def wrong_then_right(query: dns.message.Message) -> dns.message.Message:
        return _answer_a("10.0.0.1")(query)

    loop = asyncio.get_running_loop()
    stray_sent = asyncio.Event()

    class StrayFirst(_Responder):
        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            assert self.transport is not None
            query = dns.message.from_wire(data)
            other = dns.message.make_query("other.z.example.", "A")
            other.id = query.id
            self.transport.sendto(_answer_a("10.9.9.9")(other).to_wire(), addr)
            stray_sent.set()
            loop.call_later(0.05, super().datagram_received, data, addr)

    transport, _ = await loop.create_datagram_endpoint(
        lambda: StrayFirst(wrong_then_right), local_addr=("127.0.0.1", 0)
    )
    try:
        server = transport.get_extra_info("sockname")[:2]
        async with DnsClient(server, timeout_s=2).udp_socket() as udp:
            answer = await udp.query("www.z.example.", "A")
    finally:
        transport.close()
    assert stray_sent.is_set()
    assert answer.rdatas == {"10.0.0.1"}


async def test_an_unanswered_query_on_the_shared_socket_is_a_timeout_and_frees_its_id() -> None:
    with _silent_udp_port() as s:
        async with DnsClient(s.getsockname(), timeout_s=0.1).udp_socket() as udp:
            with pytest.raises(DnsError) as info:
                await udp.query("www.z.example.", "A")
            assert not udp.in_flight
    assert info.value.error_kind is ErrorKind.TIMEOUT
    assert "www.z.example." in str(info.value)


async def test_a_changed_answer_to_the_same_question_is_read_anew_on_the_shared_socket() -> None:
    value = ["10.0.0.1"]

    def current(query: dns.message.Message) -> dns.message.Message:
        return _answer_a(value[0])(query)

    async with _responder(current) as server, DnsClient(server, timeout_s=2).udp_socket() as udp:
        first = await udp.query("www.z.example.", "A")
        again = await udp.query("www.z.example.", "A")
        value[0] = "10.0.0.2"
        changed = await udp.query("www.z.example.", "A")
    assert (first.rdatas, again.rdatas) == ({"10.0.0.1"}, {"10.0.0.1"})
    assert changed.rdatas == {"10.0.0.2"}


@contextlib.asynccontextmanager
async def _tcp_responder(
    build: Callable[[dns.message.Message], dns.message.Message],
) -> AsyncIterator[tuple[str, int]]:
    """A loopback DNS-over-TCP server (length-prefixed messages), like a port-forward's end."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        size = int.from_bytes(await reader.readexactly(2), "big")
        wire = build(dns.message.from_wire(await reader.readexactly(size))).to_wire()
        writer.write(len(wire).to_bytes(2, "big") + wire)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[:2]
    finally:
        server.close()
        await server.wait_closed()


async def test_a_client_made_for_tcp_asks_over_tcp_unless_a_query_says_otherwise() -> None:
    async with _tcp_responder(_answer_a("10.0.0.7")) as server:
        client = DnsClient(server, timeout_s=0.5, tcp=True)
        answer = await client.query("www.z.example.", "A")
        assert answer.rdatas == {"10.0.0.7"}
        # Nothing listens for UDP on that port: an explicit UDP query gets no answer.
        with pytest.raises(DnsError):
            await client.query("www.z.example.", "A", tcp=False)
