"""Informers and the work queue: one cluster-wide watch per kind feeding an in-memory store, and a
queue that serialises reconciles per object and coalesces events that arrive meanwhile.

The queue follows client-go's workqueue: a key is never processed by two workers at once; adding
a key that is waiting is a no-op; adding a key that is being processed marks it to run once more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

from pytest_bindy_load.localstack.operator.kube import GoneError, KubeClient, KubeError
from pytest_bindy_load.localstack.operator.model import meta

log = logging.getLogger(__name__)

Key = tuple[str, str, str]  # (kind, namespace, name)
Obj = dict[str, Any]
# handler(kind, event type ADDED|MODIFIED|DELETED, old object or None, new object or None)
EventHandler = Callable[[str, str, Obj | None, Obj | None], None]


def _rv(obj: Obj | None) -> int | None:
    """resourceVersion as an int when it is one (etcd revisions are); None otherwise.

    Only used to refuse replacing a newer cached object (from our own PATCH response) with an
    older watch event; with non-numeric versions every event is simply accepted.
    """
    if obj is None:
        return None
    try:
        return int(meta(obj).get("resourceVersion", ""))
    except ValueError:
        return None


class Store:
    """The latest known object per (kind, namespace, name)."""

    def __init__(self) -> None:
        self._objs: dict[str, dict[tuple[str, str], Obj]] = {}

    def kind(self, kind: str) -> dict[tuple[str, str], Obj]:
        return self._objs.setdefault(kind, {})

    def get(self, key: Key) -> Obj | None:
        return self.kind(key[0]).get((key[1], key[2]))

    def items(self, kind: str) -> Iterator[Obj]:
        return iter(list(self.kind(kind).values()))

    def in_namespace(self, kind: str, namespace: str) -> Iterator[Obj]:
        return (o for (ns, _), o in list(self.kind(kind).items()) if ns == namespace)

    def put(self, kind: str, obj: Obj) -> Obj | None:
        """Store ``obj`` unless the cached copy is newer; returns the previous object."""
        m = meta(obj)
        k = (str(m.get("namespace", "")), str(m.get("name", "")))
        bucket = self.kind(kind)
        old = bucket.get(k)
        new_rv, old_rv = _rv(obj), _rv(old)
        if new_rv is not None and old_rv is not None and new_rv < old_rv:
            return old
        bucket[k] = obj
        return old

    def remove(self, kind: str, namespace: str, name: str) -> Obj | None:
        return self.kind(kind).pop((namespace, name), None)

    def __len__(self) -> int:
        return sum(len(b) for b in self._objs.values())


class Informer:
    """List, then watch from the list's resourceVersion; relist on 410, re-watch on timeouts."""

    def __init__(self, client: KubeClient, kind: str, store: Store, handler: EventHandler) -> None:
        self._client = client
        self.kind = kind
        self._store = store
        self._handler = handler
        self.synced = asyncio.Event()
        self.relists = 0

    def _relist(self, items: list[Obj]) -> None:
        seen: set[tuple[str, str]] = set()
        for obj in items:
            m = meta(obj)
            seen.add((str(m.get("namespace", "")), str(m.get("name", ""))))
            old = self._store.put(self.kind, obj)
            self._handler(self.kind, "MODIFIED" if old is not None else "ADDED", old, obj)
        for ns, name in [k for k in self._store.kind(self.kind) if k not in seen]:
            old = self._store.remove(self.kind, ns, name)
            self._handler(self.kind, "DELETED", old, None)

    def _apply(self, etype: str, obj: Obj) -> None:
        if etype == "DELETED":
            m = meta(obj)
            old = self._store.remove(self.kind, str(m.get("namespace", "")), str(m.get("name", "")))
            self._handler(self.kind, etype, old or obj, None)
            return
        old = self._store.put(self.kind, obj)
        old_rv, new_rv = _rv(old), _rv(obj)
        if old_rv is not None and new_rv is not None and old_rv > new_rv:
            return  # we already hold a newer copy (our own write)
        self._handler(self.kind, etype, old, obj)

    async def run(self) -> None:
        rv: str | None = None
        failures = 0
        while True:
            try:
                if rv is None:
                    items, rv = await self._client.list(self.kind)
                    self._relist(items)
                    self.relists += 1
                    self.synced.set()
                async for event in self._client.watch(self.kind, rv):
                    obj = event.get("object") or {}
                    new_rv = meta(obj).get("resourceVersion")
                    if new_rv:
                        rv = str(new_rv)
                    if event.get("type") != "BOOKMARK":
                        self._apply(str(event.get("type")), obj)
                    failures = 0
            except GoneError:
                log.info("watch %s: resourceVersion %s gone, relisting", self.kind, rv)
                rv = None
            except KubeError as e:
                failures += 1
                delay = min(0.2 * 2**failures, 10.0)
                log.warning("watch %s failed (%s); retrying in %.1f s", self.kind, e, delay)
                if failures >= 3:
                    rv = None  # after repeated failures relist rather than trust the old version
                await asyncio.sleep(delay)


class WorkQueue:
    """Per-object serialisation with coalescing, delayed adds and per-key error backoff."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[Key] = asyncio.Queue()
        self._dirty: set[Key] = set()
        self._processing: set[Key] = set()
        self._timers: dict[Key, tuple[float, asyncio.TimerHandle]] = {}
        self._failures: dict[Key, int] = {}

    def add(self, key: Key) -> None:
        if key in self._dirty:
            return
        self._dirty.add(key)
        if key not in self._processing:
            self._queue.put_nowait(key)

    def add_after(self, key: Key, delay_s: float) -> None:
        """Add ``key`` after ``delay_s``; an earlier pending add for the same key wins."""
        if delay_s <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        due = loop.time() + delay_s
        current = self._timers.get(key)
        if current is not None:
            if current[0] <= due:
                return
            current[1].cancel()
        self._timers[key] = (due, loop.call_at(due, self._fire, key))

    def _fire(self, key: Key) -> None:
        self._timers.pop(key, None)
        self.add(key)

    async def get(self) -> Key:
        key = await self._queue.get()
        self._dirty.discard(key)
        self._processing.add(key)
        return key

    def done(self, key: Key) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.put_nowait(key)

    def failures(self, key: Key) -> int:
        return self._failures.get(key, 0)

    def backoff(self, key: Key, base_s: float, max_s: float) -> float:
        """Record one more failure of ``key``; returns its exponential delay."""
        n = self._failures.get(key, 0)
        self._failures[key] = n + 1
        return float(min(max_s, base_s * 2**n))

    def forget(self, key: Key) -> None:
        self._failures.pop(key, None)

    def cancel_delayed(self, key: Key) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer[1].cancel()

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    @property
    def delayed(self) -> int:
        return len(self._timers)

    @property
    def in_flight(self) -> int:
        return len(self._processing)

    def close(self) -> None:
        for _, handle in self._timers.values():
            with contextlib.suppress(Exception):
                handle.cancel()
        self._timers.clear()
