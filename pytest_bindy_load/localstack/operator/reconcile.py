"""Zone and record reconcilers: finalizers, selection (zoneRef tagging), the status bodies and
when to touch BIND9 (through ``DataPlane``), following CONTRACT.md sections 2-5.

Reads come from the informer store (never the API), writes go to the API and the response is
put back in the store, so the watch event for our own write does not trigger another reconcile.
Every status write is logged as one ``status_write`` event with wall and monotonic timestamps.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_bindy_load.bindcar import BindcarError
from pytest_bindy_load.dns import DnsError
from pytest_bindy_load.errors import OperationError
from pytest_bindy_load.localstack.operator import model
from pytest_bindy_load.localstack.operator.config import OperatorConfig
from pytest_bindy_load.localstack.operator.dataplane import DataPlane, RetryLaterError
from pytest_bindy_load.localstack.operator.faults import FaultInjector, InjectedFaultError
from pytest_bindy_load.localstack.operator.kube import KubeClient, KubeError
from pytest_bindy_load.localstack.operator.metrics import (
    EventLog,
    OperatorMetrics,
    phase,
    start_phases,
)
from pytest_bindy_load.localstack.operator.model import Reason
from pytest_bindy_load.localstack.operator.watch import Key, Obj, Store, WorkQueue
from pytest_bindy_load.results import RECORD_KINDS, ZONE_KIND

log = logging.getLogger(__name__)

INSTANCE_KIND = "Bind9Instance"
FINALIZER_RETRIES = 5


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    ok: bool
    requeue_s: float | None
    detail: str = ""


def deleting(obj: Obj) -> bool:
    return bool(model.meta(obj).get("deletionTimestamp"))


class Reconciler:
    """One instance per operator process; ``reconcile(key)`` is called by the worker pool."""

    def __init__(
        self,
        *,
        cfg: OperatorConfig,
        kube: KubeClient,
        store: Store,
        queue: WorkQueue,
        plane: DataPlane,
        metrics: OperatorMetrics,
        events: EventLog,
        faults: FaultInjector,
    ) -> None:
        self.cfg = cfg
        self.kube = kube
        self.store = store
        self.queue = queue
        self.plane = plane
        self.metrics = metrics
        self.events = events
        self.faults = faults
        # Zones whose next reconcile should also requeue every record pointing at them
        # (periodic resync, startup): records then follow the zone's repair in BIND9.
        self.resync_zones: set[Key] = set()

    # --- entry point ---------------------------------------------------------------------

    async def reconcile(self, key: Key) -> Outcome | None:
        kind, ns, name = key
        obj = self.store.get(key)
        if obj is None:
            self.queue.forget(key)
            return None
        resynced = key in self.resync_zones
        self.resync_zones.discard(key)
        t0 = time.monotonic_ns()
        phases = start_phases()
        injected = 0.0
        try:
            injected = await self.faults.apply(kind)
            if deleting(obj):
                outcome = await self._finalize(kind, obj)
            elif kind == ZONE_KIND:
                outcome = await self._reconcile_zone(key, obj)
            else:
                outcome = await self._reconcile_record(kind, obj)
        except InjectedFaultError as e:
            outcome = await self._failed(kind, key, str(e))
        except (RetryLaterError, KubeError, BindcarError, DnsError, OperationError) as e:
            outcome = await self._failed(kind, key, str(e), delay_s=getattr(e, "delay_s", None))
        if resynced:
            # Records follow their zone: at once when it is in place in BIND9, otherwise when
            # the zone is retried (a zone it (re)creates queues its records itself).
            self._requeue_records_of(key, 0.0 if outcome.ok else outcome.requeue_s or 0.0)
        duration_s = (time.monotonic_ns() - t0) / 1e9
        self.metrics.observe(kind, duration_s, ok=outcome.ok)
        self.events.emit(
            "reconcile",
            kind=kind,
            namespace=ns,
            name=name,
            ok=outcome.ok,
            detail=outcome.detail,
            duration_s=round(duration_s, 6),
            injected_delay_s=round(injected, 6),
            **{f"{k}_s": round(v, 6) for k, v in phases.items()},
        )
        if outcome.ok:
            self.queue.forget(key)
        if outcome.requeue_s is not None:
            self.queue.add_after(key, outcome.requeue_s)
        return outcome

    async def _failed(
        self, kind: str, key: Key, message: str, *, delay_s: float | None = None
    ) -> Outcome:
        rq = self.cfg.requeue
        delay = (
            delay_s
            if delay_s is not None
            else self.queue.backoff(key, rq.error_base_s, rq.error_max_s)
        )
        log.info("reconcile %s %s/%s failed (retry in %.1f s): %s", *key, delay, message)
        obj = self.store.get(key)
        if obj is not None and not deleting(obj):
            try:
                if kind == ZONE_KIND:
                    await self._write_zone_failure(obj, Reason.RECONCILE_FAILED, message)
                else:
                    await self._write_record_status(
                        kind, obj, ready=False, reason=Reason.RECONCILE_FAILED, message=message
                    )
            except KubeError as e:
                log.warning("status write for %s %s/%s failed: %s", *key, e)
        return Outcome(ok=False, requeue_s=delay, detail=message[:200])

    # --- writes ---------------------------------------------------------------------------

    async def _patch_status(self, kind: str, obj: Obj, status: dict[str, Any], reason: str) -> None:
        m = model.meta(obj)
        ns, name = str(m.get("namespace")), str(m.get("name"))
        try:
            new = await self.kube.patch(kind, ns, name, {"status": status}, status=True)
        except KubeError as e:
            if e.status == 404:
                return
            raise
        self.store.put(kind, new)
        self.metrics.status_writes.labels(resource_type=kind).inc()
        ready = model.ready_of(new) or {}
        self.events.emit(
            "status_write",
            kind=kind,
            namespace=ns,
            name=name,
            reason=reason,
            ready=ready.get("status"),
            generation=model.meta(new).get("generation"),
            observed_generation=(new.get("status") or {}).get("observedGeneration"),
            resource_version=model.meta(new).get("resourceVersion"),
        )

    async def _set_finalizers(
        self, kind: str, obj: Obj, edit: Callable[[list[str]], list[str]]
    ) -> Obj | None:
        """Apply ``edit`` to metadata.finalizers under a resourceVersion precondition, re-reading
        the object on 409; returns the new object, or None when it is gone."""
        m = model.meta(obj)
        ns, name = str(m.get("namespace")), str(m.get("name"))
        current = obj
        for _ in range(FINALIZER_RETRIES):
            cm = model.meta(current)
            have = list(cm.get("finalizers") or [])
            want = edit(have)
            if want == have:
                return current
            body = {"metadata": {"finalizers": want, "resourceVersion": cm.get("resourceVersion")}}
            try:
                new = await self.kube.patch(kind, ns, name, body)
            except KubeError as e:
                if e.status == 404:
                    return None
                if e.status != 409:
                    raise
                try:
                    current = await self.kube.get(kind, ns, name)
                except KubeError as ge:
                    if ge.status == 404:
                        return None
                    raise
                continue
            self.store.put(kind, new)
            return new
        raise RetryLaterError(f"finalizer update of {kind} {ns}/{name} kept conflicting")

    async def _ensure_finalizer(self, kind: str, obj: Obj) -> Obj | None:
        fin = model.finalizer_for(kind)
        return await self._set_finalizers(
            kind, obj, lambda have: have if fin in have else [*have, fin]
        )

    async def _release_finalizer(self, kind: str, obj: Obj) -> None:
        fin = model.finalizer_for(kind)
        if fin not in (model.meta(obj).get("finalizers") or []):
            return
        await self._set_finalizers(kind, obj, lambda have: [f for f in have if f != fin])
        self.metrics.deleted.labels(resource_type=kind).inc()
        m = model.meta(obj)
        self.events.emit(
            "finalizer_released", kind=kind, namespace=m.get("namespace"), name=m.get("name")
        )

    # --- zones ----------------------------------------------------------------------------

    def _instances(self, zone: Obj) -> list[Obj]:
        return model.zone_instances(zone, self.store.items(INSTANCE_KIND))

    async def _reconcile_zone(self, key: Key, zone: Obj) -> Outcome:
        rq = self.cfg.requeue
        got = await self._ensure_finalizer(ZONE_KIND, zone)
        if got is None:
            return Outcome(ok=True, requeue_s=None, detail="gone")
        zone = got
        spec = zone.get("spec") or {}
        zone_name = str(spec.get("zoneName", ""))
        instances = self._instances(zone)
        if not instances:
            # bindy fails before any status write (CONTRACT 2.1): no conditions at all.
            raise RetryLaterError(
                f"no Bind9Instance matches bind9InstancesFrom of zone {zone_name}",
                delay_s=rq.not_ready_s,
            )
        dup = model.older_duplicate(zone, self.store.items(ZONE_KIND))
        if dup is not None:
            dm = model.meta(dup)
            msg = (
                f"Zone {zone_name} is already served by DNSZone "
                f"{dm.get('namespace')}/{dm.get('name')}"
            )
            await self._write_zone_failure(zone, Reason.DUPLICATE_ZONE, msg)
            return Outcome(ok=True, requeue_s=rq.not_ready_s, detail="DuplicateZone")
        if not model.primaries(instances):
            msg = f"No primary Bind9Instance among {len(instances)} selected instance(s)"
            await self._write_zone_failure(zone, Reason.PRIMARY_FAILED, msg)
            return Outcome(ok=True, requeue_s=rq.not_ready_s, detail="PrimaryFailed")
        try:
            with phase("bindcar"):
                created = await self.plane.ensure_zone(zone)
        except BindcarError as e:
            await self._write_zone_failure(zone, Reason.PRIMARY_FAILED, f"bindcar: {e}")
            raise RetryLaterError(str(e)) from e
        selected = await self._sync_selection(zone)
        if created:
            for kind, rec in selected:
                self.queue.add(model.obj_key(kind, rec))
        await self._write_zone_ready(zone, instances, selected, created=created)
        return Outcome(
            ok=True,
            requeue_s=rq.ready_s or None,
            detail=f"{'created' if created else 'exists'}; {len(selected)} records",
        )

    def _records_in(self, namespace: str) -> Iterable[tuple[str, Obj]]:
        for kind in RECORD_KINDS:
            for rec in self.store.in_namespace(kind, namespace):
                yield kind, rec

    async def _bounded(self, jobs: Sequence[Awaitable[None]]) -> None:
        """Run ``jobs`` at most ``zone_fanout`` at a time; every job runs, the first error is
        re-raised afterwards (a TaskGroup would cancel the rest and wrap it in a group)."""
        sem = asyncio.Semaphore(self.cfg.zone_fanout)

        async def one(job: Awaitable[None]) -> None:
            async with sem:
                await job

        results = await asyncio.gather(*(one(j) for j in jobs), return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                raise r

    async def _sync_selection(self, zone: Obj) -> list[tuple[str, Obj]]:
        """Tag newly selected records, untag (and unpublish) records no longer selected."""
        m = model.meta(zone)
        ns, name = str(m.get("namespace")), str(m.get("name"))
        items = (zone.get("spec") or {}).get("recordsFrom")
        selected: list[tuple[str, Obj]] = []
        to_tag: list[tuple[str, Obj]] = []
        to_untag: list[tuple[str, Obj]] = []
        for kind, rec in self._records_in(ns):
            if model.selects(items, model.meta(rec).get("labels")):
                selected.append((kind, rec))
                if not deleting(rec) and not model.zone_ref_matches(rec, zone):
                    to_tag.append((kind, rec))
            elif model.points_at(rec, ns, name) and not deleting(rec):
                to_untag.append((kind, rec))
        ref = model.zone_ref(zone)
        await self._bounded(
            [self._tag(kind, rec, ref) for kind, rec in to_tag]
            + [self._untag(kind, rec, zone) for kind, rec in to_untag]
        )
        return [(k, self.store.get(model.obj_key(k, r)) or r) for k, r in selected]

    async def _tag(self, kind: str, rec: Obj, ref: dict[str, Any]) -> None:
        await self._patch_status(kind, rec, {"zoneRef": ref, "zone": ref["zoneName"]}, "Selected")
        self.queue.add(model.obj_key(kind, rec))

    async def _untag(self, kind: str, rec: Obj, zone: Obj) -> None:
        zone_name = str((zone.get("spec") or {}).get("zoneName", ""))
        await self._unpublish(kind, rec, zone_name)
        await self._patch_status(kind, rec, {"zoneRef": None, "zone": None}, "Unselected")
        self.queue.add(model.obj_key(kind, rec))

    async def _write_zone_ready(
        self, zone: Obj, instances: list[Obj], selected: list[tuple[str, Obj]], *, created: bool
    ) -> None:
        now = model.now_rfc3339()
        old = zone.get("status") or {}
        spec = zone.get("spec") or {}
        prev_inst = {
            (i.get("namespace"), i.get("name")): i.get("lastReconciledAt")
            for i in old.get("bind9Instances") or []
            if isinstance(i, Mapping)
        }
        inst_status = []
        for inst in instances:
            im = model.meta(inst)
            k = (im.get("namespace"), im.get("name"))
            inst_status.append(
                {
                    "apiVersion": model.API_VERSION,
                    "kind": INSTANCE_KIND,
                    "name": im.get("name"),
                    "namespace": im.get("namespace"),
                    "status": "Configured",
                    "lastReconciledAt": now if created or not prev_inst.get(k) else prev_inst[k],
                }
            )
        records = []
        ordered = sorted(selected, key=lambda kr: (kr[0], str(model.meta(kr[1]).get("name", ""))))
        for kind, rec in ordered:
            rm = model.meta(rec)
            ready = model.ready_of(rec) or {}
            rstatus = rec.get("status") or {}
            published = ready.get("status") == "True" and model.zone_ref_matches(rec, zone)
            records.append(
                {
                    "apiVersion": model.API_VERSION,
                    "kind": kind,
                    "name": rm.get("name"),
                    "namespace": rm.get("namespace"),
                    "recordName": (rec.get("spec") or {}).get("name"),
                    "lastReconciledAt": rstatus.get("lastUpdated") if published else None,
                }
            )
        n_prim = len(model.primaries(instances))
        msg = (
            f"Zone {spec.get('zoneName')} configured on {n_prim} primary and "
            f"{len(instances) - n_prim} secondary instance(s); {len(records)} record(s) discovered"
        )
        status = {
            "conditions": model.zone_conditions(
                True, Reason.RECONCILE_SUCCEEDED, msg, old.get("conditions"), now
            ),
            "observedGeneration": model.meta(zone).get("generation"),
            "records": records,
            "recordsCount": len(records),
            "bind9Instances": inst_status,
            "bind9InstancesCount": len(inst_status),
        }
        unchanged = model.conditions_equal(status["conditions"], old.get("conditions")) and all(
            old.get(k) == status[k]
            for k in ("observedGeneration", "records", "recordsCount", "bind9Instances")
        )
        if not unchanged:
            await self._patch_status(ZONE_KIND, zone, status, Reason.RECONCILE_SUCCEEDED)

    async def _write_zone_failure(self, zone: Obj, reason: Reason, message: str) -> None:
        old = zone.get("status") or {}
        now = model.now_rfc3339()
        conds = model.zone_conditions(False, reason, message, old.get("conditions"), now)
        if not model.conditions_equal(conds, old.get("conditions")):
            # observedGeneration is not written on failure paths (CONTRACT 3.2).
            await self._patch_status(ZONE_KIND, zone, {"conditions": conds}, reason)

    # --- records --------------------------------------------------------------------------

    def _zone_of(self, rec: Obj) -> tuple[Obj | None, Mapping[str, Any] | None]:
        ref = (rec.get("status") or {}).get("zoneRef")
        if not isinstance(ref, Mapping):
            return None, None
        zone = self.store.get((ZONE_KIND, str(ref.get("namespace")), str(ref.get("name"))))
        return zone, ref

    async def _reconcile_record(self, kind: str, rec: Obj) -> Outcome:
        rq = self.cfg.requeue
        got = await self._ensure_finalizer(kind, rec)
        if got is None:
            return Outcome(ok=True, requeue_s=None, detail="gone")
        rec = got
        zone, ref = self._zone_of(rec)
        if ref is None:
            await self._write_record_status(
                kind,
                rec,
                ready=False,
                reason=Reason.NOT_SELECTED,
                message="Record is not selected by any DNSZone",
            )
            return Outcome(ok=True, requeue_s=rq.not_ready_s, detail="NotSelected")
        if zone is None:
            await self._write_record_status(
                kind,
                rec,
                ready=False,
                reason=Reason.ZONE_NOT_FOUND,
                message=f"DNSZone {ref.get('namespace')}/{ref.get('name')} not found",
            )
            return Outcome(ok=True, requeue_s=rq.not_ready_s, detail="ZoneNotFound")
        instances = self._instances(zone)
        zone_name = str((zone.get("spec") or {}).get("zoneName", ""))
        if not instances:
            await self._write_record_status(
                kind,
                rec,
                ready=False,
                reason=Reason.ZONE_NOT_CONFIGURED,
                message=f"Zone {zone_name} has no eligible Bind9Instance",
            )
            return Outcome(ok=True, requeue_s=rq.not_ready_s, detail="ZoneNotConfigured")
        if not model.primaries(instances):
            await self._write_record_status(
                kind,
                rec,
                ready=False,
                reason=Reason.NO_PRIMARY_INSTANCES,
                message=f"Zone {zone_name} has no primary Bind9Instance",
            )
            return Outcome(ok=True, requeue_s=rq.not_ready_s, detail="NoPrimaryInstances")
        spec = rec.get("spec") or {}
        try:
            want = model.desired_rrset(kind, spec, zone_name)
        except model.RecordDataError as e:
            raise RetryLaterError(f"invalid {kind} data: {e}") from e
        published = (rec.get("status") or {}).get("publishedName")
        if published is not None and published != spec.get("name"):
            with phase("dns"):
                await self.plane.delete_owner(
                    zone_name, model.owner_name(published, zone_name), want.rdtype
                )
        with phase("dns"):
            changed = await self.plane.publish(zone_name, want)
        await self._write_record_status(
            kind,
            rec,
            ready=True,
            reason=Reason.RECONCILE_SUCCEEDED,
            message=f"{want.rdtype} record added to zone {zone_name}",
            published=True,
        )
        return Outcome(
            ok=True, requeue_s=rq.ready_s or None, detail="updated" if changed else "in sync"
        )

    async def _unpublish(self, kind: str, rec: Obj, zone_name: str) -> None:
        spec = rec.get("spec") or {}
        names = {spec.get("name"), (rec.get("status") or {}).get("publishedName")} - {None}
        for n in names or {spec.get("name")}:
            with phase("dns"):
                await self.plane.delete_owner(
                    zone_name, model.owner_name(n, zone_name), model.RDTYPES[kind]
                )

    async def _write_record_status(
        self,
        kind: str,
        rec: Obj,
        *,
        ready: bool,
        reason: Reason,
        message: str,
        published: bool = False,
    ) -> None:
        old = rec.get("status") or {}
        spec = rec.get("spec") or {}
        now = model.now_rfc3339()
        status: dict[str, Any] = {
            "conditions": model.record_ready_condition(
                ready, reason, message, old.get("conditions"), now
            ),
            "observedGeneration": model.meta(rec).get("generation"),
        }
        if published:
            status["recordHash"] = model.record_hash(spec)
            status["publishedName"] = spec.get("name")
            if kind == "ARecord":
                status["addresses"] = ",".join(spec.get("ipv4Addresses") or [])
            elif kind == "AAAARecord":
                status["addresses"] = ",".join(spec.get("ipv6Addresses") or [])
        unchanged = model.conditions_equal(status["conditions"], old.get("conditions")) and all(
            old.get(k) == v for k, v in status.items() if k != "conditions"
        )
        if unchanged:
            return
        if published:
            status["lastUpdated"] = now
        await self._patch_status(kind, rec, status, reason)

    # --- deletion -------------------------------------------------------------------------

    async def _finalize(self, kind: str, obj: Obj) -> Outcome:
        if model.finalizer_for(kind) not in (model.meta(obj).get("finalizers") or []):
            return Outcome(ok=True, requeue_s=None, detail="no finalizer")
        if kind == ZONE_KIND:
            zone_name = str((obj.get("spec") or {}).get("zoneName", ""))
            # No primary: nothing was configured. A duplicate: the BIND9 zone is the older one's.
            if model.primaries(self._instances(obj)) and not model.older_duplicate(
                obj, self.store.items(ZONE_KIND)
            ):
                with phase("bindcar"):
                    await self.plane.remove_zone(zone_name)
        else:
            zone, _ = self._zone_of(obj)
            if zone is not None and model.primaries(self._instances(zone)):
                zone_name = str((zone.get("spec") or {}).get("zoneName", ""))
                await self._unpublish(kind, obj, zone_name)
        await self._release_finalizer(kind, obj)
        return Outcome(ok=True, requeue_s=None, detail="finalized")

    # --- helpers for the controller -------------------------------------------------------

    def _requeue_records_of(self, zone_key: Key, delay_s: float = 0.0) -> None:
        _, ns, name = zone_key
        for kind, rec in self._records_in(ns):
            if model.points_at(rec, ns, name):
                self.queue.add_after(model.obj_key(kind, rec), delay_s)
