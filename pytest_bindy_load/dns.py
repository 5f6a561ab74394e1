"""DNS adapter: queries and TSIG-signed RFC 2136 updates with dnspython's async API.

Talks to one server given by address, which must be loopback. dnspython errors become
``DnsError`` here, so callers never import dnspython to handle a failure.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace

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
from pytest_bindy_load.target import TsigKey, require_loopback

log = logging.getLogger(__name__)

# bindy's operator signs with a 300 s fudge (CONTRACT 5.3); so do we.
TSIG_FUDGE_S = 300
# Rcodes a delete may return and still mean "the RRset is gone" (CONTRACT 5.3).
DELETE_OK = frozenset({"NOERROR", "NXDOMAIN", "NXRRSET"})


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
    """Queries and updates to one loopback DNS server. Cheap: holds no socket between calls."""

    __slots__ = ("_server", "_timeout_s")

    def __init__(self, server: tuple[str, int], *, timeout_s: float = 2.0) -> None:
        require_loopback(server[0], "DNS server")
        self._server = server
        self._timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"DnsClient({self._server[0]}:{self._server[1]})"

    @property
    def server(self) -> tuple[str, int]:
        return self._server

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

    async def query(self, name: str, rdtype: str, *, tcp: bool = False) -> DnsAnswer:
        """One query; any rcode is an answer, only a missing reply raises ``DnsError``.

        NS below the apex is a delegation, which named answers with a referral: its RRset is
        read from the authority section then (``authoritative`` is False).
        """
        qname, rdt = _parse(name, rdtype)
        msg = dns.message.make_query(qname, rdt)
        reply = await self._send(msg, tcp=tcp, what=f"query {qname} {rdtype}")
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

    async def soa(self, zone: str) -> dns.rdtypes.ANY.SOA.SOA | None:
        """The zone's SOA rdata when the server answers NOERROR with one, else None."""
        qname, _ = _parse(zone, "SOA")
        msg = dns.message.make_query(qname, dns.rdatatype.SOA)
        reply = await self._send(msg, tcp=False, what=f"query {qname} SOA")
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
