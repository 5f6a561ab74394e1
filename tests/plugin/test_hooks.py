"""The plugin's own hooks: declared, checked by pytest, and modify_profile applied and validated."""

from __future__ import annotations

from collections.abc import Callable
from textwrap import dedent

import pytest

RunPytest = Callable[..., pytest.RunResult]  # the `run` fixture of tests/plugin/conftest.py

RECORDS_PROBE = """
def test_probe(bindy_profile):
    print("RECORDS", bindy_profile.burst.records, bindy_profile.name)
"""


def test_modify_profile_replaces_the_resolved_profile(
    run: RunPytest, pytester: pytest.Pytester
) -> None:
    pytester.makeconftest(
        dedent(
            """
            import dataclasses

            def pytest_bindy_load_modify_profile(profile, load_config, config):
                burst = dataclasses.replace(profile.burst, records=profile.burst.records + 1)
                return dataclasses.replace(profile, name="tweaked", burst=burst)
            """
        )
    )
    pytester.makepyfile(RECORDS_PROBE)
    result = run("-s", "--records", "41")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "bindy-load: *profile=tweaked (built-in)*",
            "bindy-load: overrides: burst.records=42 (--records)",
            "bindy-load: profile replaced by hook pytest_bindy_load_modify_profile",
            "*RECORDS 42 tweaked*",
        ]
    )


def test_modify_profile_returning_none_keeps_the_profile(
    run: RunPytest, pytester: pytest.Pytester
) -> None:
    pytester.makeconftest("def pytest_bindy_load_modify_profile(profile):\n    return None\n")
    pytester.makepyfile(RECORDS_PROBE)
    result = run("-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*RECORDS 100 quick*"])


def test_an_invalid_profile_from_the_hook_is_a_usage_error_naming_the_hook(
    run: RunPytest, pytester: pytest.Pytester
) -> None:
    pytester.makeconftest(
        dedent(
            """
            import dataclasses

            def pytest_bindy_load_modify_profile(profile):
                criteria = dataclasses.replace(profile.criteria, error_rate_max=2.0)
                return dataclasses.replace(profile, criteria=criteria)
            """
        )
    )
    pytester.makepyfile(RECORDS_PROBE)
    result = run()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: bindy-load: hook pytest_bindy_load_modify_profile (criteria.error_rate_max): "
            "invalid value 2.0; expected a fraction between 0 and 1*"
        ]
    )


def test_conftest_implementations_of_every_hook_match_their_specs(
    run: RunPytest, pytester: pytest.Pytester
) -> None:
    pytester.makeconftest(
        dedent(
            """
            def pytest_bindy_load_modify_profile(profile, load_config, config):
                return None

            def pytest_bindy_load_update_metadata(metadata, config):
                pass

            def pytest_bindy_load_scenario_finished(item, result, config):
                pass

            def pytest_bindy_load_compare(current, baseline, config):
                return None

            def test_specs_are_registered(pytestconfig):
                hook = pytestconfig.hook
                assert hook.pytest_bindy_load_modify_profile.spec.opts["firstresult"]
                assert hook.pytest_bindy_load_compare.spec.opts["firstresult"]
                assert not hook.pytest_bindy_load_update_metadata.spec.opts["firstresult"]
                assert not hook.pytest_bindy_load_scenario_finished.spec.opts["firstresult"]
            """
        )
    )
    pytester.makepyfile("from conftest import test_specs_are_registered\n")
    run().assert_outcomes(passed=1)


def test_an_implementation_with_an_argument_the_spec_lacks_is_rejected(
    run: RunPytest, pytester: pytest.Pytester
) -> None:
    pytester.makeconftest(
        "def pytest_bindy_load_compare(current, baseline, tolerance):\n    pass\n"
    )
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = run()
    assert result.ret != pytest.ExitCode.OK
    assert "pytest_bindy_load_compare" in result.stdout.str() + result.stderr.str()
    assert "tolerance" in result.stdout.str() + result.stderr.str()
