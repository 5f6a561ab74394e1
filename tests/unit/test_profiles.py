"""Profiles: defaults, the built-in TOML files, precedence and one-line errors naming the source."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from pytest_bindy_load.errors import ProfileError
from pytest_bindy_load.profiles import (
    BindcarLoadConfig,
    BurstConfig,
    ChaosConfig,
    ChaosTarget,
    DnsLoadConfig,
    E2EConfig,
    Layer,
    LoadTestConfig,
    OperationMix,
    Profile,
    RawValue,
    RunContext,
    SuccessCriteria,
    SustainedConfig,
    builtin_profile_names,
    load_profile,
    parse_duration,
    pick,
    resolve,
    seed_from_run_id,
    validate_profile,
)
from pytest_bindy_load.results import RECORD_KINDS, Operation


def cli(value: object, flag: str) -> RawValue:
    return RawValue(value=value, layer=Layer.CLI, where=flag, base_dir=Path.cwd())


def error_of(excinfo: pytest.ExceptionInfo[ProfileError]) -> str:
    message = str(excinfo.value)
    assert "\n" not in message, message
    return message


# --- defaults ---------------------------------------------------------------------------------


def test_load_config_defaults_target_the_local_stack_and_keep_nothing() -> None:
    config = LoadTestConfig()
    assert config.namespace_prefix == "bindy-load"
    assert config.kube_context is None
    assert config.target_label == "local stack"
    assert config.output_dir == Path("bindy-load-reports")
    assert config.prometheus_url is None
    assert config.seed is None
    assert config.keep_namespace is False
    assert config.baseline is None
    assert config.save_baseline is False


def test_a_named_context_is_described_as_a_cluster() -> None:
    assert LoadTestConfig(kube_context="kind-bindy").target_label == "cluster context kind-bindy"


def test_section_defaults_are_the_quick_profile_sizes() -> None:
    burst, sustained = BurstConfig(), SustainedConfig()
    assert (burst.zones, burst.records, burst.concurrency) == (2, 100, 20)
    assert (sustained.rate_per_s, sustained.duration_s) == (10.0, 120.0)
    assert burst.record_kinds == RECORD_KINDS
    assert ChaosConfig().targets == (ChaosTarget.OPERATOR,)
    assert E2EConfig().records == 16
    criteria = SuccessCriteria()
    assert criteria.error_rate_max == 0.01
    assert criteria.operation_p99_s is None


def test_the_operation_mix_scales_weights_to_fractions() -> None:
    fractions = OperationMix(create=2, update=1, delete=1).fractions()
    assert fractions == {Operation.CREATE: 0.5, Operation.UPDATE: 0.25, Operation.DELETE: 0.25}


def test_an_all_zero_mix_has_no_fractions() -> None:
    with pytest.raises(ProfileError, match="no positive weight"):
        OperationMix(create=0, update=0, delete=0).fractions()


def test_config_objects_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        BurstConfig().records = 5  # type: ignore[misc]


# --- built-in profiles ------------------------------------------------------------------------


def test_three_profiles_are_built_in() -> None:
    assert builtin_profile_names() == ("extended", "quick", "standard")


@pytest.mark.parametrize(
    ("name", "reconcile_s", "e2e_s", "error_rate", "memory_mb_per_h", "rate_per_s", "dns"),
    [
        # dns: (dns_p99_s, dns_rate_per_s, bindcar_p99_s), from bindy's documented DNS targets
        # (50 / 20 ms) and bindcar timings, at rates one Python client really offers on 2 cores.
        ("quick", 10, 30, 0.01, 100, 10, (0.05, 190, 0.5)),
        ("standard", 5, 15, 0.005, 50, 50, (0.05, 950, 0.5)),
        ("extended", 3, 10, 0.001, 20, 100, (0.02, 1900, 0.15)),
    ],
)
def test_built_in_profiles_carry_the_documented_success_criteria(
    name: str,
    reconcile_s: float,
    e2e_s: float,
    error_rate: float,
    memory_mb_per_h: float,
    rate_per_s: float,
    dns: tuple[float, float, float],
) -> None:
    profile = load_profile(name)
    assert profile.name == name
    assert profile.builtin
    assert profile.source is not None
    assert profile.source.name == f"{name}.toml"
    assert profile.criteria == SuccessCriteria(
        reconcile_p99_s=reconcile_s,
        e2e_p99_s=e2e_s,
        error_rate_max=error_rate,
        memory_growth_mb_per_h=memory_mb_per_h,
        sustained_rate_per_s=rate_per_s,
        dns_p99_s=dns[0],
        dns_rate_per_s=dns[1],
        bindcar_p99_s=dns[2],
    )


@pytest.mark.parametrize(
    ("name", "records", "concurrency"),
    [("quick", 100, 20), ("standard", 1000, 50), ("extended", 10000, 100)],
)
def test_built_in_bursts_have_the_documented_size(
    name: str, records: int, concurrency: int
) -> None:
    burst = load_profile(name).burst
    assert (burst.records, burst.concurrency) == (records, concurrency)


def test_quick_sustains_ten_operations_per_second_for_two_minutes() -> None:
    sustained = load_profile("quick").sustained
    assert (sustained.rate_per_s, sustained.duration_s) == (10.0, 120.0)
    assert load_profile("quick").burst.zones == 2


def test_the_fingerprint_follows_the_workload_not_the_criteria() -> None:
    quick = load_profile("quick")
    stricter = dataclasses.replace(quick, criteria=SuccessCriteria(reconcile_p99_s=1))
    bigger = dataclasses.replace(quick, burst=dataclasses.replace(quick.burst, records=101))
    assert stricter.fingerprint() == quick.fingerprint()
    assert bigger.fingerprint() != quick.fingerprint()
    assert load_profile("standard").fingerprint() != quick.fingerprint()


def test_a_profile_serialises_to_json_with_its_source() -> None:
    data = json.loads(json.dumps(load_profile("standard").to_dict()))
    assert data["name"] == "standard"
    assert data["source"].endswith("standard.toml")
    assert data["chaos"]["targets"] == ["operator", "bind9"]
    assert data["sustained"]["mix"] == {"create": 0.5, "update": 0.3, "delete": 0.2}


# --- profile files ----------------------------------------------------------------------------


def write(tmp_path: Path, body: str, name: str = "mine.toml") -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


def test_a_partial_file_falls_back_to_defaults_per_key(tmp_path: Path) -> None:
    path = write(tmp_path, "[burst]\nrecords = 7\n[sustained.mix]\ndelete = 0\n")
    profile = load_profile(str(path))
    assert profile.name == "mine"
    assert profile.source == path
    assert not profile.builtin
    assert profile.burst.records == 7
    assert profile.burst.concurrency == BurstConfig().concurrency
    assert profile.sustained.mix == OperationMix(create=0.5, update=0.3, delete=0)


def test_a_relative_path_resolves_against_the_base_dir(tmp_path: Path) -> None:
    write(tmp_path, 'name = "named-in-file"\n[chaos]\ntargets = ["bind9"]\n')
    profile = load_profile("mine.toml", base_dir=tmp_path)
    assert profile.name == "named-in-file"
    assert profile.chaos.targets == (ChaosTarget.BIND9,)


def test_integers_are_accepted_where_seconds_are_expected(tmp_path: Path) -> None:
    profile = load_profile(str(write(tmp_path, "[sustained]\nduration_s = 90\n")))
    assert profile.sustained.duration_s == 90.0
    assert isinstance(profile.sustained.duration_s, float)


# --- precedence -------------------------------------------------------------------------------


def test_pick_prefers_cli_then_env_then_ini(tmp_path: Path) -> None:
    ini_file = tmp_path / "pytest.ini"

    def records(cli: str | None, env: dict[str, str], ini: str | None) -> RawValue | None:
        return pick(
            "records",
            cli=cli,
            cli_flag="--records",
            env=env,
            ini=ini,
            ini_file=ini_file,
            cwd=tmp_path / "elsewhere",
        )

    env = {"BINDY_LOAD_RECORDS": "20"}
    all_three = records("10", env, "30")
    env_and_ini = records(None, env, "30")
    ini_only = records(None, {}, "30")
    assert all_three is not None
    assert (all_three.value, all_three.where) == ("10", "--records")
    assert env_and_ini is not None
    assert (env_and_ini.value, env_and_ini.where) == ("20", "BINDY_LOAD_RECORDS")
    assert ini_only is not None
    assert (ini_only.value, ini_only.where) == ("30", f"ini bindy_load_records in {ini_file}")
    assert ini_only.base_dir == tmp_path
    assert records(None, {}, None) is None


def test_empty_env_and_ini_values_count_as_unset(tmp_path: Path) -> None:
    raw = pick(
        "seed",
        cli=None,
        cli_flag="--seed",
        env={"BINDY_LOAD_SEED": " "},
        ini="",
        ini_file=None,
        cwd=tmp_path,
    )
    assert raw is None


@pytest.mark.parametrize(
    ("cli_value", "env_value", "ini_value", "expected", "winner"),
    [
        ("11", "22", "33", 11, "--records"),
        (None, "22", "33", 22, "BINDY_LOAD_RECORDS"),
        (None, None, "33", 33, "ini bindy_load_records"),
        (None, None, None, 44, None),  # the profile file
    ],
)
def test_each_layer_beats_the_ones_below_it(
    tmp_path: Path,
    cli_value: str | None,
    env_value: str | None,
    ini_value: str | None,
    expected: int,
    winner: str | None,
) -> None:
    path = write(tmp_path, "[burst]\nrecords = 44\n")
    env = {} if env_value is None else {"BINDY_LOAD_RECORDS": env_value}
    records = pick(
        "records",
        cli=cli_value,
        cli_flag="--records",
        env=env,
        ini=ini_value,
        ini_file=None,
        cwd=tmp_path,
    )
    raw = {"profile": cli(str(path), "--profile")}
    if records is not None:
        raw["records"] = records
    profile = resolve(raw).profile
    assert profile.burst.records == expected
    assert profile.burst.concurrency == BurstConfig().concurrency  # the built-in default
    assert profile.overrides == (() if winner is None else (("burst.records", winner),))


def test_without_any_setting_the_quick_profile_and_default_config_are_used() -> None:
    resolved = resolve({})
    assert resolved.profile.name == "quick"
    assert resolved.load_config == LoadTestConfig()


def test_every_override_reaches_its_profile_key() -> None:
    resolved = resolve(
        {
            "zones": cli("3", "--zones"),
            "records": cli("1000", "--records"),
            "concurrency": cli("50", "--concurrency"),
            "rate": cli("2.5", "--rate"),
            "duration": cli("2m", "--duration"),
        }
    )
    burst, sustained = resolved.profile.burst, resolved.profile.sustained
    assert (burst.zones, burst.records, burst.concurrency) == (3, 1000, 50)
    assert (sustained.rate_per_s, sustained.duration_s) == (2.5, 120.0)


def test_run_settings_are_parsed_from_text(tmp_path: Path) -> None:
    baseline = write(tmp_path, "{}", name="base.json")
    config = resolve(
        {
            "kube_context": cli("kind-bindy", "--kube-context"),
            "output_dir": cli("out", "--output-dir"),
            "seed": cli("42", "--seed"),
            "keep_namespace": RawValue(value="yes", layer=Layer.ENV, where="BINDY_LOAD_X"),
            "namespace_prefix": cli("lt", "--namespace-prefix"),
            "prometheus_url": cli("http://127.0.0.1:9090/", "--prometheus-url"),
            "baseline": RawValue(
                value="base.json", layer=Layer.INI, where="ini x", base_dir=tmp_path
            ),
            "save_baseline": cli(True, "--save-baseline"),
        }
    ).load_config
    assert config.kube_context == "kind-bindy"
    assert config.output_dir == Path.cwd() / "out"
    assert config.seed == 42
    assert config.keep_namespace is True
    assert config.namespace_prefix == "lt"
    assert config.prometheus_url == "http://127.0.0.1:9090"
    assert config.baseline == baseline
    assert config.save_baseline is True


def test_local_stack_as_a_context_selects_the_local_stack() -> None:
    config = resolve({"kube_context": cli("local-stack", "--kube-context")}).load_config
    assert config.kube_context is None


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90.0), ("90s", 90.0), ("2m", 120.0), ("1.5h", 5400.0)]
)
def test_durations_take_an_optional_unit(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


# --- one-line errors naming value and source --------------------------------------------------


def test_an_unknown_profile_name_lists_the_valid_names() -> None:
    with pytest.raises(ProfileError) as excinfo:
        resolve({"profile": cli("qiuck", "--profile")})
    message = error_of(excinfo)
    assert message.startswith("--profile: unknown profile 'qiuck'")
    assert "extended, quick, standard" in message


def test_a_missing_profile_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ProfileError) as excinfo:
        resolve({"profile": cli(str(tmp_path / "nope.toml"), "--profile")})
    assert f"profile file {tmp_path / 'nope.toml'} does not exist" in error_of(excinfo)


def test_bad_toml_names_the_file_and_the_parse_error(tmp_path: Path) -> None:
    path = write(tmp_path, "[burst\nrecords = 1\n")
    with pytest.raises(ProfileError) as excinfo:
        resolve({"profile": cli(str(path), "--profile")})
    message = error_of(excinfo)
    assert message.startswith(f"--profile: cannot parse profile file {path}: ")
    assert "line 1" in message


@pytest.mark.parametrize(
    ("body", "fragments"),
    [
        ("[burst]\nrecrods = 1\n", ["unknown key burst.recrods", "allowed keys in [burst]: "]),
        ("colour = 1\n", ["unknown key colour", "allowed keys in the top level: bindcar, burst"]),
        ("[sustained.mix]\nreads = 1\n", ["unknown key sustained.mix.reads", "create, delete"]),
        (
            "[dns]\nqps = 5\n",
            [
                "unknown key dns.qps",
                "allowed keys in [dns]: duration_s, enabled, max_in_flight, query_timeout_s, "
                "rate_qps, ready_timeout_s, records, tcp, zones",
            ],
        ),
        (
            "[bindcar]\nrate = 5\n",
            [
                "unknown key bindcar.rate",
                "allowed keys in [bindcar]: enabled, max_in_flight, rate_per_s, timeout_s, zones",
            ],
        ),
        ("[criteria]\ndns_p99_ms = 5\n", ["unknown key criteria.dns_p99_ms", "dns_p99_s"]),
    ],
)
def test_an_unknown_key_lists_the_allowed_keys(
    tmp_path: Path, body: str, fragments: list[str]
) -> None:
    path = write(tmp_path, body)
    with pytest.raises(ProfileError) as excinfo:
        load_profile(str(path))
    message = error_of(excinfo)
    assert message.startswith(f"profile file {path}: ")
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize(
    ("body", "key", "shown", "expected"),
    [
        ('[burst]\nrecords = "100"\n', "burst.records", "'100' (string)", "an integer >= 1"),
        ("[burst]\nrecords = 1.5\n", "burst.records", "1.5 (number)", "an integer >= 1"),
        ("[burst]\nenabled = 1\n", "burst.enabled", "1 (integer)", "true or false"),
        ("[burst]\nconcurrency = -3\n", "burst.concurrency", "-3", "an integer >= 1"),
        ("[sustained]\nrate_per_s = 0\n", "sustained.rate_per_s", "0", "a number > 0"),
        ("[criteria]\nerror_rate_max = 5\n", "criteria.error_rate_max", "5", "between 0 and 1"),
        ("[criteria]\nerror_rate_max = -0.1\n", "criteria.error_rate_max", "-0.1", "0 and 1"),
        ('[chaos]\ntargets = ["dns"]\n', "chaos.targets", "['dns'] (list)", "operator, bind9"),
        ("[e2e]\nrecord_kinds = []\n", "e2e.record_kinds", "[] (list)", "ARecord, AAAARecord"),
        ("burst = 3\n", "burst", "3 (integer)", "a table"),
        ("[dns]\nzones = 0\n", "dns.zones", "0", "an integer >= 1"),
        ("[dns]\nrecords = -8\n", "dns.records", "-8", "an integer >= 1"),
        ("[dns]\nrate_qps = -100\n", "dns.rate_qps", "-100", "a number > 0"),
        ("[dns]\nrate_qps = 0\n", "dns.rate_qps", "0", "a number > 0"),
        ("[dns]\nduration_s = -1\n", "dns.duration_s", "-1", "a number > 0"),
        ("[dns]\nquery_timeout_s = 0\n", "dns.query_timeout_s", "0", "a number > 0"),
        ("[dns]\nmax_in_flight = -1\n", "dns.max_in_flight", "-1", "an integer >= 1"),
        ("[dns]\nready_timeout_s = -5\n", "dns.ready_timeout_s", "-5", "a number > 0"),
        ('[dns]\ntcp = "yes"\n', "dns.tcp", "'yes' (string)", "true or false"),
        ("[dns]\nenabled = 0\n", "dns.enabled", "0 (integer)", "true or false"),
        ("[bindcar]\nzones = -3\n", "bindcar.zones", "-3", "an integer >= 1"),
        ("[bindcar]\nzones = 2.5\n", "bindcar.zones", "2.5 (number)", "an integer >= 1"),
        ("[bindcar]\nrate_per_s = -1\n", "bindcar.rate_per_s", "-1", "a number > 0"),
        ("[bindcar]\ntimeout_s = 0\n", "bindcar.timeout_s", "0", "a number > 0"),
        ("[bindcar]\nmax_in_flight = 0\n", "bindcar.max_in_flight", "0", "an integer >= 1"),
        ("[criteria]\ndns_p99_s = -0.01\n", "criteria.dns_p99_s", "-0.01", "a number > 0"),
        ("[criteria]\ndns_rate_per_s = 0\n", "criteria.dns_rate_per_s", "0", "a number > 0"),
        (
            '[criteria]\nbindcar_p99_s = "fast"\n',
            "criteria.bindcar_p99_s",
            "'fast' (string)",
            "a number > 0",
        ),
        ("dns = 3\n", "dns", "3 (integer)", "a table"),
    ],
)
def test_a_bad_value_in_a_file_names_file_key_value_and_what_is_valid(
    tmp_path: Path, body: str, key: str, shown: str, expected: str
) -> None:
    path = write(tmp_path, body)
    with pytest.raises(ProfileError) as excinfo:
        load_profile(str(path))
    message = error_of(excinfo)
    assert message.startswith(f"profile file {path} key {key}: invalid value {shown}; expected ")
    assert expected in message


def test_an_all_zero_mix_is_an_error_naming_the_mix(tmp_path: Path) -> None:
    path = write(tmp_path, "[sustained.mix]\ncreate = 0\nupdate = 0\ndelete = 0\n")
    with pytest.raises(ProfileError) as excinfo:
        load_profile(str(path))
    message = error_of(excinfo)
    assert message.startswith(f"profile file {path} key sustained.mix: invalid operation mix")
    assert "create=0, update=0, delete=0" in message
    assert "at least one > 0" in message


@pytest.mark.parametrize(
    ("layer", "where"),
    [
        (Layer.CLI, "--records"),
        (Layer.ENV, "BINDY_LOAD_RECORDS"),
        (Layer.INI, "ini bindy_load_records in /x/pytest.ini"),
    ],
)
def test_a_negative_count_names_the_source_it_came_from(layer: Layer, where: str) -> None:
    with pytest.raises(ProfileError) as excinfo:
        resolve({"records": RawValue(value="-5", layer=layer, where=where)})
    assert error_of(excinfo) == (
        f"{where} (burst.records): invalid value '-5'; expected an integer >= 1"
    )


@pytest.mark.parametrize(
    ("setting", "value", "fragment"),
    [
        ("rate", "fast", "(sustained.rate_per_s): invalid value 'fast'; expected a number > 0"),
        ("duration", "soon", "invalid value 'soon'; expected a number > 0 of seconds"),
        ("duration", "0s", "invalid value '0s'"),
        ("zones", "nan", "invalid value 'nan'"),
        ("seed", "-1", "invalid value '-1'; expected an integer between 0 and"),
        ("keep_namespace", "maybe", "invalid value 'maybe'; expected true or false"),
        ("namespace_prefix", "Bindy_Load", "invalid value 'Bindy_Load'; expected lowercase"),
        ("prometheus_url", "127.0.0.1:9090", "expected an http:// or https:// URL"),
        ("kube_context", " ", "expected a kubeconfig context name"),
    ],
)
def test_bad_text_values_name_the_option(setting: str, value: str, fragment: str) -> None:
    flag = "--" + setting.replace("_", "-")
    with pytest.raises(ProfileError) as excinfo:
        resolve({setting: cli(value, flag)})
    message = error_of(excinfo)
    assert message.startswith(flag)
    assert fragment in message


def test_a_missing_baseline_is_an_error_unless_it_is_being_saved(tmp_path: Path) -> None:
    missing = cli(str(tmp_path / "base.json"), "--baseline")
    with pytest.raises(ProfileError) as excinfo:
        resolve({"baseline": missing})
    assert error_of(excinfo).startswith(f"--baseline: baseline file {tmp_path / 'base.json'}")
    saved = resolve({"baseline": missing, "save_baseline": cli(True, "--save-baseline")})
    assert saved.load_config.baseline == tmp_path / "base.json"


def test_a_profile_from_code_is_validated_like_a_file() -> None:
    quick = load_profile("quick")
    bad = dataclasses.replace(quick, burst=dataclasses.replace(quick.burst, records=0))
    with pytest.raises(ProfileError) as excinfo:
        validate_profile(bad, where="hook x")
    assert error_of(excinfo) == (
        "hook x (burst.records): invalid value 0; expected an integer >= 1"
    )
    zero_mix = dataclasses.replace(
        quick,
        sustained=dataclasses.replace(
            quick.sustained, mix=OperationMix(create=0, update=0, delete=0)
        ),
    )
    with pytest.raises(ProfileError, match=r"hook x \(sustained.mix\): invalid operation mix"):
        validate_profile(zero_mix, where="hook x")
    with pytest.raises(ProfileError, match="returned dict; expected a Profile"):
        validate_profile({}, where="hook x")
    assert validate_profile(quick, where="hook x") is quick


# --- run context ------------------------------------------------------------------------------


def test_a_run_gets_a_fresh_id_and_a_seed_derived_from_it() -> None:
    first, second = RunContext.new(), RunContext.new()
    assert first.run_id != second.run_id
    assert len(first.run_id) == 32
    assert int(first.run_id, 16) >= 0
    assert first.short_id == first.run_id[:8]
    assert first.seed == seed_from_run_id(first.run_id) == int(first.run_id[:8], 16)
    assert first.started_at.tzinfo is not None


def test_an_explicit_seed_is_kept() -> None:
    assert RunContext.new(seed=7).seed == 7


def test_a_profile_without_a_file_says_so() -> None:
    assert Profile().source_label == "defaults"
    assert load_profile("quick").source_label == "built-in"


# --- the dns and bindcar scenarios' sections --------------------------------------------------


def test_dns_and_bindcar_defaults_are_small_and_the_new_criteria_follow_bindys_docs() -> None:
    dns, bindcar = DnsLoadConfig(), BindcarLoadConfig()
    assert (dns.zones, dns.tcp, dns.enabled) == (1, False, True)
    assert dns.rate_qps > 0
    assert dns.max_in_flight >= 1
    assert bindcar.zones >= 1
    assert bindcar.rate_per_s > 0
    criteria = SuccessCriteria()
    assert criteria.dns_p99_s == 0.05  # bindy's documented query latency target: < 50 ms
    assert criteria.bindcar_p99_s == 0.5  # bindy's documented POST zone: 100-500 ms
    assert criteria.dns_rate_per_s is None  # a minimum rate depends on the offered rate


def test_dns_and_bindcar_sections_are_read_from_a_file(tmp_path: Path) -> None:
    body = (
        "[dns]\nzones = 2\nrecords = 24\nrate_qps = 750.5\nduration_s = 30\n"
        "query_timeout_s = 1\nmax_in_flight = 64\nready_timeout_s = 90\ntcp = true\n"
        "[bindcar]\nenabled = false\nzones = 40\nrate_per_s = 8\ntimeout_s = 10\n"
        "max_in_flight = 5\n"
        "[criteria]\ndns_p99_s = 0.02\ndns_rate_per_s = 700\nbindcar_p99_s = 0.25\n"
    )
    profile = load_profile(str(write(tmp_path, body)))
    assert profile.dns == DnsLoadConfig(
        zones=2,
        records=24,
        rate_qps=750.5,
        duration_s=30.0,
        query_timeout_s=1.0,
        max_in_flight=64,
        ready_timeout_s=90.0,
        tcp=True,
    )
    assert profile.bindcar == BindcarLoadConfig(
        enabled=False, zones=40, rate_per_s=8.0, timeout_s=10.0, max_in_flight=5
    )
    c = profile.criteria
    assert (c.dns_p99_s, c.dns_rate_per_s, c.bindcar_p99_s) == (0.02, 700.0, 0.25)
    data = json.loads(json.dumps(profile.to_dict()))
    assert data["dns"]["tcp"] is True
    assert data["bindcar"]["rate_per_s"] == 8.0


@pytest.mark.parametrize("name", ["quick", "standard", "extended"])
def test_built_in_profiles_size_the_dns_and_bindcar_scenarios(name: str) -> None:
    profile = load_profile(name)
    dns, bindcar, c = profile.dns, profile.bindcar, profile.criteria
    # Each profile judges the achieved answer rate against most of what it offers.
    assert c.dns_rate_per_s is not None
    assert 0.5 * dns.rate_qps <= c.dns_rate_per_s <= dns.rate_qps
    assert dns.records >= len(RECORD_KINDS)  # every kind is queried
    assert c.dns_p99_s <= 0.05  # never laxer than bindy's documented target
    assert bindcar.zones >= bindcar.rate_per_s  # at least a second of requests each way
    assert c.bindcar_p99_s <= 1.0


def test_larger_profiles_offer_more_dns_and_bindcar_load() -> None:
    quick, standard, extended = (load_profile(n) for n in ("quick", "standard", "extended"))
    assert quick.dns.rate_qps < standard.dns.rate_qps <= extended.dns.rate_qps
    assert quick.dns.duration_s < standard.dns.duration_s < extended.dns.duration_s
    assert quick.bindcar.zones < standard.bindcar.zones < extended.bindcar.zones


def test_the_fingerprint_follows_the_dns_and_bindcar_load() -> None:
    quick = load_profile("quick")
    faster = dataclasses.replace(quick, dns=dataclasses.replace(quick.dns, rate_qps=999))
    more = dataclasses.replace(quick, bindcar=dataclasses.replace(quick.bindcar, zones=999))
    assert faster.fingerprint() != quick.fingerprint()
    assert more.fingerprint() != quick.fingerprint()


def test_a_dns_rate_criterion_can_be_turned_off_but_not_the_p99s(tmp_path: Path) -> None:
    # TOML has no null: leaving dns_rate_per_s out keeps it off; a profile from code may set None.
    quick = load_profile("quick")
    off = dataclasses.replace(
        quick, criteria=dataclasses.replace(quick.criteria, dns_rate_per_s=None)
    )
    assert validate_profile(off, where="hook x").criteria.dns_rate_per_s is None
    no_p99 = dataclasses.replace(
        quick,
        criteria=dataclasses.replace(quick.criteria, bindcar_p99_s=None),  # type: ignore[arg-type]
    )
    with pytest.raises(ProfileError) as excinfo:
        validate_profile(no_p99, where="hook x")
    assert error_of(excinfo).startswith("hook x (criteria.bindcar_p99_s): invalid value None")


def test_a_dns_or_bindcar_section_from_code_is_validated_like_a_file() -> None:
    quick = load_profile("quick")
    bad_dns = dataclasses.replace(quick, dns=dataclasses.replace(quick.dns, max_in_flight=0))
    with pytest.raises(ProfileError) as excinfo:
        validate_profile(bad_dns, where="hook x")
    assert error_of(excinfo) == (
        "hook x (dns.max_in_flight): invalid value 0; expected an integer >= 1"
    )
    bad_bindcar = dataclasses.replace(
        quick, bindcar=dataclasses.replace(quick.bindcar, rate_per_s=-2.0)
    )
    with pytest.raises(ProfileError, match=r"hook x \(bindcar.rate_per_s\): invalid value -2.0"):
        validate_profile(bad_bindcar, where="hook x")
