"""--baseline / --save-baseline end to end through pytest: the run fails on a regression."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from textwrap import dedent

import pytest

RunPytest = Callable[..., pytest.RunResult]  # the `run` fixture of tests/plugin/conftest.py

# A scenario test that measures nothing real: 50 creates, each Ready READY_MS after it was
# intended. The plugin's session hook turns it into the report and compares it.
SCENARIO = dedent(
    """
    import os

    from pytest_bindy_load.metrics import MetricsCollector
    from pytest_bindy_load.report import ScenarioReport
    from pytest_bindy_load.results import Operation, OperationResult

    MS = 1_000_000

    def test_scenario(record_scenario):
        ready_ms = int(os.environ["READY_MS"])
        collector = MetricsCollector()
        for i in range(50):
            t = 10**12 + i * 100 * MS
            collector.add(OperationResult(
                name=f"a-{i}", namespace="ns", kind="ARecord", operation=Operation.CREATE,
                intended_ns=t, sent_ns=t + MS, acknowledged_ns=t + 20 * MS,
                ready_ns=t + ready_ms * MS, success=True,
            ))
        record_scenario(ScenarioReport(name="burst", parameters={}, metrics=collector.snapshot()))
    """
)


def run_with(
    run: RunPytest, monkeypatch: pytest.MonkeyPatch, ready_ms: int, *args: str
) -> pytest.RunResult:
    monkeypatch.setenv("READY_MS", str(ready_ms))
    return run("--output-dir", "reports", *args)


def latest_report(pytester: pytest.Pytester) -> dict[str, object]:
    paths = sorted(
        (pytester.path / "reports").glob("*/report.json"), key=lambda p: p.stat().st_mtime
    )
    doc: dict[str, object] = json.loads(paths[-1].read_text(encoding="utf-8"))
    return doc


def test_a_saved_baseline_passes_an_equal_run_and_fails_a_slower_one(
    run: RunPytest, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(SCENARIO)
    saved = run_with(run, monkeypatch, 1000, "--save-baseline", "--baseline", "base.json")
    saved.assert_outcomes(passed=1)
    assert saved.ret == pytest.ExitCode.OK
    base = json.loads((pytester.path / "base.json").read_text(encoding="utf-8"))
    assert base["verdict"] == "passed"
    assert f"saved as the baseline: {pytester.path / 'base.json'}" in base["notes"]
    saved.stdout.fnmatch_lines(["*note: saved as the baseline: *base.json"])

    same = run_with(run, monkeypatch, 1000, "--baseline", "base.json")
    assert same.ret == pytest.ExitCode.OK
    same.stdout.fnmatch_lines([f"*baseline {base['run']['run_id']}: no regression, 11 metrics*"])

    slower = run_with(run, monkeypatch, 1500, "--baseline", "base.json")
    slower.assert_outcomes(passed=1)  # the test itself passed; the run regressed
    assert slower.ret == pytest.ExitCode.TESTS_FAILED
    slower.stdout.fnmatch_lines(
        [
            "*baseline *: regressed, 11 metrics compared",
            "*regression: burst: reconcile p99 980.* ms -> 1480.* ms (+5*%, allowed +20 % *",
        ]
    )
    doc = latest_report(pytester)
    assert doc["verdict"] == "failed"
    assert doc["baseline"]["verdict"] == "regressed"  # type: ignore[index]
    md = next((pytester.path / "reports").glob(f"{doc['run']['run_id']}/report.md"))  # type: ignore[index]
    assert "## Baseline comparison" in md.read_text(encoding="utf-8")


def test_the_profiles_tolerance_decides(
    run: RunPytest, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(SCENARIO)
    run_with(run, monkeypatch, 1000, "--save-baseline", "--baseline", "base.json")
    profile = pytester.path / "lenient.toml"
    quick = (Path(__file__).resolve().parents[2] / "profiles" / "quick.toml").read_text()
    profile.write_text(
        quick.replace("latency_increase_max = 0.2", "latency_increase_max = 1.0"),
        encoding="utf-8",
    )
    # The workload sections are unchanged, so the lenient profile is comparable with quick.
    lenient = run_with(run, monkeypatch, 1500, "--baseline", "base.json", "--profile", str(profile))
    assert lenient.ret == pytest.ExitCode.OK
    lenient.stdout.fnmatch_lines(["*: no regression, 11 metrics compared"])


def test_a_run_with_a_different_load_is_not_compared(
    run: RunPytest, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(SCENARIO)
    run_with(run, monkeypatch, 1000, "--save-baseline", "--baseline", "base.json")
    other = run_with(run, monkeypatch, 5000, "--baseline", "base.json", "--records", "7")
    assert other.ret == pytest.ExitCode.OK
    other.stdout.fnmatch_lines(["*note: not compared: the baseline offered a different load*"])


def test_a_failing_run_is_not_saved_as_the_baseline(
    run: RunPytest, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(
        ok=SCENARIO.replace("def test_scenario", "def test_ok"),
        failing=dedent(
            """
            from pytest_bindy_load.metrics import MetricsCollector
            from pytest_bindy_load.report import ScenarioReport, check

            def test_violates(record_scenario):
                snap = MetricsCollector().snapshot()  # nothing measured: a required criterion fails
                results = check(snap, {"reconcile_p99_s": 1.0}, required={"reconcile_p99_s"})
                record_scenario(ScenarioReport(name="other", parameters={}, metrics=snap,
                                               criteria=tuple(results)))
            """
        ),
    )
    result = run_with(run, monkeypatch, 1000, "--save-baseline", "ok.py", "failing.py")
    assert not (pytester.path / "reports" / "baseline.json").exists()
    notes = latest_report(pytester)["notes"]
    assert any("not saved as the baseline" in str(n) for n in notes)  # type: ignore[union-attr]
    assert result.ret == pytest.ExitCode.OK  # a recorded violation alone does not fail pytest


def test_a_baseline_that_is_not_a_report_is_a_one_line_usage_error(
    run: RunPytest, pytester: pytest.Pytester
) -> None:
    pytester.makepyfile(SCENARIO)
    (pytester.path / "notes.json").write_text('{"hello": 1}', encoding="utf-8")
    result = run("--baseline", "notes.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: bindy-load: baseline *notes.json: report schema_version None, expected 2"]
    )


def test_a_compare_hook_replaces_the_built_in_comparison(
    run: RunPytest, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(SCENARIO)
    run_with(run, monkeypatch, 1000, "--save-baseline", "--baseline", "base.json")
    pytester.makeconftest(
        dedent(
            """
            from pytest_bindy_load.baseline import Comparison, Regression

            def pytest_bindy_load_compare(current, baseline, config):
                r = Regression(scenario="burst", metric="custom", unit="ms", baseline=1.0,
                               current=2.0, allowed="nothing")
                return Comparison(baseline_run_id=baseline["run"]["run_id"],
                                  baseline_path="hook", compared=1, regressions=(r,))
            """
        )
    )
    result = run_with(run, monkeypatch, 1000, "--baseline", "base.json")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*regression: burst: custom 1.000 ms -> 2.000 ms*"])


def test_an_unused_prometheus_url_is_said_in_the_report_not_ignored_silently(
    run: RunPytest, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(SCENARIO)
    result = run_with(run, monkeypatch, 1000, "--prometheus-url", "http://127.0.0.1:9090")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        ["*note: --prometheus-url http://127.0.0.1:9090 was not queried (not implemented yet)"]
    )
