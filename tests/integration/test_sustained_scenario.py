"""The sustained scenario run as users run it (a pytest subprocess on the local stack): the
offered rate is delivered open-loop with the whole mix, and a target that cannot keep up shows
as dropped operations and a violated sustained rate."""

from __future__ import annotations

import re
from collections.abc import Callable
from textwrap import dedent

import pytest

from tests.integration.scenario_reports import only_report

RunScenario = Callable[..., pytest.RunResult]  # the run_scenario fixture of conftest.py


def test_a_short_sustained_run_delivers_the_offered_mix_and_passes(
    run_scenario: RunScenario, pytester: pytest.Pytester
) -> None:
    result = run_scenario(
        "sustained",
        dedent(
            """
            name = "tiny-sustained"
            [sustained]
            rate_per_s = 8
            duration_s = 10
            zones = 2
            max_live_records = 10
            [sustained.mix]
            create = 0.5
            update = 0.3
            delete = 0.2
            [criteria]
            sustained_rate_per_s = 8
            """
        ),
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*sustained: passed, 80 ops, error rate 0%*"])
    (sc,) = only_report(pytester)["scenarios"]
    params, m = sc["parameters"], sc["metrics"]
    assert (params["offered"], params["accepted"], params["dropped"]) == (80, 80, 0)
    ran = params["workload"]["ran"]
    assert sum(ran.values()) == 80
    assert ran["update"] > 0
    assert ran["delete"] > 0
    by_op = {row["operation"] for row in m["counts"]}
    assert by_op == {"create", "update", "delete"}
    rate = next(c for c in sc["criteria"] if c["name"] == "sustained_rate_per_s")
    assert rate["observed"] == pytest.approx(8.0)
    assert rate["status"] == "passed"
    # The live set is held at its cap; creates beyond it ran as deletes.
    workload = params["workload"]
    assert workload["max_live"] == 10
    assert workload["steady"] is True
    assert workload["live_records"] <= 10
    assert workload["substituted"] > 0
    # The operator's memory is sampled from its metrics; a few steady seconds are reported,
    # not judged.
    memory = params["operator_memory"]
    assert memory["samples"] >= 2
    assert memory["first_mb"] > 1
    assert 0 <= memory["steady_s"] < memory["span_s"]
    assert re.search(r"steady (samples are too few|load is too short)", memory["note"])
    assert m["latency"]["reconcile"]["count"] == 80


def test_a_target_that_cannot_keep_up_drops_operations_and_fails_the_rate(
    run_scenario: RunScenario, pytester: pytest.Pytester
) -> None:
    # One operation in flight at most, and each (create, then Ready) outlasts the 50 ms between
    # starts.
    result = run_scenario(
        "sustained",
        dedent(
            """
            name = "overloaded"
            [sustained]
            rate_per_s = 20
            duration_s = 4
            zones = 1
            max_in_flight = 1
            [criteria]
            sustained_rate_per_s = 20
            """
        ),
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*sustained 20 ops/s for 4 s failed 1 checks:*",
            "*  - sustained rate * ops/s < limit 20 ops/s*",
        ]
    )
    (sc,) = only_report(pytester)["scenarios"]
    params = sc["parameters"]
    assert params["offered"] == 80
    assert params["dropped"] >= 10  # each operation takes longer than the 50 ms between starts
    assert params["accepted"] == 80 - params["dropped"]
    assert any("operations dropped: 1 still in flight" in n for n in sc["notes"])
