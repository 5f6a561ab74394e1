"""The bindcar scenario run as users run it (a pytest subprocess on its own local stack): zones
are created and deleted through bindcar's REST API open-loop, each followed to DNS, none is left
behind, and the report carries the counts, both latencies and the criteria."""

from __future__ import annotations

from collections.abc import Callable
from textwrap import dedent

import pytest

from tests.integration.scenario_reports import only_report

RunScenario = Callable[..., pytest.RunResult]  # the run_scenario fixture of conftest.py


def test_zones_created_and_deleted_through_bindcar_reach_dns_and_none_is_left(
    run_scenario: RunScenario, pytester: pytest.Pytester
) -> None:
    result = run_scenario(
        "bindcar",
        dedent(
            """
            name = "tiny-bindcar"
            [bindcar]
            zones = 10
            rate_per_s = 10
            [criteria]
            bindcar_p99_s = 5
            """
        ),
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*bindcar: passed, 20 ops, error rate 0%*"])
    (sc,) = only_report(pytester)["scenarios"]
    assert sc["name"] == "bindcar"
    params, m = sc["parameters"], sc["metrics"]
    assert {k: params[k] for k in ("created", "answering_soa", "deleted", "gone_from_dns")} == {
        "created": 10,
        "answering_soa": 10,
        "deleted": 10,
        "gone_from_dns": 10,
    }
    assert (params["dropped_creates"], params["dropped_deletes"]) == (0, 0)
    assert params["left_after_cleanup"] == 0
    counts = {
        (row["kind"], row["operation"], row["error_kind"]): row["count"] for row in m["counts"]
    }
    assert counts == {("Zone", "create", "none"): 10, ("Zone", "delete", "none"): 10}
    for op in ("create", "delete"):
        stats = m["by_operation"][op]["operation"]
        assert stats["count"] == 10
        assert 0 < stats["p50_ms"] <= stats["p99_ms"]
        assert params[op]["p99_ms"] == stats["p99_ms"]
    requests = m["latency"]["operation"]
    assert requests["count"] == 20
    criteria = {c["name"]: c for c in sc["criteria"]}
    assert set(criteria) == {"bindcar_p99_s", "error_rate_max"}
    assert all(c["status"] == "passed" for c in criteria.values())
    assert criteria["bindcar_p99_s"]["observed"] == pytest.approx(requests["p99_ms"] / 1000)
