from __future__ import annotations

import itertools

import pytest

from pytest_bindy_load.scheduler import Burst, Phase, PhaseKind, Schedule, TokenBucket, burst

MS = 1_000_000


def test_a_constant_phase_spaces_operations_evenly_from_zero() -> None:
    s = Schedule(phases=(Phase.constant(1.0, 10.0),))
    assert s.intended_offsets_ns() == tuple(k * 100 * MS for k in range(10))
    assert s.expected_count == 10.0
    assert s.duration_s == 1.0


def test_a_ramp_from_zero_follows_the_integral_of_its_rate() -> None:
    # rate(t) = 5 t, so N(t) = 2.5 t^2 and the k-th start is at sqrt(k / 2.5) s.
    s = Schedule(phases=(Phase.ramp(2.0, 0.0, 10.0),))
    assert s.intended_offsets_ns() == (
        0,
        632_455_532,
        894_427_191,
        1_095_445_115,
        1_264_911_064,
        1_414_213_562,
        1_549_193_338,
        1_673_320_053,
        1_788_854_382,
        1_897_366_596,
    )


def test_a_ramp_down_is_dense_first_and_sparse_at_the_end() -> None:
    offsets = Schedule(phases=(Phase.ramp(2.0, 10.0, 0.0),)).intended_offsets_ns()
    assert len(offsets) == 10
    assert offsets[:3] == (0, 102_633_404, 211_145_618)
    gaps = [b - a for a, b in itertools.pairwise(offsets)]
    assert gaps == sorted(gaps)


def test_fractional_operations_carry_over_into_the_next_phase() -> None:
    s = Schedule(phases=(Phase.constant(1.0, 2.5), Phase.constant(1.0, 10.0)))
    offsets = s.intended_offsets_ns()
    assert offsets[:4] == (0, 400 * MS, 800 * MS, 1050 * MS)
    assert offsets[-1] == 1950 * MS
    assert len(offsets) == 13  # 12.5 offered: k = 0 .. 12


def test_a_spike_between_constant_phases_raises_the_rate_only_inside_it() -> None:
    s = Schedule(
        phases=(Phase.constant(2.0, 5.0), Phase.spike(0.5, 100.0), Phase.constant(2.0, 5.0))
    )
    offsets = s.intended_offsets_ns()
    assert len(offsets) == 10 + 50 + 10
    in_spike = [o for o in offsets if 2000 * MS <= o < 2500 * MS]
    assert len(in_spike) == 50
    assert in_spike[1] - in_spike[0] == 10 * MS
    assert s.rate_at(1.0) == 5.0
    assert s.rate_at(2.25) == 100.0
    assert s.rate_at(4.4) == 5.0
    assert s.phase_at(2.1) == Phase.spike(0.5, 100.0)


def test_rate_at_interpolates_ramps_and_is_zero_outside_the_schedule() -> None:
    s = Schedule(phases=(Phase.ramp(10.0, 0.0, 100.0), Phase.constant(5.0, 100.0)))
    assert s.rate_at(-0.1) == 0.0
    assert s.rate_at(0.0) == 0.0
    assert s.rate_at(2.5) == 25.0
    assert s.rate_at(10.0) == 100.0
    assert s.rate_at(15.0) == 0.0
    assert s.duration_s == 15.0
    assert s.expected_count == 500.0 + 500.0


def test_offsets_are_deterministic_and_non_decreasing() -> None:
    phases = (Phase.ramp(3.0, 1.0, 40.0), Phase.constant(2.0, 33.3), Phase.ramp(1.0, 50.0, 0.0))
    a = Schedule(phases=phases).intended_offsets_ns()
    b = Schedule(phases=phases).intended_offsets_ns()
    assert a == b
    assert list(a) == sorted(a)
    assert all(0 <= o < 6 * 1_000_000_000 for o in a)
    # 61.5 + 66.6 + 25 = 153.1 operations offered: k = 0 .. 153.
    assert Schedule(phases=phases).expected_count == pytest.approx(153.1)
    assert len(a) == 154


def test_a_zero_rate_phase_is_a_pause() -> None:
    s = Schedule(
        phases=(Phase.constant(1.0, 2.0), Phase.constant(3.0, 0.0), Phase.constant(1.0, 2.0))
    )
    assert s.intended_offsets_ns() == (0, 500 * MS, 4000 * MS, 4500 * MS)


def test_absolute_starts_add_the_run_start() -> None:
    s = Schedule(phases=(Phase.constant(1.0, 4.0),))
    assert list(s.intended_starts_ns(10**12)) == [10**12 + k * 250 * MS for k in range(4)]


def test_a_burst_intends_every_operation_at_time_zero() -> None:
    b = burst(5)
    assert b == Burst(5)
    assert b.intended_offsets_ns() == (0, 0, 0, 0, 0)
    assert list(b.intended_starts_ns(42)) == [42] * 5
    assert b.expected_count == 5.0
    assert burst(0).intended_offsets_ns() == ()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Phase.constant(0.0, 1.0), "duration_s"),
        (lambda: Phase.constant(1.0, -1.0), "rate_per_s"),
        (lambda: Phase(kind=PhaseKind.RAMP, duration_s=1.0, rate_per_s=3.0), "ramp"),
        (
            lambda: Phase(kind=PhaseKind.CONSTANT, duration_s=1.0, end_rate_per_s=3.0),
            "rate_per_s only",
        ),
        (lambda: Schedule(phases=()), "at least one phase"),
        (lambda: burst(-1), "burst count"),
        (lambda: TokenBucket(0.0, 1), "rate_per_s"),
        (lambda: TokenBucket(1.0, 0), "burst"),
    ],
)
def test_invalid_shapes_are_refused(make: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()  # type: ignore[operator]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000_000

    def __call__(self) -> int:
        return self.now

    def advance(self, ns: int) -> None:
        self.now += ns


def test_the_bucket_allows_a_burst_then_refills_at_its_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10.0, 3, clock=clock)
    assert [bucket.try_acquire() for _ in range(4)] == [True, True, True, False]
    clock.advance(99 * MS)
    assert not bucket.try_acquire()
    clock.advance(1 * MS)
    assert bucket.try_acquire()
    clock.advance(10_000 * MS)  # a long idle time refills to the burst only
    assert bucket.tokens == 3.0


def test_reservations_queue_callers_in_arrival_order() -> None:
    clock = FakeClock()
    bucket = TokenBucket(4.0, 2, clock=clock)
    assert [bucket.reserve() for _ in range(5)] == [0, 0, 250 * MS, 500 * MS, 750 * MS]
    assert bucket.tokens == -3.0
    clock.advance(750 * MS)
    assert bucket.tokens == 0.0
    assert bucket.reserve(2) == 500 * MS


async def test_acquire_sleeps_for_exactly_the_reserved_wait() -> None:
    clock = FakeClock()
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(round(seconds * 1_000_000_000))

    bucket = TokenBucket(2.0, 1, clock=clock, sleep=fake_sleep)
    assert await bucket.acquire() == 0
    assert await bucket.acquire() == 500 * MS
    assert await bucket.acquire() == 500 * MS
    assert slept == [0.5, 0.5]


def test_asking_for_more_tokens_than_the_burst_is_an_error() -> None:
    bucket = TokenBucket(1.0, 2, clock=FakeClock())
    with pytest.raises(ValueError, match="cannot take 3 tokens"):
        bucket.try_acquire(3)
