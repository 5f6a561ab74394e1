"""The burst scenario run as users run it (a pytest subprocess on the local stack): it writes
its reports, and an impossible criterion fails it with a message naming every violation."""

from __future__ import annotations

import json
from collections.abc import Callable
from textwrap import dedent

import pytest

from pytest_bindy_load.report import SCHEMA_VERSION

RunScenario = Callable[..., pytest.RunResult]  # the run_scenario fixture of conftest.py


def test_a_small_burst_passes_and_writes_json_and_markdown_reports(
    run_scenario: RunScenario, pytester: pytest.Pytester
) -> None:
    result = run_scenario(
        "burst",
        dedent(
            """
            name = "tiny"
            [burst]
            zones = 2
            records = 24
            concurrency = 8
            """
        ),
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["*bindy-load: target=local stack, profile=tiny*", "*burst: passed, 24 ops*"]
    )
    reports = list((pytester.path / "reports").glob("*/report.json"))
    assert len(reports) == 1
    doc = json.loads(reports[0].read_text())
    assert doc["schema_version"] == SCHEMA_VERSION == 2
    assert doc["run"]["target"]["description"] == "local stack, reference operator"
    assert doc["verdict"] == "passed"
    (burst,) = doc["scenarios"]
    assert burst["metrics"]["operations"] == 24
    assert burst["metrics"]["succeeded"] == 24
    assert burst["parameters"]["first_create_to_last_ready_s"] > 0
    assert (
        (reports[0].parent / "report.md").read_text().startswith("# bindy load test report: PASSED")
    )
    assert "secret" not in reports[0].read_text().lower().replace('"tsig_key_name"', "")


def test_an_impossible_reconcile_criterion_fails_the_burst_with_a_readable_message(
    run_scenario: RunScenario, pytester: pytest.Pytester
) -> None:
    result = run_scenario(
        "burst",
        dedent(
            """
            name = "impossible"
            [burst]
            zones = 1
            records = 8
            concurrency = 8
            [criteria]
            reconcile_p99_s = 0.001
            error_rate_max = 0.0
            """
        ),
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*burst of 8 records failed 1 checks:*",
            "*  - reconcile p99 * s > limit 0.001 s*",
        ]
    )
    doc = json.loads(next((pytester.path / "reports").glob("*/report.json")).read_text())
    assert doc["verdict"] == "failed"
    assert any("reconcile p99" in v for v in doc["scenarios"][0]["violations"])
