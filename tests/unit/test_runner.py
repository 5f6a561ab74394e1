"""The open-loop runners: intended times are the schedule's, never the completion's."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from pytest_bindy_load.results import Operation, OperationResult
from pytest_bindy_load.runner import OperationFactory, run_open_loop, run_stream

MS = 1_000_000


def op(name: str, gate: asyncio.Event | None = None) -> OperationFactory:
    async def run(intended_ns: int) -> OperationResult:
        sent = time.monotonic_ns()
        if gate is not None:
            await gate.wait()
        return OperationResult(
            name=name,
            namespace="ns",
            kind="ARecord",
            operation=Operation.CREATE,
            intended_ns=intended_ns,
            sent_ns=sent,
            acknowledged_ns=time.monotonic_ns(),
            success=True,
        )

    return run


async def test_each_operation_gets_its_scheduled_time_not_when_it_ran() -> None:
    start = time.monotonic_ns()
    offsets = [0, 1 * MS, 2 * MS, 2 * MS]
    names = iter(["a", "b", "c", "d"])
    outcome = await run_stream(offsets, lambda: op(next(names)), max_in_flight=10, start_ns=start)
    assert [r.intended_ns - start for r in outcome.results] == offsets
    assert [r.name for r in outcome.results] == ["a", "b", "c", "d"]
    assert all(r.sent_ns is not None and r.sent_ns >= r.intended_ns for r in outcome.results)
    assert outcome.dropped == 0


async def test_operations_due_while_the_cap_is_full_are_dropped_not_delayed() -> None:
    gate = asyncio.Event()
    names = iter(f"op{i}" for i in range(100))
    chosen: list[str] = []

    def next_operation() -> OperationFactory:
        name = next(names)
        chosen.append(name)
        return op(name, gate)

    async def release_later() -> None:
        await asyncio.sleep(0.05)
        gate.set()

    releaser = asyncio.create_task(release_later())
    # Five due at once, two may run: three are dropped without being chosen.
    outcome = await run_stream([0] * 5, next_operation, max_in_flight=2)
    await releaser
    assert outcome.dropped == 3
    assert chosen == ["op0", "op1"]  # a dropped operation is never even chosen
    assert [r.name for r in outcome.results] == ["op0", "op1"]


async def test_the_stream_is_consumed_lazily() -> None:
    started: list[str] = []
    seen_when_taken: list[int] = []

    def offsets() -> Iterator[int]:
        for i in range(3):
            seen_when_taken.append(len(started))  # operations started before offset i is read
            yield i * MS

    names = iter("xyz")

    def next_operation() -> OperationFactory:
        name = next(names)
        started.append(name)
        return op(name)

    outcome = await run_stream(offsets(), next_operation, max_in_flight=1)
    assert seen_when_taken == [0, 1, 2]  # read one at a time, each when the previous started
    assert len(outcome.results) + outcome.dropped == 3


async def test_the_first_failure_is_raised_after_the_others_finish() -> None:
    finished: list[str] = []

    def failing() -> OperationFactory:
        async def run(intended_ns: int) -> OperationResult:
            raise RuntimeError("boom")

        return run

    factories = iter([failing(), op("ok")])

    def next_operation() -> OperationFactory:
        factory = next(factories)

        async def run(intended_ns: int) -> OperationResult:
            result = await factory(intended_ns)
            finished.append(result.name)
            return result

        return run

    with pytest.raises(RuntimeError, match="boom"):
        await run_stream([0, 1 * MS], next_operation, max_in_flight=5)
    assert finished == ["ok"]


async def test_a_cancelled_stream_cancels_what_it_started() -> None:
    gate = asyncio.Event()  # never set: the operations hang
    names = iter(f"op{i}" for i in range(10))
    task = asyncio.create_task(
        run_stream([0, 0, 10_000 * MS], lambda: op(next(names), gate), max_in_flight=5)
    )
    await asyncio.sleep(0.05)
    before = {t for t in asyncio.all_tasks() if t is not task}
    assert sum(getattr(t.get_coro(), "__name__", "") == "run_one" for t in before) == 2
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0)
    hanging = [
        t for t in before if not t.done() and getattr(t.get_coro(), "__name__", "") == "run_one"
    ]
    assert hanging == []


async def test_a_bad_cap_is_refused() -> None:
    with pytest.raises(ValueError, match="max_in_flight must be >= 1, got 0"):
        await run_stream([0], lambda: op("a"), max_in_flight=0)


async def test_run_open_loop_keeps_input_order_and_intended_times() -> None:
    start = time.monotonic_ns()
    outcome = await run_open_loop(
        [2 * MS, 0, 1 * MS], [op("late"), op("first"), op("middle")], start_ns=start
    )
    assert [r.name for r in outcome.results] == ["late", "first", "middle"]
    assert [r.intended_ns - start for r in outcome.results] == [2 * MS, 0, 1 * MS]


async def test_a_result_sink_receives_every_result_and_nothing_is_kept() -> None:
    names = iter(f"op{i}" for i in range(6))
    seen: list[str] = []
    outcome = await run_stream(
        [0, 0, 1 * MS, 1 * MS, 2 * MS, 2 * MS],
        lambda: op(next(names)),
        max_in_flight=10,
        on_result=lambda r: seen.append(r.name),
    )
    assert sorted(seen) == [f"op{i}" for i in range(6)]
    assert outcome.results == ()
    assert outcome.dropped == 0
