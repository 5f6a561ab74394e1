"""Wiring of the reference operator: informers -> event mapping -> work queue -> worker pool,
plus the periodic resync and live reload of the fault settings.

The operator keeps no state of its own: on start it lists everything and re-applies desired
state to named idempotently, so a SIGKILL at any point is repaired by the next start.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_bindy_load.bindcar import BindcarClient
from pytest_bindy_load.dns import DnsClient
from pytest_bindy_load.localstack.operator import model
from pytest_bindy_load.localstack.operator.config import ConfigError, OperatorConfig, load_config
from pytest_bindy_load.localstack.operator.dataplane import DataPlane
from pytest_bindy_load.localstack.operator.faults import FaultInjector
from pytest_bindy_load.localstack.operator.kube import KubeClient
from pytest_bindy_load.localstack.operator.metrics import EventLog, OperatorMetrics
from pytest_bindy_load.localstack.operator.reconcile import INSTANCE_KIND, Reconciler
from pytest_bindy_load.localstack.operator.watch import Informer, Key, Obj, Store, WorkQueue
from pytest_bindy_load.results import RECORD_KINDS, ZONE_KIND

log = logging.getLogger(__name__)

WATCHED_KINDS: tuple[str, ...] = (INSTANCE_KIND, ZONE_KIND, *RECORD_KINDS)
RELOAD_POLL_S = 1.0


def _labels(obj: Obj | None) -> tuple[tuple[str, str], ...]:
    if obj is None:
        return ()
    return tuple(sorted((model.meta(obj).get("labels") or {}).items()))


def fingerprint(kind: str, obj: Obj | None) -> tuple[Any, ...] | None:
    """What in an object, when it changes, calls for a reconcile of that object.

    Everything the operator writes itself is left out (status, zoneRef, its own finalizer):
    the echo of our own write must not queue another reconcile. The zone reconcile queues the
    records it (un)tags explicitly.
    """
    if obj is None:
        return None
    m = model.meta(obj)
    own = model.finalizer_for(kind)
    base = (
        m.get("generation"),
        m.get("deletionTimestamp"),
        tuple(f for f in m.get("finalizers") or () if f != own),
        _labels(obj),
    )
    if kind == INSTANCE_KIND:
        annotations = m.get("annotations") or {}
        allow = annotations.get(model.ALLOW_ZONE_NAMESPACES)
        return (*base, allow, (obj.get("spec") or {}).get("role"))
    return base


def keys_for_event(
    store: Store, kind: str, etype: str, old: Obj | None, new: Obj | None
) -> list[Key]:
    """Which objects to reconcile after one watch event (``store`` already updated)."""
    obj = new if new is not None else old
    if obj is None:
        return []
    key = model.obj_key(kind, obj)
    changed = etype in ("ADDED", "DELETED") or fingerprint(kind, old) != fingerprint(kind, new)
    if not changed:
        return []
    keys: list[Key] = []
    if kind == INSTANCE_KIND:
        return [model.obj_key(ZONE_KIND, z) for z in store.items(ZONE_KIND)]
    if etype != "DELETED":
        keys.append(key)
    if kind == ZONE_KIND:
        names = {(o.get("spec") or {}).get("zoneName") for o in (old, new) if o is not None}
        if etype != "MODIFIED" or len(names) > 1:
            keys += [
                model.obj_key(ZONE_KIND, z)
                for z in store.items(ZONE_KIND)
                if (z.get("spec") or {}).get("zoneName") in names
                and model.obj_key(ZONE_KIND, z) != key
            ]
        if etype == "DELETED":
            _, ns, name = key
            for rk in RECORD_KINDS:
                keys += [
                    model.obj_key(rk, r)
                    for r in store.in_namespace(rk, ns)
                    if model.points_at(r, ns, name)
                ]
        return keys
    # A record: the zones that select it now or did, and the zone it points at.
    old_labels, new_labels = _labels(old), _labels(new)
    became_deleting = bool(new and model.meta(new).get("deletionTimestamp")) and not bool(
        old and model.meta(old).get("deletionTimestamp")
    )
    if etype in ("ADDED", "DELETED") or old_labels != new_labels or became_deleting:
        ns = key[1]
        for z in store.in_namespace(ZONE_KIND, ns):
            items = (z.get("spec") or {}).get("recordsFrom")
            if model.selects(items, dict(old_labels)) or model.selects(items, dict(new_labels)):
                keys.append(model.obj_key(ZONE_KIND, z))
        for o in (old, new):
            ref = ((o or {}).get("status") or {}).get("zoneRef")
            if isinstance(ref, Mapping):
                keys.append((ZONE_KIND, str(ref.get("namespace")), str(ref.get("name"))))
    return list(dict.fromkeys(keys))


class Operator:
    """The whole process: call ``run()``; cancel it to stop."""

    def __init__(self, cfg: OperatorConfig, *, events: EventLog | None = None) -> None:
        self.cfg = cfg
        self.events = events or EventLog()
        self.metrics = OperatorMetrics()
        self.store = Store()
        self.queue = WorkQueue()
        self.faults = FaultInjector(cfg.faults)
        self._accepting = False

    def _on_event(self, kind: str, etype: str, old: Obj | None, new: Obj | None) -> None:
        if not self._accepting:
            return  # the initial lists are followed by one full resync instead
        for key in keys_for_event(self.store, kind, etype, old, new):
            self.queue.add(key)

    def resync(self, reconciler: Reconciler) -> int:
        """Queue every zone (which then queues its records) and every record no zone owns."""
        zones = [model.obj_key(ZONE_KIND, z) for z in self.store.items(ZONE_KIND)]
        reconciler.resync_zones.update(zones)
        for key in zones:
            self.queue.add(key)
        n = len(zones)
        for kind in RECORD_KINDS:
            for rec in self.store.items(kind):
                ref = (rec.get("status") or {}).get("zoneRef")
                owned = isinstance(ref, Mapping) and self.store.get(
                    (ZONE_KIND, str(ref.get("namespace")), str(ref.get("name")))
                )
                if not owned or model.meta(rec).get("deletionTimestamp"):
                    self.queue.add(model.obj_key(kind, rec))
                    n += 1
        return n

    async def _worker(self, reconciler: Reconciler) -> None:
        while True:
            key = await self.queue.get()
            try:
                await reconciler.reconcile(key)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reconcile of %s %s/%s crashed", *key)
                rq = self.cfg.requeue
                self.metrics.observe(key[0], 0.0, ok=False)
                self.queue.add_after(key, self.queue.backoff(key, rq.error_base_s, rq.error_max_s))
            finally:
                self.queue.done(key)

    async def _resync_loop(self, reconciler: Reconciler) -> None:
        if self.cfg.resync_period_s <= 0:
            return
        while True:
            await asyncio.sleep(self.cfg.resync_period_s)
            n = self.resync(reconciler)
            self.events.emit("resync", queued=n)

    async def _reload_loop(self, path: Path) -> None:
        """Swap in new fault settings when the config file changes (other keys need a restart).

        Compared with the mtime seen when the config was first read, so an edit made while the
        operator was still listing is not missed."""
        last = self.cfg.config_mtime_ns
        while True:
            await asyncio.sleep(RELOAD_POLL_S)
            try:
                mtime = (await asyncio.to_thread(path.stat)).st_mtime_ns
            except OSError:
                continue
            if mtime == last:
                continue
            last = mtime
            try:
                new = load_config(path)
            except ConfigError as e:
                log.warning("config reload ignored: %s", e)
                continue
            self.faults.replace(new.faults)
            self.events.emit("faults_reloaded", faults=repr(new.faults))

    async def run(self) -> None:
        cfg = self.cfg
        port = self.metrics.serve(cfg.metrics_host, cfg.metrics_port)
        self.metrics.bind_queue(
            lambda: self.queue.depth, lambda: self.queue.delayed, lambda: self.queue.in_flight
        )
        self.events.emit("starting", metrics_port=port, workers=cfg.workers, pid=os.getpid())
        kube = await KubeClient.connect(cfg.kubeconfig)
        dns = DnsClient(cfg.dns_server, timeout_s=cfg.dns_timeout_s)
        async with BindcarClient(
            cfg.bindcar_url, cfg.bindcar_token, timeout=cfg.bindcar_timeout_s
        ) as bindcar:
            plane = DataPlane(cfg=cfg, bindcar=bindcar, dns_client=dns, events=self.events)
            reconciler = Reconciler(
                cfg=cfg,
                kube=kube,
                store=self.store,
                queue=self.queue,
                plane=plane,
                metrics=self.metrics,
                events=self.events,
                faults=self.faults,
            )
            informers = [Informer(kube, k, self.store, self._on_event) for k in WATCHED_KINDS]
            try:
                async with asyncio.TaskGroup() as tg:
                    for inf in informers:
                        tg.create_task(inf.run(), name=f"informer-{inf.kind}")
                    t0 = time.monotonic()
                    await asyncio.gather(*(inf.synced.wait() for inf in informers))
                    self._accepting = True
                    self.metrics.synced.set(1)
                    queued = self.resync(reconciler)
                    self.events.emit(
                        "synced",
                        objects=len(self.store),
                        queued=queued,
                        list_s=round(time.monotonic() - t0, 3),
                    )
                    for i in range(cfg.workers):
                        tg.create_task(self._worker(reconciler), name=f"worker-{i}")
                    tg.create_task(self._resync_loop(reconciler), name="resync")
                    if cfg.config_path is not None:
                        tg.create_task(self._reload_loop(cfg.config_path), name="reload")
            finally:
                self.queue.close()
                await kube.close()
