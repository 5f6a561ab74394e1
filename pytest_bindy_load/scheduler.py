"""The open-loop load shape: when each operation is *meant* to start, and a token bucket.

Intended start times are a pure function of the phases, computed before the run, so a slow
target cannot slow the offered load (latency is measured from these times; coordinated omission
shows instead of hiding). The token bucket is separate: it caps API calls, not the schedule.
No I/O here; the only waiting is ``TokenBucket.acquire``'s injectable sleep.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum

NS_PER_S = 1_000_000_000


class PhaseKind(StrEnum):
    RAMP = "ramp"
    CONSTANT = "constant"
    # A spike is a constant phase at a high rate; the kind only labels it in reports.
    SPIKE = "spike"


@dataclass(frozen=True, slots=True, kw_only=True)
class Phase:
    """One stretch of the schedule. ``ramp`` goes linearly from ``start_rate_per_s`` to
    ``end_rate_per_s``; ``constant`` and ``spike`` hold ``rate_per_s``."""

    kind: PhaseKind
    duration_s: float
    rate_per_s: float = 0.0
    start_rate_per_s: float = 0.0
    end_rate_per_s: float = 0.0

    def __post_init__(self) -> None:
        if not (self.duration_s > 0 and math.isfinite(self.duration_s)):
            raise ValueError(f"{self.kind} phase duration_s must be > 0, got {self.duration_s}")
        for name in ("rate_per_s", "start_rate_per_s", "end_rate_per_s"):
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)):
                raise ValueError(f"{self.kind} phase {name} must be >= 0, got {value}")
        if self.kind is PhaseKind.RAMP:
            if self.rate_per_s:
                raise ValueError("a ramp phase takes start_rate_per_s and end_rate_per_s")
        elif self.start_rate_per_s or self.end_rate_per_s:
            raise ValueError(f"a {self.kind} phase takes rate_per_s only")

    @classmethod
    def constant(cls, duration_s: float, rate_per_s: float) -> Phase:
        return cls(kind=PhaseKind.CONSTANT, duration_s=duration_s, rate_per_s=rate_per_s)

    @classmethod
    def spike(cls, duration_s: float, rate_per_s: float) -> Phase:
        return cls(kind=PhaseKind.SPIKE, duration_s=duration_s, rate_per_s=rate_per_s)

    @classmethod
    def ramp(cls, duration_s: float, start_rate_per_s: float, end_rate_per_s: float) -> Phase:
        return cls(
            kind=PhaseKind.RAMP,
            duration_s=duration_s,
            start_rate_per_s=start_rate_per_s,
            end_rate_per_s=end_rate_per_s,
        )

    @property
    def _r0(self) -> float:
        return self.start_rate_per_s if self.kind is PhaseKind.RAMP else self.rate_per_s

    @property
    def _r1(self) -> float:
        return self.end_rate_per_s if self.kind is PhaseKind.RAMP else self.rate_per_s

    def rate_at(self, t_s: float) -> float:
        """Rate at ``t_s`` seconds into this phase (0 outside it)."""
        if t_s < 0 or t_s >= self.duration_s:
            return 0.0
        return self._r0 + (self._r1 - self._r0) * t_s / self.duration_s

    @property
    def expected_count(self) -> float:
        """Operations offered by this phase: the integral of its rate."""
        return (self._r0 + self._r1) / 2 * self.duration_s

    def _times_for(self, works: Iterable[float]) -> Iterator[float]:
        """Seconds into the phase at which each of ``works`` operations have been offered."""
        r0 = self._r0
        a = (self._r1 - r0) / (2 * self.duration_s)
        sqrt = math.sqrt
        for work in works:
            if work <= 0:
                yield 0.0
            elif a == 0:
                yield work / r0
            else:
                # Root of a*t^2 + r0*t - work = 0, in the form that stays exact when r0 == 0.
                denom = r0 + sqrt(max(r0 * r0 + 4 * a * work, 0.0))
                yield math.inf if denom == 0 else 2 * work / denom


@dataclass(frozen=True, slots=True, kw_only=True)
class Schedule:
    """Phases run back to back. The k-th operation (k = 0, 1, ...) is intended at the time when
    the integral of the rate reaches k, so the first one starts at 0 and fractional operations
    carry over from one phase into the next."""

    phases: tuple[Phase, ...]

    def __post_init__(self) -> None:
        if not self.phases:
            raise ValueError("a schedule needs at least one phase")
        object.__setattr__(self, "phases", tuple(self.phases))

    @property
    def _starts(self) -> tuple[float, ...]:
        starts: list[float] = []
        t = 0.0
        for p in self.phases:
            starts.append(t)
            t += p.duration_s
        return tuple(starts)

    @property
    def duration_s(self) -> float:
        return self._starts[-1] + self.phases[-1].duration_s

    @property
    def expected_count(self) -> float:
        return sum(p.expected_count for p in self.phases)

    def rate_at(self, elapsed_s: float) -> float:
        """Offered rate (operations/s) ``elapsed_s`` seconds after the start; 0 outside."""
        for start, phase in zip(self._starts, self.phases, strict=True):
            if start <= elapsed_s < start + phase.duration_s:
                return phase.rate_at(elapsed_s - start)
        return 0.0

    def phase_at(self, elapsed_s: float) -> Phase | None:
        for start, phase in zip(self._starts, self.phases, strict=True):
            if start <= elapsed_s < start + phase.duration_s:
                return phase
        return None

    def iter_offsets_ns(self) -> Iterator[int]:
        k = 0
        done = 0.0  # operations offered before the current phase
        for start, phase in zip(self._starts, self.phases, strict=True):
            count = phase.expected_count
            first = k
            last = math.ceil(done + count)  # k stays below done + count
            for t in phase._times_for(j - done for j in range(first, last)):
                if t >= phase.duration_s:  # float rounding at the phase's end
                    break
                yield round((start + t) * NS_PER_S)
                k += 1
            done += count

    def intended_offsets_ns(self) -> tuple[int, ...]:
        """Intended start of every operation, in ns after the schedule's start; non-decreasing
        and the same on every call."""
        return tuple(self.iter_offsets_ns())

    def intended_starts_ns(self, start_ns: int) -> Iterator[int]:
        """Absolute monotonic intended starts for a run that begins at ``start_ns``."""
        return (start_ns + off for off in self.iter_offsets_ns())


@dataclass(frozen=True, slots=True)
class Burst:
    """``count`` operations all intended at t=0: the target sees them as fast as the runner
    (and its concurrency cap and token bucket) can send, and every one's latency includes the
    wait behind the others."""

    count: int

    def __post_init__(self) -> None:
        if self.count < 0:
            raise ValueError(f"burst count must be >= 0, got {self.count}")

    @property
    def duration_s(self) -> float:
        return 0.0

    @property
    def expected_count(self) -> float:
        return float(self.count)

    def intended_offsets_ns(self) -> tuple[int, ...]:
        return (0,) * self.count

    def intended_starts_ns(self, start_ns: int) -> Iterator[int]:
        return (start_ns for _ in range(self.count))


def burst(n: int) -> Burst:
    return Burst(n)


class TokenBucket:
    """At most ``burst`` calls at once and ``rate_per_s`` on average, as kube-burner's limiter.

    Tokens are reserved, so concurrent callers queue in arrival order: the bucket may go below
    zero and each later caller waits for its own token. ``clock`` returns monotonic ns.
    """

    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        *,
        clock: Callable[[], int] = time.monotonic_ns,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not (rate_per_s > 0 and math.isfinite(rate_per_s)):
            raise ValueError(f"token bucket rate_per_s must be > 0, got {rate_per_s}")
        if burst < 1:
            raise ValueError(f"token bucket burst must be >= 1, got {burst}")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._last_ns = clock()

    def __repr__(self) -> str:
        return f"TokenBucket(rate_per_s={self.rate_per_s}, burst={self.burst})"

    def _refill(self) -> None:
        now = self._clock()
        elapsed = now - self._last_ns
        if elapsed > 0:
            self._tokens = min(
                float(self.burst), self._tokens + elapsed * self.rate_per_s / NS_PER_S
            )
            self._last_ns = now

    @property
    def tokens(self) -> float:
        """Tokens available now (negative while reservations are outstanding)."""
        self._refill()
        return self._tokens

    def try_acquire(self, n: int = 1) -> bool:
        """Take ``n`` tokens if they are there now; never waits, never reserves."""
        self._check(n)
        self._refill()
        if self._tokens >= n:
            self._tokens -= n
            return True
        return False

    def reserve(self, n: int = 1) -> int:
        """Take ``n`` tokens now, possibly on credit; returns how many ns to wait before use."""
        self._check(n)
        self._refill()
        self._tokens -= n
        if self._tokens >= 0:
            return 0
        return math.ceil(-self._tokens * NS_PER_S / self.rate_per_s)

    async def acquire(self, n: int = 1) -> int:
        """Wait until ``n`` tokens are ours; returns the ns waited (by the bucket's reckoning)."""
        wait_ns = self.reserve(n)
        if wait_ns:
            await self._sleep(wait_ns / NS_PER_S)
        return wait_ns

    def _check(self, n: int) -> None:
        if not 1 <= n <= self.burst:
            raise ValueError(f"cannot take {n} tokens from a bucket of burst {self.burst}")
