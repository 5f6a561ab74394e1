from __future__ import annotations

import ipaddress
import re
from collections import Counter
from typing import Any

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import pytest

from pytest_bindy_load.generators import (
    API_VERSION,
    MANAGED_BY_LABEL,
    RUN_ID_LABEL,
    ZONE_LABEL,
    FixtureGenerator,
    RecordDefect,
    ZoneDefect,
    expected_rdata,
    expected_ttl,
    kind_sequence,
)
from pytest_bindy_load.results import RECORD_KINDS

RUN_ID = "3f2a9c1e-7b1d-4c0a-9e55-0123456789ab"
SELECTOR = {"bindy.firestoned.io/cluster": "local"}
NS = "bindy-load-3f2a9c1e-ab12"
DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
HOST_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def _gen(seed: int = 7, run_id: str = RUN_ID) -> FixtureGenerator:
    return FixtureGenerator(seed, run_id)


def _zone(gen: FixtureGenerator, index: int = 1) -> dict[str, Any]:
    return gen.zone(index, instance_selector=SELECTOR, namespace=NS)


def _is_hostname(name: str, *, absolute: bool) -> bool:
    if absolute != name.endswith("."):
        return False
    return all(HOST_LABEL.match(label) for label in name.rstrip(".").split("."))


def test_the_same_seed_gives_the_same_zones_and_records() -> None:
    a, b = _gen(), _gen()
    za, zb = _zone(a), _zone(b)
    assert za == zb
    assert a.records(za, 50, namespace=NS) == b.records(zb, 50, namespace=NS)


def test_a_record_does_not_depend_on_what_was_generated_before_it() -> None:
    gen = _gen()
    zone = _zone(gen)
    late = gen.records(zone, 30, namespace=NS)[-1]
    fresh = _gen().record(late["kind"], _zone(_gen()), 29, namespace=NS)
    assert late == fresh


def test_a_different_seed_gives_different_data() -> None:
    zone_a = _zone(_gen(1))
    zone_b = _zone(_gen(2))
    a = _gen(1).records(zone_a, 16, namespace=NS)
    b = _gen(2).records(zone_b, 16, namespace=NS)
    assert [r["spec"] for r in a] != [r["spec"] for r in b]


def test_the_run_id_changes_names_but_not_the_data() -> None:
    other = "9c0ffee0-0000-4000-8000-000000000000"
    za, zb = _zone(_gen(run_id=RUN_ID)), _zone(_gen(run_id=other))
    assert za["spec"]["zoneName"] != zb["spec"]["zoneName"]
    assert za["spec"]["soaRecord"]["serial"] == zb["spec"]["soaRecord"]["serial"]
    ra = _gen(run_id=RUN_ID).record("MXRecord", za, 3, namespace=NS)
    rb = _gen(run_id=other).record("MXRecord", zb, 3, namespace=NS)
    assert ra["metadata"]["name"] != rb["metadata"]["name"]
    assert ra["spec"]["priority"] == rb["spec"]["priority"]
    assert ra["spec"]["name"] == rb["spec"]["name"]


def test_zone_names_are_plain_dns_labels_unique_per_run_without_trailing_dot() -> None:
    gen = _gen()
    names = [z["spec"]["zoneName"] for z in gen.zones(20, instance_selector=SELECTOR, namespace=NS)]
    assert names[1] == "z0001-3f2a9c1e.loadtest.example"
    assert len(set(names)) == 20
    for name in names:
        assert "_" not in name
        assert not name.endswith(".")
        assert _is_hostname(name, absolute=False)
        assert len(name) <= 63  # also used as a label value


def test_a_zone_has_a_full_soa_and_selectors_for_instances_and_its_own_records() -> None:
    zone = _zone(_gen(), 4)
    spec = zone["spec"]
    zone_name = spec["zoneName"]
    soa = spec["soaRecord"]
    assert zone["apiVersion"] == API_VERSION
    assert zone["kind"] == "DNSZone"
    assert set(soa) == {
        "primaryNs",
        "adminEmail",
        "serial",
        "refresh",
        "retry",
        "expire",
        "negativeTtl",
    }
    assert soa["primaryNs"] == f"ns1.{zone_name}."
    assert _is_hostname(soa["adminEmail"], absolute=True)
    assert 0 <= soa["serial"] <= 2**32 - 1
    assert all(soa[k] >= 1 for k in ("refresh", "retry", "expire"))
    assert spec["bind9InstancesFrom"] == [{"selector": {"matchLabels": SELECTOR}}]
    assert spec["recordsFrom"] == [{"selector": {"matchLabels": {ZONE_LABEL: zone_name}}}]
    assert zone["metadata"]["labels"] == {
        MANAGED_BY_LABEL: "pytest-bindy-load",
        RUN_ID_LABEL: RUN_ID,
    }
    assert zone["metadata"]["namespace"] == NS


def test_records_carry_the_run_labels_and_are_selected_by_their_zone_only() -> None:
    gen = _gen()
    zone1, zone2 = _zone(gen, 1), _zone(gen, 2)
    recs = gen.records(zone1, 16, namespace=NS) + gen.records(zone2, 16, namespace=NS)
    for zone in (zone1, zone2):
        selector = zone["spec"]["recordsFrom"][0]["selector"]["matchLabels"]
        selected = [r for r in recs if selector.items() <= r["metadata"]["labels"].items()]
        assert len(selected) == 16
        assert {r["metadata"]["labels"][ZONE_LABEL] for r in selected} == {zone["spec"]["zoneName"]}
    for r in recs:
        assert r["metadata"]["labels"][MANAGED_BY_LABEL] == "pytest-bindy-load"
        assert r["metadata"]["labels"][RUN_ID_LABEL] == RUN_ID
        assert r["metadata"]["namespace"] == NS


def test_object_names_are_dns_1123_and_unique_in_the_namespace() -> None:
    gen = _gen()
    zones = gen.zones(3, instance_selector=SELECTOR, namespace=NS)
    objs = zones + [r for z in zones for r in gen.records(z, 120, namespace=NS)]
    names = [o["metadata"]["name"] for o in objs]
    assert len(names) == len(set(names))
    assert all(DNS_1123_LABEL.match(n) for n in names), [
        n for n in names if not DNS_1123_LABEL.match(n)
    ]


def test_owner_names_are_unique_per_zone_and_never_shared_between_kinds() -> None:
    gen = _gen()
    zone = _zone(gen)
    recs = gen.records(zone, 400, namespace=NS)
    # Several calls with the same index but different kinds must not collide either.
    recs += [gen.record(kind, zone, 0, namespace=NS) for kind in RECORD_KINDS]
    owners = Counter(r["spec"]["name"] for r in recs)
    duplicated = {n for n, c in owners.items() if c > 1}
    # The only repeats are index 0 of each kind, generated twice identically.
    first = {r["spec"]["name"] for r in recs[:8]}
    assert duplicated <= first
    pairs = {(r["spec"]["name"], r["kind"]) for r in recs}
    assert len({n for n, _ in pairs}) == len(pairs)


def test_round_robin_covers_all_eight_kinds_evenly() -> None:
    recs = _gen().records(_zone(_gen()), 80, namespace=NS)
    assert Counter(r["kind"] for r in recs) == dict.fromkeys(RECORD_KINDS, 10)


def test_weighted_kinds_give_exact_proportions() -> None:
    order = kind_sequence({"ARecord": 3, "TXTRecord": 1, "MXRecord": 0}, 400)
    assert Counter(order) == {"ARecord": 300, "TXTRecord": 100}
    assert order[:4].count("ARecord") == 3


def test_record_data_is_realistic_for_every_kind() -> None:
    gen = _gen(11)
    zone = _zone(gen)
    zone_name = zone["spec"]["zoneName"]
    for rec in gen.records(zone, 800, namespace=NS):
        spec = rec["spec"]
        assert 300 <= spec["ttl"] <= 86400
        kind = rec["kind"]
        if kind == "ARecord":
            assert spec["ipv4Addresses"]
            for a in spec["ipv4Addresses"]:
                addr = ipaddress.IPv4Address(a)
                assert addr in ipaddress.IPv4Network("10.0.0.0/8")
                assert a.split(".")[3] not in ("0", "255")
        elif kind == "AAAARecord":
            assert spec["ipv6Addresses"]
            for a in spec["ipv6Addresses"]:
                assert ipaddress.IPv6Address(a) in ipaddress.IPv6Network("fd00::/8")
        elif kind == "CNAMERecord":
            assert _is_hostname(spec["target"], absolute=True)
            assert spec["target"].endswith(f".{zone_name}.")
        elif kind == "TXTRecord":
            assert spec["text"]
            assert all(0 < len(t) <= 255 and t.isprintable() for t in spec["text"])
        elif kind == "MXRecord":
            assert 0 <= spec["priority"] <= 65535
            assert _is_hostname(spec["mailServer"], absolute=True)
        elif kind == "SRVRecord":
            assert re.match(r"^_[a-z0-9-]+\._(tcp|udp)\.[a-z0-9-]+$", spec["name"])
            assert all(0 <= spec[k] <= 65535 for k in ("priority", "weight", "port"))
            assert _is_hostname(spec["target"], absolute=True)
        elif kind == "CAARecord":
            assert spec["flags"] == 0
            assert spec["tag"] in ("issue", "issuewild", "iodef")
            if spec["tag"] == "iodef":
                assert spec["value"].startswith(("mailto:", "https://"))
            else:
                assert _is_hostname(spec["value"], absolute=False)
        else:
            assert kind == "NSRecord"
            assert _is_hostname(spec["nameserver"], absolute=True)
        if kind != "SRVRecord":
            assert HOST_LABEL.match(spec["name"])


def test_srv_records_use_the_port_of_their_service() -> None:
    gen = _gen()
    zone = _zone(gen)
    ports = {"sip": 5060, "ldap": 389, "xmpp-client": 5222, "imaps": 993, "submission": 587}
    for i in range(40):
        spec = gen.record("SRVRecord", zone, i, namespace=NS)["spec"]
        service = spec["name"].split(".")[0][1:]
        if service in ports:
            assert spec["port"] == ports[service]


@pytest.mark.parametrize("kind", RECORD_KINDS)
def test_expected_rdata_is_what_dnspython_prints_for_that_record(kind: str) -> None:
    gen = _gen(3)
    zone = _zone(gen)
    zone_name = zone["spec"]["zoneName"]
    for i in range(12):
        rec = gen.record(kind, zone, i, namespace=NS)
        fqdn, rdtype, texts = expected_rdata(rec, zone_name)
        assert fqdn == f"{rec['spec']['name']}.{zone_name}."
        assert dns.name.from_text(fqdn).is_absolute()
        assert texts
        for text in texts:
            parsed = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rdtype), text)
            assert parsed.to_text() == text


def test_expected_rdata_matches_hand_written_answers() -> None:
    zone = "example.test"

    def rec(kind: str, **spec: Any) -> dict[str, Any]:
        return {"kind": kind, "spec": spec}

    assert expected_rdata(
        rec("ARecord", name="www", ipv4Addresses=["10.0.0.1", "10.0.0.2"]), zone
    ) == (
        "www.example.test.",
        "A",
        frozenset({"10.0.0.1", "10.0.0.2"}),
    )
    assert expected_rdata(
        rec("AAAARecord", name="@", ipv6Addresses=["FD00:0:0:0:0:0:0:1"]), zone
    ) == (
        "example.test.",
        "AAAA",
        frozenset({"fd00::1"}),
    )
    assert expected_rdata(rec("TXTRecord", name="t", text=['a "b"', "c"]), zone)[2] == frozenset(
        {'"a \\"b\\"" "c"'}
    )
    assert expected_rdata(rec("MXRecord", name="m", priority=10, mailServer="Mail.X."), zone)[
        2
    ] == (frozenset({"10 mail.x."}))
    srv = rec("SRVRecord", name="_sip._tcp", priority=10, weight=60, port=5060, target="sip.x.")
    assert expected_rdata(srv, zone) == (
        "_sip._tcp.example.test.",
        "SRV",
        frozenset({"10 60 5060 sip.x."}),
    )
    caa = rec("CAARecord", name="@", flags=0, tag="issue", value="letsencrypt.org")
    assert expected_rdata(caa, zone)[2] == frozenset({'0 issue "letsencrypt.org"'})
    assert expected_rdata(rec("NSRecord", name="sub", nameserver="ns1.x."), zone)[1:] == (
        "NS",
        frozenset({"ns1.x."}),
    )
    assert expected_rdata(rec("CNAMERecord", name="c", target="www.example.test."), zone)[2] == (
        frozenset({"www.example.test."})
    )


def test_expected_ttl_falls_back_to_the_operators_default() -> None:
    assert expected_ttl({"spec": {"name": "a", "ttl": 900}}) == 900
    assert expected_ttl({"spec": {"name": "a"}}) == 300
    assert expected_ttl({"spec": {"name": "a", "ttl": None}}) == 300


@pytest.mark.parametrize("kind", RECORD_KINDS)
def test_mutate_changes_the_data_but_keeps_identity_and_validity(kind: str) -> None:
    gen = _gen()
    zone = _zone(gen)
    original = gen.record(kind, zone, 5, namespace=NS)
    changed = gen.mutate(original)
    assert changed["metadata"] == original["metadata"]
    assert changed["spec"]["name"] == original["spec"]["name"]
    assert changed["spec"] != original["spec"]
    assert set(changed["spec"]) == set(original["spec"])
    zone_name = zone["spec"]["zoneName"]
    assert expected_rdata(changed, zone_name)[2] != expected_rdata(original, zone_name)[2]
    assert gen.mutate(original) == changed  # deterministic
    assert original == gen.record(kind, zone, 5, namespace=NS)  # input untouched
    twice = gen.mutate(changed)
    assert twice["spec"] != changed["spec"]


def test_mutating_a_zone_bumps_its_serial() -> None:
    gen = _gen()
    zone = _zone(gen)
    changed = gen.mutate(zone)
    assert changed["spec"]["soaRecord"]["serial"] == zone["spec"]["soaRecord"]["serial"] + 1


def test_invalid_zones_differ_from_the_valid_zone_by_their_defect() -> None:
    gen = _gen()
    valid = _zone(gen, 2)

    def bad(defect: ZoneDefect) -> dict[str, Any]:
        spec: dict[str, Any] = gen.invalid_zone(
            defect, 2, instance_selector=SELECTOR, namespace=NS
        )["spec"]
        return spec

    assert "_" in bad(ZoneDefect.UNDERSCORE_IN_ZONE_NAME)["zoneName"]
    assert bad(ZoneDefect.TRAILING_DOT_IN_ZONE_NAME)["zoneName"] == valid["spec"]["zoneName"] + "."
    assert "negativeTtl" not in bad(ZoneDefect.MISSING_SOA_FIELD)["soaRecord"]
    assert "soaRecord" not in bad(ZoneDefect.MISSING_SOA_RECORD)
    assert bad(ZoneDefect.SERIAL_OUT_OF_RANGE)["soaRecord"]["serial"] == 2**32
    assert not bad(ZoneDefect.PRIMARY_NS_WITHOUT_TRAILING_DOT)["soaRecord"]["primaryNs"].endswith(
        "."
    )


def test_invalid_records_have_the_kind_and_defect_they_name() -> None:
    gen = _gen()
    zone = _zone(gen)
    mx = gen.invalid_record(RecordDefect.MX_PRIORITY_OUT_OF_RANGE, zone, 1, namespace=NS)
    assert mx["kind"] == "MXRecord"
    assert mx["spec"]["priority"] == 70000
    a = gen.invalid_record(RecordDefect.EMPTY_IPV4_ADDRESSES, zone, 1, namespace=NS)
    assert a["kind"] == "ARecord"
    assert a["spec"]["ipv4Addresses"] == []
    assert RecordDefect.EMPTY_IPV4_ADDRESSES.schema_rejects
    assert not RecordDefect.CAA_UNKNOWN_TAG.schema_rejects
    txt = gen.invalid_record(RecordDefect.TXT_STRING_TOO_LONG, zone, 1, namespace=NS)
    assert max(len(t) for t in txt["spec"]["text"]) == 256


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="run id"):
        FixtureGenerator(1, "---")
    with pytest.raises(ValueError, match="zone_prefix"):
        FixtureGenerator(1, RUN_ID, zone_prefix="Bad_")
    gen = _gen()
    with pytest.raises(ValueError, match="unknown record kind"):
        gen.record("PTRRecord", _zone(gen), 0, namespace=NS)
    with pytest.raises(ValueError, match="kinds must not be empty"):
        kind_sequence([], 3)
    with pytest.raises(ValueError, match="positive weight"):
        kind_sequence({"ARecord": 0}, 3)
