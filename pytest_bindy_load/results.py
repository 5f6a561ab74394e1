"""Frozen value types shared by every layer: what one operation produced, and the closed sets
(kinds, operations, error kinds) used to group results. No I/O here."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Operation(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    QUERY = "query"  # a DNS query: acknowledged when the answer arrives


class ErrorKind(StrEnum):
    """Why an operation failed; closed so reports can group errors."""

    NONE = "none"
    API_4XX = "api_4xx"
    API_5XX = "api_5xx"
    THROTTLED = "throttled"
    CONFLICT = "conflict"
    CONNECTION = "connection"
    TIMEOUT = "timeout"
    NOT_READY = "not_ready"
    RECONCILE_FAILED = "reconcile_failed"
    DNS_MISMATCH = "dns_mismatch"
    OTHER = "other"


RECORD_KINDS: tuple[str, ...] = (
    "ARecord",
    "AAAARecord",
    "CNAMERecord",
    "TXTRecord",
    "MXRecord",
    "SRVRecord",
    "CAARecord",
    "NSRecord",
)
ZONE_KIND = "DNSZone"
DNS_KINDS: tuple[str, ...] = (ZONE_KIND, *RECORD_KINDS)
API_GROUP = "bindy.firestoned.io"
API_VERSION = f"{API_GROUP}/v1beta1"
# The DNS record type each record kind publishes.
RDTYPES: dict[str, str] = {
    "ARecord": "A",
    "AAAARecord": "AAAA",
    "CNAMERecord": "CNAME",
    "TXTRecord": "TXT",
    "MXRecord": "MX",
    "SRVRecord": "SRV",
    "CAARecord": "CAA",
    "NSRecord": "NS",
}
# URL plurals of the namespaced kinds (CONTRACT 1.1); all bindy plurals are lowercase kind + "s".
PLURALS: dict[str, str] = {
    kind: kind.lower() + "s" for kind in (*DNS_KINDS, "Bind9Instance", "Bind9Cluster")
}


@dataclass(frozen=True, slots=True, kw_only=True)
class OperationResult:
    """One measurement record per operation.

    Timestamps are ``time.monotonic_ns()`` values; ``None`` means the stage was not reached.
    Latencies are always taken from ``intended_ns`` (the open-loop schedule), so queueing in
    the generator counts against the target instead of being hidden (coordinated omission).
    """

    name: str
    namespace: str
    kind: str
    operation: Operation
    intended_ns: int
    sent_ns: int | None = None
    acknowledged_ns: int | None = None
    ready_ns: int | None = None
    answerable_ns: int | None = None
    success: bool = False
    error_kind: ErrorKind = ErrorKind.NONE
    error_message: str = ""
    attempts: int = 1
    in_chaos_window: bool = False
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def scheduler_lag_ns(self) -> int | None:
        return None if self.sent_ns is None else self.sent_ns - self.intended_ns

    @property
    def operation_latency_ns(self) -> int | None:
        """Intended start to API acknowledgement."""
        return None if self.acknowledged_ns is None else self.acknowledged_ns - self.intended_ns

    @property
    def reconcile_latency_ns(self) -> int | None:
        """API acknowledgement to Ready: the operator's share."""
        if self.acknowledged_ns is None or self.ready_ns is None:
            return None
        return self.ready_ns - self.acknowledged_ns

    @property
    def end_to_end_latency_ns(self) -> int | None:
        """Intended start to Ready (or to answerable in DNS when that was measured)."""
        end = self.answerable_ns if self.answerable_ns is not None else self.ready_ns
        return None if end is None else end - self.intended_ns
