"""The steps scenarios share: judging against the profile and the failure message."""

from __future__ import annotations

from pytest_bindy_load.generators import ZONE_LABEL, FixtureGenerator
from pytest_bindy_load.profiles import SuccessCriteria
from pytest_bindy_load.report import Status
from pytest_bindy_load.scenario import failure_message, judge, missing_data_plane, records_over
from pytest_bindy_load.target import cluster_target
from tests.unit.test_report import result, snapshot


def test_judge_evaluates_the_named_criteria_that_are_set() -> None:
    snap = snapshot([result(i, ready_ms=2000) for i in range(10)])
    criteria = SuccessCriteria(reconcile_p99_s=1.0, operation_p99_s=None, error_rate_max=0.5)
    results = judge(snap, criteria, ("reconcile_p99_s", "operation_p99_s", "error_rate_max"))
    assert [(r.name, r.status) for r in results] == [
        ("reconcile_p99_s", Status.FAILED),
        ("error_rate_max", Status.PASSED),
    ]


def test_an_observed_value_wins_and_a_required_unmeasured_one_fails() -> None:
    snap = snapshot([result(0)])
    results = judge(
        snap,
        SuccessCriteria(sustained_rate_per_s=5.0, memory_growth_mb_per_h=10.0),
        ("sustained_rate_per_s", "memory_growth_mb_per_h", "e2e_p99_s"),
        observed={"sustained_rate_per_s": 4.0},
        required=("e2e_p99_s",),
    )
    status = {r.name: r.status for r in results}
    assert status == {
        "sustained_rate_per_s": Status.FAILED,
        "memory_growth_mb_per_h": Status.NOT_MEASURED,
        "e2e_p99_s": Status.FAILED,
    }


def test_the_failure_message_lists_every_violation_and_problem() -> None:
    snap = snapshot([result(i, ready_ms=2000) for i in range(10)])
    results = judge(snap, SuccessCriteria(reconcile_p99_s=1.0), ("reconcile_p99_s",))
    message = failure_message("burst of 10 records", results, ["a record was lost"])
    assert message.splitlines()[0] == "burst of 10 records failed 2 checks:"
    assert message.splitlines()[1].startswith("  - reconcile p99 1.9")
    assert message.splitlines()[2] == "  - a record was lost"
    assert failure_message("x", judge(snap, SuccessCriteria(), ("error_rate_max",))) == ""


def test_records_spread_evenly_with_the_remainder_on_the_first_zones() -> None:
    gen = FixtureGenerator(3, "run-3", zone_prefix="s")
    zones = gen.zones(3, instance_selector={"a": "b"}, namespace="ns")
    records = records_over(gen, zones, 11, kinds=("ARecord", "TXTRecord"), namespace="ns")
    per_zone = [
        sum(r["metadata"]["labels"][ZONE_LABEL] == z["spec"]["zoneName"] for r in records)
        for z in zones
    ]
    assert per_zone == [4, 4, 3]
    assert len({r["metadata"]["name"] for r in records}) == 11


def test_a_cluster_without_port_forwards_is_told_which_options_to_pass() -> None:
    bare = cluster_target("kind-a")
    why = missing_data_plane(bare, "bindcar", bindcar=True)
    assert why == (
        "bindcar needs addresses cluster context kind-a does not have: port-forward them to "
        "loopback and pass --dns-server HOST:PORT and --bindcar-url URL (token in "
        "BINDY_LOAD_BINDCAR_TOKEN), or run on the local stack"
    )
    assert "--bindcar-url" not in missing_data_plane(bare, "e2e")
    forwarded = cluster_target("kind-a", dns_server=("127.0.0.1", 5353))
    assert missing_data_plane(forwarded, "e2e") == ""
    assert missing_data_plane(forwarded, "bindcar", bindcar=True).endswith(
        "pass --bindcar-url URL (token in BINDY_LOAD_BINDCAR_TOKEN), or run on the local stack"
    )


def test_a_clusters_dns_is_asked_over_tcp_because_port_forwards_carry_no_udp() -> None:
    forwarded = cluster_target("kind-a", dns_server=("127.0.0.1", 5353))
    assert forwarded.dns_tcp
    assert forwarded.to_report()["dns_transport"] == "tcp"
