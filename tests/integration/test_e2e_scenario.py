"""The e2e scenario run as users run it (a pytest subprocess on the local stack): every record
is followed to a DNS answer and reported, and an impossible Ready-to-DNS criterion fails it with
a message naming the criterion, the observed value and the limit."""

from __future__ import annotations

from collections.abc import Callable
from textwrap import dedent
from typing import Any

import pytest

from pytest_bindy_load.results import RECORD_KINDS
from tests.integration.scenario_reports import only_report

RunScenario = Callable[..., pytest.RunResult]  # the run_scenario fixture of conftest.py


def _scenario(pytester: pytest.Pytester) -> dict[str, Any]:
    (e2e,) = only_report(pytester)["scenarios"]
    assert e2e["name"] == "e2e"
    scenario: dict[str, Any] = e2e
    return scenario


def test_every_record_of_every_kind_is_followed_to_a_dns_answer_and_reported(
    run_scenario: RunScenario, pytester: pytest.Pytester
) -> None:
    result = run_scenario(
        "e2e",
        dedent(
            """
            name = "tiny"
            [e2e]
            zones = 1
            records = 8
            poll_interval_s = 0.05
            """
        ),
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*e2e: passed, 10 ops*"])
    e2e = _scenario(pytester)
    assert e2e["passed"]
    m = e2e["metrics"]
    # 8 creates, one update and one delete, each followed to DNS.
    assert (m["operations"], m["succeeded"]) == (10, 10)
    create = m["by_operation"]["create"]["propagation"]
    assert create["count"] == 8
    assert create["p99_ms"] > 0
    assert m["latency"]["propagation"]["count"] == 10
    assert {op: m["by_operation"][op]["propagation"]["count"] for op in ("update", "delete")} == {
        "update": 1,
        "delete": 1,
    }
    params = e2e["parameters"]
    assert params["record_kinds"] == list(RECORD_KINDS)
    assert params["answerable"] == 8
    assert params["worst_propagation_s"] > 0
    assert params["worst_propagation_record"].split("/")[0] in RECORD_KINDS
    (e2e_criterion,) = [c for c in e2e["criteria"] if c["name"] == "e2e_p99_s"]
    assert e2e_criterion["status"] == "passed"
    assert e2e_criterion["observed"] == pytest.approx(m["latency"]["propagation"]["p99_ms"] / 1000)


def test_an_impossible_e2e_criterion_fails_the_run_naming_the_observed_value_and_limit(
    run_scenario: RunScenario, pytester: pytest.Pytester
) -> None:
    result = run_scenario(
        "e2e",
        dedent(
            """
            name = "impossible"
            [e2e]
            zones = 1
            records = 2
            record_kinds = ["ARecord", "TXTRecord"]
            [criteria]
            e2e_p99_s = 0.000001
            """
        ),
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*e2e of 2 records failed 1 checks:*", "*  - e2e (Ready to DNS) p99 * s > limit * s*"]
    )
    e2e = _scenario(pytester)
    assert not e2e["passed"]
    (violation,) = e2e["violations"]
    assert violation.startswith("e2e (Ready to DNS) p99 ")
    (crit,) = [c for c in e2e["criteria"] if c["name"] == "e2e_p99_s"]
    assert crit["status"] == "failed"
    assert crit["limit"] == 0.000001
    assert crit["observed"] > crit["limit"]
