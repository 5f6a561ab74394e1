from __future__ import annotations

import json
import random
from typing import Any

import pytest

from pytest_bindy_load.metrics import (
    HIGHEST_US,
    PERCENTILES,
    LatencyStats,
    MetricsCollector,
    MetricsSnapshot,
    Stage,
    Window,
    decode_histogram,
    new_histogram,
)
from pytest_bindy_load.results import ErrorKind, Operation, OperationResult

MS = 1_000_000
S = 1_000_000_000
T0 = 5_000 * S  # an arbitrary monotonic origin


def ok(
    intended_ms: float,
    *,
    lag_ms: float = 0,
    ack_ms: float = 10,
    ready_ms: float = 100,
    answerable_ms: float | None = None,
    kind: str = "ARecord",
    operation: Operation = Operation.CREATE,
    chaos: bool = False,
) -> OperationResult:
    """A successful operation; stage times are offsets from its intended start."""
    intended = T0 + round(intended_ms * MS)
    return OperationResult(
        name="r",
        namespace="ns",
        kind=kind,
        operation=operation,
        intended_ns=intended,
        sent_ns=intended + round(lag_ms * MS),
        acknowledged_ns=intended + round(ack_ms * MS),
        ready_ns=intended + round(ready_ms * MS),
        answerable_ns=None if answerable_ms is None else intended + round(answerable_ms * MS),
        success=True,
        in_chaos_window=chaos,
    )


def failed(
    intended_ms: float,
    error_kind: ErrorKind,
    message: str = "boom",
    *,
    ack_ms: float | None = 5,
    kind: str = "MXRecord",
    chaos: bool = False,
) -> OperationResult:
    intended = T0 + round(intended_ms * MS)
    return OperationResult(
        name="r",
        namespace="ns",
        kind=kind,
        operation=Operation.CREATE,
        intended_ns=intended,
        sent_ns=intended,
        acknowledged_ns=None if ack_ms is None else intended + round(ack_ms * MS),
        success=False,
        error_kind=error_kind,
        error_message=message,
        in_chaos_window=chaos,
    )


def test_each_stage_is_measured_from_the_right_timestamps() -> None:
    m = MetricsCollector()
    m.add(ok(0, lag_ms=2, ack_ms=10, ready_ms=110))
    snap = m.snapshot()
    # HdrHistogram keeps 3 significant digits: values come back within 0.1%.
    assert snap.latency[Stage.SCHEDULER_LAG].p50_ms == pytest.approx(2.0, rel=1e-3)
    assert snap.latency[Stage.OPERATION].p50_ms == pytest.approx(10.0, rel=1e-3)
    assert snap.latency[Stage.RECONCILE].max_ms == pytest.approx(100.0, rel=1e-3)
    assert snap.latency[Stage.END_TO_END].min_ms == pytest.approx(110.0, rel=1e-3)


def test_end_to_end_uses_dns_answerability_when_it_was_measured() -> None:
    m = MetricsCollector()
    m.add(ok(0, ready_ms=100, answerable_ms=250))
    assert m.snapshot().latency[Stage.END_TO_END].p50_ms == pytest.approx(250.0, rel=1e-3)


def test_percentiles_of_a_known_distribution() -> None:
    m = MetricsCollector()
    for i in range(1, 1001):  # reconcile latencies 1 ms .. 1000 ms
        m.add(ok(i, ack_ms=1, ready_ms=1 + i))
    stats = m.snapshot().latency[Stage.RECONCILE]
    assert stats.count == 1000
    assert stats.p50_ms == pytest.approx(500, rel=1e-3)
    assert stats.p90_ms == pytest.approx(900, rel=1e-3)
    assert stats.p95_ms == pytest.approx(950, rel=1e-3)
    assert stats.p99_ms == pytest.approx(990, rel=1e-3)
    assert stats.p999_ms == pytest.approx(999, rel=1e-3)
    assert stats.max_ms == pytest.approx(1000, rel=1e-3)
    assert stats.min_ms == pytest.approx(1, rel=1e-3)
    assert stats.mean_ms == pytest.approx(500.5, rel=1e-3)


def test_counters_group_operations_by_kind_operation_and_error_kind() -> None:
    m = MetricsCollector()
    m.add(ok(0, kind="ARecord"))
    m.add(ok(1, kind="ARecord", operation=Operation.UPDATE))
    m.add(failed(2, ErrorKind.API_4XX, kind="MXRecord"))
    m.add(failed(3, ErrorKind.API_4XX, kind="MXRecord"))
    m.add(failed(4, ErrorKind.TIMEOUT, kind="ARecord"))
    snap = m.snapshot()
    rows = {(r.kind, r.operation, r.error_kind): r.count for r in snap.counts}
    assert rows == {
        ("ARecord", "create", "none"): 1,
        ("ARecord", "update", "none"): 1,
        ("ARecord", "create", "timeout"): 1,
        ("MXRecord", "create", "api_4xx"): 2,
    }
    assert dict(snap.errors_by_kind) == {"api_4xx": 2, "timeout": 1}
    assert (snap.operations, snap.succeeded, snap.failed) == (5, 2, 3)
    assert snap.error_rate == pytest.approx(0.6)


def test_failed_operations_do_not_flatter_the_latency_but_count_scheduler_lag() -> None:
    m = MetricsCollector()
    m.add(ok(0, ack_ms=50, ready_ms=500))
    m.add(failed(0, ErrorKind.API_4XX, ack_ms=1))
    snap = m.snapshot()
    assert snap.latency[Stage.OPERATION].count == 1
    assert snap.latency[Stage.OPERATION].min_ms == pytest.approx(50.0, rel=1e-3)
    assert snap.latency[Stage.SCHEDULER_LAG].count == 2


def test_a_failure_without_a_reason_counts_as_other() -> None:
    m = MetricsCollector()
    m.add(failed(0, ErrorKind.NONE))
    assert dict(m.snapshot().errors_by_kind) == {"other": 1}


def test_error_examples_are_few_distinct_and_short() -> None:
    m = MetricsCollector()
    for msg in ["a", "a", "b", "c", "d", "x" * 1000]:
        m.add(failed(0, ErrorKind.API_5XX, msg))
    m.add(failed(0, ErrorKind.TIMEOUT, ""))
    examples = m.snapshot().error_examples
    assert examples["api_5xx"] == ("a", "b", "c")
    assert examples["timeout"] == ("(no message)",)
    m2 = MetricsCollector()
    m2.add(failed(0, ErrorKind.API_5XX, "y" * 1000))
    assert len(m2.snapshot().error_examples["api_5xx"][0]) == 300


def test_values_out_of_range_are_clamped_and_counted_never_dropped() -> None:
    m = MetricsCollector()
    m.add(ok(0, ack_ms=10, ready_ms=2 * 3_600_000))  # 2 h: above the 1 h ceiling
    m.add(ok(0, lag_ms=-3, ack_ms=10, ready_ms=20))  # clock skew: sent before intended
    snap = m.snapshot()
    assert snap.clamped_values == 3  # reconcile and e2e of the first, lag of the second
    assert snap.latency[Stage.RECONCILE].count == 2
    assert snap.latency[Stage.RECONCILE].max_ms == pytest.approx(HIGHEST_US / 1000, rel=1e-3)
    assert snap.latency[Stage.SCHEDULER_LAG].min_ms == 0.0
    assert snap.latency[Stage.SCHEDULER_LAG].count == 2


def test_chaos_window_samples_are_kept_apart() -> None:
    m = MetricsCollector()
    m.add(ok(0, ready_ms=100))
    m.add(ok(10, ready_ms=5000, chaos=True))
    m.add(failed(20, ErrorKind.CONNECTION, chaos=True))
    snap = m.snapshot()
    assert snap.latency[Stage.RECONCILE].count == 1
    assert snap.latency[Stage.RECONCILE].max_ms < 100
    assert snap.chaos_latency[Stage.RECONCILE].count == 1
    assert snap.chaos_latency[Stage.RECONCILE].p50_ms == pytest.approx(4990, rel=1e-3)
    assert snap.stage(Stage.RECONCILE, window=Window.CHAOS).count == 1
    assert (snap.chaos_operations, snap.chaos_failed) == (2, 1)
    assert snap.error_rate == pytest.approx(1 / 3)
    assert snap.steady_error_rate == 0.0


def test_throughput_counts_successes_from_first_intended_to_last_ready() -> None:
    m = MetricsCollector()
    for i in range(10):
        m.add(ok(i * 100, ready_ms=1000))  # last ready at 900 + 1000 = 1900 ms
    m.add(failed(50, ErrorKind.TIMEOUT, ack_ms=None))
    snap = m.snapshot()
    assert snap.duration_s == pytest.approx(1.9)
    assert snap.throughput_per_s == pytest.approx(10 / 1.9)


def test_an_empty_collector_gives_zeros_not_errors() -> None:
    snap = MetricsCollector().snapshot()
    assert snap.operations == 0
    assert snap.error_rate == 0.0
    assert snap.throughput_per_s == 0.0
    assert snap.latency[Stage.RECONCILE] == LatencyStats.from_histogram(new_histogram())
    assert snap.latency[Stage.RECONCILE].count == 0
    assert snap.timeline == ()


def test_the_timeline_has_one_bucket_per_second_from_the_first_intended_start() -> None:
    m = MetricsCollector()
    m.add(ok(0, ready_ms=500))  # done in second 0
    m.add(ok(200, ready_ms=1000))  # done at 1.2 s
    m.add(ok(2500, ready_ms=100))  # intended in second 2, done at 2.6 s
    m.add(failed(2900, ErrorKind.NOT_READY, ack_ms=1500))  # fails at 4.4 s
    buckets = [(b.second, b.intended, b.completed, b.errors) for b in m.snapshot().timeline]
    assert buckets == [(0, 2, 1, 0), (1, 0, 1, 0), (2, 2, 1, 0), (3, 0, 0, 0), (4, 0, 0, 1)]


def test_per_operation_latency_is_broken_down() -> None:
    m = MetricsCollector()
    m.add(ok(0, ready_ms=100, operation=Operation.CREATE))
    m.add(ok(0, ready_ms=300, operation=Operation.DELETE))
    snap = m.snapshot()
    assert set(snap.by_operation) == {"create", "delete"}
    assert snap.by_operation["delete"][Stage.END_TO_END].p50_ms == pytest.approx(300, rel=1e-3)
    assert snap.latency[Stage.END_TO_END].count == 2


def test_encoded_histograms_decode_and_merge_to_the_same_statistics() -> None:
    m = MetricsCollector()
    for i in range(100):
        m.add(ok(i, ready_ms=10 + i, operation=Operation.CREATE if i % 2 else Operation.UPDATE))
    snap = m.snapshot()
    assert set(snap.histograms) >= {"steady/create/reconcile", "steady/update/reconcile"}
    merged = new_histogram()
    for key in ("steady/create/reconcile", "steady/update/reconcile"):
        merged.add(decode_histogram(snap.histograms[key]))
    assert LatencyStats.from_histogram(merged) == snap.latency[Stage.RECONCILE]


def test_a_snapshot_survives_a_json_round_trip() -> None:
    m = MetricsCollector()
    m.add(ok(0))
    m.add(ok(5, chaos=True))
    m.add(failed(7, ErrorKind.API_5XX, "server said no"))
    snap = m.snapshot()
    data: dict[str, Any] = json.loads(json.dumps(snap.to_dict()))
    again = MetricsSnapshot.from_dict(data)
    assert again.to_dict() == snap.to_dict()
    assert again.latency[Stage.OPERATION] == snap.latency[Stage.OPERATION]
    assert data["errors_by_kind"] == {"api_5xx": 1}


def test_snapshots_are_frozen() -> None:
    snap = MetricsCollector().snapshot()
    with pytest.raises(AttributeError):
        snap.operations = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        snap.latency["reconcile"] = snap.latency["operation"]  # type: ignore[index]


def test_summary_statistics_agree_with_hdrhistograms_own_methods() -> None:
    rng = random.Random(4)
    hist = new_histogram()
    for _ in range(2000):
        hist.record_value(int(rng.lognormvariate(11, 2)) % HIGHEST_US)
    stats = LatencyStats.from_histogram(hist)
    slow = [hist.get_value_at_percentile(p) / 1000 for p in PERCENTILES]
    assert [stats.p50_ms, stats.p90_ms, stats.p95_ms, stats.p99_ms, stats.p999_ms] == slow
    assert stats.mean_ms == round(hist.get_mean_value() / 1000, 3)
    assert stats.max_ms == hist.get_max_value() / 1000
    assert stats.min_ms == hist.get_min_value() / 1000
    assert stats.count == 2000
