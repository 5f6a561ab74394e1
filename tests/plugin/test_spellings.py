"""Another plugin owning --profile (pytest-profiling does) must never stop pytest from starting."""

from __future__ import annotations

from collections.abc import Callable
from textwrap import dedent

import pytest

RunPytest = Callable[..., pytest.RunResult]  # the `run` fixture of tests/plugin/conftest.py

FAKE_PROFILING = dedent(
    """
    def pytest_addoption(parser):
        group = parser.getgroup("profiling")
        group.addoption("--profile", action="store_true", help="fake pytest-profiling")

    def pytest_report_header(config):
        return f"fake profiling: profile={config.getoption('profile')}"
    """
)


@pytest.fixture
def one_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_one="def test_one():\n    pass\n")


def test_a_plugin_loaded_first_keeps_profile_and_bindy_profile_still_works(
    run: RunPytest, pytester: pytest.Pytester, one_test: None
) -> None:
    pytester.makepyfile(fakeprof=FAKE_PROFILING)
    pytester.syspathinsert()
    result = run("--profile", "--bindy-profile", "extended", first=("-p", "fakeprof"))
    result.assert_outcomes(passed=1)
    # Each plugin adds its own header lines, in plugin registration order: match one by one.
    result.stdout.fnmatch_lines(["fake profiling: profile=True"])
    result.stdout.fnmatch_lines(["bindy-load: target=local stack, profile=extended (built-in), *"])
    result.stdout.fnmatch_lines(
        ["bindy-load: --profile belongs to another plugin here; use --bindy-profile"]
    )


def test_an_installed_pytest_profiling_makes_the_plugin_yield_profile_up_front(
    run: RunPytest, pytester: pytest.Pytester, one_test: None
) -> None:
    # A distribution on sys.path whose pytest11 entry point is the pytest_profiling module,
    # loaded after this plugin: its --profile would make argparse fail inside its own
    # registration, so this plugin must have left --profile alone from the start.
    pytester.makepyfile(pytest_profiling=FAKE_PROFILING)
    info = pytester.mkdir("fake_profiling-1.0.dist-info")
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-profiling\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[pytest11]\nprofiling = pytest_profiling\n")
    pytester.syspathinsert()
    result = run("-p", "profiling", "--profile", "--bindy-profile", "standard", load_now=True)
    result.assert_outcomes(passed=1)
    # Each plugin adds its own header lines, in plugin registration order: match one by one.
    result.stdout.fnmatch_lines(["fake profiling: profile=True"])
    result.stdout.fnmatch_lines(["bindy-load: target=local stack, profile=standard (built-in), *"])
    result.stdout.fnmatch_lines(
        ["bindy-load: --profile belongs to another plugin here; use --bindy-profile"]
    )


def test_without_a_rival_the_header_mentions_no_spelling(run: RunPytest, one_test: None) -> None:
    result = run("--profile", "quick")
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*belongs to another plugin*")
