"""The reference operator's data path, the way bindy does it: zones through bindcar's REST API,
records as TSIG-signed RFC 2136 updates straight to named (CONTRACT.md 5.2, 5.3).

Built on the shared adapters (``pytest_bindy_load.bindcar``, ``pytest_bindy_load.dns``); adds
the operator's policies: create-if-absent (409 = exists), replace an RRset only when named's
answer differs, and "deleted" means named no longer answers it.
"""

from __future__ import annotations

import logging

import dns.asyncquery
import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype

from pytest_bindy_load.bindcar import BindcarClient, BindcarError
from pytest_bindy_load.dns import DELETE_OK, DnsClient, DnsError, normalize_rdatas
from pytest_bindy_load.localstack.operator import model
from pytest_bindy_load.localstack.operator.config import OperatorConfig
from pytest_bindy_load.localstack.operator.metrics import EventLog
from pytest_bindy_load.localstack.operator.watch import Obj
from pytest_bindy_load.results import ErrorKind

log = logging.getLogger(__name__)

# Update rcodes that mean "named does not serve this zone", so the RRset cannot exist there.
NOT_SERVED = frozenset({"NOTAUTH", "NOTZONE"})


class RetryLaterError(Exception):
    """The reconcile cannot finish now; counted as an error and retried after ``delay_s``."""

    def __init__(self, message: str, *, delay_s: float | None = None) -> None:
        super().__init__(message)
        self.delay_s = delay_s


async def referral_rrset(
    server: tuple[str, int], owner: str, timeout_s: float
) -> tuple[frozenset[str], int | None]:
    """NS RRset at ``owner`` from the answer or, for a delegation, the authority section."""
    qname = dns.name.from_text(owner)
    msg = dns.message.make_query(qname, dns.rdatatype.NS)
    try:
        reply = await dns.asyncquery.tcp(msg, server[0], timeout=timeout_s, port=server[1])
    except (dns.exception.DNSException, OSError) as e:
        raise DnsError(f"query {owner} NS failed: {e}", error_kind=ErrorKind.CONNECTION) from e
    if reply.rcode() != dns.rcode.NOERROR:
        return frozenset(), None
    for section in (reply.answer, reply.authority):
        rrset = reply.get_rrset(section, qname, dns.rdataclass.IN, dns.rdatatype.NS)
        if rrset:
            return frozenset(rd.to_text() for rd in rrset), rrset.ttl
    return frozenset(), None


class DataPlane:
    """One named + bindcar pair, addressed from the operator config."""

    def __init__(
        self,
        *,
        cfg: OperatorConfig,
        bindcar: BindcarClient,
        dns_client: DnsClient,
        events: EventLog,
    ) -> None:
        self.cfg = cfg
        self.bindcar = bindcar
        self.dns = dns_client
        self.events = events

    async def ensure_zone(self, zone: Obj) -> bool:
        """Create the zone through bindcar when named lacks it; returns whether it created it."""
        zone_name = str((zone.get("spec") or {}).get("zoneName", ""))
        created = False
        if not await self.bindcar.zone_status(zone_name):
            args = model.zone_create_args(zone, self.cfg.dns_server[0])
            try:
                await self.bindcar.create_zone(
                    args.zone_name,
                    soa=args.soa,
                    name_servers=args.name_servers,
                    name_server_ips=args.name_server_ips,
                    update_key_name=self.cfg.tsig.name,
                )
                created = True
                self.events.emit("zone_created", zone=zone_name)
            except BindcarError as e:
                if e.status != 409 and "already exists" not in str(e):
                    raise
        if self.cfg.notify_on_reconcile:
            try:
                await self.bindcar.notify(zone_name)
            except BindcarError as e:
                log.debug("notify %s failed: %s", zone_name, e)
        return created

    async def publish(self, zone_name: str, want: model.DesiredRRset) -> bool:
        """Replace the RRset when named's answer differs; returns whether an UPDATE was sent."""
        desired = normalize_rdatas(want.rdtype, want.rdatas)
        have, ttl = await self.current(want.owner, want.rdtype)
        if have == desired and ttl == want.ttl:
            return False
        rcode = await self.dns.replace_rrset(
            zone_name, want.owner, want.rdtype, want.ttl, want.rdatas, self.cfg.tsig
        )
        if rcode != "NOERROR":
            raise RetryLaterError(f"DNS update of {want.owner} {want.rdtype} rejected: {rcode}")
        return True

    async def current(self, owner: str, rdtype: str) -> tuple[frozenset[str], int | None]:
        """The RRset named holds now. A non-apex NS RRset is a delegation: named answers it as
        a referral (authority section), which the plain query adapter does not look at."""
        if rdtype != "NS":
            ans = await self.dns.query(owner, rdtype)
            return (ans.rdatas, ans.ttl) if ans.ok else (frozenset(), None)
        return await referral_rrset(self.dns.server, owner, self.cfg.dns_timeout_s)

    async def delete_owner(self, zone_name: str, owner: str, rdtype: str) -> None:
        """Remove the RRset and check it is gone (named not serving the zone counts as gone)."""
        rcode = await self.dns.delete_rrset(zone_name, owner, rdtype, self.cfg.tsig)
        if rcode in NOT_SERVED:
            return
        if rcode not in DELETE_OK:
            raise RetryLaterError(f"DNS delete of {owner} {rdtype} rejected: {rcode}")
        have, _ = await self.current(owner, rdtype)
        if have:
            raise RetryLaterError(f"{owner} {rdtype} still answers after delete: {sorted(have)}")

    async def remove_zone(self, zone_name: str) -> None:
        """Freeze + DELETE through bindcar; done only when bindcar's status says it is gone."""
        if not await self.bindcar.zone_status(zone_name):
            return
        try:
            await self.bindcar.freeze(zone_name)
        except BindcarError as e:
            log.debug("freeze %s failed: %s", zone_name, e)
        try:
            await self.bindcar.delete_zone(zone_name)
        except BindcarError as e:
            log.info("delete of zone %s failed: %s", zone_name, e)
        if await self.bindcar.zone_status(zone_name):
            raise RetryLaterError(f"zone {zone_name} still present in named after delete")
        self.events.emit("zone_deleted", zone=zone_name)
