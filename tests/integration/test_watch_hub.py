"""The shared watch against a real kube-apiserver: one stream per kind for a thousand waiters,
resume after a dropped stream, relist after 410 Gone, deletions."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import kr8s.asyncio
import pytest

from pytest_bindy_load.cluster import (
    API_VERSION,
    ReadyState,
    TestCluster,
    WatchHub,
    classify,
    kind_class,
    run_labels,
)
from pytest_bindy_load.localstack.stack import LocalStack, StackOptions, local_stack

N_OBJECTS = 1000
CONCURRENCY = 40


@pytest.fixture(scope="module")
async def stack_without_operator() -> AsyncIterator[LocalStack]:
    """No operator: these tests write status themselves and nothing may overwrite it."""
    async with local_stack(StackOptions(with_operator=False)) as s:
        yield s


@pytest.fixture(scope="module")
async def cluster(stack_without_operator: LocalStack) -> TestCluster:
    return await TestCluster.connect(stack_without_operator.target)


def a_record(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "ARecord",
        "metadata": {"name": name, "namespace": namespace, "labels": run_labels("watch-test")},
        "spec": {"name": name, "ipv4Addresses": ["192.0.2.1"]},
    }


async def post(api: kr8s.asyncio.Api, manifest: dict[str, Any]) -> dict[str, Any]:
    cls = kind_class(manifest["kind"])
    async with api.call_api(
        "POST",
        version=cls.version,
        url=cls.endpoint,
        namespace=manifest["metadata"]["namespace"],
        content=json.dumps(manifest),
    ) as resp:
        created: dict[str, Any] = resp.json()
        return created


async def mark_ready(api: kr8s.asyncio.Api, obj: dict[str, Any]) -> None:
    """Play the operator: write the contract's success status for the object's generation."""
    meta = obj["metadata"]
    cls = kind_class(obj["kind"])
    status = {
        "status": {
            "observedGeneration": meta["generation"],
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "ReconcileSucceeded",
                    "message": "A record added to zone test",
                    "lastTransitionTime": "2026-01-01T00:00:00Z",
                }
            ],
        }
    }
    async with api.call_api(
        "PATCH",
        version=cls.version,
        url=f"{cls.endpoint}/{meta['name']}/status",
        namespace=meta["namespace"],
        content=json.dumps(status),
        headers={"Content-Type": "application/merge-patch+json"},
    ):
        pass


async def bounded(items: list[Any], fn: Callable[[Any], Awaitable[Any]]) -> list[Any]:
    sem = asyncio.Semaphore(CONCURRENCY)

    async def one(item: Any) -> Any:
        async with sem:
            return await fn(item)

    return await asyncio.gather(*(one(i) for i in items))


def is_ready(obj: dict[str, Any]) -> bool:
    return classify("ARecord", obj).state is ReadyState.READY


@pytest.mark.timeout(600)
async def test_a_thousand_waiters_resolve_through_one_watch_per_kind(
    cluster: TestCluster, ns: str
) -> None:
    api = cluster.api
    async with WatchHub(api) as hub:
        await hub.ensure_watching("ARecord", ns)
        names = [f"a-{i:04d}" for i in range(N_OBJECTS)]
        created = await bounded(names, lambda n: post(api, a_record(n, ns)))
        early, late = created[: N_OBJECTS // 2], created[N_OBJECTS // 2 :]
        early_waiters = [
            asyncio.create_task(hub.wait_for("ARecord", ns, o["metadata"]["name"], is_ready, 300))
            for o in early
        ]
        # The late half is marked Ready first, then the early half: one watch stream delivers
        # events in resourceVersion order, so once the early waiters resolved, every late event
        # has arrived, and waiters registered only now must resolve from the cache with the
        # time their event arrived (earlier than any early event).
        await bounded(late, lambda o: mark_ready(api, o))
        patch_started = time.monotonic_ns()
        await bounded(early, lambda o: mark_ready(api, o))
        early_results = await asyncio.gather(*early_waiters)
        first_early = min(ts for _o, ts in early_results)
        late_results = await asyncio.gather(
            *(hub.wait_for("ARecord", ns, o["metadata"]["name"], is_ready, 300) for o in late)
        )
        results = early_results + late_results
        assert len(results) == N_OBJECTS
        assert {o["metadata"]["name"] for o, _ts in results} == set(names)
        assert all(is_ready(o) for o, _ts in results)
        assert all(patch_started < ts for _o, ts in early_results)
        assert all(ts <= first_early for _o, ts in late_results)
        stats = hub.stats("ARecord", ns)
        assert hub.watch_count("ARecord") == 1
        # One stream; a reconnect only after a server-side error, never one per waiter. A fresh
        # CRD's watch cache may answer "storage is (re)initializing" to the list or the watch, so
        # an error may or may not have cost a stream.
        assert 1 <= stats.connections <= 1 + stats.errors
        assert stats.errors <= 2
        assert stats.lists == 1 + stats.relists_410
        assert stats.events >= 2 * N_OBJECTS  # every create and every status write


async def test_a_dropped_stream_resumes_from_the_last_resource_version(
    cluster: TestCluster, ns: str
) -> None:
    api = cluster.api
    async with WatchHub(api) as hub:
        await hub.ensure_watching("ARecord", ns)
        await hub.reconnect("ARecord", ns)
        # Written while no stream is open: only a resume from the last resourceVersion sees it.
        obj = await post(api, a_record("resumed", ns))
        await mark_ready(api, obj)
        got, _ts = await hub.wait_for("ARecord", ns, "resumed", is_ready, 60)
        assert got["metadata"]["uid"] == obj["metadata"]["uid"]
        stats = hub.stats("ARecord", ns)
        assert (stats.lists, stats.relists_410) == (1, 0)
        assert 2 <= stats.connections <= 2 + stats.errors  # the dropped one and its resume


async def test_a_410_gone_relists_and_reports_deletions_missed_meanwhile(
    cluster: TestCluster, ns: str
) -> None:
    api = cluster.api
    cls = kind_class("ARecord")
    async with WatchHub(api) as hub:
        await hub.ensure_watching("ARecord", ns)
        keep = await post(api, a_record("keep", ns))
        doomed = await post(api, a_record("doomed", ns))
        await hub.wait_for("ARecord", ns, "doomed", lambda o: True, 30)
        await hub.reconnect("ARecord", ns, resource_version="1")  # long compacted: 410 Gone
        async with api.call_api(
            "DELETE", version=cls.version, url=f"{cls.endpoint}/doomed", namespace=ns
        ):
            pass
        await mark_ready(api, keep)
        await hub.wait_for("ARecord", ns, "keep", is_ready, 60)
        gone_ns = await hub.wait_deleted("ARecord", ns, "doomed", 60, uid=doomed["metadata"]["uid"])
        assert gone_ns > 0
        assert hub.latest("ARecord", ns, "doomed") is None
        stats = hub.stats("ARecord", ns)
        assert stats.relists_410 == 1
        assert stats.lists == 2


async def test_wait_deleted_returns_when_the_delete_event_arrives(
    cluster: TestCluster, ns: str
) -> None:
    api = cluster.api
    cls = kind_class("ARecord")
    async with WatchHub(api) as hub:
        obj = await post(api, a_record("bye", ns))
        await hub.ensure_watching("ARecord", ns)
        waiter = asyncio.create_task(hub.wait_deleted("ARecord", ns, "bye", 60))
        await asyncio.sleep(0)
        assert not waiter.done()
        before = time.monotonic_ns()
        async with api.call_api(
            "DELETE", version=cls.version, url=f"{cls.endpoint}/bye", namespace=ns
        ):
            pass
        seen = await waiter
        assert seen > before
        # Asking again after the fact answers from the tombstone at once.
        assert await hub.wait_deleted("ARecord", ns, "bye", 1, uid=obj["metadata"]["uid"]) == seen
