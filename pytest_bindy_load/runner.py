"""Runs operations on an open-loop schedule with a concurrency cap.

Each operation is handed the monotonic time it was *meant* to start; when the cap or the event
loop delays it, that wait counts in its latency (coordinated omission is measured, not hidden).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from pytest_bindy_load.results import OperationResult

OperationFactory = Callable[[int], Awaitable[OperationResult]]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOutcome:
    results: tuple[OperationResult, ...]
    started_ns: int
    finished_ns: int

    @property
    def duration_s(self) -> float:
        return (self.finished_ns - self.started_ns) / 1e9

    @property
    def first_create_to_last_ready_s(self) -> float | None:
        """The burst's headline: first intended start to the last Ready observed."""
        readies = [r.ready_ns for r in self.results if r.ready_ns is not None]
        if not readies or not self.results:
            return None
        return (max(readies) - min(r.intended_ns for r in self.results)) / 1e9


async def run_open_loop(
    offsets_ns: Sequence[int],
    operations: Sequence[OperationFactory],
    *,
    concurrency: int | None = None,
    start_ns: int | None = None,
) -> RunOutcome:
    """Start ``operations[i]`` at ``start + offsets_ns[i]`` with at most ``concurrency`` in flight
    (None: no cap here; the operations may cap their own API calls).

    Scheduling never waits for completions, only the cap does; every result is returned in
    input order.
    """
    if len(offsets_ns) != len(operations):
        raise ValueError(f"{len(offsets_ns)} offsets for {len(operations)} operations")
    if concurrency is not None and concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    gate = asyncio.Semaphore(concurrency or max(1, len(operations)))
    t0 = time.monotonic_ns() if start_ns is None else start_ns

    async def one(offset: int, op: OperationFactory) -> OperationResult:
        intended = t0 + offset
        delay = (intended - time.monotonic_ns()) / 1e9
        if delay > 0:
            await asyncio.sleep(delay)
        async with gate:
            return await op(intended)

    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(one(o, op)) for o, op in zip(offsets_ns, operations, strict=True)]
    return RunOutcome(
        results=tuple(t.result() for t in tasks), started_ns=t0, finished_ns=time.monotonic_ns()
    )
