"""The regression verdict against a baseline run, on real report documents."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from pytest_bindy_load.baseline import Comparison, Regression, compare, save_baseline
from pytest_bindy_load.errors import ReportError
from pytest_bindy_load.profiles import RegressionTolerance
from pytest_bindy_load.report import LoadTestReport, RunMetadata, ScenarioReport, load_report
from pytest_bindy_load.results import ErrorKind
from tests.unit.test_report import result, snapshot

TOL = RegressionTolerance()  # +20 % latency (and > 5 ms), -20 % throughput, +0.5 points errors
STARTED = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def run_doc(
    *,
    ready_ms: float = 1000,
    n: int = 100,
    failures: int = 0,
    spacing: int = 1,
    scenario: str = "burst",
    fingerprint: str = "f" * 64,
    target_kind: str = "local-stack",
    run_id: str = "run-now",
) -> dict[str, Any]:
    """A report document of ``n`` creates, each Ready after ``ready_ms``, ``failures`` failed."""
    rs = [result(i * spacing, ready_ms=ready_ms) for i in range(n - failures)]
    rs += [result(n + i, success=False, error=ErrorKind.API_5XX) for i in range(failures)]
    report = LoadTestReport(
        metadata=RunMetadata(
            run_id=run_id,
            target={"kind": target_kind, "description": "test"},
            profile="quick",
            profile_fingerprint=fingerprint,
            seed=1,
            started_at=STARTED,
        ),
        scenarios=(ScenarioReport(name=scenario, parameters={}, metrics=snapshot(rs)),),
    )
    return report.to_json()


BASE = run_doc(run_id="run-before")


def test_the_same_measurements_are_no_regression() -> None:
    cmp = compare(run_doc(), BASE, TOL, baseline_path="b.json")
    assert cmp.regressions == ()
    assert not cmp.regressed
    # three percentiles of operation, reconcile and end_to_end; throughput; error rate
    assert cmp.compared == 3 * 3 + 2
    assert cmp.to_dict()["verdict"] == "no regression"
    assert cmp.baseline_run_id == "run-before"


def test_a_slower_reconcile_is_a_regression_naming_metric_values_and_tolerance() -> None:
    cmp = compare(run_doc(ready_ms=1500), BASE, TOL)
    metrics = {r.metric for r in cmp.regressions}
    assert {"reconcile p50", "reconcile p95", "reconcile p99"} <= metrics
    assert {"end_to_end p99"} <= metrics
    assert not any(m.startswith("operation") for m in metrics)  # API ack times did not change
    p99 = next(r for r in cmp.regressions if r.metric == "reconcile p99")
    assert p99.unit == "ms"
    assert p99.current > p99.baseline * 1.2
    text = str(p99)
    assert text.startswith("burst: reconcile p99 ")
    assert "allowed +20 % and > 5 ms" in text
    assert cmp.to_dict()["verdict"] == "regressed"


def test_a_slowdown_within_the_tolerance_is_not_a_regression() -> None:
    assert compare(run_doc(ready_ms=1150), BASE, TOL).regressions == ()
    assert compare(
        run_doc(ready_ms=1150), BASE, RegressionTolerance(latency_increase_max=0.1)
    ).regressed


def test_growth_below_the_absolute_floor_is_noise_not_a_regression() -> None:
    fast = run_doc(ready_ms=22, run_id="fast")  # acknowledged at 20 ms: reconcile 2 ms
    slower = run_doc(ready_ms=25)  # reconcile 5 ms: +150 %, but only +3 ms
    assert compare(slower, fast, TOL).regressions == ()
    strict = RegressionTolerance(latency_floor_ms=1.0)
    assert {r.metric for r in compare(slower, fast, strict).regressions} >= {"reconcile p99"}


def test_lower_throughput_is_a_regression() -> None:
    # The same work spread over three times as long: a third of the throughput.
    cmp = compare(run_doc(spacing=3), BASE, TOL)
    (tp,) = [r for r in cmp.regressions if r.metric == "throughput"]
    assert tp.unit == "/s"
    assert tp.current < tp.baseline * 0.8
    assert "allowed -20 %" in str(tp)


def test_a_higher_error_rate_is_a_regression_in_points() -> None:
    cmp = compare(run_doc(failures=2), BASE, TOL)
    (er,) = [r for r in cmp.regressions if r.metric == "error rate"]
    assert (er.baseline, er.current) == (0.0, 2.0)
    assert "+2.00 points" in str(er)
    assert not compare(
        run_doc(failures=2), BASE, RegressionTolerance(error_rate_increase_max=0.05)
    ).regressed


def test_too_few_samples_are_noted_not_compared() -> None:
    small = run_doc(n=10, ready_ms=5000)
    cmp = compare(small, run_doc(n=10, run_id="small-before"), TOL)
    assert not any(r.unit == "ms" for r in cmp.regressions)
    assert any(
        "reconcile latency not compared, 10 samples < min_samples 20" in n for n in cmp.notes
    )


def test_a_different_load_or_target_is_not_compared_and_says_why() -> None:
    other_load = compare(run_doc(ready_ms=9000, fingerprint="0" * 64), BASE, TOL)
    assert other_load.compared == 0
    assert not other_load.regressed
    assert "different load" in other_load.notes[0]
    other_target = compare(run_doc(target_kind="cluster"), BASE, TOL)
    assert other_target.compared == 0
    assert "'local-stack', this run 'cluster'" in other_target.notes[0]
    no_fp = compare(run_doc(fingerprint=""), BASE, TOL)
    assert "fingerprint" in no_fp.notes[0]


def test_scenarios_missing_on_either_side_are_noted() -> None:
    cmp = compare(run_doc(scenario="sustained"), BASE, TOL)
    assert cmp.compared == 0
    assert cmp.notes == (
        "sustained: not in the baseline, not compared",
        "burst: in the baseline but not run now",
    )


def test_a_saved_baseline_loads_back_and_compares_equal(tmp_path: Path) -> None:
    path = save_baseline(BASE, tmp_path / "nested" / "baseline.json")
    assert load_report(path) == BASE
    assert compare(BASE, load_report(path), TOL).regressions == ()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"schema_version": 1, "run": {}, "scenarios": []}', "schema_version 1, expected 2"),
        ('{"schema_version": 2, "run": {}}', "not the report.json of a run"),
    ],
)
def test_a_file_that_is_not_a_report_is_refused_in_one_line(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "b.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ReportError, match=message) as info:
        load_report(path)
    assert "\n" not in str(info.value)
    assert str(path) in str(info.value)


def test_a_regression_from_zero_reads_without_dividing() -> None:
    r = Regression(scenario="s", metric="throughput", unit="/s", baseline=0, current=1, allowed="x")
    assert "from zero" in str(r)
    assert Comparison(baseline_run_id="b", baseline_path="p", regressions=(r,)).regressed
