"""Kubernetes adapter: bindy's kinds declared once, Ready predicates from the contract, one shared
watch per kind (``WatchHub``) and owned, labelled namespaces (``TestCluster``).

It never polls an object, never deletes anything it did not label, and speaks only kr8s's async API.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import random
import re
import secrets
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType
from typing import Any

import httpx
import kr8s.asyncio
from kr8s import APITimeoutError, ServerError
from kr8s.asyncio.objects import APIObject, new_class

from pytest_bindy_load.errors import BindyLoadError, DeadlineExceeded, TargetError
from pytest_bindy_load.results import RECORD_KINDS, ZONE_KIND
from pytest_bindy_load.target import BindyTarget

log = logging.getLogger(__name__)

GROUP = "bindy.firestoned.io"
VERSION = "v1beta1"
API_VERSION = f"{GROUP}/{VERSION}"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "pytest-bindy-load"
RUN_ID_LABEL = "bindy-load/run-id"

Obj = dict[str, Any]
ObjKey = tuple[str, str, str]  # (kind, namespace, name); namespace "" when cluster-scoped
Predicate = Callable[[Obj], bool]


# --------------------------------------------------------------------------- kinds


@dataclass(frozen=True, slots=True, kw_only=True)
class KindSpec:
    kind: str
    plural: str
    namespaced: bool = True

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{GROUP}"


_KIND_ROWS: tuple[tuple[str, str, bool], ...] = (
    ("ARecord", "arecords", True),
    ("AAAARecord", "aaaarecords", True),
    ("CNAMERecord", "cnamerecords", True),
    ("TXTRecord", "txtrecords", True),
    ("MXRecord", "mxrecords", True),
    ("SRVRecord", "srvrecords", True),
    ("CAARecord", "caarecords", True),
    ("NSRecord", "nsrecords", True),
    ("DNSZone", "dnszones", True),
    ("Bind9Instance", "bind9instances", True),
    ("Bind9Cluster", "bind9clusters", True),
    ("ClusterBind9Provider", "clusterbind9providers", False),
)
BINDY_KINDS: Mapping[str, KindSpec] = MappingProxyType(
    {k: KindSpec(kind=k, plural=p, namespaced=n) for k, p, n in _KIND_ROWS}
)


def kind_spec(kind: str) -> KindSpec:
    try:
        return BINDY_KINDS[kind]
    except KeyError:
        raise BindyLoadError(
            f"unknown bindy kind {kind!r}; known: {', '.join(BINDY_KINDS)}"
        ) from None


@functools.cache
def kind_class(kind: str) -> type[APIObject]:
    """The kr8s class for a bindy kind, built once so every caller shares it."""
    spec = kind_spec(kind)
    return new_class(
        spec.kind, version=API_VERSION, namespaced=spec.namespaced, plural=spec.plural, asyncio=True
    )


# --------------------------------------------------------------------------- Ready predicates


class ReadyState(StrEnum):
    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"


RECORD_PERMANENT_FAILURES = frozenset({"ZoneNotFound", "ZoneNotConfigured", "NoPrimaryInstances"})
ZONE_PERMANENT_FAILURES = frozenset({"DuplicateZone"})
SUCCESS_REASON = "ReconcileSucceeded"


@dataclass(frozen=True, slots=True, kw_only=True)
class Readiness:
    state: ReadyState
    reason: str = ""
    message: str = ""


def ready_condition(obj: Obj) -> Obj | None:
    for cond in (obj.get("status") or {}).get("conditions") or ():
        if isinstance(cond, dict) and cond.get("type") == "Ready":
            return cond
    return None


def classify(
    kind: str, obj: Obj, *, min_generation: int | None = None, expected_zone: str | None = None
) -> Readiness:
    """Where a bindy object stands, per CONTRACT 3 and 10.

    ``min_generation`` is the generation our write produced: a Ready from an older generation is
    stale and stays PENDING. Anything that is neither done nor a known permanent failure is
    PENDING; the caller's deadline turns it into a failure.
    """
    status = obj.get("status") or {}
    generation = (obj.get("metadata") or {}).get("generation")
    observed = status.get("observedGeneration")
    current = observed is not None and observed == generation
    fresh = min_generation is None or (observed is not None and observed >= min_generation)
    cond = ready_condition(obj)
    if cond is None:
        return Readiness(state=ReadyState.PENDING, reason="NoConditions")
    reason = str(cond.get("reason") or "")
    message = str(cond.get("message") or "")
    status_value = cond.get("status")
    is_dns = kind in RECORD_KINDS or kind == ZONE_KIND
    if status_value == "True":
        zone_ok = (
            expected_zone is None or (status.get("zoneRef") or {}).get("zoneName") == expected_zone
        )
        success = reason == SUCCESS_REASON if is_dns else True
        if success and zone_ok and fresh and (current or (not is_dns and observed is None)):
            return Readiness(state=ReadyState.READY, reason=reason, message=message)
        return Readiness(state=ReadyState.PENDING, reason=reason, message=message)
    if kind in RECORD_KINDS and reason in RECORD_PERMANENT_FAILURES and fresh:
        return Readiness(state=ReadyState.FAILED, reason=reason, message=message)
    # DuplicateZone does not write observedGeneration (CONTRACT 3.2), so it is never stale.
    if kind == ZONE_KIND and reason in ZONE_PERMANENT_FAILURES:
        return Readiness(state=ReadyState.FAILED, reason=reason, message=message)
    return Readiness(state=ReadyState.PENDING, reason=reason, message=message)


# --------------------------------------------------------------------------- WatchHub


@dataclass(slots=True)
class WatchStats:
    """Counters of one shared watch; ``connections`` counts watch HTTP streams opened."""

    lists: int = 0
    connections: int = 0
    events: int = 0
    bookmarks: int = 0
    relists_410: int = 0
    errors: int = 0


@dataclass(slots=True)
class _Waiter:
    future: asyncio.Future[tuple[Obj, int]]
    predicate: Predicate | None  # None: waiting for deletion
    uid: str | None = None


@dataclass(slots=True)
class _Stream:
    kind: str
    namespace: str  # "" = all namespaces
    stats: WatchStats = field(default_factory=WatchStats)
    synced: asyncio.Event = field(default_factory=asyncio.Event)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    resource_version: str | None = None
    task: asyncio.Task[None] | None = None
    inner: asyncio.Task[None] | None = None
    failure: BaseException | None = None


class WatchGoneError(Exception):
    """The server said our resourceVersion is gone (410): list again."""


class WatchHub:
    """One watch per kind (per namespace, or cluster-wide with a label selector), fanned out to
    per-object futures, so thousands of waiters cost one HTTP stream instead of thousands of polls.

    The latest object per key is cached with the monotonic time its event arrived, so a waiter
    registered after the event still resolves, with the original observation time.
    """

    def __init__(
        self,
        api: kr8s.asyncio.Api,
        *,
        label_selector: Mapping[str, str] | None = None,
        cluster_wide: bool = False,
        watch_timeout_s: int = 600,
        page_size: int = 500,
        max_streams: int = 32,
    ) -> None:
        self._api = api
        self._selector = ",".join(f"{k}={v}" for k, v in (label_selector or {}).items())
        self._cluster_wide = cluster_wide
        self._watch_timeout_s = watch_timeout_s
        self._page_size = page_size
        self._max_streams = max_streams
        self._cache: dict[ObjKey, tuple[Obj, int]] = {}
        self._gone: dict[ObjKey, tuple[str | None, int]] = {}
        self._waiters: dict[ObjKey, list[_Waiter]] = {}
        self._streams: dict[tuple[str, str], _Stream] = {}
        self._closed = False

    async def __aenter__(self) -> WatchHub:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ---- public

    def _scope(self, kind: str, namespace: str) -> tuple[str, str]:
        return (kind, "" if self._cluster_wide or not kind_spec(kind).namespaced else namespace)

    def _stream(self, kind: str, namespace: str) -> _Stream:
        if self._closed:
            raise BindyLoadError("WatchHub is closed")
        scope = self._scope(kind, namespace)
        stream = self._streams.get(scope)
        if stream is None or (stream.task is not None and stream.task.done()):
            if stream is None and len(self._streams) >= self._max_streams:
                # Each stream pins one pooled HTTP connection (httpx allows 100 per client).
                raise BindyLoadError(
                    f"WatchHub would open more than {self._max_streams} watches; "
                    "use cluster_wide=True with a label selector for many namespaces"
                )
            stream = _Stream(kind=scope[0], namespace=scope[1])
            stream.task = asyncio.create_task(self._run(stream), name=f"watch-{kind}-{scope[1]}")
            self._streams[scope] = stream
        return stream

    async def ensure_watching(self, kind: str, namespace: str, *, timeout_s: float = 60.0) -> None:
        """Start the kind's watch (if needed) and return once its initial list is cached and
        its stream is open, so later changes are observed as they happen."""
        stream = self._stream(kind, namespace)
        try:
            async with asyncio.timeout(timeout_s):
                await stream.synced.wait()
                if stream.failure is None:
                    await stream.connected.wait()
        except TimeoutError:
            raise DeadlineExceeded(f"watch of {kind} not synced within {timeout_s}s") from None
        if stream.failure is not None:
            raise TargetError(f"watch of {kind} failed: {stream.failure}") from stream.failure

    def latest(self, kind: str, namespace: str, name: str) -> Obj | None:
        entry = self._cache.get((kind, namespace, name))
        return None if entry is None else entry[0]

    def stats(self, kind: str, namespace: str = "") -> WatchStats:
        stream = self._streams.get(self._scope(kind, namespace))
        return WatchStats() if stream is None else replace(stream.stats)

    def watch_count(self, kind: str) -> int:
        """Shared watches opened for a kind (one per namespace, or one when cluster-wide)."""
        return sum(1 for (k, _ns) in self._streams if k == kind)

    async def wait_for(
        self, kind: str, namespace: str, name: str, predicate: Predicate, timeout_s: float
    ) -> tuple[Obj, int]:
        """The first cached or watched state of the object satisfying ``predicate``, and the
        ``time.monotonic_ns()`` at which its event arrived. DeadlineExceeded after ``timeout_s``."""
        key = (kind, namespace, name)
        self._stream(kind, namespace)
        cached = self._cache.get(key)
        if cached is not None and predicate(cached[0]):
            return cached
        waiter = _Waiter(future=asyncio.get_running_loop().create_future(), predicate=predicate)
        return await self._await(key, waiter, timeout_s)

    async def wait_deleted(
        self, kind: str, namespace: str, name: str, timeout_s: float, *, uid: str | None = None
    ) -> int:
        """Monotonic ns at which the deletion was observed (the object, or the incarnation with
        ``uid``, is gone from the watch). DeadlineExceeded after ``timeout_s``."""
        key = (kind, namespace, name)
        deadline = time.monotonic() + timeout_s
        await self.ensure_watching(kind, namespace, timeout_s=timeout_s)
        cached = self._cache.get(key)
        if cached is None or (uid is not None and cached[0]["metadata"].get("uid") != uid):
            gone = self._gone.get(key)
            return gone[1] if gone is not None else time.monotonic_ns()
        waiter = _Waiter(future=asyncio.get_running_loop().create_future(), predicate=None, uid=uid)
        _obj, ts = await self._await(key, waiter, max(0.0, deadline - time.monotonic()))
        return ts

    async def reconnect(
        self, kind: str, namespace: str, *, resource_version: str | None = None
    ) -> None:
        """Drop the kind's current watch stream so it resumes (chaos and tests); with
        ``resource_version``, resume from that version instead (an old one provokes a 410)."""
        stream = self._streams.get(self._scope(kind, namespace))
        if stream is None or stream.inner is None:
            return
        if resource_version is not None:
            stream.resource_version = resource_version
        stream.inner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait({stream.inner})

    async def aclose(self) -> None:
        self._closed = True
        tasks = [s.task for s in self._streams.values() if s.task is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        for waiters in self._waiters.values():
            for w in waiters:
                if not w.future.done():
                    w.future.set_exception(BindyLoadError("WatchHub closed"))
        self._waiters.clear()

    # ---- waiters

    async def _await(self, key: ObjKey, waiter: _Waiter, timeout_s: float) -> tuple[Obj, int]:
        self._waiters.setdefault(key, []).append(waiter)
        try:
            async with asyncio.timeout(timeout_s):
                return await waiter.future
        except TimeoutError:
            last = self._cache.get(key)
            seen = "never seen" if last is None else _describe(key[0], last[0])
            raise DeadlineExceeded(
                f"{key[0]} {key[1]}/{key[2]}: not observed within {timeout_s:.1f}s ({seen})"
            ) from None
        finally:
            waiters = self._waiters.get(key)
            if waiters is not None:
                with contextlib.suppress(ValueError):
                    waiters.remove(waiter)
                if not waiters:
                    del self._waiters[key]

    def _observe(self, event_type: str, obj: Obj, ts: int) -> None:
        meta = obj.get("metadata") or {}
        key = (str(obj.get("kind", "")), str(meta.get("namespace", "")), str(meta.get("name", "")))
        uid = meta.get("uid")
        if event_type == "DELETED":
            self._cache.pop(key, None)
            self._gone[key] = (uid, ts)
        else:
            self._cache[key] = (obj, ts)
        for w in list(self._waiters.get(key, ())):
            if w.future.done():
                continue
            if w.predicate is None:
                if event_type == "DELETED" or (w.uid is not None and w.uid != uid):
                    w.future.set_result((obj, ts))
                continue
            if event_type == "DELETED":
                continue
            try:
                if w.predicate(obj):
                    w.future.set_result((obj, ts))
            except Exception as exc:  # a broken predicate must not kill the shared watch
                w.future.set_exception(exc)

    def _fail_scope(self, stream: _Stream, exc: BaseException) -> None:
        for key, waiters in self._waiters.items():
            if key[0] == stream.kind and (not stream.namespace or key[1] == stream.namespace):
                for w in waiters:
                    if not w.future.done():
                        w.future.set_exception(TargetError(f"watch of {stream.kind} failed: {exc}"))

    # ---- the watch loop

    async def _run(self, stream: _Stream) -> None:
        delay = 0.2
        need_list = True
        while True:
            try:
                if need_list:
                    await self._list(stream)
                    need_list = False
                stream.inner = asyncio.create_task(self._watch_once(stream))
                try:
                    await asyncio.wait({stream.inner})
                finally:
                    if not stream.inner.done():
                        stream.inner.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await stream.inner
                if stream.inner.cancelled():  # reconnect() asked for a fresh stream
                    continue
                stream.inner.result()
                delay = 0.2  # clean end (server-side timeout): resume at once
            except WatchGoneError:
                stream.stats.relists_410 += 1
                need_list = True
            except ServerError as exc:
                code = _status_code(exc)
                if code == 410:
                    stream.stats.relists_410 += 1
                    need_list = True
                    continue
                stream.stats.errors += 1
                if code is not None and 400 <= code < 500 and code != 429:
                    stream.failure = exc
                    stream.synced.set()
                    stream.connected.set()
                    self._fail_scope(stream, exc)
                    log.error("watch of %s stopped: HTTP %s %s", stream.kind, code, exc)
                    return
                delay = await _backoff(stream, exc, delay)
            except (httpx.TransportError, APITimeoutError, json.JSONDecodeError) as exc:
                stream.stats.errors += 1
                delay = await _backoff(stream, exc, delay)
            except Exception as exc:
                # Unexpected: fail the waiters now rather than at their deadlines.
                stream.failure = exc
                stream.synced.set()
                stream.connected.set()
                self._fail_scope(stream, exc)
                log.exception("watch of %s stopped", stream.kind)
                return

    def _params(self, stream: _Stream) -> dict[str, str]:
        params: dict[str, str] = {}
        if self._selector:
            params["labelSelector"] = self._selector
        return params

    async def _list(self, stream: _Stream) -> None:
        cls = kind_class(stream.kind)
        items: list[Obj] = []
        params: dict[str, Any] = {**self._params(stream), "limit": self._page_size}
        while True:
            async with self._api.call_api(
                "GET",
                version=cls.version,
                url=cls.endpoint,
                namespace=stream.namespace or None,
                params=params,
            ) as resp:
                page = resp.json()
            items.extend(page.get("items") or ())
            cont = (page.get("metadata") or {}).get("continue")
            if not cont:
                break
            params["continue"] = cont
        ts = time.monotonic_ns()
        stream.stats.lists += 1
        stream.resource_version = str(page["metadata"]["resourceVersion"])
        seen: set[ObjKey] = set()
        for item in items:
            item.setdefault("kind", stream.kind)
            item.setdefault("apiVersion", cls.version)
            self._observe("ADDED", item, ts)
            meta = item["metadata"]
            seen.add((stream.kind, meta.get("namespace", ""), meta["name"]))
        stale = [
            k
            for k in self._cache
            if k[0] == stream.kind
            and (not stream.namespace or k[1] == stream.namespace)
            and k not in seen
        ]
        for key in stale:  # deleted while we were not watching
            self._observe("DELETED", self._cache[key][0], ts)
        stream.synced.set()
        log.debug(
            "listed %s: %d objects at rv %s", stream.kind, len(items), stream.resource_version
        )

    async def _watch_once(self, stream: _Stream) -> None:
        cls = kind_class(stream.kind)
        params = {
            **self._params(stream),
            "watch": "true",
            "allowWatchBookmarks": "true",
            "resourceVersion": stream.resource_version or "",
            "timeoutSeconds": str(self._watch_timeout_s),
        }
        read_timeout = self._watch_timeout_s + 60.0
        async with self._api.call_api(
            "GET",
            version=cls.version,
            url=cls.endpoint,
            namespace=stream.namespace or None,
            params=params,
            stream=True,
            timeout=httpx.Timeout(10.0, read=read_timeout),
        ) as resp:
            stream.stats.connections += 1
            stream.connected.set()
            async for line in resp.aiter_lines():
                if not line:
                    continue
                ts = time.monotonic_ns()
                etype, obj = decode_watch_event(line)
                rv = (obj.get("metadata") or {}).get("resourceVersion")
                if rv:
                    stream.resource_version = str(rv)
                if etype == "BOOKMARK":
                    stream.stats.bookmarks += 1
                    continue
                stream.stats.events += 1
                self._observe(str(etype), obj, ts)


def decode_watch_event(line: str) -> tuple[str, Obj]:
    """(type, object) of one watch line; ``WatchGoneError`` when the server answers 410 (the
    watcher must list again), ``ServerError`` for any other ERROR event."""
    event = json.loads(line)
    etype = str(event.get("type"))
    obj: Obj = event.get("object") or {}
    if etype == "ERROR":
        if obj.get("code") == 410:
            raise WatchGoneError(str(obj.get("message", "")))
        raise ServerError(str(obj.get("message", obj)), status=obj.get("code"))
    return etype, obj


async def _backoff(stream: _Stream, exc: BaseException, delay: float) -> float:
    log.warning("watch of %s interrupted (%s); resuming in %.1fs", stream.kind, exc, delay)
    await asyncio.sleep(random.uniform(0, delay) + 0.05)
    return min(delay * 2, 10.0)


async def get_json(
    api: kr8s.asyncio.Api,
    version: str,
    url: str,
    *,
    namespace: str | None = None,
    params: dict[str, str] | None = None,
    what: str = "",
) -> Obj:
    """One GET; any API, transport or JSON failure is one ``TargetError`` naming ``what``."""
    try:
        async with api.call_api(
            "GET", version=version, url=url, namespace=namespace, params=params
        ) as resp:
            data: Obj = resp.json()
            return data
    except (ServerError, httpx.HTTPError, APITimeoutError, json.JSONDecodeError) as exc:
        raise TargetError(f"GET {what or f'{version}/{url}'} failed: {exc}") from exc


def _status_code(exc: ServerError) -> int | None:
    if exc.response is not None:
        return exc.response.status_code
    with contextlib.suppress(TypeError, ValueError):
        return int(exc.status) if exc.status is not None else None
    return None


def _describe(kind: str, obj: Obj) -> str:
    r = classify(kind, obj)
    return f"last state {r.state}: {r.reason or '-'} {r.message}".rstrip()


# --------------------------------------------------------------------------- TestCluster

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def namespace_name(prefix: str, run_id: str, rand: str | None = None) -> str:
    """``<prefix>-<run8>-<rand4>``, a valid DNS-1123 label."""
    run8 = re.sub(r"[^a-z0-9]", "", run_id.lower())[:8]
    name = f"{prefix}-{run8}-{rand if rand is not None else secrets.token_hex(2)}"
    if len(name) > 63 or not _DNS_LABEL.match(name):
        raise BindyLoadError(f"namespace name {name!r} is not a DNS-1123 label")
    return name


def run_labels(run_id: str) -> dict[str, str]:
    return {MANAGED_BY_LABEL: MANAGED_BY_VALUE, RUN_ID_LABEL: run_id}


def is_owned(labels: Mapping[str, str] | None, run_id: str | None = None) -> bool:
    labels = labels or {}
    if labels.get(MANAGED_BY_LABEL) != MANAGED_BY_VALUE or not labels.get(RUN_ID_LABEL):
        return False
    return run_id is None or labels.get(RUN_ID_LABEL) == run_id


class TestCluster:
    """The cluster under test, reached through a ``BindyTarget``. Only namespaces this framework
    created (and labelled) are ever deleted."""

    __test__ = False  # not a pytest test class

    def __init__(self, api: kr8s.asyncio.Api, target: BindyTarget) -> None:
        self.api = api
        self.target = target

    @classmethod
    async def connect(cls, target: BindyTarget) -> TestCluster:
        kubeconfig = str(target.kubeconfig) if target.kubeconfig is not None else None
        try:
            with warnings.catch_warnings(record=True) as caught:
                # kr8s warns for API server versions outside its tested range; log, not fail.
                warnings.filterwarnings("always", category=UserWarning, module=r"kr8s\b")
                api = await kr8s.asyncio.api(kubeconfig=kubeconfig, context=target.context)
            for w in caught:
                log.warning("kr8s: %s", w.message)
        except (
            ServerError,
            httpx.HTTPError,
            APITimeoutError,
            OSError,
            ValueError,
            KeyError,
        ) as exc:
            raise TargetError(
                f"cannot reach the Kubernetes API of {target.description}: {exc}"
            ) from exc
        return cls(api, target)

    def watch_hub(self, **kwargs: Any) -> WatchHub:
        return WatchHub(self.api, **kwargs)

    async def _get_json(
        self,
        version: str,
        url: str,
        *,
        namespace: str | None = None,
        params: dict[str, str] | None = None,
    ) -> Obj:
        return await get_json(self.api, version, url, namespace=namespace, params=params)

    async def check_crds(self) -> None:
        """Every bindy CRD is installed, Established and serves v1beta1; else one TargetError
        naming everything missing."""
        data = await self._get_json("apiextensions.k8s.io/v1", "customresourcedefinitions")
        crds = {c["metadata"]["name"]: c for c in data.get("items") or ()}
        problems: list[str] = []
        for spec in BINDY_KINDS.values():
            crd = crds.get(spec.crd_name)
            if crd is None:
                problems.append(f"{spec.crd_name} not installed")
                continue
            conds = {
                c.get("type"): c.get("status")
                for c in (crd.get("status") or {}).get("conditions") or ()
            }
            if conds.get("Established") != "True":
                problems.append(f"{spec.crd_name} not Established")
            served = [v["name"] for v in crd["spec"].get("versions") or () if v.get("served")]
            if VERSION not in served:
                problems.append(f"{spec.crd_name} does not serve {VERSION} (serves {served})")
        if problems:
            raise TargetError(f"bindy CRDs on {self.target.description}: " + "; ".join(problems))

    async def check_operator(self) -> None:
        """At least one Ready ``app=bindy`` pod runs in the operator namespace."""
        ns = self.target.operator_namespace
        data = await self._get_json(
            "v1", "pods", namespace=ns, params={"labelSelector": "app=bindy"}
        )
        pods = data.get("items") or []
        ready = [
            p["metadata"]["name"]
            for p in pods
            if (p.get("status") or {}).get("phase") == "Running"
            and any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in (p.get("status") or {}).get("conditions") or ()
            )
        ]
        if not ready:
            names = ", ".join(p["metadata"]["name"] for p in pods) or "none"
            raise TargetError(
                f"no Ready bindy operator pod (app=bindy) in namespace {ns}; pods: {names}"
            )

    async def create_namespace(self, prefix: str, run_id: str) -> str:
        name = namespace_name(prefix, run_id)
        body = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": run_labels(run_id)},
        }
        try:
            async with self.api.call_api(
                "POST", version="v1", url="namespaces", content=json.dumps(body)
            ):
                pass
        except (ServerError, httpx.HTTPError, APITimeoutError) as exc:
            raise TargetError(f"cannot create namespace {name}: {exc}") from exc
        log.info("created namespace %s", name, extra={"run_id": run_id})
        return name

    async def delete_namespace(self, name: str, *, run_id: str | None = None) -> bool:
        """Delete a namespace this framework labelled (TargetError for any other); False when it
        was already gone."""
        try:
            async with self.api.call_api("GET", version="v1", url=f"namespaces/{name}") as resp:
                ns = resp.json()
        except ServerError as exc:
            if _status_code(exc) == 404:
                return False
            raise TargetError(f"cannot read namespace {name}: {exc}") from exc
        except (httpx.HTTPError, APITimeoutError) as exc:
            raise TargetError(f"cannot read namespace {name}: {exc}") from exc
        if not is_owned((ns.get("metadata") or {}).get("labels"), run_id):
            raise TargetError(
                f"refusing to delete namespace {name}: it lacks the labels "
                f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE} and {RUN_ID_LABEL}={run_id or '<any>'}"
            )
        precondition = {"preconditions": {"uid": ns["metadata"]["uid"]}}
        try:
            async with self.api.call_api(
                "DELETE", version="v1", url=f"namespaces/{name}", content=json.dumps(precondition)
            ):
                pass
        except ServerError as exc:
            if _status_code(exc) == 404:
                return False
            raise TargetError(f"cannot delete namespace {name}: {exc}") from exc
        except (httpx.HTTPError, APITimeoutError) as exc:
            raise TargetError(f"cannot delete namespace {name}: {exc}") from exc
        log.info("deleting namespace %s", name)
        return True

    async def run_namespaces(self, run_id: str) -> list[str]:
        selector = f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE},{RUN_ID_LABEL}={run_id}"
        data = await self._get_json("v1", "namespaces", params={"labelSelector": selector})
        return sorted(
            n["metadata"]["name"]
            for n in data.get("items") or ()
            if is_owned(n["metadata"].get("labels"), run_id)
        )

    async def cleanup_run(self, run_id: str, *, timeout_s: float = 180.0) -> list[str]:
        """Delete every namespace labelled with ``run_id`` and wait until they are gone; returns
        their names. DeadlineExceeded names the ones still terminating."""
        names = await self.run_namespaces(run_id)
        for name in names:
            await self.delete_namespace(name, run_id=run_id)
        deadline = time.monotonic() + timeout_s
        remaining = list(names)
        while remaining:
            # One label-selected list per second for the whole run, not a poll per namespace.
            remaining = await self.run_namespaces(run_id)
            if not remaining:
                break
            if time.monotonic() >= deadline:
                raise DeadlineExceeded(
                    f"namespaces of run {run_id} still present after {timeout_s}s: "
                    + ", ".join(remaining)
                )
            await asyncio.sleep(1.0)
        return names
