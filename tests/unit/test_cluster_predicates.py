"""Ready predicates, the kind table and namespace naming: pure functions over plain dicts."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_bindy_load.cluster import (
    API_VERSION,
    BINDY_KINDS,
    MANAGED_BY_LABEL,
    RUN_ID_LABEL,
    ReadyState,
    classify,
    is_owned,
    kind_class,
    kind_spec,
    namespace_name,
    run_labels,
)
from pytest_bindy_load.errors import BindyLoadError
from pytest_bindy_load.results import DNS_KINDS, RECORD_KINDS


def obj(
    *,
    generation: int = 1,
    observed: int | None = 1,
    status: str | None = "True",
    reason: str = "ReconcileSucceeded",
    zone: str | None = "z.example",
    kind: str = "ARecord",
) -> dict[str, Any]:
    st: dict[str, Any] = {}
    if observed is not None:
        st["observedGeneration"] = observed
    if status is not None:
        st["conditions"] = [{"type": "Ready", "status": status, "reason": reason, "message": "m"}]
    if zone is not None:
        st["zoneRef"] = {"zoneName": zone}
    return {"kind": kind, "metadata": {"name": "x", "generation": generation}, "status": st}


def test_every_dns_kind_and_infrastructure_kind_is_declared_once_with_its_plural() -> None:
    assert set(DNS_KINDS) <= set(BINDY_KINDS)
    assert {"Bind9Instance", "Bind9Cluster", "ClusterBind9Provider"} <= set(BINDY_KINDS)
    plurals = [s.plural for s in BINDY_KINDS.values()]
    assert len(plurals) == len(set(plurals)) == 12
    assert kind_spec("NSRecord").plural == "nsrecords"
    assert kind_spec("ClusterBind9Provider").namespaced is False
    assert kind_spec("DNSZone").crd_name == "dnszones.bindy.firestoned.io"


def test_kind_class_is_a_cached_async_kr8s_class_for_the_bindy_group() -> None:
    cls = kind_class("CAARecord")
    assert cls is kind_class("CAARecord")
    assert cls.version == API_VERSION == "bindy.firestoned.io/v1beta1"
    assert cls.endpoint == "caarecords"
    assert cls.namespaced is True
    assert cls._asyncio is True


def test_an_unknown_kind_is_rejected_with_the_known_ones_listed() -> None:
    with pytest.raises(BindyLoadError, match="ARecord"):
        kind_spec("Pod")


@pytest.mark.parametrize("kind", [*RECORD_KINDS, "DNSZone"])
def test_ready_true_with_succeeded_reason_and_current_generation_is_ready(kind: str) -> None:
    assert classify(kind, obj(kind=kind)).state is ReadyState.READY


def test_ready_from_an_older_generation_is_still_pending() -> None:
    assert classify("ARecord", obj(generation=2, observed=1)).state is ReadyState.PENDING


def test_ready_below_the_generation_we_wrote_is_pending_even_if_current() -> None:
    stale = obj(generation=2, observed=2)
    assert classify("ARecord", stale, min_generation=3).state is ReadyState.PENDING
    assert classify("ARecord", stale, min_generation=2).state is ReadyState.READY


def test_ready_true_with_another_reason_is_not_done_for_dns_kinds() -> None:
    r = classify("DNSZone", obj(kind="DNSZone", reason="Something"))
    assert r.state is ReadyState.PENDING
    assert r.reason == "Something"


def test_missing_observed_generation_or_conditions_is_pending() -> None:
    assert classify("ARecord", obj(observed=None)).state is ReadyState.PENDING
    no_conditions = classify("DNSZone", obj(kind="DNSZone", status=None))
    assert (no_conditions.state, no_conditions.reason) == (ReadyState.PENDING, "NoConditions")
    assert classify("ARecord", {"metadata": {"generation": 1}}).state is ReadyState.PENDING


def test_a_record_in_another_zone_than_expected_is_pending() -> None:
    o = obj(zone="other.example")
    assert classify("ARecord", o, expected_zone="z.example").state is ReadyState.PENDING
    assert classify("ARecord", o, expected_zone="other.example").state is ReadyState.READY


@pytest.mark.parametrize("reason", ["ZoneNotFound", "ZoneNotConfigured", "NoPrimaryInstances"])
def test_record_permanent_failure_reasons_are_failed(reason: str) -> None:
    r = classify("MXRecord", obj(kind="MXRecord", status="False", reason=reason))
    assert (r.state, r.reason, r.message) == (ReadyState.FAILED, reason, "m")


@pytest.mark.parametrize("reason", ["NotSelected", "ReconcileFailed", "InstanceFilterError"])
def test_record_transient_reasons_are_pending(reason: str) -> None:
    r = classify("ARecord", obj(status="False", reason=reason))
    assert r.state is ReadyState.PENDING


def test_a_record_failure_from_an_older_generation_than_ours_is_pending() -> None:
    old = obj(generation=3, observed=2, status="False", reason="ZoneNotFound")
    assert classify("ARecord", old, min_generation=3).state is ReadyState.PENDING


def test_duplicate_zone_is_failed_even_without_a_current_observed_generation() -> None:
    dup = obj(kind="DNSZone", generation=2, observed=None, status="False", reason="DuplicateZone")
    assert classify("DNSZone", dup, min_generation=2).state is ReadyState.FAILED


@pytest.mark.parametrize("reason", ["PrimaryFailed", "PartialReconciliation", "ReconcileDegraded"])
def test_zone_transient_reasons_are_pending(reason: str) -> None:
    assert classify("DNSZone", obj(kind="DNSZone", status="False", reason=reason)).state is (
        ReadyState.PENDING
    )


def test_zone_reasons_do_not_count_as_record_failures_and_vice_versa() -> None:
    assert classify("ARecord", obj(status="False", reason="DuplicateZone")).state is (
        ReadyState.PENDING
    )
    zone = obj(kind="DNSZone", status="False", reason="ZoneNotFound")
    assert classify("DNSZone", zone).state is ReadyState.PENDING


def test_an_instance_is_ready_on_any_true_ready_reason() -> None:
    inst = obj(kind="Bind9Instance", reason="AllReady", zone=None)
    assert classify("Bind9Instance", inst).state is ReadyState.READY
    assert classify("Bind9Instance", obj(kind="Bind9Instance", observed=None)).state is (
        ReadyState.READY
    )


def test_namespace_names_are_prefix_run8_rand4_dns_labels() -> None:
    name = namespace_name("bindy-load", "0F3A9C12-77aa-4bbb-8ccc-123456789abc", "beef")
    assert name == "bindy-load-0f3a9c12-beef"
    random_name = namespace_name("bindy-load", "0f3a9c1277aa")
    assert random_name.startswith("bindy-load-0f3a9c12-")
    assert len(random_name.rsplit("-", 1)[1]) == 4


def test_a_prefix_that_makes_an_invalid_label_is_refused() -> None:
    with pytest.raises(BindyLoadError, match="DNS-1123"):
        namespace_name("Bad_Prefix", "abc")
    with pytest.raises(BindyLoadError, match="DNS-1123"):
        namespace_name("x" * 60, "abcdef12")


def test_ownership_needs_both_labels_and_the_right_run_id() -> None:
    labels = run_labels("run-1")
    assert labels == {MANAGED_BY_LABEL: "pytest-bindy-load", RUN_ID_LABEL: "run-1"}
    assert is_owned(labels)
    assert is_owned(labels, "run-1")
    assert not is_owned(labels, "run-2")
    assert not is_owned({MANAGED_BY_LABEL: "pytest-bindy-load"})
    assert not is_owned({RUN_ID_LABEL: "run-1"})
    assert not is_owned({MANAGED_BY_LABEL: "helm", RUN_ID_LABEL: "run-1"})
    assert not is_owned(None)
