"""CROperations and namespace ownership against a real kube-apiserver: ordered timestamps, one
result per operation, retries on a real 409, failures recorded instead of raised, and cleanup
that only ever deletes what this framework labelled."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pytest_bindy_load.cluster import (
    API_VERSION,
    ReadyState,
    TestCluster,
    WatchHub,
    classify,
    run_labels,
)
from pytest_bindy_load.errors import TargetError
from pytest_bindy_load.localstack.stack import LocalStack
from pytest_bindy_load.operations import CROperations, RetryPolicy
from pytest_bindy_load.results import ErrorKind, Operation, OperationResult


@pytest.fixture(scope="module")
async def cluster(stack: LocalStack) -> TestCluster:
    return await TestCluster.connect(stack.target)


@pytest.fixture
async def ops(cluster: TestCluster, ns: str) -> AsyncIterator[CROperations]:
    async with WatchHub(cluster.api) as hub:
        policy = RetryPolicy(max_attempts=4, base_delay_s=0.01, max_delay_s=0.1)
        yield CROperations(cluster.api, hub, ns, retry=policy, ready_timeout_s=60)


ZONE_LABEL = "bindy.firestoned.io/zone"


def a_record(
    name: str, namespace: str, ip: str = "192.0.2.1", zone: str = "unselected.example"
) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "ARecord",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {**run_labels("ops-test"), ZONE_LABEL: zone},
        },
        "spec": {"name": name, "ipv4Addresses": [ip]},
    }


def dns_zone(
    name: str, namespace: str, zone_name: str, instances: dict[str, str]
) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "DNSZone",
        "metadata": {"name": name, "namespace": namespace, "labels": run_labels("ops-test")},
        "spec": {
            "zoneName": zone_name,
            "soaRecord": {
                "primaryNs": f"ns1.{zone_name}.",
                "adminEmail": f"admin.{zone_name}.",
                "serial": 2026010101,
                "refresh": 3600,
                "retry": 600,
                "expire": 604800,
                "negativeTtl": 300,
            },
            "bind9InstancesFrom": [{"selector": {"matchLabels": instances}}],
            "recordsFrom": [{"selector": {"matchLabels": {ZONE_LABEL: zone_name}}}],
        },
    }


@pytest.fixture
async def zone(ops: CROperations, stack: LocalStack) -> str:
    """A DNSZone made Ready by the running operator; returns its zoneName."""
    zone_name = f"z{uuid.uuid4().hex[:10]}.loadtest.example"
    manifest = dns_zone("zone", ops.namespace, zone_name, stack.target.instance_selector)
    result = await ops.create(manifest, intended_ns=time.monotonic_ns())
    assert result.success, result.error_message
    return zone_name


def assert_ordered(r: OperationResult) -> None:
    assert r.sent_ns is not None
    assert r.acknowledged_ns is not None
    assert r.ready_ns is not None
    assert r.intended_ns <= r.sent_ns <= r.acknowledged_ns <= r.ready_ns


async def test_create_update_delete_each_yield_one_successful_result_with_ordered_times(
    ops: CROperations, zone: str
) -> None:
    ns = ops.namespace
    created = await ops.create(
        a_record("www", ns, zone=zone), intended_ns=time.monotonic_ns(), expected_zone=zone
    )
    assert (created.success, created.error_kind, created.attempts) == (True, ErrorKind.NONE, 1)
    assert (created.operation, created.kind, created.name, created.namespace) == (
        Operation.CREATE,
        "ARecord",
        "www",
        ns,
    )
    assert_ordered(created)

    updated = await ops.update(
        "ARecord",
        "www",
        patch={"spec": {"ipv4Addresses": ["192.0.2.2"]}},
        intended_ns=time.monotonic_ns(),
        expected_zone=zone,
    )
    assert (updated.success, updated.operation, updated.attempts) == (True, Operation.UPDATE, 1)
    assert_ordered(updated)
    latest = ops.hub.latest("ARecord", ns, "www")
    assert latest is not None
    assert latest["spec"]["ipv4Addresses"] == ["192.0.2.2"]
    assert latest["metadata"]["generation"] == 2
    assert classify("ARecord", latest, min_generation=2).state is ReadyState.READY

    deleted = await ops.delete("ARecord", "www", intended_ns=time.monotonic_ns())
    assert (deleted.success, deleted.operation, deleted.attempts) == (True, Operation.DELETE, 1)
    assert_ordered(deleted)
    assert ops.hub.latest("ARecord", ns, "www") is None


async def test_a_duplicate_zone_name_is_a_permanent_reconcile_failure(
    ops: CROperations, zone: str, stack: LocalStack
) -> None:
    # Same creation second as the original is likely; ties go by namespace/name, so sort last.
    manifest = dns_zone("zz-copy", ops.namespace, zone, stack.target.instance_selector)
    result = await ops.create(manifest, intended_ns=time.monotonic_ns(), timeout_s=60)
    assert (result.success, result.error_kind) == (False, ErrorKind.RECONCILE_FAILED)
    assert result.error_message.startswith("DuplicateZone")
    assert result.acknowledged_ns is not None
    assert result.ready_ns is None


async def test_an_update_with_a_stale_resource_version_is_retried_after_a_real_409(
    ops: CROperations,
) -> None:
    ns = ops.namespace
    created = await ops.create(
        a_record("stale", ns), intended_ns=time.monotonic_ns(), wait_ready=False
    )
    assert created.success
    obj, _ts = await ops.hub.wait_for("ARecord", ns, "stale", lambda o: True, 30)
    stale_rv = obj["metadata"]["resourceVersion"]
    bumped = await ops.update(
        "ARecord",
        "stale",
        patch={"metadata": {"annotations": {"bump": "1"}}},
        intended_ns=time.monotonic_ns(),
        wait_ready=False,
    )
    assert (bumped.success, bumped.attempts) == (True, 1)

    result = await ops.update(
        "ARecord",
        "stale",
        spec={"name": "stale", "ipv4Addresses": ["192.0.2.9"]},
        resource_version=stale_rv,
        intended_ns=time.monotonic_ns(),
        wait_ready=False,
    )
    assert (result.success, result.error_kind) == (True, ErrorKind.NONE)
    # The first PUT hit 409 Conflict; the retry re-read the object (the operator may also write
    # in between, which costs one more attempt).
    assert result.attempts >= 2
    assert result.acknowledged_ns is not None
    assert result.sent_ns is not None
    assert result.sent_ns <= result.acknowledged_ns
    assert result.ready_ns is None  # not asked to wait


async def test_a_stale_merge_patch_conflicts_and_without_retries_is_recorded_not_raised(
    cluster: TestCluster, ops: CROperations
) -> None:
    ns = ops.namespace
    await ops.create(a_record("norety", ns), intended_ns=time.monotonic_ns(), wait_ready=False)
    obj, _ts = await ops.hub.wait_for("ARecord", ns, "norety", lambda o: True, 30)
    await ops.update(
        "ARecord",
        "norety",
        patch={"metadata": {"annotations": {"x": "1"}}},
        intended_ns=time.monotonic_ns(),
        wait_ready=False,
    )
    once = CROperations(cluster.api, ops.hub, ns, retry=RetryPolicy(max_attempts=1))
    result = await once.update(
        "ARecord",
        "norety",
        patch={"metadata": {"annotations": {"x": "2"}}},
        resource_version=obj["metadata"]["resourceVersion"],
        intended_ns=time.monotonic_ns(),
        wait_ready=False,
    )
    assert (result.success, result.error_kind, result.attempts) == (False, ErrorKind.CONFLICT, 1)
    assert "409" in result.error_message
    assert result.acknowledged_ns is None


async def test_invalid_and_duplicate_creates_are_recorded_as_client_errors(
    ops: CROperations,
) -> None:
    ns = ops.namespace
    bad = a_record("bad", ns)
    del bad["spec"]["ipv4Addresses"]  # required by the schema
    invalid = await ops.create(bad, intended_ns=time.monotonic_ns())
    assert (invalid.success, invalid.error_kind, invalid.attempts) == (False, ErrorKind.API_4XX, 1)
    assert "422" in invalid.error_message
    assert invalid.sent_ns is not None
    assert invalid.acknowledged_ns is None

    first = await ops.create(a_record("dup", ns), intended_ns=time.monotonic_ns(), wait_ready=False)
    again = await ops.create(a_record("dup", ns), intended_ns=time.monotonic_ns(), wait_ready=False)
    assert first.success
    assert (again.success, again.error_kind, again.attempts) == (False, ErrorKind.CONFLICT, 1)
    assert "AlreadyExists" in again.error_message


async def test_a_record_that_never_becomes_ready_is_not_ready_after_its_deadline(
    ops: CROperations,
) -> None:
    result = await ops.create(
        a_record("never", ops.namespace), intended_ns=time.monotonic_ns(), timeout_s=1.0
    )
    assert (result.success, result.error_kind) == (False, ErrorKind.NOT_READY)
    assert result.acknowledged_ns is not None
    assert result.ready_ns is None
    assert "not observed within 1.0s" in result.error_message


async def test_deleting_a_missing_object_is_a_recorded_404(ops: CROperations) -> None:
    result = await ops.delete("ARecord", "ghost", intended_ns=time.monotonic_ns())
    assert (result.success, result.error_kind, result.attempts) == (False, ErrorKind.API_4XX, 1)
    assert "404" in result.error_message


async def raw_namespace(cluster: TestCluster, name: str, labels: dict[str, str]) -> None:
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}
    async with cluster.api.call_api(
        "POST", version="v1", url="namespaces", content=json.dumps(body)
    ):
        pass


async def namespace_exists(cluster: TestCluster, name: str) -> bool:
    async with cluster.api.call_api(
        "GET", version="v1", url=f"namespaces/{name}", raise_for_status=False
    ) as resp:
        if resp.status_code == 404:
            return False
        phase = (resp.json().get("status") or {}).get("phase")
        return phase != "Terminating"


async def test_cleanup_deletes_only_the_runs_labelled_namespaces_and_refuses_others(
    cluster: TestCluster,
) -> None:
    run_id, other_run = uuid.uuid4().hex, uuid.uuid4().hex
    mine = [await cluster.create_namespace("bindy-load", run_id) for _ in range(2)]
    theirs = await cluster.create_namespace("bindy-load", other_run)
    unlabelled = f"not-ours-{uuid.uuid4().hex[:6]}"
    half = f"half-ours-{uuid.uuid4().hex[:6]}"
    await raw_namespace(cluster, unlabelled, {})
    await raw_namespace(cluster, half, {"app.kubernetes.io/managed-by": "pytest-bindy-load"})
    try:
        assert await cluster.run_namespaces(run_id) == sorted(mine)
        with pytest.raises(TargetError, match="refusing to delete namespace"):
            await cluster.delete_namespace(unlabelled)
        with pytest.raises(TargetError, match="refusing to delete namespace"):
            await cluster.delete_namespace(half)
        with pytest.raises(TargetError, match="refusing to delete namespace"):
            await cluster.delete_namespace(theirs, run_id=run_id)

        deleted = await cluster.cleanup_run(run_id, timeout_s=120)
        assert deleted == sorted(mine)
        for name in mine:
            assert not await namespace_exists(cluster, name)
        for name in (theirs, unlabelled, half):
            assert await namespace_exists(cluster, name)
        assert await cluster.delete_namespace(mine[0], run_id=run_id) is False  # already gone
    finally:
        await cluster.cleanup_run(other_run, timeout_s=120)
        for name in (unlabelled, half):  # the test made these by hand, so it removes them
            async with cluster.api.call_api(
                "DELETE", version="v1", url=f"namespaces/{name}", raise_for_status=False
            ):
                pass


async def test_the_target_has_every_bindy_crd_and_a_ready_operator(cluster: TestCluster) -> None:
    await cluster.check_crds()
    await cluster.check_operator()
