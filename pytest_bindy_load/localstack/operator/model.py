"""Pure bindy semantics for the reference operator: selectors, zone/instance binding, duplicate
zones, the RRset a record publishes, and the status bodies (conditions) it writes.

No I/O here; everything takes plain Kubernetes object dicts and returns plain values, so the
contract's rules (CONTRACT.md sections 2-4) are unit-testable exactly.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from pytest_bindy_load import results

API_GROUP = results.API_GROUP
API_VERSION = results.API_VERSION
ALLOW_ZONE_NAMESPACES = f"{API_GROUP}/allow-zone-namespaces"
DEFAULT_RECORD_TTL = 300

PLURALS = results.PLURALS
RDTYPES = results.RDTYPES
CAA_TAGS = frozenset({"issue", "issuewild", "iodef"})

Obj = Mapping[str, Any]
ObjT = TypeVar("ObjT", bound=Mapping[str, Any])


class Reason(StrEnum):
    """The condition reasons bindy writes (CONTRACT.md 3.1, 3.2)."""

    RECONCILE_SUCCEEDED = "ReconcileSucceeded"
    RECONCILE_COMPLETE = "ReconcileComplete"
    NOT_SELECTED = "NotSelected"
    RECONCILE_FAILED = "ReconcileFailed"
    ZONE_NOT_FOUND = "ZoneNotFound"
    ZONE_NOT_CONFIGURED = "ZoneNotConfigured"
    NO_PRIMARY_INSTANCES = "NoPrimaryInstances"
    DUPLICATE_ZONE = "DuplicateZone"
    PRIMARY_FAILED = "PrimaryFailed"


class RecordDataError(ValueError):
    """A record spec cannot be published (bad address, CAA tag, ...): bindy's ReconcileFailed."""


def finalizer_for(kind: str) -> str:
    return f"{API_GROUP}/{kind.lower()}-finalizer"


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def meta(obj: Obj) -> Mapping[str, Any]:
    m = obj.get("metadata")
    return m if isinstance(m, Mapping) else {}


def obj_key(kind: str, obj: Obj) -> tuple[str, str, str]:
    m = meta(obj)
    return kind, str(m.get("namespace", "")), str(m.get("name", ""))


# --- selectors (src/selector.rs semantics) -------------------------------------------------


def selector_matches(selector: Any, labels: Mapping[str, str] | None) -> bool:
    """Kubernetes LabelSelector as bindy's own matcher reads it.

    ``{}`` matches everything; ``NotIn`` passes when the key is absent; an unknown operator
    matches nothing; a missing or malformed selector matches nothing.
    """
    if not isinstance(selector, Mapping):
        return False
    labels = labels or {}
    match_labels = selector.get("matchLabels") or {}
    if not isinstance(match_labels, Mapping):
        return False
    for k, v in match_labels.items():
        if labels.get(k) != v:
            return False
    exprs = selector.get("matchExpressions") or []
    if not isinstance(exprs, list):
        return False
    for expr in exprs:
        if not isinstance(expr, Mapping) or not _expression_matches(expr, labels):
            return False
    return True


def _expression_matches(expr: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key = str(expr.get("key"))
    op = expr.get("operator")
    values = expr.get("values") or []
    present = key in labels
    if op == "In":
        return present and labels[key] in values
    if op == "NotIn":
        return not present or labels[key] not in values
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    return False


def selects(selector_items: Any, labels: Mapping[str, str] | None) -> bool:
    """Whether any ``{selector: ...}`` item of recordsFrom / bind9InstancesFrom matches."""
    if not isinstance(selector_items, list):
        return False
    return any(
        isinstance(item, Mapping) and selector_matches(item.get("selector"), labels)
        for item in selector_items
    )


# --- zone -> instances (2.1) ----------------------------------------------------------------


def instance_eligible(instance: Obj, zone_namespace: str) -> bool:
    m = meta(instance)
    if m.get("namespace") == zone_namespace:
        return True
    allowed = (m.get("annotations") or {}).get(ALLOW_ZONE_NAMESPACES, "")
    names = {n.strip() for n in str(allowed).split(",") if n.strip()}
    return "*" in names or zone_namespace in names


def zone_instances(zone: Obj, instances: Iterable[ObjT]) -> list[ObjT]:
    """Bind9Instances bound to ``zone``, sorted by (namespace, name) for stable status output."""
    ns = str(meta(zone).get("namespace", ""))
    items = (zone.get("spec") or {}).get("bind9InstancesFrom")
    chosen = [
        i for i in instances if instance_eligible(i, ns) and selects(items, meta(i).get("labels"))
    ]
    return sorted(chosen, key=lambda i: (meta(i).get("namespace", ""), meta(i).get("name", "")))


def primaries(instances: Sequence[ObjT]) -> list[ObjT]:
    return [i for i in instances if (i.get("spec") or {}).get("role") == "primary"]


def _age_key(zone: Obj) -> tuple[str, str, str]:
    m = meta(zone)
    # RFC 3339 "Z" timestamps of one cluster sort lexically; ties go by namespace/name.
    return str(m.get("creationTimestamp", "")), str(m.get("namespace", "")), str(m.get("name", ""))


def older_duplicate(zone: Obj, zones: Iterable[ObjT]) -> ObjT | None:
    """The oldest other DNSZone with the same zoneName when it is older than ``zone``."""
    name = (zone.get("spec") or {}).get("zoneName")
    me = _age_key(zone)
    best: ObjT | None = None
    for z in zones:
        if (z.get("spec") or {}).get("zoneName") != name or _age_key(z)[1:] == me[1:]:
            continue
        if _age_key(z) < me and (best is None or _age_key(z) < _age_key(best)):
            best = z
    return best


# --- record data (5.3) ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class DesiredRRset:
    """What one record CR owns in BIND9: the whole RRset of (owner, type)."""

    owner: str  # absolute, with trailing dot
    rdtype: str
    ttl: int
    rdatas: tuple[str, ...]  # presentation format, names absolute


def owner_name(record_name: str | None, zone_name: str) -> str:
    zone = zone_name.rstrip(".")
    if record_name in (None, "", "@"):
        return f"{zone}."
    return f"{record_name}.{zone}."


def _absolute(name: str) -> str:
    return name if name.endswith(".") else f"{name}."


def _txt_quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _int_field(spec: Mapping[str, Any], key: str) -> int:
    v = spec.get(key)
    if isinstance(v, bool) or not isinstance(v, int):
        raise RecordDataError(f"spec.{key} must be an integer, got {v!r}")
    return v


def _str_field(spec: Mapping[str, Any], key: str) -> str:
    v = spec.get(key)
    if not isinstance(v, str) or not v:
        raise RecordDataError(f"spec.{key} must be a non-empty string")
    return v


def record_rdatas(kind: str, spec: Mapping[str, Any]) -> tuple[str, ...]:
    """Presentation-format rdata for a record spec; raises RecordDataError like bindy's publish."""
    if kind == "ARecord":
        addrs = spec.get("ipv4Addresses") or []
        try:
            return tuple(str(ipaddress.IPv4Address(a)) for a in addrs) or _empty(kind)
        except ValueError as e:
            raise RecordDataError(f"invalid IPv4 address: {e}") from e
    if kind == "AAAARecord":
        addrs = spec.get("ipv6Addresses") or []
        try:
            return tuple(str(ipaddress.IPv6Address(a)) for a in addrs) or _empty(kind)
        except ValueError as e:
            raise RecordDataError(f"invalid IPv6 address: {e}") from e
    if kind == "CNAMERecord":
        return (_absolute(_str_field(spec, "target")),)
    if kind == "TXTRecord":
        texts = spec.get("text") or []
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise RecordDataError("spec.text must be a list of strings")
        return (" ".join(_txt_quote(t) for t in texts) if texts else '""',)
    if kind == "MXRecord":
        return (f"{_int_field(spec, 'priority')} {_absolute(_str_field(spec, 'mailServer'))}",)
    if kind == "SRVRecord":
        p, w, port = (_int_field(spec, k) for k in ("priority", "weight", "port"))
        return (f"{p} {w} {port} {_absolute(_str_field(spec, 'target'))}",)
    if kind == "CAARecord":
        tag = spec.get("tag")
        if tag not in CAA_TAGS:
            raise RecordDataError(f"unsupported CAA tag {tag!r}; allowed: {sorted(CAA_TAGS)}")
        flags = 128 if _int_field(spec, "flags") else 0
        value = spec.get("value") or ""
        return (f"{flags} {tag} {_txt_quote(str(value))}",)
    if kind == "NSRecord":
        return (_absolute(_str_field(spec, "nameserver")),)
    raise RecordDataError(f"unknown record kind {kind!r}")


def _empty(kind: str) -> tuple[str, ...]:
    raise RecordDataError(f"{kind} needs at least one address")


def desired_rrset(kind: str, spec: Mapping[str, Any], zone_name: str) -> DesiredRRset:
    ttl = spec.get("ttl")
    return DesiredRRset(
        owner=owner_name(spec.get("name"), zone_name),
        rdtype=RDTYPES[kind],
        ttl=DEFAULT_RECORD_TTL if ttl is None else int(ttl),
        rdatas=record_rdatas(kind, spec),
    )


def record_hash(spec: Mapping[str, Any]) -> str:
    data = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(data.encode()).hexdigest()


# --- status bodies --------------------------------------------------------------------------


def condition(
    ctype: str,
    status: bool,
    reason: str,
    message: str,
    previous: Sequence[Mapping[str, Any]] | None,
    now: str,
) -> dict[str, Any]:
    """A condition whose lastTransitionTime moves only when its status flips."""
    st = "True" if status else "False"
    ltt = now
    for c in previous or ():
        if c.get("type") == ctype and c.get("status") == st and c.get("lastTransitionTime"):
            ltt = str(c["lastTransitionTime"])
    return {
        "type": ctype,
        "status": st,
        "reason": reason,
        "message": message,
        "lastTransitionTime": ltt,
    }


def record_ready_condition(
    ready: bool, reason: Reason, message: str, previous: Any, now: str
) -> list[dict[str, Any]]:
    prev = previous if isinstance(previous, list) else None
    return [condition("Ready", ready, reason, message, prev, now)]


def zone_conditions(
    ready: bool, reason: Reason, message: str, previous: Any, now: str
) -> list[dict[str, Any]]:
    """Ready + Progressing + Degraded as bindy persists them (3.2)."""
    prev = previous if isinstance(previous, list) else None
    if ready:
        progressing = (Reason.RECONCILE_COMPLETE, "Zone reconciliation complete")
        degraded = (False, Reason.RECONCILE_SUCCEEDED, "No degradation")
    elif reason is Reason.DUPLICATE_ZONE:
        return [condition("Ready", False, reason, message, prev, now)]
    else:
        progressing = (reason, message)
        degraded = (True, reason, message)
    return [
        condition("Ready", ready, reason, message, prev, now),
        condition("Progressing", False, progressing[0], progressing[1], prev, now),
        condition("Degraded", degraded[0], degraded[1], degraded[2], prev, now),
    ]


def conditions_equal(a: Any, b: Any) -> bool:
    """Same conditions apart from timestamps (bindy rewrites only on status/reason/message)."""

    def strip(cs: Any) -> list[tuple[Any, Any, Any, Any]]:
        if not isinstance(cs, list):
            return []
        return sorted(
            (c.get("type"), c.get("status"), c.get("reason"), c.get("message"))
            for c in cs
            if isinstance(c, Mapping)
        )

    return strip(a) == strip(b)


def ready_of(obj: Obj) -> Mapping[str, Any] | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if isinstance(c, Mapping) and c.get("type") == "Ready":
            return c
    return None


def zone_ref(zone: Obj) -> dict[str, Any]:
    m = meta(zone)
    return {
        "apiVersion": API_VERSION,
        "kind": "DNSZone",
        "name": m.get("name"),
        "namespace": m.get("namespace"),
        "zoneName": (zone.get("spec") or {}).get("zoneName"),
    }


def zone_ref_matches(record: Obj, zone: Obj) -> bool:
    """Whether the record's status.zoneRef already names this zone (and its zoneName)."""
    ref = (record.get("status") or {}).get("zoneRef")
    if not isinstance(ref, Mapping):
        return False
    want = zone_ref(zone)
    return all(ref.get(k) == want[k] for k in ("name", "namespace", "zoneName")) and (
        (record.get("status") or {}).get("zone") == want["zoneName"]
    )


def points_at(record: Obj, namespace: str, name: str) -> bool:
    ref = (record.get("status") or {}).get("zoneRef")
    return (
        isinstance(ref, Mapping) and ref.get("namespace") == namespace and ref.get("name") == name
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ZoneCreateArgs:
    """What bindy puts in bindcar's CreateZoneRequest for a primary (CONTRACT 5.2)."""

    zone_name: str
    soa: dict[str, Any]
    name_servers: tuple[str, ...]
    name_server_ips: dict[str, str]


def zone_create_args(zone: Obj, ns_ip: str) -> ZoneCreateArgs:
    """The zone's SOA, NS names and glue as bindy derives them.

    Glue: spec.nameServers' IPv4s, else the deprecated nameServerIps, else ``ns1.<zone>.`` ->
    the instance address, as bindy auto-generates. An in-zone primaryNs without glue gets the
    instance address too, since named refuses to load a zone whose in-zone NS has no address.
    """
    spec = zone.get("spec") or {}
    zone_name = str(spec.get("zoneName", "")).rstrip(".")
    soa_spec = spec.get("soaRecord") or {}
    primary_ns = _absolute(str(soa_spec.get("primaryNs", f"ns1.{zone_name}.")))
    servers = [primary_ns]
    glue: dict[str, str] = {}
    for ns in spec.get("nameServers") or []:
        if isinstance(ns, Mapping) and ns.get("hostname"):
            host = _absolute(str(ns["hostname"]))
            if host not in servers:
                servers.append(host)
            if ns.get("ipv4Address"):
                glue[host] = str(ns["ipv4Address"])
    legacy = spec.get("nameServerIps")
    if not glue and isinstance(legacy, Mapping) and legacy:
        glue = {_absolute(str(k)): str(v) for k, v in legacy.items()}
    if not glue and not spec.get("nameServers"):
        glue = {f"ns1.{zone_name}.": ns_ip}
    for host in servers:
        if host.endswith(f".{zone_name}.") and host not in glue:
            glue[host] = ns_ip
    soa: dict[str, Any] = {
        "primaryNs": primary_ns,
        "adminEmail": _absolute(str(soa_spec.get("adminEmail", f"admin.{zone_name}."))),
    }
    for k in ("serial", "refresh", "retry", "expire", "negativeTtl"):
        if soa_spec.get(k) is not None:
            soa[k] = soa_spec[k]
    return ZoneCreateArgs(
        zone_name=zone_name, soa=soa, name_servers=tuple(servers), name_server_ips=glue
    )
