"""Hooks other plugins and conftest files implement to adjust pytest-bindy-load.

Registered from ``plugin.pytest_addhooks``; the plugin calls them with keyword arguments through
``config.hook``. "firstresult" hooks stop at the first implementation that returns non-None.
Like every hook outside ``pytest_runtest_*``, implementations should not raise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_bindy_load.profiles import LoadTestConfig, Profile


@pytest.hookspec(firstresult=True)
def pytest_bindy_load_modify_profile(
    profile: Profile, load_config: LoadTestConfig, config: pytest.Config
) -> Profile | None:
    """Replace the resolved profile before anything uses it.

    Called once, in ``pytest_configure``, after the profile has been resolved from CLI, env,
    ini, profile file and defaults (``profile.overrides`` lists what was overridden).

    Return a new ``Profile`` (typically ``dataclasses.replace(profile, ...)``) to use instead,
    or None to keep it. The first non-None result wins; it is validated with the rules profile
    files obey, and an invalid one stops the run with a usage error naming this hook.

    Example::

        def pytest_bindy_load_modify_profile(profile):
            burst = dataclasses.replace(profile.burst, records=10)
            return dataclasses.replace(profile, burst=burst)
    """
    return None


@pytest.hookspec
def pytest_bindy_load_update_metadata(metadata: dict[str, Any], config: pytest.Config) -> None:
    """Add to or edit the run metadata written into every report.

    Called once while the run's report is assembled, before it is written. ``metadata`` is a
    JSON-ready dict (run id, seed, target, profile, versions...); edit it in place, for example
    ``metadata["ci_build_url"] = os.environ["BUILD_URL"]``. Never put secrets in it. The return
    value is ignored.
    """


@pytest.hookspec
def pytest_bindy_load_scenario_finished(
    item: pytest.Item, result: Any, config: pytest.Config
) -> None:
    """Observe a finished scenario.

    Called after each scenario test has measured its load and evaluated its criteria, whether
    it passed or not, with the test ``item`` and its scenario result (the object also kept in
    ``item.stash`` and written to the report). Use it to export or log results; do not mutate
    ``result``. The return value is ignored.
    """


@pytest.hookspec(firstresult=True)
def pytest_bindy_load_compare(current: Any, baseline: Any, config: pytest.Config) -> Any | None:
    """Compare this run with a baseline run in place of the built-in comparison.

    Called once at session finish when ``--baseline`` names a baseline, with this run's report
    document and the baseline's (both the ``report.json`` shape). Return a
    ``pytest_bindy_load.baseline.Comparison`` (no regressions means "no regression"), or None to
    fall back to the built-in comparison with the profile's ``[regression]`` tolerances. The
    first non-None result wins; a Comparison with regressions fails the run.
    """
    return None
