"""Runs operations on an open-loop schedule with a concurrency cap.

Each operation is handed the monotonic time it was *meant* to start; when the cap or the event
loop delays it, that wait counts in its latency (coordinated omission is measured, not hidden).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from pytest_bindy_load.results import OperationResult

OperationFactory = Callable[[int], Awaitable[OperationResult]]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOutcome:
    results: tuple[OperationResult, ...]
    started_ns: int
    finished_ns: int
    # Operations not started because max_in_flight were still running (k6: dropped_iterations).
    dropped: int = 0

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


async def run_stream(
    offsets_ns: Iterable[int],
    next_operation: Callable[[], OperationFactory],
    *,
    max_in_flight: int,
    start_ns: int | None = None,
    on_result: Callable[[OperationResult], None] | None = None,
) -> RunOutcome:
    """Start one operation at each ``start + offset`` (non-decreasing offsets, possibly endless
    until the iterable ends), choosing it only then with ``next_operation()`` so a workload can
    act on the state earlier operations left.

    With ``on_result`` each result is handed over as it completes and none is kept (the
    outcome's ``results`` is empty): a long query load then costs histograms, not a result per
    query.

    Unlike ``run_open_loop`` no task exists before its time and none is kept after it finished:
    hours of load hold the tasks in flight and the results, nothing more. An operation due while
    ``max_in_flight`` are running is dropped and counted, never delayed: delaying it would hide
    the target's slowness from the schedule. Results are in start order; the first operation
    that raised re-raises here once the others are done.
    """
    if max_in_flight < 1:
        raise ValueError(f"max_in_flight must be >= 1, got {max_in_flight}")
    t0 = time.monotonic_ns() if start_ns is None else start_ns
    results: list[OperationResult | None] = []
    failures: list[BaseException] = []
    in_flight: set[asyncio.Task[None]] = set()
    dropped = 0

    async def run_one(index: int, op: OperationFactory, intended: int) -> None:
        try:
            result = await op(intended)
        except Exception as exc:
            failures.append(exc)
            return
        if on_result is None:
            results[index] = result
        else:
            on_result(result)

    try:
        for offset in offsets_ns:
            intended = t0 + offset
            delay = (intended - time.monotonic_ns()) / 1e9
            if delay > 0:
                await asyncio.sleep(delay)
            if len(in_flight) >= max_in_flight:
                dropped += 1
                continue
            index = len(results)
            if on_result is None:
                results.append(None)
            task = asyncio.create_task(run_one(index, next_operation(), intended))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        if in_flight:
            await asyncio.wait(set(in_flight))
    except BaseException:
        for task in in_flight:
            task.cancel()
        await asyncio.gather(*in_flight, return_exceptions=True)
        raise
    if failures:
        raise failures[0]
    return RunOutcome(
        results=tuple(r for r in results if r is not None),
        started_ns=t0,
        finished_ns=time.monotonic_ns(),
        dropped=dropped,
    )
