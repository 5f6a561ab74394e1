"""The reference operator's work queue and event mapping (no servers involved)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pytest_bindy_load.localstack.operator.controller import fingerprint, keys_for_event
from pytest_bindy_load.localstack.operator.watch import Store, WorkQueue

K1 = ("ARecord", "n", "a")
K2 = ("ARecord", "n", "b")


async def test_a_waiting_key_is_queued_once() -> None:
    q = WorkQueue()
    q.add(K1)
    q.add(K1)
    q.add(K2)
    assert q.depth == 2
    assert await q.get() == K1
    assert await q.get() == K2


async def test_a_key_added_while_processing_runs_once_more_after_done() -> None:
    q = WorkQueue()
    q.add(K1)
    key = await q.get()
    q.add(K1)
    q.add(K1)
    assert q.depth == 0  # never handed to a second worker while in flight
    q.done(key)
    assert q.depth == 1
    assert await q.get() == K1
    q.done(K1)
    assert q.depth == 0


async def test_add_after_fires_later_and_the_earliest_request_wins() -> None:
    q = WorkQueue()
    q.add_after(K1, 0.2)
    q.add_after(K1, 0.05)
    q.add_after(K1, 5.0)
    assert q.delayed == 1
    assert await asyncio.wait_for(q.get(), 1.0) == K1
    assert q.delayed == 0
    q.close()


async def test_backoff_doubles_up_to_the_cap_and_forget_resets() -> None:
    q = WorkQueue()
    delays = [q.backoff(K1, 0.5, 3.0) for _ in range(5)]
    assert delays == [0.5, 1.0, 2.0, 3.0, 3.0]
    q.forget(K1)
    assert q.backoff(K1, 0.5, 3.0) == 0.5


def _meta(name: str, ns: str = "n", rv: str = "1", **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": ns, "resourceVersion": rv, **extra}


def test_store_keeps_a_newer_copy_over_an_older_event() -> None:
    s = Store()
    s.put("ARecord", {"metadata": _meta("a", rv="10"), "status": {"x": 2}})
    s.put("ARecord", {"metadata": _meta("a", rv="9"), "status": {"x": 1}})
    got = s.get(("ARecord", "n", "a"))
    assert got is not None
    assert got["status"] == {"x": 2}


def _zone(name: str, labels: dict[str, str], zone_name: str = "z.example") -> dict[str, Any]:
    return {
        "metadata": _meta(name, generation=1),
        "spec": {"zoneName": zone_name, "recordsFrom": [{"selector": {"matchLabels": labels}}]},
    }


def _rec(name: str, labels: dict[str, str], **status: Any) -> dict[str, Any]:
    return {"metadata": _meta(name, generation=1, labels=labels), "status": status}


def test_our_own_status_write_does_not_retrigger_the_record() -> None:
    old = _rec("a", {"z": "1"})
    new = _rec("a", {"z": "1"}, conditions=[{"type": "Ready", "status": "True"}])
    assert fingerprint("ARecord", old) == fingerprint("ARecord", new)
    assert keys_for_event(Store(), "ARecord", "MODIFIED", old, new) == []


def test_a_new_record_triggers_itself_and_the_zones_selecting_it() -> None:
    s = Store()
    s.put("DNSZone", _zone("z1", {"z": "1"}))
    s.put("DNSZone", _zone("z2", {"z": "2"}, "y.example"))
    rec = _rec("a", {"z": "1"})
    keys = keys_for_event(s, "ARecord", "ADDED", None, rec)
    assert keys == [("ARecord", "n", "a"), ("DNSZone", "n", "z1")]


def test_a_label_change_triggers_the_old_and_the_new_zone() -> None:
    s = Store()
    s.put("DNSZone", _zone("z1", {"z": "1"}))
    s.put("DNSZone", _zone("z2", {"z": "2"}, "y.example"))
    ref = {"namespace": "n", "name": "z1", "zoneName": "z.example"}
    old = _rec("a", {"z": "1"}, zoneRef=ref)
    new = _rec("a", {"z": "2"}, zoneRef=ref)
    keys = keys_for_event(s, "ARecord", "MODIFIED", old, new)
    assert set(keys) == {("ARecord", "n", "a"), ("DNSZone", "n", "z1"), ("DNSZone", "n", "z2")}


def test_echoes_of_the_operators_own_writes_trigger_nothing() -> None:
    """Tagging (zoneRef) and the operator's finalizer are our own writes: the zone reconcile
    queues the records it tags itself, so the watch echo must not queue them again."""
    s = Store()
    s.put("DNSZone", _zone("z1", {"z": "1"}))
    old = _rec("a", {"z": "1"})
    new = _rec("a", {"z": "1"}, zoneRef={"namespace": "n", "name": "z1", "zoneName": "z.example"})
    new["metadata"]["finalizers"] = ["bindy.firestoned.io/arecord-finalizer"]
    assert keys_for_event(s, "ARecord", "MODIFIED", old, new) == []


def test_a_deleted_zone_triggers_its_records_and_same_named_zones() -> None:
    s = Store()
    twin = _zone("z9", {"z": "9"})
    s.put("DNSZone", twin)
    ref = {"namespace": "n", "name": "z1", "zoneName": "z.example"}
    s.put("ARecord", _rec("a", {"z": "1"}, zoneRef=ref))
    s.put("ARecord", _rec("b", {"z": "1"}))
    keys = keys_for_event(s, "DNSZone", "DELETED", _zone("z1", {"z": "1"}), None)
    assert set(keys) == {("DNSZone", "n", "z9"), ("ARecord", "n", "a")}


def test_an_instance_change_triggers_every_zone() -> None:
    s = Store()
    s.put("DNSZone", _zone("z1", {"z": "1"}))
    s.put("DNSZone", _zone("z2", {"z": "2"}, "y.example"))
    inst = {"metadata": _meta("i", labels={"c": "x"}), "spec": {"role": "primary"}}
    keys = keys_for_event(s, "Bind9Instance", "ADDED", None, inst)
    assert set(keys) == {("DNSZone", "n", "z1"), ("DNSZone", "n", "z2")}


@pytest.mark.parametrize("field", ["generation", "deletionTimestamp", "finalizers"])
def test_spec_deletion_and_finalizer_changes_retrigger_a_zone(field: str) -> None:
    old = _zone("z1", {"z": "1"})
    new = _zone("z1", {"z": "1"})
    new["metadata"][field] = {"generation": 2, "deletionTimestamp": "t", "finalizers": ["f"]}[field]
    assert keys_for_event(Store(), "DNSZone", "MODIFIED", old, new) == [("DNSZone", "n", "z1")]


class _ScriptedClient:
    """Stands in for the API server's list and watch endpoints with a fixed script."""

    def __init__(self, lists: list[tuple[list[dict[str, Any]], str]], watches: list[Any]) -> None:
        self.lists = lists
        self.watches = watches
        self.watch_from: list[str] = []

    async def list(self, kind: str) -> tuple[list[dict[str, Any]], str]:
        return self.lists.pop(0)

    async def watch(self, kind: str, rv: str) -> Any:
        self.watch_from.append(rv)
        step = self.watches.pop(0) if self.watches else None
        if step is None:
            await asyncio.sleep(3600)
            return
        if isinstance(step, Exception):
            raise step
        for ev in step:
            yield ev


def _a(name: str, rv: str) -> dict[str, Any]:
    return {"metadata": _meta(name, rv=rv)}


async def test_informer_resumes_from_the_last_version_and_relists_after_410() -> None:
    from pytest_bindy_load.localstack.operator.kube import GoneError
    from pytest_bindy_load.localstack.operator.watch import Informer

    client = _ScriptedClient(
        lists=[([_a("x", "5"), _a("y", "6")], "10"), ([_a("x", "30"), _a("z", "31")], "40")],
        watches=[
            [
                {"type": "MODIFIED", "object": _a("x", "11")},
                {"type": "BOOKMARK", "object": _a("", "15")},
            ],
            GoneError("gone", status=410),
        ],
    )
    seen: list[tuple[str, str]] = []
    store = Store()
    inf = Informer(
        client,  # type: ignore[arg-type]
        "ARecord",
        store,
        lambda k, t, o, n: seen.append((t, (n or o or {})["metadata"]["name"])),
    )
    task = asyncio.create_task(inf.run())
    for _ in range(100):
        if inf.relists == 2 and len(client.watch_from) >= 3:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert client.watch_from[:3] == ["10", "15", "40"]  # resumed after the bookmark, relisted at 40
    assert seen == [
        ("ADDED", "x"),
        ("ADDED", "y"),
        ("MODIFIED", "x"),
        ("MODIFIED", "x"),
        ("ADDED", "z"),
        ("DELETED", "y"),
    ]
    assert sorted(n for (_, n) in store.kind("ARecord")) == ["x", "z"]
