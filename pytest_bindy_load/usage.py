"""The operator's memory over a run, sampled from its Prometheus endpoint.

Prometheus client libraries export ``process_resident_memory_bytes`` for their own process
(the reference operator does; bindy's Rust exporter does when built with process metrics, which
CONTRACT.md does not promise). Growth is the least-squares slope, in MB per hour, over the
steady part of the run: from when the workload's live set stopped growing (``since_ns``), else
after a warm-up tenth. It is only judged when that part is long enough to mean something: two
minutes extrapolated to an hour measure cache warm-up, not a leak.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

import httpx
from prometheus_client.parser import text_string_to_metric_families

from pytest_bindy_load.target import require_loopback

log = logging.getLogger(__name__)

RSS_METRIC: Final = "process_resident_memory_bytes"
MB: Final = 1024 * 1024
NS_PER_H: Final = 3600 * 1_000_000_000
MIN_TREND_S: Final = 300.0  # shorter steady parts are reported, not judged
WARMUP_FRACTION: Final = 0.1  # without a steady point, the first tenth of the samples is warm-up


@dataclass(frozen=True, slots=True, kw_only=True)
class MemorySample:
    t_ns: int  # time.monotonic_ns()
    rss_bytes: float


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryTrend:
    samples: int
    span_s: float
    steady_s: float  # the part the growth is fitted to
    first_mb: float | None
    last_mb: float | None
    peak_mb: float | None
    growth_mb_per_h: float | None  # None: fewer than 3 samples after warm-up
    note: str = ""  # why growth is not judged, when it is not

    @property
    def judged(self) -> bool:
        return self.growth_mb_per_h is not None and not self.note

    def to_dict(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "span_s": round(self.span_s, 3),
            "steady_s": round(self.steady_s, 3),
            "first_mb": self.first_mb,
            "last_mb": self.last_mb,
            "peak_mb": self.peak_mb,
            "growth_mb_per_h": self.growth_mb_per_h,
            "note": self.note,
        }


def trend(
    samples: Sequence[MemorySample],
    *,
    min_span_s: float = MIN_TREND_S,
    since_ns: int | None = None,
) -> MemoryTrend:
    if not samples:
        return MemoryTrend(
            samples=0, span_s=0.0, steady_s=0.0, first_mb=None, last_mb=None, peak_mb=None,
            growth_mb_per_h=None, note=f"no {RSS_METRIC} samples from the operator",
        )  # fmt: skip
    span_s = (samples[-1].t_ns - samples[0].t_ns) / 1e9
    if since_ns is None:
        steady = list(samples[int(len(samples) * WARMUP_FRACTION) :])
    else:
        steady = [s for s in samples if s.t_ns >= since_ns]
    steady_s = (steady[-1].t_ns - steady[0].t_ns) / 1e9 if steady else 0.0
    growth = _slope_mb_per_h(steady) if len(steady) >= 3 else None
    note = ""
    if growth is None:
        note = f"{len(steady)} steady samples are too few for a trend"
    elif steady_s < min_span_s:
        note = (
            f"{steady_s:.0f} s of steady load is too short to judge growth per hour "
            f"(needs {min_span_s:.0f} s)"
        )
    return MemoryTrend(
        samples=len(samples),
        span_s=span_s,
        steady_s=steady_s,
        first_mb=round(samples[0].rss_bytes / MB, 3),
        last_mb=round(samples[-1].rss_bytes / MB, 3),
        peak_mb=round(max(s.rss_bytes for s in samples) / MB, 3),
        growth_mb_per_h=None if growth is None else round(growth, 3),
        note=note,
    )


def _slope_mb_per_h(samples: Sequence[MemorySample]) -> float | None:
    t0 = samples[0].t_ns
    xs = [(s.t_ns - t0) / NS_PER_H for s in samples]
    ys = [s.rss_bytes / MB for s in samples]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    if var == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var


def parse_rss(text: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == RSS_METRIC:
                return float(sample.value)
    return None


class MemorySampler:
    """Scrapes the operator's metrics every ``interval_s`` while the run is in progress."""

    def __init__(self, metrics_url: str | None, *, interval_s: float = 5.0) -> None:
        if metrics_url is not None:
            require_loopback(metrics_url, what="operator metrics URL")
        self._url, self._interval_s = metrics_url, interval_s
        self.samples: list[MemorySample] = []
        self.failures = 0

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[MemorySampler]:
        if self._url is None:
            yield self
            return
        async with httpx.AsyncClient(timeout=5.0, trust_env=False) as client:
            task = asyncio.create_task(self._loop(client, self._url))
            try:
                yield self
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                await self._sample(client, self._url)  # the end of the run

    def trend(self, *, min_span_s: float = MIN_TREND_S, since_ns: int | None = None) -> MemoryTrend:
        if self._url is None:
            return dataclasses.replace(trend([]), note="the target has no operator metrics URL")
        return trend(self.samples, min_span_s=min_span_s, since_ns=since_ns)

    async def _loop(self, client: httpx.AsyncClient, url: str) -> None:
        while True:
            await self._sample(client, url)
            await asyncio.sleep(self._interval_s)

    async def _sample(self, client: httpx.AsyncClient, url: str) -> None:
        try:
            resp = await client.get(url)
            resp.raise_for_status()
            rss = parse_rss(resp.text)
        except (httpx.HTTPError, ValueError) as exc:
            self.failures += 1
            log.warning("operator metrics scrape failed: %s", exc)
            return
        if rss is not None:
            self.samples.append(MemorySample(t_ns=time.monotonic_ns(), rss_bytes=rss))
