"""The plugin's options, ini keys, env variables, markers and header, through real pytest runs."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from textwrap import dedent

import pytest

RunPytest = Callable[..., pytest.RunResult]  # the `run` fixture of tests/plugin/conftest.py

HEADER = re.compile(
    r"^bindy-load: target=(?P<target>[^,]+), profile=(?P<profile>\S+) \((?P<source>[^)]+)\), "
    r"seed=(?P<seed>\d+), run id=(?P<run_id>[0-9a-f]{32})$"
)


def usage_error(result: pytest.RunResult) -> str:
    """The single ERROR line of a usage error; the message must not spill onto more lines."""
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str() + result.stderr.str()
    indices = [i for i, line in enumerate(result.errlines) if line.startswith("ERROR:")]
    assert len(indices) == 1, result.errlines
    following = result.errlines[indices[0] + 1 : indices[0] + 2]
    assert following in ([], [""]), result.errlines
    return result.errlines[indices[0]]


def header(result: pytest.RunResult) -> re.Match[str]:
    matches = [m for line in result.outlines if (m := HEADER.match(line))]
    assert len(matches) == 1, result.outlines
    return matches[0]


@pytest.fixture
def one_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_one="def test_one():\n    pass\n")


def test_help_lists_every_option_with_both_spellings_and_its_ini_key(run: RunPytest) -> None:
    result = run("--help")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "bindy-load (*bindy_load_<name>*BINDY_LOAD_<NAME>*",
            "*--profile=NAME|PATH, --bindy-profile=NAME|PATH",
            "*built-in name (quick, standard,*",
            "*--baseline=PATH, --bindy-baseline=PATH",
            "*--save-baseline, --bindy-save-baseline",
            "*--kube-context=CONTEXT, --bindy-context=CONTEXT",
            "*--output-dir=DIR, --bindy-report-dir=DIR",
            "*--keep-namespace, --bindy-keep-namespace",
            "*--seed=N, --bindy-seed=N",
            "*--zones=N, --bindy-zones=N",
            "*--records=N, --bindy-records=N",
            "*--concurrency=N, --bindy-concurrency=N",
            "*--rate=PER_S, --bindy-rate=PER_S",
            "*--duration=DURATION, --bindy-duration=DURATION",
        ]
    )
    result.stdout.fnmatch_lines(["*bindy_load_profile (string):", "*bindy_load_records (string):"])


def test_help_works_even_when_a_setting_is_broken(
    run: RunPytest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BINDY_LOAD_RECORDS", "lots")
    assert run("--help").ret == pytest.ExitCode.OK


def test_an_unknown_profile_name_is_a_usage_error_listing_the_valid_names(
    run: RunPytest, one_test: None
) -> None:
    line = usage_error(run("--profile", "qiuck"))
    assert line == (
        "ERROR: bindy-load: --profile: unknown profile 'qiuck'; "
        "expected one of extended, quick, standard or a path to a .toml file"
    )


def test_a_bad_toml_profile_is_a_usage_error_naming_the_file(
    run: RunPytest, pytester: pytest.Pytester, one_test: None
) -> None:
    path = pytester.path / "broken.toml"
    path.write_text("[burst]\nrecords = = 3\n")
    line = usage_error(run(f"--profile={path}"))
    assert line.startswith(f"ERROR: bindy-load: --profile: cannot parse profile file {path}: ")
    assert "line 2" in line


def test_an_unknown_key_in_a_profile_file_lists_the_allowed_keys(
    run: RunPytest, pytester: pytest.Pytester, one_test: None
) -> None:
    path = pytester.path / "typo.toml"
    path.write_text("[burst]\nconcurency = 3\n")
    line = usage_error(run("--profile", str(path)))
    assert line == (
        f"ERROR: bindy-load: profile file {path}: unknown key burst.concurency; allowed keys in "
        "[burst]: concurrency, enabled, record_kinds, records, timeout_s, zones"
    )


def test_a_negative_count_on_the_command_line_is_a_usage_error(
    run: RunPytest, one_test: None
) -> None:
    line = usage_error(run("--records=-5"))
    assert line == (
        "ERROR: bindy-load: --records (burst.records): invalid value '-5'; expected an integer >= 1"
    )


def test_a_negative_count_in_the_environment_names_the_variable(
    run: RunPytest, monkeypatch: pytest.MonkeyPatch, one_test: None
) -> None:
    monkeypatch.setenv("BINDY_LOAD_CONCURRENCY", "-1")
    line = usage_error(run())
    assert line.startswith("ERROR: bindy-load: BINDY_LOAD_CONCURRENCY (burst.concurrency): ")
    assert "invalid value '-1'" in line


def test_a_negative_count_in_the_ini_file_names_the_key_and_file(
    run: RunPytest, pytester: pytest.Pytester, one_test: None
) -> None:
    ini = pytester.makeini("[pytest]\nbindy_load_zones = -2\n")
    line = usage_error(run())
    assert line.startswith(f"ERROR: bindy-load: ini bindy_load_zones in {ini} (burst.zones): ")


def test_an_error_rate_outside_zero_to_one_is_a_usage_error(
    run: RunPytest, pytester: pytest.Pytester, one_test: None
) -> None:
    path = pytester.path / "loose.toml"
    path.write_text("[criteria]\nerror_rate_max = 1.5\n")
    line = usage_error(run("--profile", str(path)))
    assert line == (
        f"ERROR: bindy-load: profile file {path} key criteria.error_rate_max: invalid value "
        "1.5; expected a fraction between 0 and 1 (0.01 = 1 %)"
    )


def test_scenario_markers_are_registered_with_a_description(run: RunPytest) -> None:
    result = run("--markers")
    assert result.ret == pytest.ExitCode.OK
    for name in ("burst", "sustained", "chaos", "e2e", "dns", "bindcar"):
        result.stdout.fnmatch_lines([f"@pytest.mark.{name}: ?*"])


def test_a_test_marked_burst_passes_under_strict_markers(
    run: RunPytest, pytester: pytest.Pytester
) -> None:
    pytester.makepyfile(
        dedent(
            """
            import pytest

            @pytest.mark.burst
            @pytest.mark.dns
            def test_marked():
                pass
            """
        )
    )
    run("--strict-markers").assert_outcomes(passed=1)


def test_the_header_names_target_profile_seed_and_run_id(run: RunPytest, one_test: None) -> None:
    result = run()
    result.assert_outcomes(passed=1)
    found = header(result)
    assert found["target"] == "local stack"
    assert (found["profile"], found["source"]) == ("quick", "built-in")
    assert int(found["seed"]) == int(found["run_id"][:8], 16)


def test_each_run_gets_its_own_run_id(run: RunPytest, one_test: None) -> None:
    assert header(run())["run_id"] != header(run())["run_id"]


@pytest.mark.parametrize("flag", ["--profile", "--bindy-profile"])
def test_both_spellings_select_a_built_in_profile(
    run: RunPytest, one_test: None, flag: str
) -> None:
    found = header(run(flag, "standard"))
    assert (found["profile"], found["source"]) == ("standard", "built-in")


def test_a_profile_file_and_overrides_show_in_the_header(
    run: RunPytest, pytester: pytest.Pytester, one_test: None
) -> None:
    path = pytester.path / "mine.toml"
    path.write_text('name = "mine"\n[burst]\nrecords = 3\n')
    result = run(
        "--profile", str(path), "--concurrency", "4", "--seed", "99", "--kube-context", "kind-a"
    )
    found = header(result)
    assert (found["profile"], found["source"]) == ("mine", str(path))
    assert found["seed"] == "99"
    assert found["target"] == "cluster context kind-a"
    result.stdout.fnmatch_lines(["bindy-load: overrides: burst.concurrency=4 (--concurrency)"])


FIXTURE_PROBE = """
import json

def test_probe(bindy_profile, load_config, bindy_run):
    print("PROBE " + json.dumps({
        "profile": bindy_profile.name,
        "records": bindy_profile.burst.records,
        "concurrency": bindy_profile.burst.concurrency,
        "rate": bindy_profile.sustained.rate_per_s,
        "duration": bindy_profile.sustained.duration_s,
        "overrides": [list(o) for o in bindy_profile.overrides],
        "keep_namespace": load_config.keep_namespace,
        "seed": bindy_run.seed,
    }))
"""


def probe(result: pytest.RunResult) -> dict[str, object]:
    result.assert_outcomes(passed=1)
    found = [line.partition("PROBE ")[2] for line in result.outlines if "PROBE " in line]
    assert len(found) == 1, result.outlines
    data: dict[str, object] = json.loads(found[0])
    return data


def test_the_ini_file_overrides_the_profile(run: RunPytest, pytester: pytest.Pytester) -> None:
    pytester.makepyfile(FIXTURE_PROBE)
    ini = pytester.makeini(
        "[pytest]\nbindy_load_profile = standard\nbindy_load_records = 1234\n"
        "bindy_load_keep_namespace = true\nbindy_load_duration = 5m\n"
    )
    data = probe(run("-s"))
    assert data["profile"] == "standard"
    assert data["records"] == 1234
    assert data["concurrency"] == 50  # from standard.toml
    assert data["duration"] == 300.0
    assert data["keep_namespace"] is True
    overrides = data["overrides"]
    assert isinstance(overrides, list)
    assert ["burst.records", f"ini bindy_load_records in {ini}"] in overrides


def test_the_environment_beats_the_ini_file_and_the_command_line_beats_both(
    run: RunPytest, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(FIXTURE_PROBE)
    pytester.makeini("[pytest]\nbindy_load_records = 1\nbindy_load_rate = 1\n")
    monkeypatch.setenv("BINDY_LOAD_RECORDS", "2")
    monkeypatch.setenv("BINDY_LOAD_RATE", "2")
    data = probe(run("-s", "--rate", "3"))
    assert data["records"] == 2
    assert data["rate"] == 3.0


def test_a_relative_profile_path_in_the_ini_file_resolves_next_to_the_ini_file(
    run: RunPytest, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(FIXTURE_PROBE)
    pytester.makeini("[pytest]\nbindy_load_profile = profiles/local.toml\n")
    (pytester.path / "profiles").mkdir()
    (pytester.path / "profiles" / "local.toml").write_text('name = "local"\n[burst]\nrecords = 9\n')
    monkeypatch.chdir(pytester.mkdir("elsewhere"))
    data = probe(run("-s", str(pytester.path)))
    assert (data["profile"], data["records"]) == ("local", 9)


def test_the_seed_option_fixes_the_seed_the_fixtures_see(
    run: RunPytest, pytester: pytest.Pytester
) -> None:
    pytester.makepyfile(FIXTURE_PROBE)
    result = run("-s", "--seed", "1234")
    assert probe(result)["seed"] == 1234
    assert header(result)["seed"] == "1234"


def test_a_scenario_disabled_by_the_profile_is_deselected_not_skipped(
    run: RunPytest, pytester: pytest.Pytester
) -> None:
    pytester.makepyfile(
        """
        def test_uses_burst(burst_config):
            assert burst_config.enabled

        def test_uses_chaos(chaos_config):
            assert chaos_config.enabled

        def test_plain():
            pass
        """
    )
    path = pytester.path / "no-chaos.toml"
    path.write_text('name = "no-chaos"\n[chaos]\nenabled = false\n')
    result = run("--profile", str(path))
    result.assert_outcomes(passed=2, deselected=1)
    run("-v").stdout.fnmatch_lines(["*test_uses_chaos*quick-chaos* PASSED*"])


TARGET_PROBE = """
def test_probe(bindy_target):
    t = bindy_target
    print("TARGET", t.dns_server, t.bindcar_url, t.operator_metrics_url, repr(t.bindcar_token))
"""


def test_a_clusters_port_forwarded_data_plane_reaches_the_target_and_the_token_stays_secret(
    run: RunPytest, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(TARGET_PROBE)
    monkeypatch.setenv("BINDY_LOAD_BINDCAR_TOKEN", "tok-3f9a-secret")
    result = run(
        "-s", "-o", "asyncio_mode=auto", "-o", "asyncio_default_fixture_loop_scope=session",
        "--kube-context", "kind-a", "--dns-server", "127.0.0.1:5353",
        "--bindcar-url", "http://localhost:8080/", "--operator-metrics-url", "http://[::1]:9090",
    )  # fmt: skip
    result.assert_outcomes(passed=1)
    assert (
        "TARGET ('127.0.0.1', 5353) http://localhost:8080 http://[::1]:9090 Secret('***')"
        in result.stdout.str()
    )
    assert "tok-3f9a-secret" not in result.stdout.str()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--kube-context", "kind-a", "--dns-server", "10.96.0.10:53"],
            "*--dns-server: invalid value '10.96.0.10:53'*on loopback*",
        ),
        (
            ["--kube-context", "kind-a", "--dns-server", "127.0.0.1"],
            "*--dns-server: invalid value '127.0.0.1'*HOST:PORT*",
        ),
        (
            ["--kube-context", "kind-a", "--bindcar-url", "http://bindcar.svc:8080"],
            "*--bindcar-url: invalid value 'http://bindcar.svc:8080'*on loopback*",
        ),
        (
            ["--bindcar-url", "http://127.0.0.1:8080"],
            "*--bindcar-url: 'http://127.0.0.1:8080' only applies to a cluster named with "
            "--kube-context*",
        ),
    ],
)
def test_data_plane_addresses_must_be_loopback_and_for_a_cluster(
    run: RunPytest, pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    pytester.makepyfile(TARGET_PROBE)
    result = run(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: bindy-load: {message}"])
    assert len([line for line in result.stderr.lines if line.startswith("ERROR")]) == 1
