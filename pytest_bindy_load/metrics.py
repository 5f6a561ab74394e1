"""Turns OperationResults into HdrHistograms, counters and a per-second timeline.

The only consumer of ``OperationResult``; no other module measures time for reporting. Pure: no
I/O, no clock (every time comes from the results). Latencies are in microseconds from 1 us to 1 h
at 3 significant digits; out-of-range values are clamped and counted, never dropped.
"""

from __future__ import annotations

import itertools
from array import array
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from hdrh.histogram import HdrHistogram

from pytest_bindy_load.results import ErrorKind, OperationResult

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # 1 h
SIGNIFICANT_DIGITS = 3
PERCENTILES: tuple[float, ...] = (50.0, 90.0, 95.0, 99.0, 99.9)
MAX_EXAMPLES_PER_ERROR_KIND = 3
MAX_EXAMPLE_CHARS = 300
NS_PER_S = 1_000_000_000


class Stage(StrEnum):
    OPERATION = "operation"  # intended -> acknowledged by the API server
    RECONCILE = "reconcile"  # acknowledged -> Ready
    END_TO_END = "end_to_end"  # intended -> Ready (or answerable in DNS when measured)
    PROPAGATION = "propagation"  # Ready -> answerable in DNS (only when DNS was checked)
    SCHEDULER_LAG = "scheduler_lag"  # intended -> sent: the generator's own delay


class Window(StrEnum):
    """Samples taken while a fault was injected are summarised apart from the rest."""

    STEADY = "steady"
    CHAOS = "chaos"


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


def decode_histogram(encoded: str) -> HdrHistogram:
    """Rebuild a histogram stored in a snapshot or report, e.g. to merge runs."""
    hist = new_histogram()
    hist.decode_and_add(encoded.encode("ascii"))
    return hist


@dataclass(frozen=True, slots=True, kw_only=True)
class LatencyStats:
    """Summary of one histogram, in milliseconds. All zeros when ``count`` is 0."""

    count: int
    min_ms: float
    mean_ms: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float

    @classmethod
    def from_histogram(cls, hist: HdrHistogram) -> LatencyStats:
        count = int(hist.get_total_count())
        if count == 0:
            return cls(
                count=0,
                min_ms=0.0,
                mean_ms=0.0,
                p50_ms=0.0,
                p90_ms=0.0,
                p95_ms=0.0,
                p99_ms=0.0,
                p999_ms=0.0,
                max_ms=0.0,
            )
        p50, p90, p95, p99, p999 = (v / 1000 for v in _percentiles(hist))
        return cls(
            count=count,
            min_ms=hist.get_min_value() / 1000,
            mean_ms=round(_mean(hist) / 1000, 3),
            p50_ms=p50,
            p90_ms=p90,
            p95_ms=p95,
            p99_ms=p99,
            p999_ms=p999,
            max_ms=hist.get_max_value() / 1000,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "min_ms": self.min_ms,
            "mean_ms": self.mean_ms,
            "p50_ms": self.p50_ms,
            "p90_ms": self.p90_ms,
            "p95_ms": self.p95_ms,
            "p99_ms": self.p99_ms,
            "p999_ms": self.p999_ms,
            "max_ms": self.max_ms,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LatencyStats:
        return cls(
            count=int(data["count"]),
            **{k: float(data[k]) for k in _STAT_FIELDS},
        )


def _nonzero_counts(hist: HdrHistogram) -> list[tuple[int, int]]:
    """(index, count) of the used buckets. hdrh's own percentile and mean methods walk all
    ~23,500 buckets in Python per call (about 25 ms each); one pass over a copy is ~2 ms."""
    typecode = {2: "H", 4: "I", 8: "Q"}.get(hist.word_size, "")
    if not typecode or array(typecode).itemsize != hist.word_size:
        return [(i, c) for i in range(hist.counts_len) if (c := hist.get_count_at_index(i))]
    counts = array(typecode)
    counts.frombytes(bytes(hist.counts))
    return [(i, counts[i]) for i in itertools.compress(range(len(counts)), counts)]


def _percentiles(hist: HdrHistogram) -> list[int]:
    """Values at PERCENTILES with hdrh's semantics (highest equivalent value of the bucket
    holding the target count)."""
    targets = [hist.get_target_count_at_percentile(p) for p in PERCENTILES]
    out: list[int] = []
    total = 0
    for index, count in _nonzero_counts(hist):
        total += count
        while len(out) < len(targets) and total >= targets[len(out)]:
            out.append(hist.get_highest_equivalent_value(hist.get_value_from_index(index)))
        if len(out) == len(targets):
            break
    return out + [0] * (len(targets) - len(out))


def _mean(hist: HdrHistogram) -> float:
    total = weighted = 0
    for index, count in _nonzero_counts(hist):
        value = hist.get_value_from_index(index)
        low = hist.get_lowest_equivalent_value(value)
        high = hist.get_highest_equivalent_value(value)
        weighted += count * (low + ((high - low + 1) >> 1))
        total += count
    return weighted / total if total else 0.0


_STAT_FIELDS = ("min_ms", "mean_ms", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "p999_ms", "max_ms")


@dataclass(frozen=True, slots=True, kw_only=True)
class CountRow:
    """How many operations of (kind, operation) ended with ``error_kind`` (``none`` = success)."""

    kind: str
    operation: str
    error_kind: str
    count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TimelineBucket:
    """One second of the run, counted from the first intended start."""

    second: int
    intended: int
    completed: int
    errors: int


def _frozen(mapping: Mapping[Any, Any]) -> Mapping[Any, Any]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricsSnapshot:
    """Everything a report or a criterion needs from one scenario; JSON-ready via ``to_dict``."""

    operations: int
    succeeded: int
    failed: int
    chaos_operations: int
    chaos_failed: int
    duration_s: float
    throughput_per_s: float
    error_rate: float
    steady_error_rate: float
    clamped_values: int
    latency: Mapping[str, LatencyStats]  # steady window, all operations, by Stage
    chaos_latency: Mapping[str, LatencyStats]  # chaos window, all operations, by Stage
    by_operation: Mapping[str, Mapping[str, LatencyStats]]  # steady window: Operation -> Stage
    counts: tuple[CountRow, ...]
    error_examples: Mapping[str, tuple[str, ...]]
    timeline: tuple[TimelineBucket, ...]
    histograms: Mapping[str, str] = field(default_factory=dict)  # "window/operation/stage"

    @property
    def errors_by_kind(self) -> Mapping[str, int]:
        """Failed operations per ErrorKind."""
        out: Counter[str] = Counter()
        for row in self.counts:
            if row.error_kind != ErrorKind.NONE:
                out[row.error_kind] += row.count
        return dict(sorted(out.items()))

    def stage(self, stage: Stage, *, window: Window = Window.STEADY) -> LatencyStats:
        source = self.latency if window is Window.STEADY else self.chaos_latency
        return source[stage]

    def to_dict(self) -> dict[str, Any]:
        return {
            "operations": self.operations,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "chaos_operations": self.chaos_operations,
            "chaos_failed": self.chaos_failed,
            "duration_s": self.duration_s,
            "throughput_per_s": self.throughput_per_s,
            "error_rate": self.error_rate,
            "steady_error_rate": self.steady_error_rate,
            "clamped_values": self.clamped_values,
            "latency": {k: v.to_dict() for k, v in self.latency.items()},
            "chaos_latency": {k: v.to_dict() for k, v in self.chaos_latency.items()},
            "by_operation": {
                op: {k: v.to_dict() for k, v in stages.items()}
                for op, stages in self.by_operation.items()
            },
            "counts": [
                {
                    "kind": r.kind,
                    "operation": r.operation,
                    "error_kind": r.error_kind,
                    "count": r.count,
                }
                for r in self.counts
            ],
            "errors_by_kind": dict(self.errors_by_kind),
            "error_examples": {k: list(v) for k, v in self.error_examples.items()},
            "timeline": [
                {
                    "second": b.second,
                    "intended": b.intended,
                    "completed": b.completed,
                    "errors": b.errors,
                }
                for b in self.timeline
            ],
            "histograms": dict(self.histograms),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MetricsSnapshot:
        """Inverse of ``to_dict`` (``errors_by_kind`` is derived, so it is not read back)."""

        def stages(m: Mapping[str, Any]) -> Mapping[str, LatencyStats]:
            return _frozen({k: LatencyStats.from_dict(v) for k, v in m.items()})

        return cls(
            operations=int(data["operations"]),
            succeeded=int(data["succeeded"]),
            failed=int(data["failed"]),
            chaos_operations=int(data["chaos_operations"]),
            chaos_failed=int(data["chaos_failed"]),
            duration_s=float(data["duration_s"]),
            throughput_per_s=float(data["throughput_per_s"]),
            error_rate=float(data["error_rate"]),
            steady_error_rate=float(data["steady_error_rate"]),
            clamped_values=int(data["clamped_values"]),
            latency=stages(data["latency"]),
            chaos_latency=stages(data["chaos_latency"]),
            by_operation=_frozen({op: stages(m) for op, m in data["by_operation"].items()}),
            counts=tuple(CountRow(**row) for row in data["counts"]),
            error_examples=_frozen({k: tuple(v) for k, v in data["error_examples"].items()}),
            timeline=tuple(TimelineBucket(**b) for b in data["timeline"]),
            histograms=_frozen(data.get("histograms", {})),
        )


class MetricsCollector:
    """Accumulates results of one scenario. Latencies are recorded for successful operations
    only (a fast 4xx must not flatter the latency); scheduler lag for every operation that was
    sent, since it measures the generator, not the target."""

    def __init__(self) -> None:
        self._hists: dict[tuple[Window, str, Stage], HdrHistogram] = {}
        self._counts: Counter[tuple[str, str, str]] = Counter()
        self._examples: dict[str, list[str]] = {}
        self._clamped = 0
        self._ops = 0
        self._failed = 0
        self._chaos_ops = 0
        self._chaos_failed = 0
        self._first_intended: int | None = None
        self._last_success_end: int | None = None
        # Per-operation times for the timeline: intended, end (last stage reached), outcome.
        self._intended = array("q")
        self._ends = array("q")
        self._ok = bytearray()

    @property
    def clamped_values(self) -> int:
        return self._clamped

    def __len__(self) -> int:
        return self._ops

    def add(self, result: OperationResult) -> None:
        window = Window.CHAOS if result.in_chaos_window else Window.STEADY
        success = result.success
        error_kind = ErrorKind.NONE if success else result.error_kind
        if not success and error_kind is ErrorKind.NONE:
            error_kind = ErrorKind.OTHER  # a failure with no reason still counts as an error
        self._ops += 1
        self._counts[(result.kind, str(result.operation), str(error_kind))] += 1
        if window is Window.CHAOS:
            self._chaos_ops += 1
        if not success:
            self._failed += 1
            if window is Window.CHAOS:
                self._chaos_failed += 1
            self._add_example(error_kind, result.error_message)

        op = str(result.operation)
        self._record(window, op, Stage.SCHEDULER_LAG, result.scheduler_lag_ns)
        if success:
            self._record(window, op, Stage.OPERATION, result.operation_latency_ns)
            self._record(window, op, Stage.RECONCILE, result.reconcile_latency_ns)
            self._record(window, op, Stage.END_TO_END, result.end_to_end_latency_ns)
            if result.answerable_ns is not None and result.ready_ns is not None:
                self._record(window, op, Stage.PROPAGATION, result.answerable_ns - result.ready_ns)

        intended = result.intended_ns
        end = _end_ns(result)
        if self._first_intended is None or intended < self._first_intended:
            self._first_intended = intended
        if success and (self._last_success_end is None or end > self._last_success_end):
            self._last_success_end = end
        self._intended.append(intended)
        self._ends.append(end)
        self._ok.append(1 if success else 0)

    def add_all(self, results: Iterable[OperationResult]) -> None:
        for r in results:
            self.add(r)

    def _add_example(self, error_kind: ErrorKind, message: str) -> None:
        examples = self._examples.setdefault(str(error_kind), [])
        text = message.strip()[:MAX_EXAMPLE_CHARS] or "(no message)"
        if len(examples) < MAX_EXAMPLES_PER_ERROR_KIND and text not in examples:
            examples.append(text)

    def _record(self, window: Window, op: str, stage: Stage, value_ns: int | None) -> None:
        if value_ns is None:
            return
        value_us = (value_ns + 500) // 1000
        if value_us < 0:
            value_us = 0
            self._clamped += 1
        elif value_us > HIGHEST_US:
            value_us = HIGHEST_US
            self._clamped += 1
        key = (window, op, stage)
        hist = self._hists.get(key)
        if hist is None:
            hist = self._hists[key] = new_histogram()
        if not hist.record_value(value_us):  # cannot happen after clamping; never drop silently
            self._clamped += 1
            hist.record_value(HIGHEST_US)

    def _merged(self, window: Window, stage: Stage, op: str | None = None) -> HdrHistogram:
        out = new_histogram()
        for (w, o, s), hist in self._hists.items():
            if w is window and s is stage and (op is None or o == op):
                out.add(hist)
        return out

    def snapshot(self) -> MetricsSnapshot:
        latency = {
            s.value: LatencyStats.from_histogram(self._merged(Window.STEADY, s)) for s in Stage
        }
        chaos = {s.value: LatencyStats.from_histogram(self._merged(Window.CHAOS, s)) for s in Stage}
        ops = sorted({o for (w, o, _) in self._hists if w is Window.STEADY})
        by_operation = {
            op: _frozen(
                {
                    s.value: LatencyStats.from_histogram(self._merged(Window.STEADY, s, op))
                    for s in Stage
                }
            )
            for op in ops
        }
        span_s = 0.0
        if self._first_intended is not None and self._last_success_end is not None:
            span_s = max(self._last_success_end - self._first_intended, 0) / NS_PER_S
        succeeded = self._ops - self._failed
        steady_ops = self._ops - self._chaos_ops
        return MetricsSnapshot(
            operations=self._ops,
            succeeded=succeeded,
            failed=self._failed,
            chaos_operations=self._chaos_ops,
            chaos_failed=self._chaos_failed,
            duration_s=span_s,
            throughput_per_s=succeeded / span_s if span_s > 0 else 0.0,
            error_rate=self._failed / self._ops if self._ops else 0.0,
            steady_error_rate=(
                (self._failed - self._chaos_failed) / steady_ops if steady_ops else 0.0
            ),
            clamped_values=self._clamped,
            latency=_frozen(latency),
            chaos_latency=_frozen(chaos),
            by_operation=_frozen(by_operation),
            counts=tuple(
                CountRow(kind=k, operation=o, error_kind=e, count=n)
                for (k, o, e), n in sorted(self._counts.items())
            ),
            error_examples=_frozen({k: tuple(v) for k, v in sorted(self._examples.items())}),
            timeline=self._timeline(),
            histograms=_frozen(
                {
                    f"{w}/{o}/{s}": h.encode().decode("ascii")
                    for (w, o, s), h in sorted(self._hists.items())
                }
            ),
        )

    def _timeline(self) -> tuple[TimelineBucket, ...]:
        if self._first_intended is None:
            return ()
        origin = self._first_intended
        intended: Counter[int] = Counter((t - origin) // NS_PER_S for t in self._intended)
        completed: Counter[int] = Counter()
        errors: Counter[int] = Counter()
        for end, ok in zip(self._ends, self._ok, strict=True):
            second = max(end - origin, 0) // NS_PER_S
            (completed if ok else errors)[second] += 1
        last = max(max(intended), max(completed, default=0), max(errors, default=0))
        return tuple(
            TimelineBucket(second=s, intended=intended[s], completed=completed[s], errors=errors[s])
            for s in range(last + 1)
        )


def _end_ns(result: OperationResult) -> int:
    """When the operation finished: the last stage it reached."""
    for t in (result.answerable_ns, result.ready_ns, result.acknowledged_ns, result.sent_ns):
        if t is not None:
            return t
    return result.intended_ns


__all__ = [
    "HIGHEST_US",
    "LOWEST_US",
    "PERCENTILES",
    "SIGNIFICANT_DIGITS",
    "CountRow",
    "LatencyStats",
    "MetricsCollector",
    "MetricsSnapshot",
    "Stage",
    "TimelineBucket",
    "Window",
    "decode_histogram",
    "new_histogram",
]
