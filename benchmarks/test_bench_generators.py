"""Generator speed: a quick profile creates thousands of records, so building them must stay far
below the time the target needs to reconcile them. Target: 10,000 valid records well under 1 s."""

from __future__ import annotations

from typing import Any

from pytest_benchmark.fixture import BenchmarkFixture

from pytest_bindy_load.generators import FixtureGenerator, expected_rdata

RUN_ID = "b3nc4000-0000-4000-8000-000000000000"
SELECTOR = {"bindy.firestoned.io/cluster": "local"}
RECORDS = 10_000
TARGET_S = 1.0


def _median_s(benchmark: BenchmarkFixture) -> float:
    stats = benchmark.stats
    assert stats is not None
    return float(stats.stats.median)


def _records() -> list[dict[str, Any]]:
    gen = FixtureGenerator(42, RUN_ID)
    zone = gen.zone(1, instance_selector=SELECTOR, namespace="bench")
    return gen.records(zone, RECORDS, namespace="bench")


def test_generating_ten_thousand_records(benchmark: BenchmarkFixture) -> None:
    records = benchmark.pedantic(_records, rounds=5, iterations=1, warmup_rounds=1)  # type: ignore[no-untyped-call]
    assert len(records) == RECORDS
    benchmark.extra_info["records_per_s"] = RECORDS / _median_s(benchmark)
    assert _median_s(benchmark) < TARGET_S


def test_expected_rdata_for_ten_thousand_records(benchmark: BenchmarkFixture) -> None:
    records = _records()
    zone = records[0]["metadata"]["labels"]["bindy.firestoned.io/zone"]

    def run() -> int:
        return sum(len(expected_rdata(r, zone)[2]) for r in records)

    result = benchmark.pedantic(run, rounds=5, iterations=1)  # type: ignore[no-untyped-call]
    assert result >= RECORDS


def test_mutating_ten_thousand_records(benchmark: BenchmarkFixture) -> None:
    gen = FixtureGenerator(42, RUN_ID)
    records = _records()

    def run() -> int:
        return len([gen.mutate(r) for r in records])

    result = benchmark.pedantic(run, rounds=3, iterations=1)  # type: ignore[no-untyped-call]
    assert result == RECORDS
