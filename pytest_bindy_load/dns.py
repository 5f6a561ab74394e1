"""DNS adapter: queries and TSIG-signed RFC 2136 updates with dnspython's async API.

Talks to one server given by address, which must be loopback. dnspython errors become
``DnsError`` here, so callers never import dnspython to handle a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, replace
from typing import Any

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.SOA
import dns.tsig
import dns.update

from pytest_bindy_load.errors import DeadlineExceeded, OperationError
from pytest_bindy_load.results import ErrorKind, OperationResult
from pytest_bindy_load.target import BindyTarget, TsigKey, require_loopback

log = logging.getLogger(__name__)

# bindy's operator signs with a 300 s fudge (CONTRACT 5.3); so do we.
TSIG_FUDGE_S = 300
# Rcodes a delete may return and still mean "the RRset is gone" (CONTRACT 5.3).
DELETE_OK = frozenset({"NOERROR", "NXDOMAIN", "NXRRSET"})
RECEIVE_BUFFER_BYTES = 4 << 20  # the load client's shared UDP socket


class DnsError(OperationError):
    """A query or update got no usable reply; ``error_kind`` says why, for grouping."""

    def __init__(self, message: str, *, error_kind: ErrorKind) -> None:
        super().__init__(message)
        self.error_kind = error_kind


@dataclass(frozen=True, slots=True, kw_only=True)
class DnsAnswer:
    """One reply: rcode name, the answer RRset in presentation format, and its TTL.

    ``rdatas`` is empty for NXDOMAIN and NODATA; ``ttl`` is None then.
    """

    name: str
    rdtype: str
    rcode: str
    rdatas: frozenset[str]
    ttl: int | None
    authoritative: bool

    @property
    def ok(self) -> bool:
        return self.rcode == "NOERROR"


def tsig_key(key: TsigKey) -> dns.tsig.Key:
    """dnspython's key object for our ``TsigKey``; the secret only leaves ``Secret`` here."""
    try:
        return dns.tsig.Key(key.name, key.secret.reveal(), key.algorithm)
    except (ValueError, dns.exception.DNSException) as e:
        # Never echo the secret: name the key and the kind of problem only.
        raise OperationError(
            f"TSIG key {key.name!r} ({key.algorithm}) is unusable: {type(e).__name__}"
        ) from None


def normalize_rdatas(rdtype: str, texts: Iterable[str]) -> frozenset[str]:
    """Canonical presentation text (RFC 4034 6.2: names lower-cased, absolute), so ``hello`` and
    ``"hello"`` or ``Target.Example`` and ``target.example.`` compare equal.

    Names inside rdata that lack a trailing dot are taken as absolute.
    """
    rdt = dns.rdatatype.from_text(rdtype)
    out: set[str] = set()
    for text in texts:
        try:
            rd = dns.rdata.from_text(dns.rdataclass.IN, rdt, text, origin=dns.name.root)
            wire = rd.to_digestable(dns.name.root)
            canonical = dns.rdata.from_wire(dns.rdataclass.IN, rdt, wire, 0, len(wire))
        except dns.exception.DNSException as e:
            raise OperationError(f"{rdtype} value {text!r} is not valid: {e}") from e
        out.add(canonical.to_text(relativize=False))
    return frozenset(out)


def _parse(name: str, rdtype: str) -> tuple[dns.name.Name, dns.rdatatype.RdataType]:
    try:
        return dns.name.from_text(name), dns.rdatatype.from_text(rdtype)
    except dns.exception.DNSException as e:
        raise OperationError(f"bad query {name!r} {rdtype!r}: {e}") from e


def _kind_of(exc: BaseException) -> ErrorKind:
    if isinstance(exc, dns.exception.Timeout | TimeoutError):
        return ErrorKind.TIMEOUT
    if isinstance(exc, ConnectionError | OSError):
        return ErrorKind.CONNECTION
    return ErrorKind.OTHER


class DnsClient:
    """Queries and updates to one loopback DNS server. Cheap: holds no socket between calls.
    ``tcp`` is the transport of queries that do not choose one (a port-forward is TCP only)."""

    __slots__ = ("_server", "_tcp", "_timeout_s")

    def __init__(
        self, server: tuple[str, int], *, timeout_s: float = 2.0, tcp: bool = False
    ) -> None:
        require_loopback(server[0], "DNS server")
        self._server = server
        self._timeout_s = timeout_s
        self._tcp = tcp

    def __repr__(self) -> str:
        return f"DnsClient({self._server[0]}:{self._server[1]})"

    @property
    def server(self) -> tuple[str, int]:
        return self._server

    @property
    def timeout_s(self) -> float:
        return self._timeout_s

    async def _send(self, msg: dns.message.Message, *, tcp: bool, what: str) -> dns.message.Message:
        host, port = self._server
        try:
            if tcp:
                return await dns.asyncquery.tcp(msg, host, timeout=self._timeout_s, port=port)
            reply = await dns.asyncquery.udp(
                msg, host, timeout=self._timeout_s, port=port, ignore_unexpected=True
            )
            if reply.flags & dns.flags.TC:
                return await dns.asyncquery.tcp(msg, host, timeout=self._timeout_s, port=port)
            return reply
        except (dns.exception.DNSException, OSError) as e:
            kind = _kind_of(e)
            raise DnsError(
                f"{what} to {host}:{port} failed ({kind}): {type(e).__name__}: {e}", error_kind=kind
            ) from e

    @property
    def tcp(self) -> bool:
        return self._tcp

    async def query(self, name: str, rdtype: str, *, tcp: bool | None = None) -> DnsAnswer:
        """One query; any rcode is an answer, only a missing reply raises ``DnsError``.

        NS below the apex is a delegation, which named answers with a referral: its RRset is
        read from the authority section then (``authoritative`` is False).
        """
        qname, rdt = _parse(name, rdtype)
        msg = dns.message.make_query(qname, rdt)
        tcp = self._tcp if tcp is None else tcp
        reply = await self._send(msg, tcp=tcp, what=f"query {qname} {rdtype}")
        return _answer(qname, rdt, reply)

    @contextlib.asynccontextmanager
    async def udp_socket(self) -> AsyncIterator[UdpQuerier]:
        """One UDP socket for many concurrent queries (load generation): a socket per query
        costs more CPU than the query, and the client, not the server, would set the ceiling."""
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(
            _ReplyRouter, remote_addr=self._server
        )
        # Replies arrive in bursts while the loop is busy starting queries: a small receive
        # buffer would drop them and charge the server with timeouts (the kernel caps this at
        # net.core.rmem_max).
        with contextlib.suppress(OSError):
            transport.get_extra_info("socket").setsockopt(
                socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES
            )
        try:
            yield UdpQuerier(self, transport, protocol)
        finally:
            transport.close()
            protocol.fail_all(ConnectionAbortedError("the query socket was closed"))

    async def soa(self, zone: str) -> dns.rdtypes.ANY.SOA.SOA | None:
        """The zone's SOA rdata when the server answers NOERROR with one, else None."""
        qname, _ = _parse(zone, "SOA")
        msg = dns.message.make_query(qname, dns.rdatatype.SOA)
        reply = await self._send(msg, tcp=self._tcp, what=f"query {qname} SOA")
        if reply.rcode() != dns.rcode.NOERROR:
            return None
        rrset = reply.get_rrset(reply.answer, qname, dns.rdataclass.IN, dns.rdatatype.SOA)
        if not rrset:
            return None
        soa: dns.rdtypes.ANY.SOA.SOA = rrset[0]
        return soa

    async def soa_serial(self, zone: str) -> int | None:
        """The zone's SOA serial, or None when the server does not serve the zone."""
        soa = await self.soa(zone)
        return None if soa is None else int(soa.serial)

    async def wait_answerable(
        self,
        name: str,
        rdtype: str,
        expected: Iterable[str],
        deadline: float,
        *,
        interval_s: float = 0.02,
    ) -> DnsAnswer:
        """Poll until the RRset equals ``expected`` (an empty set: until it is absent).

        DNS has no watch, so this polls; ``deadline`` is a ``time.monotonic()`` value and bounds
        the whole wait. Transient query failures are retried until then.
        """
        want = normalize_rdatas(rdtype, expected)
        last: DnsAnswer | None = None
        last_error: DnsError | None = None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = (
                    f"last answer {last.rcode} {sorted(last.rdatas)}"
                    if last
                    else f"no answer ({last_error})"
                )
                # Chained to the last query failure, so callers can tell "never answered" apart.
                raise DeadlineExceeded(
                    f"{name} {rdtype} did not become {sorted(want)} before the deadline; {seen}"
                ) from last_error
            try:
                last = await self.query(name, rdtype)
                last_error = None
            except DnsError as e:
                last_error = e
            else:
                if want and last.ok and normalize_rdatas(rdtype, last.rdatas) == want:
                    return last
                if not want and not last.rdatas and last.rcode in ("NOERROR", "NXDOMAIN"):
                    return last
            await asyncio.sleep(min(interval_s, max(0.0, deadline - time.monotonic())))

    def _update(self, zone: str, tsig: TsigKey | None) -> dns.update.UpdateMessage:
        try:
            upd = dns.update.UpdateMessage(zone)
        except dns.exception.DNSException as e:
            raise OperationError(f"zone name {zone!r} is not valid: {e}") from e
        if tsig is not None:
            upd.use_tsig(tsig_key(tsig), fudge=TSIG_FUDGE_S)
        return upd

    async def _send_update(self, upd: dns.update.UpdateMessage, *, tcp: bool, what: str) -> str:
        reply = await self._send(upd, tcp=tcp, what=what)
        rcode = dns.rcode.to_text(reply.rcode())
        log.debug("%s -> %s", what, rcode)
        return rcode

    async def replace_rrset(
        self,
        zone: str,
        name: str,
        rdtype: str,
        ttl: int,
        rdatas: Iterable[str],
        tsig: TsigKey | None,
        *,
        tcp: bool = False,
    ) -> str:
        """Delete the RRset and add ``rdatas`` in ONE update message; returns the rcode name.

        ``name`` is relative to ``zone`` unless it ends with a dot (``@`` is the apex).
        ``tsig=None`` sends the update unsigned (which a correctly set up named refuses).
        """
        values = list(rdatas)
        if not values:
            raise OperationError("replace_rrset needs at least one value; use delete_rrset")
        upd = self._update(zone, tsig)
        try:
            upd.delete(name, rdtype)
            upd.add(name, ttl, rdtype, *values)
        except (dns.exception.DNSException, ValueError) as e:
            raise OperationError(f"bad update for {name} {rdtype} in {zone}: {e}") from e
        return await self._send_update(upd, tcp=tcp, what=f"update {zone}: replace {name} {rdtype}")

    async def delete_rrset(
        self, zone: str, name: str, rdtype: str, tsig: TsigKey | None, *, tcp: bool = False
    ) -> str:
        """Delete one RRset; NOERROR, NXDOMAIN and NXRRSET all mean it is gone (``DELETE_OK``)."""
        upd = self._update(zone, tsig)
        try:
            upd.delete(name, rdtype)
        except (dns.exception.DNSException, ValueError) as e:
            raise OperationError(f"bad delete for {name} {rdtype} in {zone}: {e}") from e
        return await self._send_update(upd, tcp=tcp, what=f"update {zone}: delete {name} {rdtype}")


def client_for(target: BindyTarget, *, timeout_s: float = 2.0) -> DnsClient | None:
    """The target's DNS server as a client over the transport it can carry (a cluster's
    port-forward: TCP only); None when the target has no DNS server."""
    if target.dns_server is None:
        return None
    return DnsClient(target.dns_server, timeout_s=timeout_s, tcp=target.dns_tcp)


def _answer(
    qname: dns.name.Name, rdt: dns.rdatatype.RdataType, reply: dns.message.Message
) -> DnsAnswer:
    rrset = reply.get_rrset(reply.answer, qname, dns.rdataclass.IN, rdt)
    if not rrset and rdt == dns.rdatatype.NS and reply.rcode() == dns.rcode.NOERROR:
        rrset = reply.get_rrset(reply.authority, qname, dns.rdataclass.IN, rdt)
    return DnsAnswer(
        name=qname.to_text(),
        rdtype=dns.rdatatype.to_text(rdt),
        rcode=dns.rcode.to_text(reply.rcode()),
        rdatas=frozenset(rd.to_text() for rd in rrset) if rrset else frozenset(),
        ttl=rrset.ttl if rrset else None,
        authoritative=bool(reply.flags & dns.flags.AA),
    )


class _ReplyRouter(asyncio.DatagramProtocol):
    """Hands each datagram to the query waiting on its message id; strays are dropped."""

    def __init__(self) -> None:
        self.waiting: dict[int, asyncio.Future[bytes]] = {}

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if len(data) < 12:
            return
        fut = self.waiting.get(int.from_bytes(data[:2], "big"))
        if fut is not None and not fut.done():
            fut.set_result(data)

    def error_received(self, exc: Exception) -> None:
        # A connected UDP socket learns of an ICMP error without knowing which query caused it.
        self.fail_all(exc)

    def fail_all(self, exc: BaseException) -> None:
        for fut in self.waiting.values():
            if not fut.done():
                fut.set_exception(exc)


@dataclass(frozen=True, slots=True)
class _Reply:
    """A parsed reply as the querier needs it: which question it answers, and the answer."""

    qname: dns.name.Name
    rdtype: dns.rdatatype.RdataType
    truncated: bool
    answer: DnsAnswer


def _decode(wire: bytes) -> _Reply | None:
    """The reply in ``wire``, or None when it is not a reply to exactly one question."""
    try:
        msg = dns.message.from_wire(wire, ignore_trailing=True)
    except dns.exception.DNSException:
        return None
    if not msg.flags & dns.flags.QR or len(msg.question) != 1:
        return None
    q = msg.question[0]
    return _Reply(q.name, q.rdtype, bool(msg.flags & dns.flags.TC), _answer(q.name, q.rdtype, msg))


class UdpQuerier:
    """Queries over one shared UDP socket, replies matched by message id and question (as
    dnspython's ``is_response`` would); a truncated reply is asked again over TCP.

    Under load most replies repeat earlier ones byte for byte but for the id, and parsing is
    most of a query's CPU: a reply whose bytes were parsed before reuses that parse, so the
    client's ceiling is not dnspython's parser.
    """

    MEMO_MAX = 1 << 16  # distinct replies remembered (about one per record queried)

    def __init__(
        self, client: DnsClient, transport: asyncio.DatagramTransport, router: _ReplyRouter
    ) -> None:
        self._client = client
        self._transport = transport
        self._router = router
        self._wire: dict[tuple[str, str], tuple[dns.name.Name, dns.rdatatype.RdataType, bytes]] = {}
        self._replies: dict[bytes, _Reply | None] = {}
        self._next_id = random.randrange(1 << 16)

    @property
    def in_flight(self) -> int:
        return len(self._router.waiting)

    def _query_wire(
        self, name: str, rdtype: str
    ) -> tuple[dns.name.Name, dns.rdatatype.RdataType, bytes]:
        cached = self._wire.get((name, rdtype))
        if cached is None:
            qname, rdt = _parse(name, rdtype)
            cached = (qname, rdt, dns.message.make_query(qname, rdt).to_wire()[2:])
            self._wire[(name, rdtype)] = cached
        return cached

    def _reply(self, wire: bytes) -> _Reply | None:
        body = wire[2:]
        try:
            return self._replies[body]
        except KeyError:
            pass
        if len(self._replies) >= self.MEMO_MAX:
            self._replies.clear()
        reply = self._replies[body] = _decode(wire)
        return reply

    def _free_id(self) -> int:
        waiting = self._router.waiting
        if len(waiting) >= 1 << 16:
            raise DnsError("65536 queries in flight on one socket", error_kind=ErrorKind.OTHER)
        while self._next_id in waiting:
            self._next_id = (self._next_id + 1) & 0xFFFF
        qid = self._next_id
        self._next_id = (qid + 1) & 0xFFFF
        return qid

    async def query(self, name: str, rdtype: str) -> DnsAnswer:
        """Like ``DnsClient.query`` over UDP; errors are ``DnsError`` the same way."""
        qname, rdt, tail = self._query_wire(name, rdtype)
        loop = asyncio.get_running_loop()
        qid = self._free_id()
        waiting = self._router.waiting
        waiting[qid] = fut = loop.create_future()
        try:
            async with asyncio.timeout_at(loop.time() + self._client.timeout_s):
                self._transport.sendto(qid.to_bytes(2, "big") + tail)
                while True:
                    reply = self._reply(await fut)
                    if reply is not None and reply.qname == qname and reply.rdtype == rdt:
                        break
                    # A late reply to an earlier query that had this id: keep waiting.
                    waiting[qid] = fut = loop.create_future()
        except (TimeoutError, OSError) as e:
            kind = _kind_of(e)
            host, port = self._client.server
            raise DnsError(
                f"query {qname} {rdtype} to {host}:{port} failed ({kind}): {type(e).__name__}: {e}",
                error_kind=kind,
            ) from e
        finally:
            waiting.pop(qid, None)
        if reply.truncated:
            return await self._client.query(name, rdtype, tcp=True)
        return reply.answer


# --------------------------------------------------------------------------------------------
# propagation: Ready -> answerable
# --------------------------------------------------------------------------------------------


def propagation_error_kind(exc: DeadlineExceeded) -> ErrorKind:
    """Why a wait for an answer ran out: the server never replied at the end (its DnsError's
    kind, e.g. TIMEOUT), or it replied with something else than expected (DNS_MISMATCH)."""
    cause = exc.__cause__
    return cause.error_kind if isinstance(cause, DnsError) else ErrorKind.DNS_MISMATCH


async def stamp_answerable(
    client: DnsClient,
    result: OperationResult,
    name: str,
    rdtype: str,
    expected: Iterable[str],
    *,
    deadline: float,
    interval_s: float = 0.02,
) -> OperationResult:
    """``result`` with ``answerable_ns`` set to when DNS first gave ``expected`` (an empty set:
    when the name stopped answering), or turned into a failure when that did not happen by
    ``deadline`` (a ``time.monotonic()`` value).

    A failed result is returned unchanged: an operation that never became Ready has nothing to
    propagate, and its own error is the one worth reporting.
    """
    if not result.success:
        return result
    try:
        await client.wait_answerable(name, rdtype, expected, deadline, interval_s=interval_s)
    except DeadlineExceeded as exc:
        return replace(
            result,
            success=False,
            error_kind=propagation_error_kind(exc),
            error_message=f"Ready but not in DNS: {exc}",
        )
    return replace(result, answerable_ns=time.monotonic_ns())
