"""The burst scenario run as users run it (a pytest subprocess on the local stack): it writes
its reports, and an impossible criterion fails it with a message naming every violation."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from textwrap import dedent

import pytest

from pytest_bindy_load.localstack import provision
from pytest_bindy_load.report import SCHEMA_VERSION

REPO = Path(__file__).resolve().parents[2]
# Taken at import: pytester points HOME at a temporary dir, which would hide the binary cache.
REAL_CACHE = provision.cache_dir()

INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = session
asyncio_default_test_loop_scope = session
"""


def _burst_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, profile: str
) -> pytest.RunResult:
    monkeypatch.setenv(provision.CACHE_ENV, str(REAL_CACHE))
    pytester.makeini(INI)
    shutil.copy(REPO / "loadtests" / "test_burst.py", pytester.path / "test_burst.py")
    (pytester.path / "tiny.toml").write_text(profile)
    return pytester.runpytest_subprocess(
        "-m", "burst", "--profile", "tiny.toml", "--output-dir", "reports", timeout=600
    )


def test_a_small_burst_passes_and_writes_json_and_markdown_reports(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _burst_run(
        pytester,
        monkeypatch,
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
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _burst_run(
        pytester,
        monkeypatch,
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
            "*burst of 8 records violated 1 criteria:*",
            "*  - reconcile p99 * s > limit 0.001 s*",
        ]
    )
    doc = json.loads(next((pytester.path / "reports").glob("*/report.json")).read_text())
    assert doc["verdict"] == "failed"
    assert any("reconcile p99" in v for v in doc["scenarios"][0]["violations"])
