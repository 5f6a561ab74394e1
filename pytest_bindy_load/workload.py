"""The mixed create/update/delete workload of the sustained and chaos scenarios.

The operation is chosen at its intended start from the profile's mix with a seeded RNG, so a
run can be repeated. Updates and deletes pick only records that exist and have no operation in
flight: two writers on one object would measure our own conflicts, not the operator. While
nothing can be updated or deleted (at the start), a create runs instead and is counted as
substituted, so the report shows the mix that really ran.

A mix with more creates than deletes grows the data without end, and the operator's caches with
it: memory growth would measure data, not leaks. So once ``max_live`` records exist (or are
being created), a drawn create runs as a delete (also counted as substituted), holding the live
set steady, as kube-burner's churn does; ``steady_since_ns`` says from when.
"""

from __future__ import annotations

import copy
import random
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pytest_bindy_load.generators import FixtureGenerator
from pytest_bindy_load.profiles import OperationMix
from pytest_bindy_load.results import Operation, OperationResult
from pytest_bindy_load.runner import OperationFactory


class RecordOperations(Protocol):
    """What the workload needs of ``operations.CROperations``."""

    async def create(
        self, manifest: Mapping[str, Any], *, intended_ns: int, timeout_s: float | None = None
    ) -> OperationResult: ...

    async def update(
        self,
        kind: str,
        name: str,
        *,
        intended_ns: int,
        spec: Mapping[str, Any] | None = None,
        timeout_s: float | None = None,
    ) -> OperationResult: ...

    async def delete(
        self, kind: str, name: str, *, intended_ns: int, timeout_s: float | None = None
    ) -> OperationResult: ...


class _IdlePool:
    """Records with no operation in flight: O(1) random take and put back."""

    def __init__(self) -> None:
        self._names: list[str] = []
        self._pos: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._names)

    def put(self, name: str) -> None:
        if name not in self._pos:
            self._pos[name] = len(self._names)
            self._names.append(name)

    def take(self, rng: random.Random) -> str:
        i = rng.randrange(len(self._names))
        name, last = self._names[i], self._names[-1]
        self._names[i], self._pos[last] = last, i
        self._names.pop()
        del self._pos[name]
        return name


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkloadStats:
    chosen: Mapping[str, int]  # by the mix, before substitution
    ran: Mapping[str, int]  # what really ran
    # updates/deletes that ran as creates (nothing idle to act on), creates that ran as deletes
    # (the live set was at its cap)
    substituted: int
    live_records: int  # records that exist at the end (as far as the workload knows)
    max_live: int | None  # the cap on live records, None: unbounded
    steady_since_ns: int | None  # when the live set first reached the cap (monotonic)

    def to_dict(self) -> dict[str, Any]:
        return {
            "chosen": dict(self.chosen),
            "ran": dict(self.ran),
            "substituted": self.substituted,
            "live_records": self.live_records,
            "max_live": self.max_live,
            "steady": self.steady_since_ns is not None,
        }


class MixedWorkload:
    """Hands ``runner.run_stream`` the next operation; keeps which records exist and are idle."""

    def __init__(
        self,
        ops: RecordOperations,
        generator: FixtureGenerator,
        zones: Sequence[Mapping[str, Any]],
        *,
        mix: OperationMix,
        kinds: Sequence[str],
        namespace: str,
        seed: int,
        timeout_s: float,
        max_live: int | None = None,
    ) -> None:
        if max_live is not None and max_live < 1:
            raise ValueError(f"max_live must be >= 1 or None, got {max_live}")
        if not zones:
            raise ValueError("the workload needs at least one zone")
        if not kinds:
            raise ValueError("the workload needs at least one record kind")
        fractions = mix.fractions()
        self._ops, self._gen, self._zones = ops, generator, list(zones)
        self._kinds, self._namespace, self._timeout_s = list(kinds), namespace, timeout_s
        self._rng = random.Random(seed)
        self._choices = list(fractions)
        self._weights = list(fractions.values())
        self._manifests: dict[str, dict[str, Any]] = {}  # existing records by name
        self._idle = _IdlePool()
        self._next_index = 0
        self._chosen: Counter[str] = Counter()
        self._ran: Counter[str] = Counter()
        self._substituted = 0
        self._max_live = max_live
        self._creating = 0  # creates chosen and not yet answered
        self.steady_since_ns: int | None = None

    def stats(self) -> WorkloadStats:
        return WorkloadStats(
            chosen=dict(self._chosen),
            ran=dict(self._ran),
            substituted=self._substituted,
            live_records=len(self._manifests),
            max_live=self._max_live,
            steady_since_ns=self.steady_since_ns,
        )

    def _at_cap(self) -> bool:
        if self._max_live is None or len(self._manifests) + self._creating < self._max_live:
            return False
        if self.steady_since_ns is None:
            self.steady_since_ns = time.monotonic_ns()
        return True

    def live(self) -> list[dict[str, Any]]:
        """Every record that should exist now, with the spec last accepted by the API server:
        what a data-loss check expects the operator and DNS to hold."""
        return [copy.deepcopy(m) for m in self._manifests.values()]

    def next_operation(self) -> OperationFactory:
        """Choose now (at the intended start) and reserve the record the operation acts on."""
        op = self._rng.choices(self._choices, weights=self._weights)[0]
        self._chosen[op] += 1
        if op is not Operation.CREATE and not self._idle:
            self._substituted += 1
            op = Operation.CREATE
        elif op is Operation.CREATE and self._at_cap() and self._idle:
            self._substituted += 1
            op = Operation.DELETE
        self._ran[op] += 1
        if op is Operation.CREATE:
            self._creating += 1
            return self._create(self._new_manifest())
        name = self._idle.take(self._rng)
        return self._update(name) if op is Operation.UPDATE else self._delete(name)

    def _new_manifest(self) -> dict[str, Any]:
        i = self._next_index
        self._next_index += 1
        zone = self._zones[i % len(self._zones)]
        kind = self._kinds[(i // len(self._zones)) % len(self._kinds)]
        return self._gen.record(kind, zone, i, namespace=self._namespace)

    def _create(self, manifest: dict[str, Any]) -> OperationFactory:
        async def run(intended_ns: int) -> OperationResult:
            try:
                r = await self._ops.create(
                    manifest, intended_ns=intended_ns, timeout_s=self._timeout_s
                )
            finally:
                self._creating -= 1
            if r.acknowledged_ns is not None:  # it exists, Ready or not
                self._manifests[r.name] = manifest
                self._idle.put(r.name)
            return r

        return run

    def _update(self, name: str) -> OperationFactory:
        old = self._manifests[name]
        new = self._gen.mutate(old)

        async def run(intended_ns: int) -> OperationResult:
            r = await self._ops.update(
                old["kind"], name, intended_ns=intended_ns, spec=new["spec"],
                timeout_s=self._timeout_s,
            )  # fmt: skip
            if r.acknowledged_ns is not None:
                self._manifests[name] = new
            self._idle.put(name)
            return r

        return run

    def _delete(self, name: str) -> OperationFactory:
        kind = self._manifests[name]["kind"]

        async def run(intended_ns: int) -> OperationResult:
            r = await self._ops.delete(
                kind, name, intended_ns=intended_ns, timeout_s=self._timeout_s
            )
            if r.acknowledged_ns is not None:  # being deleted: never picked again
                self._manifests.pop(name, None)
            else:
                self._idle.put(name)
            return r

        return run
