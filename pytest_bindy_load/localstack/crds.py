"""Our own CustomResourceDefinitions for bindy.firestoned.io/v1beta1, built from a compact table.

Written from CONTRACT.md sections 1.1-1.4 (names, scopes, status subresource, printer columns and
the validations a load tester can trip over), not copied from bindy's generated YAML. Spec schemas
are structural; the big infrastructure sub-objects and every status keep unknown fields so the
operator can write what it likes. No I/O: the stack installs what ``crd_manifests()`` returns.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

GROUP = "bindy.firestoned.io"
VERSION = "v1beta1"

Schema = dict[str, Any]

_LABEL = r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
ZONE_NAME_PATTERN = rf"^({_LABEL}\.)*{_LABEL}$"  # no trailing dot, no underscore
FQDN_PATTERN = rf"^{_LABEL}(\.{_LABEL})*\.$"  # absolute: trailing dot required
IPV4_PATTERN = r"^(?:[0-9]{1,3}\.){3}[0-9]{1,3}$"
DNSSEC_POLICY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$"
INT32_MAX = 2**31 - 1
TSIG_ALGORITHMS = ("hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384", "hmac-sha512")


# -- schema builders ---------------------------------------------------------------------------


def _nullable(schema: Schema, nullable: bool) -> Schema:
    if nullable:
        schema["nullable"] = True
    return schema


def _str(*, pattern: str | None = None, enum: Sequence[str] = (), nullable: bool = False) -> Schema:
    s: Schema = {"type": "string"}
    if pattern:
        s["pattern"] = pattern
    if enum:
        s["enum"] = list(enum)
    return _nullable(s, nullable)


def _int(lo: int, hi: int, *, fmt: str = "int32", nullable: bool = False) -> Schema:
    return _nullable({"type": "integer", "format": fmt, "minimum": lo, "maximum": hi}, nullable)


def _arr(items: Schema, *, min_items: int | None = None, nullable: bool = False) -> Schema:
    s: Schema = {"type": "array", "items": items}
    if min_items is not None:
        s["minItems"] = min_items
    return _nullable(s, nullable)


def _obj(
    props: dict[str, Schema], required: Sequence[str] = (), *, nullable: bool = False
) -> Schema:
    s: Schema = {"type": "object", "properties": props}
    if required:
        s["required"] = sorted(required)
    return _nullable(s, nullable)


def _map(values: Schema | None = None, *, nullable: bool = True) -> Schema:
    return _nullable(
        {"type": "object", "additionalProperties": values or {"type": "string"}}, nullable
    )


def _free(*, nullable: bool = True) -> Schema:
    """An object whose content we do not model; the API server keeps it as written."""
    return _nullable({"type": "object", "x-kubernetes-preserve-unknown-fields": True}, nullable)


def _selector_list() -> Schema:
    expression = _obj(
        {"key": _str(), "operator": _str(), "values": _arr(_str(), nullable=True)},
        ["key", "operator"],
    )
    selector = _obj({"matchLabels": _map(), "matchExpressions": _arr(expression, nullable=True)})
    return _arr(_obj({"selector": selector}, ["selector"]), nullable=True)


def _secret_ref(*, nullable: bool = True) -> Schema:
    return _obj(
        {
            "name": _str(),
            "algorithm": _str(enum=TSIG_ALGORITHMS),
            "keyNameKey": _str(),
            "secretKey": _str(),
        },
        ["name"],
        nullable=nullable,
    )


# -- the table ---------------------------------------------------------------------------------

_READY = {
    "name": "Ready",
    "type": "string",
    "jsonPath": ".status.conditions[?(@.type=='Ready')].status",
}


def _col(name: str, path: str, type_: str = "string") -> dict[str, str]:
    return {"name": name, "type": type_, "jsonPath": path}


@dataclass(frozen=True, slots=True, kw_only=True)
class KindSpec:
    kind: str
    plural: str
    short_names: tuple[str, ...]
    spec: Schema
    columns: tuple[dict[str, str], ...]
    scope: str = "Namespaced"

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{GROUP}"


_U16 = _int(0, 65535)
_Row = tuple[str, str, dict[str, Schema], tuple[dict[str, str], ...]]

# Record kinds: kind, shortName, type-specific fields (all required), type-specific columns.
_RECORD_TABLE: tuple[_Row, ...] = (
    ("ARecord", "a", {"ipv4Addresses": _arr(_str(), min_items=1)},
     (_col("Addresses", ".status.addresses"),)),
    ("AAAARecord", "aaaa", {"ipv6Addresses": _arr(_str(), min_items=1)},
     (_col("Addresses", ".status.addresses"),)),
    ("CNAMERecord", "cname", {"target": _str()}, (_col("Target", ".spec.target"),)),
    ("TXTRecord", "txt", {"text": _arr(_str())}, ()),
    ("MXRecord", "mx", {"priority": _U16, "mailServer": _str()},
     (_col("Priority", ".spec.priority", "integer"), _col("Mail Server", ".spec.mailServer"))),
    ("SRVRecord", "srv", {"priority": _U16, "weight": _U16, "port": _U16, "target": _str()},
     (_col("Target", ".spec.target"), _col("Port", ".spec.port", "integer"))),
    ("CAARecord", "caa", {"flags": _int(0, 255), "tag": _str(), "value": _str()},
     (_col("Tag", ".spec.tag"), _col("Value", ".spec.value"))),
    ("NSRecord", "ns", {"nameserver": _str()}, (_col("Nameserver", ".spec.nameserver"),)),
)  # fmt: skip


def _record_kind(
    kind: str,
    short: str,
    fields: dict[str, Schema],
    columns: tuple[dict[str, str], ...],
) -> KindSpec:
    # ``name`` is relative to the zone ("@" or "" = apex); records carry no zone field at all,
    # zones select them by label.
    props: dict[str, Schema] = {"name": _str(), "ttl": _int(0, INT32_MAX, nullable=True), **fields}
    return KindSpec(
        kind=kind,
        plural=kind.lower() + "s",
        short_names=(short,),
        spec=_obj(props, ("name", *fields)),
        columns=(
            _col("Name", ".spec.name"),
            _col("Zone", ".status.zoneRef.zoneName"),
            *columns,
            _col("TTL", ".spec.ttl", "integer"),
            _READY,
        ),
    )


def _dnszone() -> KindSpec:
    soa = _obj(
        {
            "primaryNs": _str(pattern=FQDN_PATTERN),
            "adminEmail": _str(pattern=FQDN_PATTERN),
            "serial": _int(0, 2**32 - 1, fmt="int64"),
            "refresh": _int(1, INT32_MAX),
            "retry": _int(1, INT32_MAX),
            "expire": _int(1, INT32_MAX),
            "negativeTtl": _int(0, INT32_MAX),
        },
        ["primaryNs", "adminEmail", "serial", "refresh", "retry", "expire", "negativeTtl"],
    )
    name_server = _obj(
        {
            "hostname": _str(pattern=FQDN_PATTERN),
            "ipv4Address": _str(pattern=IPV4_PATTERN, nullable=True),
            "ipv6Address": _str(nullable=True),
        },
        ["hostname"],
    )
    spec = _obj(
        {
            "zoneName": _str(pattern=ZONE_NAME_PATTERN),
            "soaRecord": soa,
            "ttl": _int(0, INT32_MAX, nullable=True),
            "bind9InstancesFrom": _selector_list(),
            "recordsFrom": _selector_list(),
            "clusterRef": _str(nullable=True),
            "nameServers": _arr(name_server, nullable=True),
            "nameServerIps": _map(),
            "dnssecPolicy": _str(pattern=DNSSEC_POLICY_PATTERN, nullable=True),
        },
        ["zoneName", "soaRecord"],
    )
    return KindSpec(
        kind="DNSZone",
        plural="dnszones",
        short_names=("zone", "zones", "dz", "dzs"),
        spec=spec,
        columns=(
            _col("Zone", ".spec.zoneName"),
            _col("Records", ".status.recordsCount", "integer"),
            _col("Instances", ".status.bind9InstancesCount", "integer"),
            _col("TTL", ".spec.ttl", "integer"),
            _READY,
        ),
    )


def _image() -> Schema:
    return _obj(
        {
            "image": _str(nullable=True),
            "imagePullPolicy": _str(nullable=True),
            "imagePullSecrets": _arr(_str(), nullable=True),
        },
        nullable=True,
    )


def _config_map_refs() -> Schema:
    return _obj(
        {k: _str(nullable=True) for k in ("namedConf", "namedConfOptions", "namedConfZones")},
        nullable=True,
    )


def _bind9_instance() -> KindSpec:
    storage = _obj(
        {
            "storageType": _str(enum=("emptyDir", "persistentVolumeClaim")),
            "emptyDir": _free(),
            "persistentVolumeClaim": _free(),
        },
        nullable=True,
    )
    spec = _obj(
        {
            "clusterRef": _str(),
            "role": _str(enum=("primary", "secondary")),
            "replicas": _int(0, 100, nullable=True),
            "version": _str(nullable=True),
            "image": _image(),
            "bindcarConfig": _free(),
            "config": _free(),
            "configMapRefs": _config_map_refs(),
            "primaryServers": _arr(_str(), nullable=True),
            "rndcKey": _free(),
            "rndcSecretRef": _secret_ref(),
            "storage": storage,
            "volumes": _arr(_free(nullable=False), nullable=True),
            "volumeMounts": _arr(_free(nullable=False), nullable=True),
        },
        ["clusterRef", "role"],
    )
    return KindSpec(
        kind="Bind9Instance",
        plural="bind9instances",
        short_names=("b9", "b9s"),
        spec=spec,
        columns=(
            _col("Cluster", ".spec.clusterRef"),
            _col("Role", ".spec.role"),
            _col("Replicas", ".spec.replicas", "integer"),
            _col("Zones", ".status.zonesCount", "integer"),
            _READY,
        ),
    )


def _cluster_spec(*, cluster_scoped: bool) -> Schema:
    role = _obj(
        {
            "replicas": _int(0, 100, nullable=True),
            "labels": _map(),
            "service": _free(),
            "allowTransfer": _arr(_str(), nullable=True),
            "rndcKey": _free(),
            "rndcSecretRef": _free(),
        },
        nullable=True,
    )
    props: dict[str, Schema] = {
        # The schema text says replicas default to 1; bindy's code uses 0, so set them explicitly.
        "version": {**_str(nullable=True), "default": "9.18"},
        "primary": role,
        "secondary": role,
        "global": _free(),
        "image": _image(),
        "configMapRefs": _config_map_refs(),
        "acls": _map(_arr(_str(), nullable=False)),
        "volumes": _arr(_free(nullable=False), nullable=True),
        "volumeMounts": _arr(_free(nullable=False), nullable=True),
        "rndcSecretRefs": _arr(_secret_ref(nullable=False), nullable=True),
    }
    if cluster_scoped:
        props["namespace"] = _str(nullable=True)
    return _obj(props)


_CLUSTER_COLUMNS = (
    _col("Version", ".spec.version"),
    _col("Primary", ".spec.primary.replicas", "integer"),
    _col("Secondary", ".spec.secondary.replicas", "integer"),
    _READY,
)


def kind_specs() -> list[KindSpec]:
    """Every bindy kind, DNS kinds first (the order the stack installs them in)."""
    return [
        _dnszone(),
        *(_record_kind(*row) for row in _RECORD_TABLE),
        _bind9_instance(),
        KindSpec(
            kind="Bind9Cluster",
            plural="bind9clusters",
            short_names=("b9c", "b9cs"),
            spec=_cluster_spec(cluster_scoped=False),
            columns=_CLUSTER_COLUMNS,
        ),
        KindSpec(
            kind="ClusterBind9Provider",
            plural="clusterbind9providers",
            short_names=("cb9p", "cb9ps"),
            spec=_cluster_spec(cluster_scoped=True),
            columns=_CLUSTER_COLUMNS,
            scope="Cluster",
        ),
    ]


def _manifest(k: KindSpec) -> dict[str, Any]:
    schema = _obj({"spec": k.spec, "status": _free()}, ["spec"])
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": k.crd_name,
            "labels": {"app.kubernetes.io/managed-by": "pytest-bindy-load"},
        },
        "spec": {
            "group": GROUP,
            "names": {
                "kind": k.kind,
                "listKind": f"{k.kind}List",
                "plural": k.plural,
                "singular": k.singular,
                "shortNames": list(k.short_names),
            },
            "scope": k.scope,
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": schema},
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [dict(c) for c in k.columns]
                    + [_col("Age", ".metadata.creationTimestamp", "date")],
                }
            ],
        },
    }


def crd_manifests() -> list[dict[str, Any]]:
    """CustomResourceDefinition objects (apiextensions.k8s.io/v1), fresh dicts on every call."""
    # Deep copies: the table's schema dicts are shared between kinds and must not be edited.
    return [copy.deepcopy(_manifest(k)) for k in kind_specs()]


def crd_names() -> list[str]:
    """``<plural>.bindy.firestoned.io`` for every kind, e.g. to wait for Established."""
    return [k.crd_name for k in kind_specs()]
