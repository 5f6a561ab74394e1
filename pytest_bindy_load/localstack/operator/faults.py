"""Fault injection for the reference operator: added delay, injected errors and stall windows.

Pure decisions (what delay, fail or not, how long to stall) are separate from the one async
``apply`` so they can be unit-tested with exact numbers. The faults can be swapped at run time
(the operator reloads them when its config file changes).
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass

from pytest_bindy_load.localstack.operator.config import (
    DelayConfig,
    DelayDistribution,
    FaultConfig,
    StallWindow,
    lognormal_params,
)


class InjectedFaultError(Exception):
    """A reconcile failure chosen by the fault injector (not a real error)."""


def sample_delay(cfg: DelayConfig, kind: str, rng: random.Random) -> float:
    """One added delay in seconds for a reconcile of ``kind``."""
    if cfg.distribution is DelayDistribution.NONE or kind not in cfg.kinds:
        return 0.0
    if cfg.distribution is DelayDistribution.FIXED:
        return cfg.value_s
    if cfg.distribution is DelayDistribution.UNIFORM:
        return rng.uniform(cfg.low_s, cfg.high_s)
    mu, sigma = lognormal_params(cfg.p50_s, cfg.p99_s)
    return rng.lognormvariate(mu, sigma) if sigma > 0 else cfg.p50_s


def stall_remaining(
    stalls: tuple[StallWindow, ...], *, now_wall: float, since_start_s: float
) -> float:
    """Seconds until every stall window covering now has ended (0 when none covers now)."""
    remaining = 0.0
    for w in stalls:
        if w.start_wall is not None and w.end_wall is not None:
            if w.start_wall <= now_wall < w.end_wall:
                remaining = max(remaining, w.end_wall - now_wall)
        elif w.after_start_s is not None and w.duration_s is not None:
            end = w.after_start_s + w.duration_s
            if w.after_start_s <= since_start_s < end:
                remaining = max(remaining, end - since_start_s)
    return remaining


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultDecision:
    delay_s: float
    fail: bool


class FaultInjector:
    """Holds the current fault config and a seeded RNG; ``decide`` is pure given the RNG state."""

    def __init__(self, cfg: FaultConfig, *, started_mono: float | None = None) -> None:
        self._cfg = cfg
        self._rng = random.Random(cfg.seed)
        self._started = time.monotonic() if started_mono is None else started_mono

    @property
    def config(self) -> FaultConfig:
        return self._cfg

    def replace(self, cfg: FaultConfig) -> None:
        if cfg != self._cfg:
            self._cfg = cfg
            self._rng = random.Random(cfg.seed)

    def decide(self, kind: str) -> FaultDecision:
        rate = self._cfg.error_rate_for(kind)
        fail = rate > 0 and self._rng.random() < rate
        return FaultDecision(delay_s=sample_delay(self._cfg.delay, kind, self._rng), fail=fail)

    def stall_s(self) -> float:
        return stall_remaining(
            self._cfg.stalls,
            now_wall=time.time(),
            since_start_s=time.monotonic() - self._started,
        )

    async def apply(self, kind: str) -> float:
        """Block through stall windows, sleep the added delay, maybe raise; returns the delay."""
        # Polls on purpose: the window may be edited (config reload) while we wait.
        while (stall := self.stall_s()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(min(stall, 1.0))
        decision = self.decide(kind)
        if decision.delay_s > 0:
            await asyncio.sleep(decision.delay_s)
        if decision.fail:
            raise InjectedFaultError(f"injected fault: {kind} reconcile failed on purpose")
        return decision.delay_s
