"""Fault injection of the reference operator: delay distributions, error rates, stall windows."""

from __future__ import annotations

import math
import random
import statistics
import time

import pytest

from pytest_bindy_load.localstack.operator.config import (
    DelayConfig,
    DelayDistribution,
    FaultConfig,
    StallWindow,
    lognormal_params,
)
from pytest_bindy_load.localstack.operator.faults import (
    FaultInjector,
    InjectedFaultError,
    sample_delay,
    stall_remaining,
)


def _quantile(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def test_no_distribution_means_no_delay() -> None:
    assert sample_delay(DelayConfig(), "ARecord", random.Random(1)) == 0.0


def test_fixed_delay_is_exact() -> None:
    cfg = DelayConfig(distribution=DelayDistribution.FIXED, value_s=0.25)
    assert {sample_delay(cfg, "DNSZone", random.Random(i)) for i in range(5)} == {0.25}


def test_uniform_delay_stays_in_range_and_spreads() -> None:
    cfg = DelayConfig(distribution=DelayDistribution.UNIFORM, low_s=0.1, high_s=0.3)
    rng = random.Random(3)
    xs = [sample_delay(cfg, "ARecord", rng) for _ in range(5000)]
    assert min(xs) >= 0.1
    assert max(xs) <= 0.3
    assert statistics.mean(xs) == pytest.approx(0.2, rel=0.02)


def test_lognormal_params_put_median_and_p99_where_asked() -> None:
    mu, sigma = lognormal_params(0.2, 1.0)
    assert math.exp(mu) == pytest.approx(0.2)
    assert math.exp(mu + 2.3263478740408408 * sigma) == pytest.approx(1.0)


def test_lognormal_samples_hit_p50_and_p99_within_three_percent() -> None:
    cfg = DelayConfig(distribution=DelayDistribution.LOGNORMAL, p50_s=0.1, p99_s=0.5)
    rng = random.Random(42)
    xs = [sample_delay(cfg, "ARecord", rng) for _ in range(200_000)]
    assert _quantile(xs, 0.50) == pytest.approx(0.1, rel=0.03)
    assert _quantile(xs, 0.99) == pytest.approx(0.5, rel=0.03)


def test_lognormal_with_equal_p50_and_p99_is_constant() -> None:
    cfg = DelayConfig(distribution=DelayDistribution.LOGNORMAL, p50_s=0.2, p99_s=0.2)
    assert sample_delay(cfg, "ARecord", random.Random(1)) == 0.2


def test_delay_applies_only_to_the_listed_kinds() -> None:
    cfg = DelayConfig(
        distribution=DelayDistribution.FIXED, value_s=1.0, kinds=frozenset({"DNSZone"})
    )
    assert sample_delay(cfg, "DNSZone", random.Random(1)) == 1.0
    assert sample_delay(cfg, "ARecord", random.Random(1)) == 0.0


def test_error_rate_per_kind_with_a_wildcard_default() -> None:
    cfg = FaultConfig(seed=7, error_rate={"ARecord": 0.25, "*": 0.0})
    inj = FaultInjector(cfg)
    fails = sum(inj.decide("ARecord").fail for _ in range(20_000))
    assert fails / 20_000 == pytest.approx(0.25, abs=0.015)
    assert not any(inj.decide("TXTRecord").fail for _ in range(1000))
    assert FaultConfig(error_rate={"*": 0.5}).error_rate_for("MXRecord") == 0.5


def test_same_seed_gives_the_same_fault_sequence() -> None:
    cfg = FaultConfig(
        seed=11,
        error_rate={"*": 0.3},
        delay=DelayConfig(distribution=DelayDistribution.UNIFORM, low_s=0, high_s=1),
    )
    a = [FaultInjector(cfg).decide("ARecord") for _ in range(1)]
    inj1, inj2 = FaultInjector(cfg), FaultInjector(cfg)
    assert [inj1.decide("ARecord") for _ in range(50)] == [
        inj2.decide("ARecord") for _ in range(50)
    ]
    assert a[0] == FaultInjector(cfg).decide("ARecord")


def test_wall_clock_stall_covers_its_window_only() -> None:
    w = (StallWindow(start_wall=100.0, end_wall=110.0),)
    assert stall_remaining(w, now_wall=99.9, since_start_s=0) == 0.0
    assert stall_remaining(w, now_wall=104.0, since_start_s=0) == pytest.approx(6.0)
    assert stall_remaining(w, now_wall=110.0, since_start_s=0) == 0.0


def test_relative_stall_counts_from_operator_start() -> None:
    w = (StallWindow(after_start_s=5.0, duration_s=2.0),)
    assert stall_remaining(w, now_wall=0, since_start_s=4.0) == 0.0
    assert stall_remaining(w, now_wall=0, since_start_s=5.5) == pytest.approx(1.5)


def test_overlapping_stalls_wait_for_the_latest_end() -> None:
    w = (
        StallWindow(start_wall=0.0, end_wall=10.0),
        StallWindow(after_start_s=0.0, duration_s=30.0),
    )
    assert stall_remaining(w, now_wall=5.0, since_start_s=5.0) == pytest.approx(25.0)


async def test_apply_sleeps_the_delay_and_raises_an_injected_failure() -> None:
    cfg = FaultConfig(
        seed=1,
        error_rate={"ARecord": 1.0},
        delay=DelayConfig(distribution=DelayDistribution.FIXED, value_s=0.05),
    )
    inj = FaultInjector(cfg)
    t0 = time.monotonic()
    with pytest.raises(InjectedFaultError):
        await inj.apply("ARecord")
    assert time.monotonic() - t0 >= 0.05
    assert await inj.apply("TXTRecord") == 0.05


async def test_apply_blocks_until_a_stall_window_ends() -> None:
    now = time.time()
    inj = FaultInjector(FaultConfig(stalls=(StallWindow(start_wall=now - 1, end_wall=now + 0.3),)))
    t0 = time.monotonic()
    await inj.apply("DNSZone")
    assert time.monotonic() - t0 >= 0.25


def test_replacing_the_config_takes_effect_at_once() -> None:
    inj = FaultInjector(FaultConfig())
    assert not inj.decide("ARecord").fail
    inj.replace(FaultConfig(error_rate={"*": 1.0}))
    assert inj.decide("ARecord").fail
