"""The mixed workload's choices, and the memory trend it is judged with (pure logic)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from pytest_bindy_load.generators import FixtureGenerator
from pytest_bindy_load.profiles import OperationMix
from pytest_bindy_load.results import RECORD_KINDS, Operation, OperationResult
from pytest_bindy_load.usage import MB, MemorySample, parse_rss, trend
from pytest_bindy_load.workload import MixedWorkload

NS = "ns"


class Recorder:
    """Stands in for CROperations: records calls, acknowledges unless told to refuse."""

    def __init__(self, *, refuse: bool = False) -> None:
        self.calls: list[tuple[str, str]] = []
        self.specs: dict[str, Mapping[str, Any]] = {}
        self.refuse = refuse

    def _result(self, op: Operation, kind: str, name: str, t: int) -> OperationResult:
        return OperationResult(
            name=name,
            namespace=NS,
            kind=kind,
            operation=op,
            intended_ns=t,
            acknowledged_ns=None if self.refuse else t + 1,
            success=not self.refuse,
        )

    async def create(
        self, manifest: Mapping[str, Any], *, intended_ns: int, timeout_s: float | None = None
    ) -> OperationResult:
        name = manifest["metadata"]["name"]
        self.calls.append(("create", name))
        self.specs[name] = manifest["spec"]
        return self._result(Operation.CREATE, manifest["kind"], name, intended_ns)

    async def update(
        self,
        kind: str,
        name: str,
        *,
        intended_ns: int,
        spec: Mapping[str, Any] | None = None,
        timeout_s: float | None = None,
    ) -> OperationResult:
        self.calls.append(("update", name))
        assert spec is not None
        self.specs[name] = spec
        return self._result(Operation.UPDATE, kind, name, intended_ns)

    async def delete(
        self, kind: str, name: str, *, intended_ns: int, timeout_s: float | None = None
    ) -> OperationResult:
        self.calls.append(("delete", name))
        return self._result(Operation.DELETE, kind, name, intended_ns)


def workload(
    ops: Recorder, mix: OperationMix, seed: int = 7, max_live: int | None = None
) -> MixedWorkload:
    gen = FixtureGenerator(1, "run-1", zone_prefix="w")
    zones = gen.zones(2, instance_selector={"app": "bind9"}, namespace=NS)
    return MixedWorkload(
        ops, gen, zones, mix=mix, kinds=RECORD_KINDS, namespace=NS, seed=seed, timeout_s=5,
        max_live=max_live,
    )  # fmt: skip


async def drive(w: MixedWorkload, n: int) -> list[OperationResult]:
    return [await w.next_operation()(i) for i in range(n)]


async def test_updates_and_deletes_wait_for_records_to_exist() -> None:
    ops = Recorder()
    w = workload(ops, OperationMix(create=0, update=1, delete=1))
    await drive(w, 1)
    assert ops.calls[0][0] == "create"  # nothing to act on yet
    assert w.stats().substituted == 1
    await drive(w, 1)
    assert ops.calls[1][0] in ("update", "delete")
    assert ops.calls[1][1] == ops.calls[0][1]


async def test_the_mix_that_ran_follows_the_weights_and_is_repeatable() -> None:
    mix = OperationMix(create=0.5, update=0.3, delete=0.2)
    ops = Recorder()
    await drive(workload(ops, mix), 2000)
    ran = [c for c, _ in ops.calls]
    assert ran.count("create") / 2000 == pytest.approx(0.5, abs=0.05)
    assert ran.count("update") / 2000 == pytest.approx(0.3, abs=0.05)
    assert ran.count("delete") / 2000 == pytest.approx(0.2, abs=0.05)
    again = Recorder()
    await drive(workload(again, mix), 2000)
    assert again.calls == ops.calls
    other = Recorder()
    await drive(workload(other, mix, seed=8), 2000)
    assert other.calls != ops.calls


async def test_a_deleted_record_is_never_touched_again_and_names_never_repeat() -> None:
    ops = Recorder()
    w = workload(ops, OperationMix(create=0.4, update=0.3, delete=0.3))
    await drive(w, 1500)
    deleted: set[str] = set()
    created: list[str] = []
    for what, name in ops.calls:
        assert name not in deleted, f"{what} on deleted {name}"
        if what == "delete":
            deleted.add(name)
        elif what == "create":
            created.append(name)
    assert len(created) == len(set(created))
    assert w.stats().live_records == len(created) - len(deleted)
    kinds = {name.split("-")[0] for name in created}
    assert len(kinds) == len(RECORD_KINDS)  # every kind gets created


async def test_an_update_sends_a_changed_spec() -> None:
    ops = Recorder()
    w = workload(ops, OperationMix(create=0, update=1, delete=0))
    await drive(w, 1)
    name = ops.calls[0][1]
    first = dict(ops.specs[name])
    await drive(w, 1)
    assert ops.calls[1] == ("update", name)
    assert ops.specs[name] != first


async def test_a_record_is_not_chosen_twice_while_its_operation_runs() -> None:
    ops = Recorder()
    w = workload(ops, OperationMix(create=0, update=1, delete=0))
    await drive(w, 1)  # one record exists
    gate = asyncio.Event()
    original = ops.update

    async def slow_update(*args: Any, **kwargs: Any) -> OperationResult:
        await gate.wait()
        return await original(*args, **kwargs)

    ops.update = slow_update  # type: ignore[method-assign]
    pending = asyncio.create_task(w.next_operation()(1))
    await asyncio.sleep(0)
    await drive(w, 1)  # the only record is busy: this one becomes a create
    assert ops.calls[-1][0] == "create"
    gate.set()
    await pending
    assert ops.calls[-1][0] == "update"


async def test_refused_creates_do_not_grow_the_pool() -> None:
    ops = Recorder(refuse=True)
    w = workload(ops, OperationMix(create=0.5, update=0.5, delete=0))
    await drive(w, 50)
    assert {c for c, _ in ops.calls} == {"create"}
    assert w.stats().live_records == 0


def samples(mb: list[float], every_s: float = 10.0) -> list[MemorySample]:
    return [MemorySample(t_ns=round(i * every_s * 1e9), rss_bytes=v * MB) for i, v in enumerate(mb)]


def test_a_steady_leak_shows_as_its_growth_per_hour() -> None:
    # 1 MB per minute for 20 minutes: 60 MB/h.
    t = trend(samples([100 + i / 6 for i in range(121)]))
    assert t.growth_mb_per_h == pytest.approx(60.0, rel=1e-6)
    assert t.judged
    assert (t.first_mb, t.peak_mb) == (100.0, 120.0)


def test_a_short_run_reports_growth_without_judging_it() -> None:
    t = trend(samples([50, 51, 52, 53, 54]))
    assert t.growth_mb_per_h == pytest.approx(360.0)
    assert not t.judged
    assert t.note == "40 s of steady load is too short to judge growth per hour (needs 300 s)"


def test_warm_up_is_left_out_of_the_slope() -> None:
    flat_after_jump = [10.0] * 2 + [80.0] * 70  # a startup jump, then flat for 12 minutes
    assert trend(samples(flat_after_jump)).growth_mb_per_h == pytest.approx(0.0, abs=1e-9)


def test_growth_is_fitted_from_when_the_live_set_stopped_growing() -> None:
    # The data grows 2 MB a minute for 5 minutes, then the live set is held: flat for 10.
    filling = [50 + i / 3 for i in range(30)]
    held = [60.0] * 61
    t = trend(samples(filling + held), since_ns=round(30 * 10.0 * 1e9))
    assert t.growth_mb_per_h == pytest.approx(0.0, abs=1e-9)
    assert t.steady_s == pytest.approx(600.0)
    assert t.judged
    whole = trend(samples(filling + held))  # without the steady point the filling counts
    assert whole.growth_mb_per_h is not None
    assert whole.growth_mb_per_h > 20


async def test_creates_beyond_the_live_cap_run_as_deletes_and_the_set_holds_steady() -> None:
    ops = Recorder()
    w = workload(ops, OperationMix(create=1, update=0, delete=0), max_live=5)
    await drive(w, 5)
    assert w.steady_since_ns is None
    assert [c for c, _ in ops.calls] == ["create"] * 5
    for _ in range(20):
        await drive(w, 1)
        assert w.stats().live_records <= 5
    ran = [c for c, _ in ops.calls[5:]]
    assert ran.count("delete") == 10  # at the cap a create runs as a delete, then a create again
    assert ran.count("create") == 10
    stats = w.stats()
    assert stats.steady_since_ns is not None
    assert w.steady_since_ns == stats.steady_since_ns
    assert (stats.substituted, stats.max_live) == (10, 5)
    assert stats.to_dict()["steady"] is True


async def test_creates_in_flight_count_toward_the_live_cap() -> None:
    gate = asyncio.Event()

    class Slow(Recorder):
        async def create(
            self, manifest: Mapping[str, Any], *, intended_ns: int, timeout_s: float | None = None
        ) -> OperationResult:
            await gate.wait()
            return await super().create(manifest, intended_ns=intended_ns, timeout_s=timeout_s)

    ops = Slow()
    w = workload(ops, OperationMix(create=1, update=0, delete=0), max_live=3)
    first = [asyncio.create_task(w.next_operation()(i)) for i in range(3)]
    await asyncio.sleep(0)
    assert w.steady_since_ns is None
    fourth = asyncio.create_task(w.next_operation()(3))  # three being created: at the cap
    assert w.steady_since_ns is not None
    gate.set()
    await asyncio.gather(*first, fourth)
    # Nothing was idle to delete while all three were in flight, so the fourth still created.
    assert [c for c, _ in ops.calls] == ["create"] * 4


def test_a_live_cap_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="max_live must be >= 1"):
        workload(Recorder(), OperationMix(), max_live=0)


def test_no_samples_is_not_judged_and_says_why() -> None:
    t = trend([])
    assert not t.judged
    assert "no process_resident_memory_bytes samples" in t.note


def test_the_rss_gauge_is_read_from_prometheus_text() -> None:
    text = (
        "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
        "# TYPE process_resident_memory_bytes gauge\n"
        "process_resident_memory_bytes 4.2e+07\n"
    )
    assert parse_rss(text) == 42_000_000
    assert parse_rss("# TYPE other gauge\nother 1\n") is None
