"""Shared fixtures of the framework's own tests. pytester drives the plugin tests.

In CI (``CI`` set) a skipped test fails the run: an integration test that quietly skips proves
nothing, so the suite has none that may skip there.
"""

from __future__ import annotations

import os

import pytest

pytest_plugins = ["pytester"]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if not os.environ.get("CI") or reporter is None:
        return
    skipped = reporter.stats.get("skipped", [])
    if skipped and exitstatus == pytest.ExitCode.OK:
        reporter.write_line(
            f"CI: {len(skipped)} test(s) skipped; skips are failures in CI", red=True
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
