"""Schedule cost: intended starts are computed up front, so an hour at 100 ops/s must be cheap."""

from __future__ import annotations

from pytest_benchmark.fixture import BenchmarkFixture

from pytest_bindy_load.scheduler import Phase, Schedule, TokenBucket


def test_one_hour_of_offsets_at_one_hundred_per_second(benchmark: BenchmarkFixture) -> None:
    schedule = Schedule(
        phases=(
            Phase.ramp(60.0, 0.0, 100.0),
            Phase.constant(3480.0, 100.0),
            Phase.spike(60.0, 500.0),
        )
    )
    offsets = benchmark.pedantic(schedule.intended_offsets_ns, rounds=3, iterations=1)  # type: ignore[no-untyped-call]
    assert len(offsets) == 3000 + 348_000 + 30_000


def test_token_bucket_reservations(benchmark: BenchmarkFixture) -> None:
    now = [0]

    def clock() -> int:
        now[0] += 1_000
        return now[0]

    bucket = TokenBucket(1_000_000.0, 100, clock=clock)

    def run() -> int:
        return sum(bucket.reserve() for _ in range(10_000))

    result = benchmark.pedantic(run, rounds=5, iterations=1)  # type: ignore[no-untyped-call]
    assert result >= 0
