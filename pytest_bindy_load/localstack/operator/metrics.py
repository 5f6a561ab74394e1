"""Prometheus metrics with bindy's names, labels and buckets (CONTRACT.md 6.1), in a private
registry, plus the reference operator's own work-queue gauges; and the JSON-lines event log.

The event log is how tests measure the operator precisely: every status write and every
reconcile is one JSON line on stdout with wall and monotonic timestamps. Nothing secret is ever
put in an event.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any, TextIO

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    start_http_server,
)

PREFIX = "bindy_firestoned_io"
OWN_PREFIX = "bindy_localstack_operator"
BINDY_BUCKETS = (0.001, 0.01, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


# Seconds spent per phase (api, api_queue, dns, bindcar) by the reconcile running in this
# context; tasks spawned inside a reconcile share the same dict, so fan-out sums up.
_PHASES: ContextVar[dict[str, float] | None] = ContextVar("operator_phases", default=None)


def start_phases() -> dict[str, float]:
    phases: dict[str, float] = {}
    _PHASES.set(phases)
    return phases


@contextlib.contextmanager
def phase(name: str) -> Iterator[None]:
    """Add the wall time of the block to the current reconcile's ``name`` phase."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        phases = _PHASES.get()
        if phases is not None:
            phases[name] = phases.get(name, 0.0) + time.perf_counter() - t0


class OperatorMetrics:
    """bindy's four live families plus queue depth; nothing appears before its first use."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        # process_resident_memory_bytes & co., as bindy's exporter serves for its own process;
        # the sustained scenario samples memory growth from it.
        ProcessCollector(registry=self.registry)
        self.reconciliations = Counter(
            f"{PREFIX}_reconciliations",
            "Total number of reconciliations",
            ["resource_type", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            f"{PREFIX}_reconciliation_duration_seconds",
            "Duration of reconciliations in seconds",
            ["resource_type"],
            buckets=BINDY_BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter(
            f"{PREFIX}_errors",
            "Total number of errors",
            ["resource_type", "error_type"],
            registry=self.registry,
        )
        self.deleted = Counter(
            f"{PREFIX}_resources_deleted",
            "Total number of resources deleted",
            ["resource_type"],
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            f"{OWN_PREFIX}_workqueue_depth",
            "Keys waiting for a worker (excludes delayed requeues and keys in flight)",
            registry=self.registry,
        )
        self.queue_delayed = Gauge(
            f"{OWN_PREFIX}_workqueue_delayed",
            "Keys scheduled for a later requeue",
            registry=self.registry,
        )
        self.in_flight = Gauge(
            f"{OWN_PREFIX}_reconciles_in_flight",
            "Reconciles running now",
            registry=self.registry,
        )
        self.synced = Gauge(
            f"{OWN_PREFIX}_informers_synced",
            "1 once every informer finished its initial list (reconciles may start)",
            registry=self.registry,
        )
        self.status_writes = Counter(
            f"{OWN_PREFIX}_status_writes",
            "Status subresource writes",
            ["resource_type"],
            registry=self.registry,
        )

    def observe(self, kind: str, duration_s: float, *, ok: bool) -> None:
        self.reconciliations.labels(resource_type=kind, status="success" if ok else "error").inc()
        self.duration.labels(resource_type=kind).observe(duration_s)
        if not ok:
            self.errors.labels(resource_type=kind, error_type="reconcile_error").inc()

    def bind_queue(
        self, depth: Callable[[], int], delayed: Callable[[], int], busy: Callable[[], int]
    ) -> None:
        self.queue_depth.set_function(lambda: float(depth()))
        self.queue_delayed.set_function(lambda: float(delayed()))
        self.in_flight.set_function(lambda: float(busy()))

    def serve(self, host: str, port: int) -> int:
        """Serve /metrics on host:port in a daemon thread; returns the bound port."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return int(server.server_address[1])


class EventLog:
    """One JSON object per line on ``stream``; thread-safe, flushed per line."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stdout
        self._lock = threading.Lock()

    def emit(self, event: str, **fields: Any) -> None:
        line = {"event": event, "wall": time.time(), "mono_ns": time.monotonic_ns(), **fields}
        text = json.dumps(line, default=str, separators=(",", ":"))
        with self._lock:
            self._stream.write(text + "\n")
            self._stream.flush()


class JsonLogFormatter(logging.Formatter):
    """Plain logging as JSON lines too, so the operator's whole output parses line by line."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "event": "log",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "wall": record.created,
        }
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str, separators=(",", ":"))
