from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from pytest_bindy_load.metrics import MetricsCollector, MetricsSnapshot
from pytest_bindy_load.profiles import SuccessCriteria
from pytest_bindy_load.report import (
    SCHEMA_VERSION,
    Bound,
    LoadTestReport,
    RunMetadata,
    ScenarioReport,
    Status,
    Violation,
    check,
    criteria_from,
    evaluate,
    load_report,
    render_html,
    render_markdown,
    summary_lines,
    write_report,
)
from pytest_bindy_load.results import ErrorKind, Operation, OperationResult
from pytest_bindy_load.target import Secret

DATA = Path(__file__).resolve().parents[1] / "data"
GOLDEN = DATA / "report_v2.json"
MS = 1_000_000
T0 = 9_000 * 1_000_000_000
SECRET_VALUE = "s3cr3t-bearer-token-value"
RUN_ID = "0f1e2d3c-4b5a-4968-8776-5a4b3c2d1e0f"


def result(
    i: int,
    *,
    ready_ms: float = 1000,
    answerable_ms: float | None = None,
    success: bool = True,
    error: ErrorKind = ErrorKind.NONE,
    message: str = "",
    chaos: bool = False,
) -> OperationResult:
    intended = T0 + i * 100 * MS
    return OperationResult(
        name=f"a-{i}",
        namespace="ns",
        kind="ARecord",
        operation=Operation.CREATE,
        intended_ns=intended,
        sent_ns=intended + MS,
        acknowledged_ns=intended + 20 * MS,
        ready_ns=intended + round(ready_ms * MS) if success else None,
        answerable_ns=None if answerable_ms is None else intended + round(answerable_ms * MS),
        success=success,
        error_kind=error,
        error_message=message,
        in_chaos_window=chaos,
    )


def snapshot(results: list[OperationResult]) -> MetricsSnapshot:
    m = MetricsCollector()
    m.add_all(results)
    return m.snapshot()


def slow_snapshot() -> MetricsSnapshot:
    """100 creates 0.1 s apart, reconcile ~12.3 s, Ready to DNS 0.18 s, one failure (1 %)."""
    rs = [result(i, ready_ms=12_320, answerable_ms=12_500) for i in range(99)]
    rs.append(result(99, success=False, error=ErrorKind.API_5XX, message="etcd | timeout"))
    return snapshot(rs)


def test_a_violation_reads_like_a_sentence() -> None:
    v = Violation(name="reconcile_p99_s", label="reconcile p99", observed=12.3, limit=10, unit="s")
    assert str(v) == "reconcile p99 12.3 s > limit 10 s"
    low = Violation(
        name="sustained_rate_per_s",
        label="sustained rate",
        observed=7.4134,
        limit=10.0,
        unit="ops/s",
        bound=Bound.MIN,
    )
    assert str(low) == "sustained rate 7.41 ops/s < limit 10 ops/s"
    rate = Violation(
        name="error_rate_max", label="error rate", observed=0.025, limit=0.01, unit="ratio"
    )
    assert str(rate) == "error rate 2.5% > limit 1%"


def test_evaluate_reports_every_violation_of_the_profile_criteria() -> None:
    criteria = SuccessCriteria(
        reconcile_p99_s=10.0, e2e_p99_s=0.1, error_rate_max=0.001, sustained_rate_per_s=50.0
    )
    violations = evaluate(slow_snapshot(), criteria)
    assert [v.name for v in violations] == [
        "reconcile_p99_s",
        "e2e_p99_s",
        "error_rate_max",
        "sustained_rate_per_s",
    ]
    texts = [str(v) for v in violations]
    assert texts[0] == "reconcile p99 12.3 s > limit 10 s"
    assert texts[1] == "e2e (Ready to DNS) p99 0.18 s > limit 0.1 s"
    assert texts[2] == "error rate 1% > limit 0.1%"
    # 99 successes between the first intended start (0 s) and the last answer (9.8 + 12.5 s).
    assert texts[3] == "sustained rate 4.44 ops/s < limit 50 ops/s"


def test_a_run_within_every_limit_has_no_violations() -> None:
    fast = snapshot([result(i, ready_ms=500, answerable_ms=600) for i in range(50)])
    assert evaluate(fast, SuccessCriteria(sustained_rate_per_s=1.0)) == []


def test_a_value_equal_to_its_limit_passes() -> None:
    snap = snapshot([result(0, success=False, error=ErrorKind.TIMEOUT), result(1)])
    assert evaluate(snap, {"error_rate_max": 0.5}) == []
    assert len(evaluate(snap, {"error_rate_max": 0.49})) == 1


def test_unmeasured_criteria_are_shown_but_only_fail_when_required() -> None:
    snap = snapshot([result(i) for i in range(5)])  # no DNS checks: no Ready-to-DNS samples
    results = {r.name: r for r in check(snap, {"e2e_p99_s": 30.0, "memory_growth_mb_per_h": 100.0})}
    assert results["e2e_p99_s"].status is Status.NOT_MEASURED
    assert results["memory_growth_mb_per_h"].status is Status.NOT_MEASURED
    assert evaluate(snap, {"e2e_p99_s": 30.0}) == []
    (v,) = evaluate(snap, {"e2e_p99_s": 30.0}, required={"e2e_p99_s"})
    assert str(v) == "e2e (Ready to DNS) p99: not measured (limit 30 s)"


def test_values_measured_elsewhere_are_compared_too() -> None:
    snap = snapshot([result(0)])
    (v,) = evaluate(
        snap, {"memory_growth_mb_per_h": 100.0}, observed={"memory_growth_mb_per_h": 140.0}
    )
    assert str(v) == "memory growth 140 MB/h > limit 100 MB/h"


def test_disabled_criteria_are_skipped_and_chaos_criteria_read_the_chaos_window() -> None:
    rs = [result(i, ready_ms=100) for i in range(10)]
    rs += [result(10 + i, ready_ms=20_000, chaos=True) for i in range(10)]
    rs += [result(30, success=False, error=ErrorKind.CONNECTION, chaos=True)]
    snap = snapshot(rs)
    criteria = SuccessCriteria(
        reconcile_p99_s=1.0,
        error_rate_max=0.5,
        sustained_rate_per_s=0.1,
        chaos_reconcile_p99_s=15.0,
        chaos_error_rate_max=0.05,
        operation_p99_s=None,
    )
    names = [c.name for c in criteria_from(criteria)]
    assert "operation_p99_s" not in names
    assert [str(v) for v in evaluate(snap, criteria)] == [
        "chaos reconcile p99 20 s > limit 15 s",
        "chaos error rate 9.09% > limit 5%",
    ]


def test_criteria_can_be_given_as_a_mapping_and_unknown_sources_are_refused() -> None:
    (c,) = criteria_from({"operation_p95_ms": 50, "off": None, "flag": True})
    assert (c.name, c.label, c.unit, c.bound) == (
        "operation_p95_ms",
        "operation p95",
        "ms",
        Bound.MAX,
    )
    with pytest.raises(TypeError):
        criteria_from(42)


def build_report(*, target_extra: dict[str, Any] | None = None) -> LoadTestReport:
    # A plain mapping, so the stored example does not move when profile defaults do.
    criteria = {
        "reconcile_p99_s": 10.0,
        "e2e_p99_s": 30.0,
        "error_rate_max": 0.01,
        "sustained_rate_per_s": 1.0,
        "memory_growth_mb_per_h": 100.0,
    }
    scenarios = []
    for name, snap in (
        ("burst", slow_snapshot()),
        ("sustained", snapshot([result(i, ready_ms=400) for i in range(20)])),
    ):
        scenarios.append(
            ScenarioReport(
                name=name,
                parameters={"records": 100, "concurrency": 20, "kinds": ["ARecord"]},
                metrics=snap,
                criteria=tuple(check(snap, criteria)),
            )
        )
    target = {
        "kind": "local-stack",
        "description": "local stack on 127.0.0.1",
        "dns_server": "127.0.0.1:15353",
        "bindcar_url": "http://127.0.0.1:18080",
        "tsig_key_name": "bindy-operator",
        **(target_extra or {}),
    }
    return LoadTestReport(
        metadata=RunMetadata(
            run_id=RUN_ID,
            target=target,
            profile="quick",
            seed=1234,
            started_at=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
            finished_at=dt.datetime(2026, 1, 2, 3, 9, 5, tzinfo=dt.UTC),
            versions={"pytest-bindy-load": "0.1.0", "bindy": "ac9ea2a"},
        ),
        scenarios=tuple(scenarios),
        notes=("baseline not comparable: different profile",),
    )


def test_the_json_document_has_the_schema_version_run_scenarios_and_errors() -> None:
    doc = build_report().to_json()
    assert doc["schema_version"] == SCHEMA_VERSION == 2
    assert doc["run"]["run_id"] == RUN_ID
    assert doc["run"]["duration_s"] == 300.0
    assert doc["run"]["started_at"] == "2026-01-02T03:04:05+00:00"
    assert doc["verdict"] == "failed"
    burst, sustained = doc["scenarios"]
    assert burst["passed"] is False
    assert burst["violations"] == ["reconcile p99 12.3 s > limit 10 s"]
    assert sustained["passed"] is True
    assert doc["errors"] == {"by_kind": {"api_5xx": 1}, "examples": {"api_5xx": ["etcd | timeout"]}}
    assert burst["metrics"]["timeline"][0] == {
        "second": 0,
        "intended": 10,
        "completed": 0,
        "errors": 0,
    }
    assert MetricsSnapshot.from_dict(burst["metrics"]).to_dict() == burst["metrics"]
    assert json.loads(json.dumps(doc)) == doc


def test_the_json_document_matches_the_stored_v2_example() -> None:
    """A change here is a schema change: bump SCHEMA_VERSION or keep the document the same.
    Regenerate with: python -c "from tests.unit.test_report import regenerate; regenerate()"."""
    assert build_report().to_json() == json.loads(GOLDEN.read_text(encoding="utf-8"))


def regenerate() -> None:
    GOLDEN.write_text(json.dumps(build_report().to_json(), indent=2) + "\n", encoding="utf-8")


def test_secrets_never_reach_any_report_file(tmp_path: Path) -> None:
    report = build_report(
        target_extra={"bindcar_token": SECRET_VALUE, "tsig": {"secret": Secret(SECRET_VALUE)}}
    )
    paths = report.write(tmp_path)
    for path in (paths.json, paths.markdown, paths.html):
        text = path.read_text(encoding="utf-8")
        assert SECRET_VALUE not in text
        assert "***" in text
    assert "tsig_key_name" in paths.json.read_text(encoding="utf-8")


def test_reports_are_written_atomically_under_the_run_id(tmp_path: Path) -> None:
    report = build_report()
    paths = report.write(tmp_path)
    folder = tmp_path / RUN_ID
    assert (paths.json, paths.markdown, paths.html) == (
        folder / "report.json",
        folder / "report.md",
        folder / "report.html",
    )
    assert sorted(p.name for p in folder.iterdir()) == ["report.html", "report.json", "report.md"]
    again = report.write(tmp_path)  # rewriting replaces the files, leaves no temporaries
    assert again == paths
    assert len(list(folder.iterdir())) == 3
    assert load_report(paths.json) == report.to_json()


def test_a_run_id_that_is_not_a_plain_name_is_refused(tmp_path: Path) -> None:
    doc = build_report().to_json()
    doc["run"]["run_id"] = "../escape"
    with pytest.raises(ValueError, match="not usable as a directory name"):
        write_report(doc, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_markdown_and_html_are_rendered_from_the_json_alone(tmp_path: Path) -> None:
    paths = build_report().write(tmp_path)
    doc = load_report(paths.json)
    assert render_markdown(doc) == paths.markdown.read_text(encoding="utf-8")
    assert render_html(doc) == paths.html.read_text(encoding="utf-8")
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    md = render_markdown(golden)
    assert md.startswith("# bindy load test report: FAILED")
    assert "reconcile p99 12.3 s > limit 10 s" in md
    assert "| reconcile p99 | 12.3 s | <= 10 s | failed |" in md
    assert "etcd \\| timeout" in md  # pipes in messages cannot break a table
    assert "baseline not comparable: different profile" in md


def test_html_is_standalone_escaped_and_script_free() -> None:
    doc = build_report().to_json()
    doc["errors"]["examples"]["api_5xx"] = ["<script>alert(1)</script>"]
    page = render_html(doc)
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<svg" in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "").replace(
        "http://127.0.0.1:18080", ""
    )


def test_long_timelines_are_folded_into_at_most_sixty_rows() -> None:
    rs = [result(i * 10, ready_ms=50) for i in range(300)]  # one op per second for 300 s
    report = LoadTestReport(
        metadata=RunMetadata(
            run_id="r1",
            target={},
            profile="p",
            seed=1,
            started_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        ),
        scenarios=(ScenarioReport(name="s", parameters={}, metrics=snapshot(rs)),),
    )
    md = render_markdown(report.to_json())
    assert "Timeline (5 s buckets" in md
    rows = [
        line
        for line in md.splitlines()
        if line.startswith("| ") and line[2].isdigit() and "-" in line.split("|")[1]
    ]
    assert len(rows) == 60
    assert rows[0] == "| 0-5 | 5 | 5 | 0 |"


def test_an_old_or_foreign_document_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text(json.dumps({"schema_version": 99, "run": {}}), encoding="utf-8")
    with pytest.raises(ValueError, match="schema_version 99"):
        load_report(path)


def test_summary_lines_name_the_verdict_and_each_violation() -> None:
    lines = summary_lines(build_report().to_json())
    assert lines[0] == f"bindy-load run {RUN_ID}: failed"
    assert any(line.strip() == "violation: reconcile p99 12.3 s > limit 10 s" for line in lines)


def test_parameters_given_as_a_dataclass_are_redacted_too() -> None:
    @dataclasses.dataclass(frozen=True)
    class Params:
        records: int
        api_token: str
        tsig: Secret

    snap = snapshot([result(0)])
    report = LoadTestReport(
        metadata=RunMetadata(
            run_id="r2",
            target={},
            profile="p",
            seed=1,
            started_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        ),
        scenarios=(
            ScenarioReport(
                name="s",
                parameters={"config": Params(records=5, api_token=SECRET_VALUE, tsig=Secret("k"))},
                metrics=snap,
            ),
        ),
    )
    params = report.to_json()["scenarios"][0]["parameters"]
    assert params == {"config": {"records": 5, "api_token": "***", "tsig": "***"}}


# --- the dns and bindcar scenarios' criteria --------------------------------------------------


def test_a_minimum_dns_answer_rate_reads_as_a_lower_bound_in_answers_per_second() -> None:
    (c,) = criteria_from({"dns_rate_per_s": 1000})
    assert (c.label, c.unit, c.bound) == ("DNS answer rate", "answers/s", Bound.MIN)
    snap = snapshot([result(0)])
    (v,) = evaluate(snap, {"dns_rate_per_s": 1000.0}, observed={"dns_rate_per_s": 812.4})
    assert str(v) == "DNS answer rate 812 answers/s < limit 1000 answers/s"
    assert evaluate(snap, {"dns_rate_per_s": 1000.0}, observed={"dns_rate_per_s": 1000.0}) == []
    assert evaluate(snap, {"dns_rate_per_s": 1000.0}, observed={"dns_rate_per_s": 4000.0}) == []


@pytest.mark.parametrize(
    ("name", "label", "observed", "text"),
    [
        ("dns_p99_s", "DNS query p99", 0.0734, "DNS query p99 0.0734 s > limit 0.05 s"),
        ("bindcar_p99_s", "bindcar request p99", 0.61, "bindcar request p99 0.61 s > limit 0.05 s"),
    ],
)
def test_dns_and_bindcar_p99s_are_upper_bounds_in_seconds(
    name: str, label: str, observed: float, text: str
) -> None:
    (c,) = criteria_from({name: 0.05})
    assert (c.label, c.unit, c.bound) == (label, "s", Bound.MAX)
    snap = snapshot([result(0)])
    (r,) = check(snap, {name: 0.05}, observed={name: observed})
    assert r.status is Status.FAILED
    assert str(r.violation) == text
    (ok,) = check(snap, {name: 0.05}, observed={name: 0.004})
    assert ok.status is Status.PASSED


def test_dns_and_bindcar_criteria_are_never_read_from_another_scenarios_metrics() -> None:
    # A burst's API latency is not a DNS query latency, nor its throughput an answer rate: only
    # the scenario that measured them supplies these values.
    snap = slow_snapshot()
    limits = {"dns_p99_s": 0.001, "dns_rate_per_s": 1e6, "bindcar_p99_s": 0.001}
    results = {r.name: r for r in check(snap, limits)}
    assert {r.status for r in results.values()} == {Status.NOT_MEASURED}
    whole_profile = SuccessCriteria(dns_rate_per_s=1e6, sustained_rate_per_s=1.0)
    assert [v.name for v in evaluate(snap, whole_profile)] == ["reconcile_p99_s"]
    (v,) = evaluate(snap, {"dns_p99_s": 0.05}, required={"dns_p99_s"})
    assert str(v) == "DNS query p99: not measured (limit 0.05 s)"
