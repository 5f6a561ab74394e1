"""Seeded, deterministic manifests for DNSZone and the eight record kinds, as plain dicts.

Pure: no I/O, no clock, no global RNG. Each object is a function of (seed, its zone, its kind,
its index) only, so the same seed gives the same fixtures whatever order they are asked for in,
and the run id only makes names unique across runs.
"""

from __future__ import annotations

import copy
import ipaddress
import random
import re
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from pytest_bindy_load import results
from pytest_bindy_load.results import RECORD_KINDS, ZONE_KIND

API_VERSION = "bindy.firestoned.io/v1beta1"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "pytest-bindy-load"
RUN_ID_LABEL = "bindy-load/run-id"
ZONE_LABEL = "bindy.firestoned.io/zone"
DEFAULT_DOMAIN = "loadtest.example"
# What the operator publishes when a record has no ttl (CONTRACT 1.2).
DEFAULT_RECORD_TTL_S = 300

TTLS_S: tuple[int, ...] = (300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400)

_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

# Owner-name words per kind. The sets are disjoint so that records of different kinds with the
# same index never share an owner name (a CNAME beside any other data is illegal in DNS).
_NAME_WORDS: dict[str, tuple[str, ...]] = {
    "ARecord": ("www", "api", "web", "app", "host"),
    "AAAARecord": ("www6", "api6", "web6", "app6", "host6"),
    "CNAMERecord": ("alias", "cdn", "blog", "docs", "shop"),
    "TXTRecord": ("info", "verify", "note", "policy"),
    "MXRecord": ("dept", "team", "office", "lists"),
    "SRVRecord": ("svc", "node", "pool"),
    "CAARecord": ("secure", "pki", "certs", "tls"),
    "NSRecord": ("sub", "child", "branch", "delegated"),
}
_META_PREFIX: dict[str, str] = {
    "ARecord": "a",
    "AAAARecord": "aaaa",
    "CNAMERecord": "cname",
    "TXTRecord": "txt",
    "MXRecord": "mx",
    "SRVRecord": "srv",
    "CAARecord": "caa",
    "NSRecord": "ns",
}
RDTYPES = results.RDTYPES
_SRV_SERVICES: tuple[tuple[str, str, int], ...] = (
    ("sip", "tcp", 5060),
    ("sip", "udp", 5060),
    ("ldap", "tcp", 389),
    ("xmpp-client", "tcp", 5222),
    ("imaps", "tcp", 993),
    ("submission", "tcp", 587),
    ("http", "tcp", 8080),
)
_CAA_ISSUERS: tuple[str, ...] = ("letsencrypt.org", "pki.goog", "digicert.com", "sectigo.com")
_TXT_TEMPLATES: tuple[str, ...] = (
    "v=spf1 ip4:10.{a}.{b}.0/24 -all",
    "site-verification={hex}",
    "owner=team-{a} env=load cost-center={b}",
    "v=DKIM1; k=rsa; p={hex}{hex2}",
)


class ZoneDefect(StrEnum):
    """Ways a DNSZone can be wrong; all are refused by the CRD schema."""

    UNDERSCORE_IN_ZONE_NAME = "underscore-in-zone-name"
    TRAILING_DOT_IN_ZONE_NAME = "trailing-dot-in-zone-name"
    MISSING_SOA_FIELD = "missing-soa-field"
    PRIMARY_NS_WITHOUT_TRAILING_DOT = "primary-ns-without-trailing-dot"
    SERIAL_OUT_OF_RANGE = "serial-out-of-range"
    REFRESH_ZERO = "refresh-zero"
    MISSING_SOA_RECORD = "missing-soa-record"


class RecordDefect(StrEnum):
    """Ways a record can be wrong. Some the API server refuses (schema), the rest are accepted and
    only fail when the operator publishes them (see ``schema_rejects``)."""

    EMPTY_IPV4_ADDRESSES = "empty-ipv4-addresses"
    EMPTY_IPV6_ADDRESSES = "empty-ipv6-addresses"
    MX_PRIORITY_OUT_OF_RANGE = "mx-priority-out-of-range"
    SRV_PORT_OUT_OF_RANGE = "srv-port-out-of-range"
    CAA_FLAGS_OUT_OF_RANGE = "caa-flags-out-of-range"
    NEGATIVE_TTL = "negative-ttl"
    TTL_NOT_INTEGER = "ttl-not-integer"
    MISSING_NAME = "missing-name"
    CNAME_MISSING_TARGET = "cname-missing-target"
    IPV4_NOT_AN_ADDRESS = "ipv4-not-an-address"
    IPV6_NOT_AN_ADDRESS = "ipv6-not-an-address"
    CAA_UNKNOWN_TAG = "caa-unknown-tag"
    TXT_STRING_TOO_LONG = "txt-string-too-long"

    @property
    def kind(self) -> str:
        return _RECORD_DEFECT_KIND[self]

    @property
    def schema_rejects(self) -> bool:
        """True when the CRD schema (so the API server) refuses it; False when it is accepted and
        fails at publish time (ReconcileFailed)."""
        return self not in _PUBLISH_TIME_DEFECTS


_RECORD_DEFECT_KIND: dict[RecordDefect, str] = {
    RecordDefect.EMPTY_IPV4_ADDRESSES: "ARecord",
    RecordDefect.EMPTY_IPV6_ADDRESSES: "AAAARecord",
    RecordDefect.MX_PRIORITY_OUT_OF_RANGE: "MXRecord",
    RecordDefect.SRV_PORT_OUT_OF_RANGE: "SRVRecord",
    RecordDefect.CAA_FLAGS_OUT_OF_RANGE: "CAARecord",
    RecordDefect.NEGATIVE_TTL: "ARecord",
    RecordDefect.TTL_NOT_INTEGER: "TXTRecord",
    RecordDefect.MISSING_NAME: "NSRecord",
    RecordDefect.CNAME_MISSING_TARGET: "CNAMERecord",
    RecordDefect.IPV4_NOT_AN_ADDRESS: "ARecord",
    RecordDefect.IPV6_NOT_AN_ADDRESS: "AAAARecord",
    RecordDefect.CAA_UNKNOWN_TAG: "CAARecord",
    RecordDefect.TXT_STRING_TOO_LONG: "TXTRecord",
}
_PUBLISH_TIME_DEFECTS = frozenset(
    {
        RecordDefect.IPV4_NOT_AN_ADDRESS,
        RecordDefect.IPV6_NOT_AN_ADDRESS,
        RecordDefect.CAA_UNKNOWN_TAG,
        RecordDefect.TXT_STRING_TOO_LONG,
    }
)


def _run_token(run_id: str) -> str:
    token = re.sub(r"[^a-z0-9]", "", run_id.lower())[:8]
    if not token:
        raise ValueError(f"run id {run_id!r} has no letters or digits to build names from")
    return token


def _check_kind(kind: str) -> None:
    if kind not in RDTYPES:
        raise ValueError(f"unknown record kind {kind!r}; expected one of {', '.join(RECORD_KINDS)}")


def _hex(rng: random.Random, nbytes: int) -> str:
    return rng.getrandbits(8 * nbytes).to_bytes(nbytes, "big").hex()


class FixtureGenerator:
    """Deterministic manifests for one run.

    Zone names look like ``z0001-<run8>.loadtest.example`` (``<run8>``: the first eight letters and
    digits of the run id), so two runs never ask for the same zone, which must be unique
    cluster-wide. Not thread-safe (one scratch RNG is reseeded per object, which keeps generation
    fast); use one generator per thread.
    """

    def __init__(
        self,
        seed: int,
        run_id: str,
        *,
        zone_prefix: str = "z",
        domain: str = DEFAULT_DOMAIN,
    ) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9]{0,15}", zone_prefix):
            raise ValueError(f"zone_prefix {zone_prefix!r} must be 1-16 lowercase letters/digits")
        if not all(_DNS_LABEL.match(label) for label in domain.split(".")):
            raise ValueError(f"domain {domain!r} must be lowercase DNS labels without trailing dot")
        self.seed = seed
        self.run_id = run_id
        self.run_token = _run_token(run_id)
        self.zone_prefix = zone_prefix
        self.domain = domain
        self._rng = random.Random(seed)

    def __repr__(self) -> str:
        return f"FixtureGenerator(seed={self.seed}, run_id={self.run_id!r})"

    # -- helpers -------------------------------------------------------------------------------

    def _rng_for(self, *parts: object) -> random.Random:
        # The run token is left out of the key, so the same seed gives the same data in every run.
        self._rng.seed("/".join(map(str, (self.seed, *parts))).replace(self.run_token, ""))
        return self._rng

    def base_labels(self) -> dict[str, str]:
        return {MANAGED_BY_LABEL: MANAGED_BY_VALUE, RUN_ID_LABEL: self.run_id}

    def zone_name(self, index: int) -> str:
        if index < 0:
            raise ValueError(f"zone index must be >= 0, got {index}")
        return f"{self.zone_prefix}{index:04d}-{self.run_token}.{self.domain}"

    # -- zones ---------------------------------------------------------------------------------

    def zone(
        self, index: int, *, instance_selector: Mapping[str, str], namespace: str
    ) -> dict[str, Any]:
        """A valid DNSZone bound to the instances matching ``instance_selector`` and selecting
        its records by ``bindy.firestoned.io/zone: <zoneName>``."""
        zone_name = self.zone_name(index)
        if len(zone_name) > 63:  # it is also a label value
            raise ValueError(f"zone name {zone_name!r} is longer than 63 characters")
        rng = self._rng_for(ZONE_KIND, zone_name)
        labels = self.base_labels()
        return {
            "apiVersion": API_VERSION,
            "kind": ZONE_KIND,
            "metadata": {
                "name": zone_name.split(".", 1)[0],
                "namespace": namespace,
                "labels": labels,
            },
            "spec": {
                "zoneName": zone_name,
                "soaRecord": {
                    "primaryNs": f"ns1.{zone_name}.",
                    "adminEmail": f"hostmaster.{zone_name}.",
                    "serial": 2026010100 + rng.randrange(100),
                    "refresh": rng.choice((3600, 7200, 14400)),
                    "retry": rng.choice((600, 900, 1800)),
                    "expire": rng.choice((604800, 1209600)),
                    "negativeTtl": rng.choice((300, 900, 3600)),
                },
                "ttl": rng.choice((300, 3600)),
                "bind9InstancesFrom": [{"selector": {"matchLabels": dict(instance_selector)}}],
                "recordsFrom": [{"selector": {"matchLabels": {ZONE_LABEL: zone_name}}}],
            },
        }

    def zones(
        self, count: int, *, instance_selector: Mapping[str, str], namespace: str, start: int = 0
    ) -> list[dict[str, Any]]:
        return [
            self.zone(i, instance_selector=instance_selector, namespace=namespace)
            for i in range(start, start + count)
        ]

    # -- records -------------------------------------------------------------------------------

    def record(
        self, kind: str, zone_manifest: Mapping[str, Any], index: int, *, namespace: str
    ) -> dict[str, Any]:
        """A valid record of ``kind`` in that zone. (kind, index) decides the owner name, so
        distinct indices (or distinct kinds) never collide inside one zone."""
        _check_kind(kind)
        if index < 0:
            raise ValueError(f"record index must be >= 0, got {index}")
        zone_name: str = zone_manifest["spec"]["zoneName"]
        zone_meta: str = zone_manifest["metadata"]["name"]
        rng = self._rng_for(kind, zone_name, index)
        word = rng.choice(_NAME_WORDS[kind])
        spec: dict[str, Any] = {"name": f"{word}-{index}", "ttl": rng.choice(TTLS_S)}
        if kind == "SRVRecord":
            service, proto, port = rng.choice(_SRV_SERVICES)
            spec["name"] = f"_{service}._{proto}.{word}-{index}"
            spec.update(_record_data(kind, rng, zone_name, index))
            spec["port"] = port  # the service's well-known port; mutate() may move it
        else:
            spec.update(_record_data(kind, rng, zone_name, index))
        labels = self.base_labels()
        labels[ZONE_LABEL] = zone_name
        return {
            "apiVersion": API_VERSION,
            "kind": kind,
            "metadata": {
                "name": f"{_META_PREFIX[kind]}-{zone_meta}-{index:05d}",
                "namespace": namespace,
                "labels": labels,
            },
            "spec": spec,
        }

    def records(
        self,
        zone_manifest: Mapping[str, Any],
        count: int,
        *,
        kinds: Sequence[str] | Mapping[str, float] = RECORD_KINDS,
        namespace: str,
        start: int = 0,
    ) -> list[dict[str, Any]]:
        """``count`` records with indices ``start .. start+count-1``. A sequence of kinds is used
        round-robin; a mapping kind -> weight is spread by smooth weighted round-robin, so the mix
        is exact and needs no randomness."""
        order = kind_sequence(kinds, count)
        return [
            self.record(kind, zone_manifest, start + i, namespace=namespace)
            for i, kind in enumerate(order)
        ]

    def mutate(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        """A copy with a different, still valid spec (same owner name), for update operations.
        Deterministic: the change depends on the seed and the current spec."""
        new = copy.deepcopy(dict(manifest))
        kind: str = new["kind"]
        spec: dict[str, Any] = new["spec"]
        if kind == ZONE_KIND:
            spec["soaRecord"]["serial"] = (int(spec["soaRecord"]["serial"]) + 1) % (2**32)
            return new
        _check_kind(kind)
        zone_name = new["metadata"].get("labels", {}).get(ZONE_LABEL, self.domain)
        rng = self._rng_for("mutate", kind, new["metadata"]["name"], repr(sorted(spec.items())))
        old_ttl = spec.get("ttl")
        spec["ttl"] = rng.choice([t for t in TTLS_S if t != old_ttl])
        for _ in range(8):
            data = _record_data(kind, rng, zone_name, rng.randrange(100000))
            if any(spec.get(k) != v for k, v in data.items()):
                break
        spec.update(data)
        return new

    @staticmethod
    def expected_rdata(
        record_manifest: Mapping[str, Any], zone_name: str
    ) -> tuple[str, str, frozenset[str]]:
        """Same as the module-level ``expected_rdata``."""
        return expected_rdata(record_manifest, zone_name)

    # -- invalid variants ----------------------------------------------------------------------

    def invalid_zone(
        self,
        defect: ZoneDefect,
        index: int,
        *,
        instance_selector: Mapping[str, str],
        namespace: str,
    ) -> dict[str, Any]:
        """A DNSZone with exactly one defect; the CRD schema refuses every one of them."""
        zone = self.zone(index, instance_selector=instance_selector, namespace=namespace)
        spec = zone["spec"]
        soa = spec["soaRecord"]
        match defect:
            case ZoneDefect.UNDERSCORE_IN_ZONE_NAME:
                spec["zoneName"] = "bad_" + spec["zoneName"]
            case ZoneDefect.TRAILING_DOT_IN_ZONE_NAME:
                spec["zoneName"] += "."
            case ZoneDefect.MISSING_SOA_FIELD:
                del soa["negativeTtl"]
            case ZoneDefect.PRIMARY_NS_WITHOUT_TRAILING_DOT:
                soa["primaryNs"] = soa["primaryNs"].rstrip(".")
            case ZoneDefect.SERIAL_OUT_OF_RANGE:
                soa["serial"] = 2**32
            case ZoneDefect.REFRESH_ZERO:
                soa["refresh"] = 0
            case ZoneDefect.MISSING_SOA_RECORD:
                del spec["soaRecord"]
        return zone

    def invalid_record(
        self, defect: RecordDefect, zone_manifest: Mapping[str, Any], index: int, *, namespace: str
    ) -> dict[str, Any]:
        """A record of ``defect.kind`` with exactly one defect (``defect.schema_rejects`` says
        whether the API server or only the operator refuses it)."""
        rec = self.record(defect.kind, zone_manifest, index, namespace=namespace)
        spec = rec["spec"]
        match defect:
            case RecordDefect.EMPTY_IPV4_ADDRESSES:
                spec["ipv4Addresses"] = []
            case RecordDefect.EMPTY_IPV6_ADDRESSES:
                spec["ipv6Addresses"] = []
            case RecordDefect.MX_PRIORITY_OUT_OF_RANGE:
                spec["priority"] = 70000
            case RecordDefect.SRV_PORT_OUT_OF_RANGE:
                spec["port"] = 65536
            case RecordDefect.CAA_FLAGS_OUT_OF_RANGE:
                spec["flags"] = 256
            case RecordDefect.NEGATIVE_TTL:
                spec["ttl"] = -1
            case RecordDefect.TTL_NOT_INTEGER:
                spec["ttl"] = "300"
            case RecordDefect.MISSING_NAME:
                del spec["name"]
            case RecordDefect.CNAME_MISSING_TARGET:
                del spec["target"]
            case RecordDefect.IPV4_NOT_AN_ADDRESS:
                spec["ipv4Addresses"] = ["10.0.0.300"]
            case RecordDefect.IPV6_NOT_AN_ADDRESS:
                spec["ipv6Addresses"] = ["fd00::1::2"]
            case RecordDefect.CAA_UNKNOWN_TAG:
                spec["tag"] = "contactemail"
            case RecordDefect.TXT_STRING_TOO_LONG:
                spec["text"] = ["x" * 256]
        return rec


def _record_data(kind: str, rng: random.Random, zone: str, index: int) -> dict[str, Any]:
    """The type-specific spec fields (everything but name and ttl)."""
    match kind:
        case "ARecord":
            count = rng.choice((1, 1, 1, 2, 3))
            net = f"10.{rng.randrange(256)}.{rng.randrange(256)}"
            first = rng.randrange(1, 255 - count)
            return {"ipv4Addresses": [f"{net}.{first + i}" for i in range(count)]}
        case "AAAARecord":
            count = rng.choice((1, 1, 2))
            prefix = (0xFD << 120) | (rng.getrandbits(56) << 64)
            first = rng.randrange(1, 0xFFFF)
            return {
                "ipv6Addresses": [
                    ipaddress.IPv6Address(prefix | (first + i)).compressed for i in range(count)
                ]
            }
        case "CNAMERecord":
            return {
                "target": f"{rng.choice(_NAME_WORDS['ARecord'])}-{rng.randrange(10000)}.{zone}."
            }
        case "TXTRecord":
            parts = [
                rng.choice(_TXT_TEMPLATES).format(
                    a=rng.randrange(256),
                    b=rng.randrange(256),
                    hex=_hex(rng, 16),
                    hex2=_hex(rng, 16),
                )
                for _ in range(rng.choice((1, 1, 2, 3)))
            ]
            return {"text": parts}
        case "MXRecord":
            return {
                "priority": rng.choice((0, 5, 10, 20, 30, 50)),
                # Out of zone: named refuses an update adding an MX whose in-zone target has no
                # address records (check-integrity), and bindy's named runs with the defaults.
                "mailServer": f"mail{rng.randrange(1, 10)}-{index}.mailhosts.example.",
            }
        case "SRVRecord":
            return {
                "priority": rng.choice((0, 10, 20)),
                "weight": rng.randrange(0, 101, 5),
                "port": rng.randrange(1024, 65536),
                "target": f"{rng.choice(_NAME_WORDS['ARecord'])}-{rng.randrange(10000)}.{zone}.",
            }
        case "CAARecord":
            tag = rng.choice(("issue", "issue", "issuewild", "iodef"))
            if tag == "iodef":
                value = (
                    f"mailto:security@{zone}"
                    if rng.random() < 0.5
                    else f"https://iodef.{zone}/report"
                )
            else:
                value = rng.choice(_CAA_ISSUERS)
            return {"flags": 0, "tag": tag, "value": value}
        case "NSRecord":
            return {"nameserver": f"ns{rng.randrange(1, 5)}-{rng.randrange(10000)}.{zone}."}
    raise ValueError(f"unknown record kind {kind!r}")


def kind_sequence(kinds: Sequence[str] | Mapping[str, float], count: int) -> list[str]:
    """The kind of each of ``count`` records: round-robin over a sequence, or smooth weighted
    round-robin over a mapping (exact proportions, deterministic)."""
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    if isinstance(kinds, Mapping):
        weights = {k: float(w) for k, w in kinds.items() if float(w) > 0}
        for k, w in kinds.items():
            _check_kind(k)
            if float(w) < 0:
                raise ValueError(f"weight of {k} must be >= 0, got {w}")
        if not weights:
            raise ValueError("at least one kind needs a positive weight")
        total = sum(weights.values())
        current = dict.fromkeys(weights, 0.0)
        out: list[str] = []
        for _ in range(count):
            for k, w in weights.items():
                current[k] += w
            best = max(current, key=lambda k: current[k])
            current[best] -= total
            out.append(best)
        return out
    if not kinds:
        raise ValueError("kinds must not be empty")
    for k in kinds:
        _check_kind(k)
    return [kinds[i % len(kinds)] for i in range(count)]


def record_fqdn(record_manifest: Mapping[str, Any], zone_name: str) -> str:
    """The absolute owner name the operator publishes: ``<name>.<zone>.``, or the apex for
    ``@``/empty (CONTRACT 1.2: never append the zone to an already absolute-looking name)."""
    name: str = record_manifest["spec"]["name"]
    zone = zone_name.rstrip(".").lower()
    if name in ("", "@"):
        return f"{zone}."
    return f"{name.lower()}.{zone}."


def expected_ttl(record_manifest: Mapping[str, Any]) -> int:
    ttl = record_manifest["spec"].get("ttl")
    return DEFAULT_RECORD_TTL_S if ttl is None else int(ttl)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def expected_rdata(
    record_manifest: Mapping[str, Any], zone_name: str
) -> tuple[str, str, frozenset[str]]:
    """(fqdn, rdtype, rdata texts) as dnspython's ``to_text()`` / dig print them.

    An NSRecord below the apex is a delegation: an authoritative server answers it with a
    referral, so look for its rdata in the authority section, not the answer section.
    """
    kind: str = record_manifest["kind"]
    _check_kind(kind)
    spec: Mapping[str, Any] = record_manifest["spec"]
    fqdn = record_fqdn(record_manifest, zone_name)
    rdata: set[str]
    match kind:
        case "ARecord":
            rdata = {str(ipaddress.IPv4Address(a)) for a in spec["ipv4Addresses"]}
        case "AAAARecord":
            rdata = {ipaddress.IPv6Address(a).compressed for a in spec["ipv6Addresses"]}
        case "CNAMERecord":
            rdata = {_absolute(spec["target"], zone_name)}
        case "TXTRecord":
            rdata = {" ".join(_quote(t) for t in spec["text"])}
        case "MXRecord":
            rdata = {f"{int(spec['priority'])} {_absolute(spec['mailServer'], zone_name)}"}
        case "SRVRecord":
            rdata = {
                f"{int(spec['priority'])} {int(spec['weight'])} {int(spec['port'])} "
                f"{_absolute(spec['target'], zone_name)}"
            }
        case "CAARecord":
            rdata = {f"{int(spec['flags'])} {spec['tag']} {_quote(spec['value'])}"}
        case _:  # NSRecord
            rdata = {_absolute(spec["nameserver"], zone_name)}
    return fqdn, RDTYPES[kind], frozenset(rdata)


def _absolute(target: str, zone_name: str) -> str:
    """How a name-valued target reads in an answer: relative names are relative to the zone."""
    target = target.lower()
    if target.endswith("."):
        return target
    return f"{target}.{zone_name.rstrip('.').lower()}."
