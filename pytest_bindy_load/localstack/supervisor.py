"""A small stand-in for kubelet and Deployments: each managed process group is shown as a Pod
object with bindy's labels. Deleting that Pod through the API SIGKILLs the processes and starts
new ones under a new Pod, so pod-kill chaos is the same code path here and on a real cluster."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import kr8s
import kr8s.asyncio

from pytest_bindy_load.localstack.processes import ManagedProcess

log = logging.getLogger(__name__)

SUPERVISED_LABEL = "bindy-load/supervised"
MANAGED_BY = {"app.kubernetes.io/managed-by": "pytest-bindy-load"}


@dataclass(slots=True, kw_only=True)
class PodGroup:
    """One "Deployment": how to make its processes, how to tell they are ready, and what to do
    before a restart (named wipes its zones: bindy's default storage is ephemeral)."""

    name: str
    namespace: str
    labels: dict[str, str]
    make_processes: Callable[[], list[ManagedProcess]]
    ready: Callable[[], Awaitable[None]]
    before_restart: Callable[[], None] | None = None
    processes: list[ManagedProcess] = field(default_factory=list)
    pod_name: str | None = None
    restarts: int = 0
    generation: int = 0


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class PodSupervisor:
    """Runs the groups, keeps their Pods Running/Ready, restarts a group whose Pod is deleted."""

    def __init__(self, api: kr8s.asyncio.Api, groups: list[PodGroup]) -> None:
        self._api = api
        self._groups = {g.name: g for g in groups}
        self._watch_task: asyncio.Task[None] | None = None
        self._restart_tasks: set[asyncio.Task[None]] = set()
        self._lock = asyncio.Lock()
        self.restarted = asyncio.Event()

    def group(self, name: str) -> PodGroup:
        return self._groups[name]

    async def start(self) -> None:
        for group in self._groups.values():
            await self._start_group(group)
        self._watch_task = asyncio.create_task(self._watch(), name="pod-supervisor-watch")

    async def stop(self) -> None:
        if self._watch_task is not None:
            self._watch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._watch_task
        for task in list(self._restart_tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for group in self._groups.values():
            for proc in reversed(group.processes):
                await proc.stop()
            if group.pod_name is not None:
                with contextlib.suppress(Exception):
                    await self._delete_pod(group)

    async def _start_group(self, group: PodGroup) -> None:
        group.generation += 1
        group.processes = group.make_processes()
        try:
            for proc in group.processes:
                await proc.start()
            await group.ready()
        except BaseException:
            for proc in reversed(group.processes):
                await proc.stop()
            raise
        await self._create_pod(group)

    async def _restart(self, group: PodGroup, why: str) -> None:
        async with self._lock:
            log.info("restarting %s: %s", group.name, why)
            for proc in group.processes:
                proc.kill()
            for proc in group.processes:
                await proc.stop(grace_s=1.0)
            if group.before_restart is not None:
                group.before_restart()
            await self._start_group(group)
            group.restarts += 1  # counted once the new Pod is Running
        self.restarted.set()

    def _pod_manifest(self, group: PodGroup) -> dict[str, Any]:
        pod_name = f"{group.name}-{secrets.token_hex(3)}"
        group.pod_name = pod_name
        labels = {**group.labels, **MANAGED_BY, SUPERVISED_LABEL: group.name}
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": pod_name, "namespace": group.namespace, "labels": labels},
            "spec": {
                "automountServiceAccountToken": False,
                "containers": [
                    {"name": proc.name, "image": f"local/{proc.name}:pytest-bindy-load"}
                    for proc in group.processes
                ],
            },
        }

    async def _create_pod(self, group: PodGroup) -> None:
        manifest = self._pod_manifest(group)
        pod = await kr8s.asyncio.objects.Pod(manifest, api=self._api)
        await pod.create()
        now = _now()
        status = {
            "phase": "Running",
            "podIP": "127.0.0.1",
            "podIPs": [{"ip": "127.0.0.1"}],
            "hostIP": "127.0.0.1",
            "startTime": now,
            "conditions": [
                {"type": t, "status": "True", "lastTransitionTime": now}
                for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
            ],
            "containerStatuses": [
                {
                    "name": proc.name,
                    "image": f"local/{proc.name}:pytest-bindy-load",
                    "imageID": "",
                    "ready": True,
                    "started": True,
                    "restartCount": 0,
                    "state": {"running": {"startedAt": now}},
                }
                for proc in group.processes
            ],
        }
        async with self._api.call_api(
            "PATCH",
            version="v1",
            url=f"namespaces/{group.namespace}/pods/{pod.name}/status",
            content=json.dumps({"status": status}),
            headers={"Content-Type": "application/merge-patch+json"},
        ):
            pass
        log.info("pod %s/%s Running for %s", group.namespace, pod.name, group.name)

    async def _delete_pod(self, group: PodGroup) -> None:
        pod = await kr8s.asyncio.objects.Pod.get(
            group.pod_name, namespace=group.namespace, api=self._api
        )
        await pod.delete(grace_period=0)

    async def _watch(self) -> None:
        """One watch over the supervised Pods: a DELETED event for a group's current Pod
        restarts it. Processes that die on their own are restarted too, as kubelet would."""
        monitor = asyncio.create_task(self._monitor_processes())
        try:
            since: str | None = None
            while True:
                try:
                    async for event, obj in self._api.async_watch(
                        "pods", namespace=kr8s.ALL, label_selector=SUPERVISED_LABEL, since=since
                    ):
                        meta = obj.raw["metadata"]
                        since = meta.get("resourceVersion", since)
                        group = self._groups.get(meta.get("labels", {}).get(SUPERVISED_LABEL, ""))
                        if event == "DELETED" and group is not None and obj.name == group.pod_name:
                            self._spawn_restart(group, f"pod {obj.namespace}/{obj.name} deleted")
                except asyncio.CancelledError:
                    raise
                except Exception as e:  # a dropped watch is resumed from the last version
                    log.warning("pod watch interrupted (%s); resuming", type(e).__name__)
                    await asyncio.sleep(0.5)
        finally:
            monitor.cancel()

    def _spawn_restart(self, group: PodGroup, why: str) -> None:
        task = asyncio.create_task(self._restart(group, why))
        self._restart_tasks.add(task)
        task.add_done_callback(self._restart_tasks.discard)

    async def _monitor_processes(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            if self._lock.locked():
                continue
            for group in self._groups.values():
                dead = [p for p in group.processes if not p.running]
                if dead and group.processes:
                    log.warning(
                        "%s: process %s exited; restarting its pod", group.name, dead[0].name
                    )
                    with contextlib.suppress(Exception):
                        await self._delete_pod(group)
