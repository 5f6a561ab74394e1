"""The reference operator's pure bindy semantics: selectors, binding, duplicates, rdata, status."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_bindy_load.localstack.operator import model
from pytest_bindy_load.localstack.operator.model import Reason


def _obj(
    name: str, ns: str = "n1", labels: dict[str, str] | None = None, **extra: Any
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns, "labels": labels or {}}
    meta.update(extra.pop("meta", {}))
    return {"metadata": meta, **extra}


# --- selectors -----------------------------------------------------------------------------


def test_empty_selector_matches_every_label_set() -> None:
    assert model.selector_matches({}, {})
    assert model.selector_matches({}, {"a": "b"})


def test_missing_or_malformed_selector_matches_nothing() -> None:
    assert not model.selector_matches(None, {"a": "b"})
    assert not model.selector_matches("a=b", {"a": "b"})
    assert not model.selector_matches({"matchLabels": ["a"]}, {"a": "b"})


def test_match_labels_needs_every_pair() -> None:
    sel = {"matchLabels": {"zone": "z1", "tier": "web"}}
    assert model.selector_matches(sel, {"zone": "z1", "tier": "web", "x": "y"})
    assert not model.selector_matches(sel, {"zone": "z1"})
    assert not model.selector_matches(sel, {"zone": "z1", "tier": "db"})


@pytest.mark.parametrize(
    ("operator", "values", "labels", "expected"),
    [
        ("In", ["a", "b"], {"k": "a"}, True),
        ("In", ["a", "b"], {"k": "c"}, False),
        ("In", ["a"], {}, False),
        ("NotIn", ["a"], {"k": "b"}, True),
        ("NotIn", ["a"], {"k": "a"}, False),
        ("NotIn", ["a"], {}, True),  # passes when the key is absent
        ("Exists", None, {"k": ""}, True),
        ("Exists", None, {}, False),
        ("DoesNotExist", None, {}, True),
        ("DoesNotExist", None, {"k": "x"}, False),
        ("Gt", ["1"], {"k": "2"}, False),  # unknown operators match nothing
    ],
)
def test_match_expressions_follow_bindys_matcher(
    operator: str, values: list[str] | None, labels: dict[str, str], expected: bool
) -> None:
    expr: dict[str, Any] = {"key": "k", "operator": operator}
    if values is not None:
        expr["values"] = values
    assert model.selector_matches({"matchExpressions": [expr]}, labels) is expected


def test_labels_and_expressions_must_both_hold() -> None:
    sel = {
        "matchLabels": {"zone": "z1"},
        "matchExpressions": [{"key": "skip", "operator": "DoesNotExist"}],
    }
    assert model.selector_matches(sel, {"zone": "z1"})
    assert not model.selector_matches(sel, {"zone": "z1", "skip": "yes"})


def test_selects_is_true_when_any_item_matches() -> None:
    items = [{"selector": {"matchLabels": {"a": "1"}}}, {"selector": {"matchLabels": {"b": "2"}}}]
    assert model.selects(items, {"b": "2"})
    assert not model.selects(items, {"c": "3"})
    assert not model.selects(None, {"a": "1"})
    assert not model.selects([{"no-selector": {}}], {"a": "1"})


# --- zone -> instances ---------------------------------------------------------------------


def _instance(
    name: str, ns: str, role: str = "primary", allow: str | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if allow is not None:
        meta["annotations"] = {model.ALLOW_ZONE_NAMESPACES: allow}
    return _obj(name, ns, {"cluster": "c"}, spec={"role": role}, meta=meta)


def _zone(
    name: str, ns: str = "n1", zone_name: str = "z.example", created: str = "t1"
) -> dict[str, Any]:
    return _obj(
        name,
        ns,
        meta={"creationTimestamp": created},
        spec={
            "zoneName": zone_name,
            "bind9InstancesFrom": [{"selector": {"matchLabels": {"cluster": "c"}}}],
        },
    )


def test_instances_in_the_zone_namespace_are_always_eligible() -> None:
    got = model.zone_instances(_zone("z"), [_instance("i", "n1")])
    assert [i["metadata"]["name"] for i in got] == ["i"]


def test_other_namespace_instances_need_the_allow_annotation() -> None:
    plain = _instance("plain", "other")
    star = _instance("star", "other", allow="*")
    listed = _instance("listed", "other", allow="x, n1")
    unlisted = _instance("unlisted", "other", allow="x,y")
    got = model.zone_instances(_zone("z"), [plain, star, listed, unlisted])
    assert sorted(i["metadata"]["name"] for i in got) == ["listed", "star"]


def test_zone_without_bind9_instances_from_binds_to_nothing() -> None:
    zone = _zone("z")
    del zone["spec"]["bind9InstancesFrom"]
    assert model.zone_instances(zone, [_instance("i", "n1")]) == []


def test_primaries_keeps_only_primary_role() -> None:
    insts = [_instance("p", "n1"), _instance("s", "n1", role="secondary")]
    assert [i["metadata"]["name"] for i in model.primaries(insts)] == ["p"]


def test_the_younger_of_two_same_named_zones_is_the_duplicate() -> None:
    old = _zone("a", created="2026-01-01T00:00:00Z")
    young = _zone("b", ns="n2", created="2026-01-02T00:00:00Z")
    other = _zone("c", zone_name="other.example", created="2025-01-01T00:00:00Z")
    zones = [old, young, other]
    assert model.older_duplicate(young, zones) is old
    assert model.older_duplicate(old, zones) is None
    assert model.older_duplicate(other, zones) is None


def test_duplicate_tie_on_creation_time_goes_by_namespace_then_name() -> None:
    a = _zone("a", ns="n1", created="t")
    b = _zone("b", ns="n1", created="t")
    assert model.older_duplicate(b, [a, b]) is a
    assert model.older_duplicate(a, [a, b]) is None


# --- record data ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "owner"),
    [("www", "www.z.example."), ("@", "z.example."), ("", "z.example."), (None, "z.example.")],
)
def test_owner_name_is_name_dot_zone_and_at_is_the_apex(name: str | None, owner: str) -> None:
    assert model.owner_name(name, "z.example") == owner


def test_a_name_that_already_holds_the_zone_is_not_shortened() -> None:
    assert model.owner_name("www.z.example", "z.example") == "www.z.example.z.example."


@pytest.mark.parametrize(
    ("kind", "spec", "rdatas"),
    [
        ("ARecord", {"ipv4Addresses": ["192.0.2.1", "192.0.2.2"]}, ("192.0.2.1", "192.0.2.2")),
        ("AAAARecord", {"ipv6Addresses": ["2001:DB8:0::10"]}, ("2001:db8::10",)),
        ("CNAMERecord", {"target": "www.z.example."}, ("www.z.example.",)),
        ("CNAMERecord", {"target": "www.z.example"}, ("www.z.example.",)),
        ("TXTRecord", {"text": ["v=spf1 -all", 'say "hi"']}, ('"v=spf1 -all" "say \\"hi\\""',)),
        ("MXRecord", {"priority": 10, "mailServer": "mail.z.example."}, ("10 mail.z.example.",)),
        (
            "SRVRecord",
            {"priority": 1, "weight": 2, "port": 5060, "target": "sip.z.example."},
            ("1 2 5060 sip.z.example.",),
        ),
        (
            "CAARecord",
            {"flags": 0, "tag": "issue", "value": "ca.example"},
            ('0 issue "ca.example"',),
        ),
        ("CAARecord", {"flags": 5, "tag": "iodef", "value": "x"}, ('128 iodef "x"',)),
        ("NSRecord", {"nameserver": "ns1.elsewhere.example."}, ("ns1.elsewhere.example.",)),
    ],
)
def test_record_rdatas_per_kind(kind: str, spec: dict[str, Any], rdatas: tuple[str, ...]) -> None:
    assert model.record_rdatas(kind, spec) == rdatas


@pytest.mark.parametrize(
    ("kind", "spec"),
    [
        ("ARecord", {"ipv4Addresses": ["300.1.1.1"]}),
        ("ARecord", {"ipv4Addresses": []}),
        ("AAAARecord", {"ipv6Addresses": ["192.0.2.1"]}),
        ("CAARecord", {"flags": 0, "tag": "contactemail", "value": "x"}),
        ("MXRecord", {"priority": "10", "mailServer": "m."}),
        ("CNAMERecord", {"target": ""}),
    ],
)
def test_bad_record_data_is_a_record_data_error(kind: str, spec: dict[str, Any]) -> None:
    with pytest.raises(model.RecordDataError):
        model.record_rdatas(kind, spec)


def test_desired_rrset_defaults_ttl_to_300_and_keeps_an_explicit_ttl() -> None:
    base = {"name": "www", "ipv4Addresses": ["192.0.2.1"]}
    assert model.desired_rrset("ARecord", base, "z.example").ttl == 300
    rr = model.desired_rrset("ARecord", {**base, "ttl": 0}, "z.example")
    assert (rr.owner, rr.rdtype, rr.ttl) == ("www.z.example.", "A", 0)


def test_record_hash_is_stable_under_key_order_and_changes_with_data() -> None:
    a = model.record_hash({"name": "x", "ttl": 5})
    assert a == model.record_hash({"ttl": 5, "name": "x"})
    assert a != model.record_hash({"name": "x", "ttl": 6})
    assert len(a) == 64


# --- status bodies -------------------------------------------------------------------------


def test_last_transition_time_moves_only_when_status_flips() -> None:
    first = model.record_ready_condition(False, Reason.NOT_SELECTED, "m", None, "T1")
    same = model.record_ready_condition(False, Reason.RECONCILE_FAILED, "x", first, "T2")
    flipped = model.record_ready_condition(True, Reason.RECONCILE_SUCCEEDED, "ok", same, "T3")
    assert first[0]["lastTransitionTime"] == "T1"
    assert same[0]["lastTransitionTime"] == "T1"
    assert flipped[0] == {
        "type": "Ready",
        "status": "True",
        "reason": "ReconcileSucceeded",
        "message": "ok",
        "lastTransitionTime": "T3",
    }


def test_ready_zone_has_ready_progressing_and_degraded() -> None:
    conds = model.zone_conditions(True, Reason.RECONCILE_SUCCEEDED, "m", None, "T")
    by_type = {c["type"]: (c["status"], c["reason"]) for c in conds}
    assert by_type == {
        "Ready": ("True", "ReconcileSucceeded"),
        "Progressing": ("False", "ReconcileComplete"),
        "Degraded": ("False", "ReconcileSucceeded"),
    }


def test_failed_zone_is_degraded_with_the_same_reason() -> None:
    conds = model.zone_conditions(False, Reason.PRIMARY_FAILED, "m", None, "T")
    by_type = {c["type"]: (c["status"], c["reason"]) for c in conds}
    assert by_type["Ready"] == ("False", "PrimaryFailed")
    assert by_type["Degraded"] == ("True", "PrimaryFailed")
    assert by_type["Progressing"] == ("False", "PrimaryFailed")


def test_duplicate_zone_gets_only_a_ready_condition() -> None:
    conds = model.zone_conditions(False, Reason.DUPLICATE_ZONE, "m", None, "T")
    assert [(c["type"], c["status"], c["reason"]) for c in conds] == [
        ("Ready", "False", "DuplicateZone")
    ]


def test_conditions_equal_ignores_timestamps_and_order() -> None:
    a = model.zone_conditions(True, Reason.RECONCILE_SUCCEEDED, "m", None, "T1")
    b = list(reversed(model.zone_conditions(True, Reason.RECONCILE_SUCCEEDED, "m", None, "T2")))
    c = model.zone_conditions(True, Reason.RECONCILE_SUCCEEDED, "other", None, "T1")
    assert model.conditions_equal(a, b)
    assert not model.conditions_equal(a, c)
    assert not model.conditions_equal(a, None)


def test_zone_ref_match_needs_name_namespace_zone_name_and_deprecated_zone() -> None:
    zone = _zone("z")
    ref = model.zone_ref(zone)
    assert ref == {
        "apiVersion": "bindy.firestoned.io/v1beta1",
        "kind": "DNSZone",
        "name": "z",
        "namespace": "n1",
        "zoneName": "z.example",
    }
    rec = _obj("r", status={"zoneRef": ref, "zone": "z.example"})
    assert model.zone_ref_matches(rec, zone)
    assert model.points_at(rec, "n1", "z")
    rec_old = _obj("r", status={"zoneRef": ref})
    assert not model.zone_ref_matches(rec_old, zone)
    assert not model.zone_ref_matches(_obj("r"), zone)


def test_finalizer_names_follow_the_kind() -> None:
    assert model.finalizer_for("ARecord") == "bindy.firestoned.io/arecord-finalizer"
    assert model.finalizer_for("DNSZone") == "bindy.firestoned.io/dnszone-finalizer"


def test_zone_create_args_autogenerate_ns1_glue_like_bindy() -> None:
    zone = _zone("z")
    zone["spec"]["soaRecord"] = {
        "primaryNs": "ns1.z.example.",
        "adminEmail": "admin.z.example.",
        "serial": 7,
        "refresh": 3600,
        "retry": 600,
        "expire": 604800,
        "negativeTtl": 300,
    }
    args = model.zone_create_args(zone, "127.0.0.1")
    assert args.zone_name == "z.example"
    assert args.name_servers == ("ns1.z.example.",)
    assert args.name_server_ips == {"ns1.z.example.": "127.0.0.1"}
    assert args.soa["serial"] == 7


def test_zone_create_args_use_spec_name_servers_and_glue_an_in_zone_primary_ns() -> None:
    zone = _zone("z")
    zone["spec"]["soaRecord"] = {"primaryNs": "dns.z.example.", "adminEmail": "a.z.example."}
    zone["spec"]["nameServers"] = [
        {"hostname": "ns2.z.example.", "ipv4Address": "127.0.0.2"},
        {"hostname": "ns.elsewhere.example."},
    ]
    args = model.zone_create_args(zone, "127.0.0.1")
    assert args.name_servers == ("dns.z.example.", "ns2.z.example.", "ns.elsewhere.example.")
    assert args.name_server_ips == {"ns2.z.example.": "127.0.0.2", "dns.z.example.": "127.0.0.1"}
