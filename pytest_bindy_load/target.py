"""One description of what a run measures: the local stack or a cluster the user named.

Every address a test or scenario uses comes from a ``BindyTarget``; nothing hard-codes one.
Secrets are wrapped so they never reach logs, reprs or reports.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pytest_bindy_load.errors import TargetError


class Secret:
    """A string that refuses to show itself; call ``reveal()`` where the value is really needed."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class TargetKind(StrEnum):
    LOCAL_STACK = "local-stack"
    CLUSTER = "cluster"


@dataclass(frozen=True, slots=True, kw_only=True)
class TsigKey:
    name: str
    algorithm: str
    secret: Secret


@dataclass(frozen=True, slots=True, kw_only=True)
class BindyTarget:
    """Everything the plugin needs to reach the system under test."""

    kind: TargetKind
    description: str
    kubeconfig: Path | None
    context: str | None = None
    operator_namespace: str = "bindy-system"
    # Labels a DNSZone's bind9InstancesFrom selector uses to bind to the target's BIND9 instances.
    instance_selector: dict[str, str] = field(default_factory=dict)
    dns_server: tuple[str, int] | None = None
    # Queries go over TCP: `kubectl port-forward` carries TCP only, so a cluster's DNS server
    # (a port-forward) would never see a UDP query.
    dns_tcp: bool = False
    bindcar_url: str | None = None
    bindcar_token: Secret | None = None
    operator_metrics_url: str | None = None
    tsig: TsigKey | None = None
    rndc_endpoint: tuple[str, int] | None = None

    def to_report(self) -> dict[str, Any]:
        """What reports may show: no secrets."""
        return {
            "kind": str(self.kind),
            "description": self.description,
            "context": self.context,
            "operator_namespace": self.operator_namespace,
            "dns_server": f"{self.dns_server[0]}:{self.dns_server[1]}" if self.dns_server else None,
            "dns_transport": "tcp" if self.dns_tcp else "udp",
            "bindcar_url": self.bindcar_url,
            "operator_metrics_url": self.operator_metrics_url,
            "tsig_key_name": self.tsig.name if self.tsig else None,
        }


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost: the only addresses load may go to outside the cluster."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_loopback(address: str, what: str) -> None:
    """Refuse to send load to anything but loopback on the local stack."""
    host = urlsplit(address).hostname if "://" in address else address
    if host is None or not is_loopback(host):
        raise TargetError(
            f"{what} {address!r} is not a loopback address; "
            "the local stack only uses 127.0.0.0/8 or ::1"
        )


def cluster_target(
    context: str,
    *,
    kubeconfig: Path | None = None,
    instance_selector: dict[str, str] | None = None,
    operator_namespace: str = "bindy-system",
    dns_server: tuple[str, int] | None = None,
    bindcar_url: str | None = None,
    bindcar_token: Secret | None = None,
    operator_metrics_url: str | None = None,
) -> BindyTarget:
    """A cluster the user named with ``--kube-context``. Data-plane addresses are never
    guessed: they are the loopback ends of port-forwards the user gives, or unset."""
    if not context:
        raise TargetError("an empty kube context names no cluster; give --kube-context NAME")
    return BindyTarget(
        kind=TargetKind.CLUSTER,
        description=f"cluster context {context}",
        kubeconfig=kubeconfig,
        context=context,
        operator_namespace=operator_namespace,
        # kind/ creates Bind9Cluster "bindy-load"; its instances carry this label (CONTRACT 2.1).
        instance_selector=instance_selector or {"bindy.firestoned.io/cluster": "bindy-load"},
        dns_server=dns_server,
        dns_tcp=True,
        bindcar_url=bindcar_url,
        bindcar_token=bindcar_token,
        operator_metrics_url=operator_metrics_url,
    )
