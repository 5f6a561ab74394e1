"""Pod-kill chaos: delete one pod of the operator or of a BIND9 instance, time how long until a new
pod of the same target is Running and Ready, and mark the operations that overlapped the fault.

Only pods that match the target's labels in the target's namespaces are ever deleted, each with a
uid precondition so a pod replaced meanwhile is never hit by mistake. Nothing is created, so a
cancelled run (Ctrl+C) leaves nothing of ours behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, cast

import httpx
import kr8s.asyncio
from kr8s import APITimeoutError, ServerError

from pytest_bindy_load.cluster import TestCluster, WatchGoneError, decode_watch_event, get_json
from pytest_bindy_load.errors import ProfileError, TargetError
from pytest_bindy_load.profiles import ChaosConfig, ChaosTarget
from pytest_bindy_load.results import API_VERSION, PLURALS, OperationResult
from pytest_bindy_load.target import BindyTarget, TargetKind

log = logging.getLogger(__name__)

Obj = dict[str, Any]

OPERATOR_LABELS: Mapping[str, str] = MappingProxyType({"app": "bindy"})  # CONTRACT 7.1
# CONTRACT 7.2; each instance's pods also carry instance=<name>.
BIND9_APP_LABELS: Mapping[str, str] = MappingProxyType({"app": "bind9"})
INSTANCE_LABEL = "instance"
LEADER_LEASE = "bindy-leader"  # CONTRACT 7.1: holderIdentity is the leader's pod name
NS_PER_S = 1_000_000_000
# One watch request lasts at most this long server-side; the recovery deadline bounds the wait.
WATCH_CHUNK_S = 30
_API_ERRORS = (ServerError, httpx.HTTPError, APITimeoutError, json.JSONDecodeError)


class NoChaosTargetError(TargetError):
    """Nothing to kill: no pod (or no Bind9Instance) matches the target's selector."""


# --------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True, kw_only=True)
class PodSelector:
    """The only pods chaos may delete: these labels, in this namespace."""

    namespace: str
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def label_selector(self) -> str:
        return ",".join(f"{k}={v}" for k, v in sorted(self.labels.items()))

    def matches(self, pod: Obj) -> bool:
        meta = pod.get("metadata") or {}
        labels = meta.get("labels") or {}
        return meta.get("namespace") == self.namespace and all(
            labels.get(k) == v for k, v in self.labels.items()
        )

    def __str__(self) -> str:
        return f"{self.label_selector} in namespace {self.namespace}"


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultWindow:
    """One kill: from just before the DELETE to the moment a new pod of the target was Ready.

    ``recovered_ns`` is when the wait gave up when ``recovered`` is False; the fault is then still
    active as far as anyone knows, so the window has no end (``contains`` anything after it).
    """

    target: ChaosTarget
    namespace: str
    pod: str
    replacement: str | None
    started_ns: int
    recovered_ns: int
    recovered: bool

    @property
    def recovery_s(self) -> float | None:
        return (self.recovered_ns - self.started_ns) / NS_PER_S if self.recovered else None

    def end_ns(self, *, grace_s: float = 0.0) -> float:
        """Last instant inside the window; ``math.inf`` while the target has not recovered."""
        return self.recovered_ns + grace_s * NS_PER_S if self.recovered else math.inf

    def contains(self, t_ns: int, *, grace_s: float = 0.0) -> bool:
        return self.started_ns <= t_ns <= self.end_ns(grace_s=grace_s)

    def overlaps(self, start_ns: int, end_ns: int, *, grace_s: float = 0.0) -> bool:
        return start_ns <= self.end_ns(grace_s=grace_s) and end_ns >= self.started_ns

    def to_report(self) -> dict[str, Any]:
        """What a report may show: monotonic stamps mean nothing outside the run."""
        return {
            "target": str(self.target),
            "namespace": self.namespace,
            "pod": self.pod,
            "replacement": self.replacement,
            "recovered": self.recovered,
            "recovery_s": self.recovery_s,
        }


# --------------------------------------------------------------------------- pure helpers


def kill_plan(config: ChaosConfig) -> tuple[ChaosTarget, ...]:
    """The target of each kill, cycling through ``config.targets``; empty when chaos is off.

    ChaosConfig is validated when a profile is loaded, but it can be built by hand, so the fields
    this module relies on are checked again here.
    """
    if not config.enabled:
        return ()
    if not config.targets:
        raise ProfileError("chaos.targets is empty: name at least one of operator, bind9")
    if len(set(config.targets)) != len(config.targets):
        raise ProfileError(f"chaos.targets repeats a target: {[str(t) for t in config.targets]}")
    try:
        targets = tuple(ChaosTarget(t) for t in config.targets)
    except ValueError as exc:
        raise ProfileError(f"chaos.targets: {exc}; use operator, bind9") from None
    if config.kills < 1:
        raise ProfileError(f"chaos.kills must be >= 1, got {config.kills}")
    if not config.interval_s > 0:
        raise ProfileError(f"chaos.interval_s must be > 0, got {config.interval_s}")
    if not config.recovery_timeout_s > 0:
        raise ProfileError(f"chaos.recovery_timeout_s must be > 0, got {config.recovery_timeout_s}")
    return tuple(targets[i % len(targets)] for i in range(config.kills))


def pod_ready(pod: Obj) -> bool:
    """Running, Ready=True and not being deleted."""
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    if meta.get("deletionTimestamp") or status.get("phase") != "Running":
        return False
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or ()
    )


def choose_victim(pods: Sequence[Obj], *, leader: str | None = None) -> Obj | None:
    """The pod whose loss hurts most: Ready before not Ready, the lease holder before standbys,
    then by name so runs are repeatable. Pods already terminating are never chosen."""
    live = [p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")]
    if not live:
        return None

    def rank(pod: Obj) -> tuple[bool, bool, str, str]:
        meta = pod.get("metadata") or {}
        name = str(meta.get("name", ""))
        return (not pod_ready(pod), name != leader, str(meta.get("namespace", "")), name)

    return min(live, key=rank)


def operation_span(
    result: OperationResult, *, wait_timeout_s: float | None = None
) -> tuple[int, int]:
    """``[intended, end]`` of an operation; end is its last recorded stage.

    An operation acknowledged but never Ready waited until it gave up, a time results do not
    record; with ``wait_timeout_s`` (the Ready wait of the run) it is taken to end then.
    """
    stamps = [
        t
        for t in (result.sent_ns, result.acknowledged_ns, result.ready_ns, result.answerable_ns)
        if t is not None
    ]
    end = max([result.intended_ns, *stamps])
    if (
        wait_timeout_s is not None
        and not result.success
        and result.ready_ns is None
        and result.acknowledged_ns is not None
    ):
        end = max(end, result.acknowledged_ns + round(wait_timeout_s * NS_PER_S))
    return result.intended_ns, end


def mark_chaos(
    results: Iterable[OperationResult],
    windows: Iterable[FaultWindow],
    *,
    grace_s: float,
    wait_timeout_s: float | None = None,
) -> list[OperationResult]:
    """The results with ``in_chaos_window=True`` on each one whose span overlaps a fault window
    extended by ``grace_s`` after recovery (the operator still catches up on its queue then).
    Results already marked stay marked; the others are returned as they are."""
    if grace_s < 0:
        raise ProfileError(f"grace_s must be >= 0, got {grace_s}")
    wins = tuple(windows)
    out: list[OperationResult] = []
    for result in results:
        if not result.in_chaos_window:
            start, end = operation_span(result, wait_timeout_s=wait_timeout_s)
            if any(w.overlaps(start, end, grace_s=grace_s) for w in wins):
                result = replace(result, in_chaos_window=True)
        out.append(result)
    return out


# --------------------------------------------------------------------------- the injector


class ChaosInjector:
    """Deletes pods of the operator or of the target's BIND9 instances and times their return.

    Pods of a BIND9 target are those of the Bind9Instances that ``target.instance_selector``
    selects (``app=bind9,instance=<name>`` in each instance's namespace), so the local stack and a
    real cluster take the same path. On the local stack the grace period is 0: without a kubelet a
    graceful delete would leave the pod Terminating forever. On a cluster the pod's own grace
    period applies unless ``grace_period_s`` says otherwise.
    """

    def __init__(
        self,
        api: kr8s.asyncio.Api,
        target: BindyTarget,
        *,
        grace_period_s: int | None = None,
        watch_chunk_s: int = WATCH_CHUNK_S,
    ) -> None:
        if grace_period_s is not None and grace_period_s < 0:
            raise ProfileError(f"grace_period_s must be >= 0, got {grace_period_s}")
        self._api = api
        self._target = target
        if grace_period_s is None and target.kind is TargetKind.LOCAL_STACK:
            grace_period_s = 0
        self._grace_period_s = grace_period_s
        self._watch_chunk_s = max(1, watch_chunk_s)
        self._windows: list[FaultWindow] = []

    @classmethod
    def for_cluster(cls, cluster: TestCluster, **kwargs: Any) -> ChaosInjector:
        return cls(cluster.api, cluster.target, **kwargs)

    @property
    def windows(self) -> tuple[FaultWindow, ...]:
        """Every window so far, also those of a run that was cancelled."""
        return tuple(self._windows)

    # ---- public

    async def selectors(self, target: ChaosTarget) -> tuple[PodSelector, ...]:
        """Where the pods of ``target`` are; NoChaosTargetError when a BIND9 target selects no
        Bind9Instance."""
        if target is ChaosTarget.OPERATOR:
            return (PodSelector(namespace=self._target.operator_namespace, labels=OPERATOR_LABELS),)
        selector = ",".join(f"{k}={v}" for k, v in sorted(self._target.instance_selector.items()))
        if not selector:  # nothing better known: BIND9 pods next to the operator
            return (
                PodSelector(namespace=self._target.operator_namespace, labels=BIND9_APP_LABELS),
            )
        data = await get_json(
            self._api,
            API_VERSION,
            PLURALS["Bind9Instance"],
            params={"labelSelector": selector},
            what=f"Bind9Instances {selector}",
        )
        found = sorted(
            ((i["metadata"]["namespace"], i["metadata"]["name"]) for i in data.get("items") or ()),
        )
        if not found:
            raise NoChaosTargetError(
                f"no bind9 pod to kill: no Bind9Instance matches {selector} in any namespace"
            )
        return tuple(
            PodSelector(namespace=ns, labels={**BIND9_APP_LABELS, INSTANCE_LABEL: name})
            for ns, name in found
        )

    async def kill(self, target: ChaosTarget, *, recovery_timeout_s: float) -> FaultWindow:
        """Delete one pod of ``target`` and wait up to ``recovery_timeout_s`` for a new Ready
        one. Never hangs: a target that does not come back gives ``recovered=False``."""
        if not recovery_timeout_s > 0:
            raise ProfileError(f"recovery_timeout_s must be > 0, got {recovery_timeout_s}")
        selectors = await self.selectors(target)
        listed: list[tuple[PodSelector, list[Obj]]] = []
        for sel in selectors:
            pods, _rv = await self._list_pods(sel)
            listed.append((sel, [p for p in pods if sel.matches(p)]))
        candidates = [p for _sel, pods in listed for p in pods]
        if not candidates:
            where = "; ".join(str(s) for s in selectors)
            raise NoChaosTargetError(f"no {target} pod to kill: no pod matches {where}")
        leader = await self._leader() if target is ChaosTarget.OPERATOR else None
        victim = choose_victim(candidates, leader=leader)
        if victim is None:
            raise NoChaosTargetError(
                f"no {target} pod to kill: all {len(candidates)} matching pods are terminating"
            )
        sel, siblings = next((s, ps) for s, ps in listed if any(p is victim for p in ps))
        meta = victim["metadata"]
        old_uids = frozenset(p["metadata"]["uid"] for p in siblings)
        started_ns = time.monotonic_ns()
        await self._delete(sel, victim)
        log.info(
            "chaos: deleted %s pod %s/%s",
            target,
            sel.namespace,
            meta["name"],
            extra={
                "chaos_target": str(target),
                "pod_namespace": sel.namespace,
                "pod": meta["name"],
                "pod_uid": meta["uid"],
                "selector": sel.label_selector,
                "grace_period_s": self._grace_period_s,
            },
        )
        found = await self._wait_replacement(sel, old_uids, recovery_timeout_s)
        window = FaultWindow(
            target=target,
            namespace=sel.namespace,
            pod=meta["name"],
            replacement=None if found is None else found[0],
            started_ns=started_ns,
            recovered_ns=time.monotonic_ns() if found is None else found[1],
            recovered=found is not None,
        )
        self._windows.append(window)
        extra = {
            "chaos_target": str(target),
            "pod_namespace": window.namespace,
            "pod": window.pod,
            "replacement": window.replacement,
            "recovered": window.recovered,
            "recovery_s": window.recovery_s,
        }
        if window.recovered:
            log.info(
                "chaos: %s recovered in %.2f s (new pod %s)",
                target,
                window.recovery_s,
                window.replacement,
                extra=extra,
            )
        else:
            log.warning(
                "chaos: no new Ready %s pod (%s) within %.0f s",
                target,
                sel,
                recovery_timeout_s,
                extra=extra,
            )
        return window

    async def run(
        self, config: ChaosConfig, *, on_window: Callable[[FaultWindow], None] | None = None
    ) -> tuple[FaultWindow, ...]:
        """``config.kills`` kills, cycling through ``config.targets``, started ``interval_s``
        apart (a kill never starts before the previous target is back). Stops after a target
        that did not recover: a second kill of something already down measures nothing.
        ``on_window`` sees each window as soon as it closes."""
        plan = kill_plan(config)
        windows: list[FaultWindow] = []
        first_s = time.monotonic()
        for i, target in enumerate(plan):
            delay = first_s + i * config.interval_s - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            window = await self.kill(target, recovery_timeout_s=config.recovery_timeout_s)
            windows.append(window)
            if on_window is not None:
                on_window(window)
            if not window.recovered:
                log.warning("chaos: stopping after kill %d of %d: %s", i + 1, len(plan), target)
                break
        return tuple(windows)

    # ---- API calls

    async def _list_pods(self, sel: PodSelector) -> tuple[list[Obj], str]:
        data = await get_json(
            self._api,
            "v1",
            "pods",
            namespace=sel.namespace,
            params={"labelSelector": sel.label_selector},
            what=f"pods {sel}",
        )
        return list(data.get("items") or ()), str(
            (data.get("metadata") or {}).get("resourceVersion", "")
        )

    async def _leader(self) -> str | None:
        """The operator's lease holder, if there is a lease we may read."""
        try:
            async with self._api.call_api(
                "GET",
                version="coordination.k8s.io/v1",
                url=f"leases/{LEADER_LEASE}",
                namespace=self._target.operator_namespace,
            ) as resp:
                holder = (resp.json().get("spec") or {}).get("holderIdentity")
        except _API_ERRORS as exc:
            log.debug("no readable lease %s: %s", LEADER_LEASE, type(exc).__name__)
            return None
        return str(holder) if holder else None

    async def _delete(self, sel: PodSelector, pod: Obj) -> None:
        meta = pod["metadata"]
        if not sel.matches(pod):  # the list was label-selected; this guards the guard
            raise TargetError(f"refusing to delete pod {meta.get('name')}: it does not match {sel}")
        body: Obj = {"preconditions": {"uid": meta["uid"]}}
        if self._grace_period_s is not None:
            body["gracePeriodSeconds"] = self._grace_period_s
        try:
            async with self._api.call_api(
                "DELETE",
                version="v1",
                url=f"pods/{meta['name']}",
                namespace=sel.namespace,
                content=json.dumps(body),
            ):
                pass
        except _API_ERRORS as exc:
            raise TargetError(f"cannot delete pod {sel.namespace}/{meta['name']}: {exc}") from exc

    async def _wait_replacement(
        self, sel: PodSelector, old_uids: frozenset[str], timeout_s: float
    ) -> tuple[str, int] | None:
        """(name, monotonic ns it was seen Ready) of the first Ready pod of ``sel`` that is not one
        of ``old_uids``; None after ``timeout_s``. One list, then one watch from its version."""

        def fresh(pod: Obj) -> bool:
            return (
                pod["metadata"].get("uid") not in old_uids and pod_ready(pod) and sel.matches(pod)
            )

        deadline = time.monotonic() + timeout_s
        try:
            async with asyncio.timeout(timeout_s) as scope:
                while True:
                    try:
                        pods, rv = await self._list_pods(sel)
                        now = time.monotonic_ns()
                        ready = sorted(p["metadata"]["name"] for p in pods if fresh(p))
                        if ready:
                            return ready[0], now
                        found = await self._watch(sel, rv, fresh, deadline)
                        if found is not None:
                            return found
                    except (TargetError, *_API_ERRORS) as exc:
                        log.warning("chaos: watching %s: %s; listing again", sel, exc)
                        await asyncio.sleep(0.5)
        except TimeoutError:
            if not scope.expired():
                raise
            return None

    async def _watch(
        self, sel: PodSelector, rv: str, fresh: Callable[[Obj], bool], deadline: float
    ) -> tuple[str, int] | None:
        """Watch ``sel`` from ``rv``; the match, or None when the stream ends or the version
        is gone (the caller lists again)."""
        chunk = max(1, min(self._watch_chunk_s, math.ceil(deadline - time.monotonic())))
        params = {
            "labelSelector": sel.label_selector,
            "watch": "true",
            "allowWatchBookmarks": "true",
            "resourceVersion": rv,
            "timeoutSeconds": str(chunk),
        }
        # The line iterator is closed on return, not left to the loop's async-generator finalizer.
        async with (
            self._api.call_api(
                "GET",
                version="v1",
                url="pods",
                namespace=sel.namespace,
                params=params,
                stream=True,
                timeout=httpx.Timeout(10.0, read=chunk + 10.0),
            ) as resp,
            contextlib.aclosing(cast(AsyncGenerator[str, None], resp.aiter_lines())) as lines,
        ):
            async for line in lines:
                if not line:
                    continue
                ts = time.monotonic_ns()
                try:
                    etype, obj = decode_watch_event(line)
                except WatchGoneError:  # our version is too old: list again
                    return None
                except ServerError as exc:
                    raise TargetError(f"pod watch error: {exc}") from exc
                if etype in ("ADDED", "MODIFIED") and fresh(obj):
                    return str(obj["metadata"]["name"]), ts
        return None
