"""The dns scenario run as users run it (a pytest subprocess on its own local stack): records
created through the operator are queried open-loop at the offered rate, every answer is checked
against the record's data, and the report carries the counts, the latency and the criteria."""

from __future__ import annotations

from collections.abc import Callable
from textwrap import dedent

import pytest

from pytest_bindy_load.results import RECORD_KINDS
from tests.integration.scenario_reports import only_report

RunScenario = Callable[..., pytest.RunResult]  # the run_scenario fixture of conftest.py


def test_a_short_query_load_gets_every_offered_query_answered_correctly(
    run_scenario: RunScenario, pytester: pytest.Pytester
) -> None:
    result = run_scenario(
        "dns",
        dedent(
            """
            name = "tiny-dns"
            [dns]
            zones = 1
            records = 8
            rate_qps = 100
            duration_s = 3
            [criteria]
            dns_p99_s = 0.5
            dns_rate_per_s = 90
            """
        ),
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*dns: passed, 300 ops, error rate 0%*"])
    (sc,) = only_report(pytester)["scenarios"]
    assert sc["name"] == "dns"
    params, m = sc["parameters"], sc["metrics"]
    assert (params["offered"], params["answered"], params["correct"], params["dropped"]) == (
        300,
        300,
        300,
        0,
    )
    assert params["transport"] == "udp"
    assert params["qps_achieved"] == pytest.approx(100.0)
    assert params["records_ready_s"] > 0
    # One query per record in turn: each of the eight kinds was asked 300 / 8 times, rounded.
    asked = {row["kind"]: row["count"] for row in m["counts"]}
    assert set(asked) == set(RECORD_KINDS)
    assert sorted(asked.values()) == [37] * 4 + [38] * 4
    assert {row["operation"] for row in m["counts"]} == {"query"}
    query = m["latency"]["operation"]
    assert query["count"] == 300
    assert 0 < query["p50_ms"] <= query["p99_ms"] == params["query_p99_ms"]
    criteria = {c["name"]: c for c in sc["criteria"]}
    assert set(criteria) == {"dns_p99_s", "dns_rate_per_s", "error_rate_max"}
    assert all(c["status"] == "passed" for c in criteria.values())
    assert criteria["dns_p99_s"]["observed"] == pytest.approx(query["p99_ms"] / 1000)
    assert criteria["dns_rate_per_s"]["observed"] == pytest.approx(100.0)
    assert (criteria["dns_rate_per_s"]["bound"], criteria["dns_rate_per_s"]["unit"]) == (
        "min",
        "answers/s",
    )
