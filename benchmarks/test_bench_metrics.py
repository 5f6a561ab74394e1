"""Recording throughput of MetricsCollector and the cost of a snapshot: the collector must keep
up with thousands of completions per second without becoming the bottleneck it measures."""

from __future__ import annotations

from pytest_benchmark.fixture import BenchmarkFixture

from pytest_bindy_load.metrics import MetricsCollector
from pytest_bindy_load.results import ErrorKind, Operation, OperationResult

MS = 1_000_000
N = 10_000


def _median_s(benchmark: BenchmarkFixture) -> float:
    stats = benchmark.stats
    assert stats is not None
    return float(stats.stats.median)


def _results() -> list[OperationResult]:
    out = []
    for i in range(N):
        intended = i * 10 * MS
        ok = i % 50 != 0
        out.append(
            OperationResult(
                name=f"r{i}",
                namespace="bench",
                kind="ARecord",
                operation=(Operation.CREATE, Operation.UPDATE, Operation.DELETE)[i % 3],
                intended_ns=intended,
                sent_ns=intended + (i % 7) * MS,
                acknowledged_ns=intended + (20 + i % 13) * MS,
                ready_ns=intended + (500 + i % 997) * MS if ok else None,
                answerable_ns=intended + (700 + i % 991) * MS if ok and i % 2 else None,
                success=ok,
                error_kind=ErrorKind.NONE if ok else ErrorKind.TIMEOUT,
                error_message="" if ok else "not Ready after 60 s",
                in_chaos_window=i % 10 == 0,
            )
        )
    return out


def test_recording_ten_thousand_results(benchmark: BenchmarkFixture) -> None:
    results = _results()

    def run() -> MetricsCollector:
        m = MetricsCollector()
        for r in results:
            m.add(r)
        return m

    collector = benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)  # type: ignore[no-untyped-call]
    assert len(collector) == N
    benchmark.extra_info["results_per_s"] = N / _median_s(benchmark)


def test_snapshot_of_ten_thousand_results(benchmark: BenchmarkFixture) -> None:
    m = MetricsCollector()
    m.add_all(_results())
    snap = benchmark.pedantic(m.snapshot, rounds=5, iterations=1)  # type: ignore[no-untyped-call]
    assert snap.operations == N
