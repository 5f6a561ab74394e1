"""The chaos scenario run as users run it (a pytest subprocess on the local stack): the operator
and named are killed under load, both come back, operations during the faults are reported
apart, and no record is lost (named restarts empty; the operator's resync restores it)."""

from __future__ import annotations

from collections.abc import Callable
from textwrap import dedent

import pytest

from tests.integration.scenario_reports import only_report

RunScenario = Callable[..., pytest.RunResult]  # the run_scenario fixture of conftest.py


def test_killing_the_operator_and_named_under_load_loses_no_record(
    run_scenario: RunScenario, pytester: pytest.Pytester
) -> None:
    result = run_scenario(
        "chaos",
        dedent(
            """
            name = "tiny-chaos"
            [chaos]
            targets = ["operator", "bind9"]
            kills = 2
            interval_s = 5
            rate_per_s = 4
            recovery_timeout_s = 90
            zones = 1
            grace_s = 2
            """
        ),
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*chaos: passed, 60 ops*"])
    (sc,) = only_report(pytester)["scenarios"]
    params, m = sc["parameters"], sc["metrics"]
    faults = params["faults"]
    assert [f["target"] for f in faults] == ["operator", "bind9"]
    assert all(f["recovered"] for f in faults)
    assert all(f["replacement"] and f["replacement"] != f["pod"] for f in faults)
    assert 0 < params["max_recovery_s"] < 90
    assert params["records_checked"] > 0
    assert params["records_lost"] == 0
    assert params["dns_checked"] is True
    # Operations overlapping a fault are summarised apart from the steady ones.
    assert m["chaos_operations"] > 0
    assert m["chaos_operations"] < m["operations"] == 60
    assert m["chaos_latency"]["reconcile"]["count"] > 0
    assert {c["name"] for c in sc["criteria"]} >= {"reconcile_p99_s", "steady_error_rate_max"}
