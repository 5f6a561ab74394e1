"""pytest11 entry point of pytest-bindy-load: options, ini keys, markers, hooks and fixtures.

Wiring only: values are parsed and validated in ``profiles``; the resolved ``Profile``,
``LoadTestConfig`` and ``RunContext`` live in ``config.stash`` under the keys below.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import entry_points
from typing import Any, Final

import pytest

from pytest_bindy_load import __version__, baseline, hookspecs, profiles
from pytest_bindy_load.cluster import TestCluster, WatchHub
from pytest_bindy_load.errors import ProfileError, ReportError
from pytest_bindy_load.generators import FixtureGenerator
from pytest_bindy_load.localstack.stack import LocalStack, StackOptions, local_stack
from pytest_bindy_load.metrics import MetricsCollector
from pytest_bindy_load.operations import CROperations
from pytest_bindy_load.profiles import LoadTestConfig, Profile, RunContext
from pytest_bindy_load.report import (
    LoadTestReport,
    ReportPaths,
    RunMetadata,
    ScenarioReport,
    load_report,
    summary_lines,
    write_report,
)
from pytest_bindy_load.scenario import ScenarioContext
from pytest_bindy_load.target import BindyTarget, Secret, cluster_target

PROFILE_KEY: Final = pytest.StashKey[Profile]()
LOAD_CONFIG_KEY: Final = pytest.StashKey[LoadTestConfig]()
RUN_KEY: Final = pytest.StashKey[RunContext]()
_REPLACED_BY_HOOK_KEY: Final = pytest.StashKey[bool]()
SCENARIOS_KEY: Final = pytest.StashKey[list[ScenarioReport]]()
TARGET_REPORT_KEY: Final = pytest.StashKey[dict[str, Any]]()
REPORT_PATHS_KEY: Final = pytest.StashKey[ReportPaths]()
REPORT_DOC_KEY: Final = pytest.StashKey[dict[str, Any]]()
BASELINE_DOC_KEY: Final = pytest.StashKey[dict[str, Any]]()
_GENERATOR_COUNT_KEY: Final = pytest.StashKey[list[int]]()
# Scenario tests ask for their profile section by fixture name.
_SCENARIO_SECTIONS: Final = {
    "burst_config": "burst",
    "sustained_config": "sustained",
    "chaos_config": "chaos",
    "e2e_config": "e2e",
    "dns_config": "dns",
    "bindcar_config": "bindcar",
}

GROUP: Final = "bindy-load"
BINDCAR_TOKEN_ENV: Final = "BINDY_LOAD_BINDCAR_TOKEN"  # noqa: S105 (a name; the secret is env only)
_GROUP_HELP: Final = (
    "bindy-load (load, chaos and DNS tests of bindy). Every option also reads the ini key "
    "bindy_load_<name> and the env var BINDY_LOAD_<NAME>; CLI > env > ini > profile file"
)
_SPELLINGS_PLUGIN: Final = "bindy-load-option-spellings"

# One help text per setting, shared by the CLI option and its ini key (the env variable is
# BINDY_LOAD_<NAME>). Each states the default and the valid values.
PROFILE_HELP: Final = (
    "Load profile: a built-in name (quick, standard, extended) or a path to a TOML file. "
    "Default: quick."
)
BASELINE_HELP: Final = (
    "An earlier run's report.json to compare this run against; the run fails when a latency "
    "percentile, the throughput or the error rate is worse than the profile's [regression] "
    "tolerances allow. Default: none (no comparison)."
)
SAVE_BASELINE_HELP: Final = (
    "Write this run as the baseline (to the --baseline path, else into the output dir). "
    "A flag; ini/env values: true or false. Default: false."
)
KUBE_CONTEXT_HELP: Final = (
    "kubeconfig context of the cluster under test; 'local-stack' selects the embedded local "
    "stack. Default: the local stack."
)
OUTPUT_DIR_HELP: Final = (
    "Directory for reports, one subdirectory per run id. Default: bindy-load-reports."
)
KEEP_NAMESPACE_HELP: Final = (
    "Keep the namespaces the run created, for inspection. A flag; ini/env values: true or "
    "false. Default: false."
)
SEED_HELP: Final = (
    "Seed for generated names and data, an integer >= 0. Default: derived from the run id "
    "and printed in the header, so a run can be repeated."
)
NAMESPACE_PREFIX_HELP: Final = (
    "Prefix of the namespaces the run creates: lowercase letters, digits and '-', starting "
    "with a letter, at most 40 characters. Default: bindy-load."
)
PROMETHEUS_URL_HELP: Final = (
    "Prometheus base URL (http or https), recorded for operator resource queries that are not "
    "implemented yet: operator memory comes from --operator-metrics-url (or the local stack). "
    "Default: none."
)
DNS_SERVER_HELP: Final = (
    "A cluster's BIND9 DNS service as HOST:PORT on loopback, e.g. the local end of "
    "`kubectl port-forward svc/... 5353:53` (e2e, dns and chaos query it, over TCP: "
    "port-forwards carry no UDP). Only with "
    "--kube-context. Default: none."
)
BINDCAR_URL_HELP: Final = (
    "A cluster's bindcar API as an http URL on loopback (a port-forward); its token is read "
    f"from {BINDCAR_TOKEN_ENV} only, never from the command line. Only with --kube-context. "
    "Default: none."
)
OPERATOR_METRICS_URL_HELP: Final = (
    "A cluster's bindy metrics endpoint as an http URL on loopback (a port-forward), for "
    "operator memory. Only with --kube-context. Default: none."
)
ZONES_HELP: Final = (
    "Override burst.zones, the zones the burst spreads its records over: an integer >= 1. "
    "Default: from the profile (quick: 2)."
)
RECORDS_HELP: Final = (
    "Override burst.records, the records the burst creates in total: an integer >= 1. "
    "Default: from the profile (quick: 100)."
)
CONCURRENCY_HELP: Final = (
    "Override burst.concurrency, the burst's operations in flight: an integer >= 1. "
    "Default: from the profile (quick: 20)."
)
RATE_HELP: Final = (
    "Override sustained.rate_per_s, the offered operations per second: a number > 0. "
    "Default: from the profile (quick: 10)."
)
DURATION_HELP: Final = (
    "Override sustained.duration_s: seconds, or with a unit (90, 90s, 2m, 1h), > 0. "
    "Default: from the profile (quick: 120)."
)

MARKERS: Final[dict[str, str]] = {
    "burst": "burst scenario: create the profile's [burst] records as fast as concurrency "
    "allows; measures created -> Ready.",
    "sustained": "sustained scenario: open-loop create/update/delete load at [sustained] "
    "rate_per_s for duration_s.",
    "chaos": "chaos scenario: kill operator/BIND9 pods under load ([chaos]); measures recovery.",
    "e2e": "end-to-end scenario: follow [e2e] records from creation through Ready to a DNS answer.",
    "dns": "queries the target's DNS server (loopback on the local stack).",
    "bindcar": "calls bindcar's REST API directly.",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class _Option:
    setting: str  # profiles.SETTINGS name; ini bindy_load_<setting>, env BINDY_LOAD_<SETTING>
    names: tuple[str, str]  # (short spelling, --bindy-* spelling that is always registered)
    help: str
    metavar: str | None = None  # None: a flag

    @property
    def dest(self) -> str:
        return f"bindy_load_{self.setting}"


OPTIONS: Final[tuple[_Option, ...]] = (
    _Option(setting="profile", names=("--profile", "--bindy-profile"), help=PROFILE_HELP,
            metavar="NAME|PATH"),
    _Option(setting="baseline", names=("--baseline", "--bindy-baseline"), help=BASELINE_HELP,
            metavar="PATH"),
    _Option(setting="save_baseline", names=("--save-baseline", "--bindy-save-baseline"),
            help=SAVE_BASELINE_HELP),
    _Option(setting="kube_context", names=("--kube-context", "--bindy-context"),
            help=KUBE_CONTEXT_HELP, metavar="CONTEXT"),
    _Option(setting="output_dir", names=("--output-dir", "--bindy-report-dir"),
            help=OUTPUT_DIR_HELP, metavar="DIR"),
    _Option(setting="keep_namespace", names=("--keep-namespace", "--bindy-keep-namespace"),
            help=KEEP_NAMESPACE_HELP),
    _Option(setting="seed", names=("--seed", "--bindy-seed"), help=SEED_HELP, metavar="N"),
    _Option(setting="namespace_prefix", names=("--namespace-prefix", "--bindy-namespace-prefix"),
            help=NAMESPACE_PREFIX_HELP, metavar="PREFIX"),
    _Option(setting="prometheus_url", names=("--prometheus-url", "--bindy-prometheus-url"),
            help=PROMETHEUS_URL_HELP, metavar="URL"),
    _Option(setting="dns_server", names=("--dns-server", "--bindy-dns-server"),
            help=DNS_SERVER_HELP, metavar="HOST:PORT"),
    _Option(setting="bindcar_url", names=("--bindcar-url", "--bindy-bindcar-url"),
            help=BINDCAR_URL_HELP, metavar="URL"),
    _Option(setting="operator_metrics_url",
            names=("--operator-metrics-url", "--bindy-operator-metrics-url"),
            help=OPERATOR_METRICS_URL_HELP, metavar="URL"),
    _Option(setting="zones", names=("--zones", "--bindy-zones"), help=ZONES_HELP, metavar="N"),
    _Option(setting="records", names=("--records", "--bindy-records"), help=RECORDS_HELP,
            metavar="N"),
    _Option(setting="concurrency", names=("--concurrency", "--bindy-concurrency"),
            help=CONCURRENCY_HELP, metavar="N"),
    _Option(setting="rate", names=("--rate", "--bindy-rate"), help=RATE_HELP, metavar="PER_S"),
    _Option(setting="duration", names=("--duration", "--bindy-duration"), help=DURATION_HELP,
            metavar="DURATION"),
)  # fmt: skip

# Short spellings that installed plugins are known to register, possibly after this plugin
# loads; argparse would then fail inside *their* registration, so ours must yield up front.
# Keyed by the top-level package of the plugin's pytest11 entry point.
_KNOWN_CLAIMS: Final[dict[str, tuple[str, ...]]] = {
    "pytest_profiling": ("--profile",),
    "kubetest": ("--kube-context",),
}


@dataclass(slots=True, kw_only=True)
class _OptionSpellings:
    """Which spellings this run registered; a plugin object so the state lives with the run."""

    registered: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def flag(self, option: _Option) -> str:
        return self.registered.get(option.setting, option.names)[0]

    def dropped(self) -> list[tuple[str, str]]:
        """(short spelling another plugin owns, the spelling to use instead)."""
        return [
            (o.names[0], o.names[1])
            for o in OPTIONS
            if o.setting in self.registered and o.names[0] not in self.registered[o.setting]
        ]


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    group = parser.getgroup(GROUP, _GROUP_HELP)
    taken = _taken_option_names(parser) | _claimed_by_other_plugins(pluginmanager)
    spellings = _OptionSpellings()
    for option in OPTIONS:
        spellings.registered[option.setting] = _add_option(group, option, taken)
        parser.addini(profiles.ini_key(option.setting), option.help, default=None)
    pluginmanager.register(spellings, _SPELLINGS_PLUGIN)


def _add_option(group: pytest.OptionGroup, option: _Option, taken: set[str]) -> tuple[str, ...]:
    """Register the option, dropping its short spelling when another plugin owns it."""
    attrs: dict[str, Any] = {"dest": option.dest, "default": None, "help": option.help}
    if option.metavar is None:
        attrs["action"] = "store_true"
    else:
        attrs["metavar"] = option.metavar
    short, bindy = option.names
    if short not in taken:
        try:
            group.addoption(short, bindy, **attrs)
        except (argparse.ArgumentError, ValueError):
            pass  # pytest >= 9.2 builds argparse eagerly and reports the conflict here
        else:
            return option.names
    group.addoption(bindy, **attrs)
    return (bindy,)


def _taken_option_names(parser: pytest.Parser) -> set[str]:
    """Option strings other plugins registered already (pytest < 9.2 only fails at parse time).

    Reads the parser's groups, which pytest keeps private; without them we only lose the
    early check, not correctness on pytest >= 9.2.
    """
    names: set[str] = set()
    groups = [*getattr(parser, "_groups", ()), getattr(parser, "_anonymous", None)]
    for group in groups:
        for argument in getattr(group, "options", ()):
            names.update(argument.names())
    return names


def _claimed_by_other_plugins(pluginmanager: pytest.PytestPluginManager) -> set[str]:
    claimed: set[str] = set()
    for ep in entry_points(group="pytest11"):
        package = ep.value.partition(":")[0].strip().partition(".")[0]
        if package in _KNOWN_CLAIMS and not pluginmanager.is_blocked(ep.name):
            claimed.update(_KNOWN_CLAIMS[package])
    return claimed


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    for name, description in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {description}")
    if config.getoption("help", default=False):
        return  # --help must work even when a setting is broken
    try:
        resolved = profiles.resolve(_raw_settings(config))
        profile = resolved.profile
        replacement = config.hook.pytest_bindy_load_modify_profile(
            profile=profile, load_config=resolved.load_config, config=config
        )
        if replacement is not None:
            profile = profiles.validate_profile(
                replacement, where="hook pytest_bindy_load_modify_profile"
            )
    except ProfileError as exc:
        raise pytest.UsageError(f"bindy-load: {exc}") from exc
    config.stash[PROFILE_KEY] = profile
    config.stash[_REPLACED_BY_HOOK_KEY] = replacement is not None
    config.stash[LOAD_CONFIG_KEY] = resolved.load_config
    config.stash[RUN_KEY] = RunContext.new(seed=resolved.load_config.seed)
    path = resolved.load_config.baseline
    if path is not None and path.exists():  # read now: a bad baseline is a usage error
        try:
            config.stash[BASELINE_DOC_KEY] = load_report(path)
        except ReportError as exc:
            raise pytest.UsageError(f"bindy-load: baseline {exc}") from exc


def _raw_settings(config: pytest.Config) -> dict[str, profiles.RawValue]:
    spellings = config.pluginmanager.get_plugin(_SPELLINGS_PLUGIN)
    if not isinstance(spellings, _OptionSpellings):
        spellings = _OptionSpellings()
    raw: dict[str, profiles.RawValue] = {}
    for option in OPTIONS:
        value = profiles.pick(
            option.setting,
            cli=config.getoption(option.dest),
            cli_flag=spellings.flag(option),
            env=os.environ,
            ini=config.getini(profiles.ini_key(option.setting)),
            ini_file=config.inipath,
            cwd=config.invocation_params.dir,
        )
        if value is not None:
            raw[option.setting] = value
    return raw


def pytest_report_header(config: pytest.Config) -> list[str]:
    if RUN_KEY not in config.stash:
        return []
    profile, load, run = (
        config.stash[PROFILE_KEY],
        config.stash[LOAD_CONFIG_KEY],
        config.stash[RUN_KEY],
    )
    lines = [
        f"bindy-load: target={load.target_label}, profile={profile.name} "
        f"({profile.source_label}), seed={run.seed}, run id={run.run_id}"
    ]
    if profile.overrides:
        shown = (f"{key}={profile.value_at(key)} ({where})" for key, where in profile.overrides)
        lines.append("bindy-load: overrides: " + ", ".join(shown))
    if config.stash.get(_REPLACED_BY_HOOK_KEY, False):
        lines.append("bindy-load: profile replaced by hook pytest_bindy_load_modify_profile")
    spellings = config.pluginmanager.get_plugin(_SPELLINGS_PLUGIN)
    if isinstance(spellings, _OptionSpellings):
        for short, bindy in spellings.dropped():
            lines.append(f"bindy-load: {short} belongs to another plugin here; use {bindy}")
    return lines


# --------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def bindy_profile(pytestconfig: pytest.Config) -> Profile:
    """The run's resolved profile (after overrides and pytest_bindy_load_modify_profile)."""
    return pytestconfig.stash[PROFILE_KEY]


@pytest.fixture(scope="session")
def load_config(pytestconfig: pytest.Config) -> LoadTestConfig:
    """Where and how the run executes: target context, output dir, seed, namespace prefix."""
    return pytestconfig.stash[LOAD_CONFIG_KEY]


@pytest.fixture(scope="session")
def bindy_run(pytestconfig: pytest.Config) -> RunContext:
    """Run id (labels, namespace names, report paths), effective seed and start time."""
    return pytestconfig.stash[RUN_KEY]


# --- The target and the cluster: session scope, on the session event loop.


@pytest.fixture(scope="session")
async def bindy_local_stack(load_config: LoadTestConfig) -> AsyncIterator[LocalStack | None]:
    """The embedded local stack when no --kube-context was given; None on a named cluster."""
    if load_config.kube_context is not None:
        yield None
        return
    async with local_stack(StackOptions()) as stack:
        yield stack


@pytest.fixture(scope="session")
def bindy_target(
    load_config: LoadTestConfig, bindy_local_stack: LocalStack | None, pytestconfig: pytest.Config
) -> BindyTarget:
    """What the run measures: the local stack by default, a cluster only when named. The
    report names it (without secrets)."""
    if bindy_local_stack is not None:
        target = bindy_local_stack.target
    else:
        assert load_config.kube_context is not None
        token = os.environ.get(BINDCAR_TOKEN_ENV)
        target = cluster_target(
            load_config.kube_context,
            dns_server=load_config.dns_server,
            bindcar_url=load_config.bindcar_url,
            bindcar_token=Secret(token) if token else None,
            operator_metrics_url=load_config.operator_metrics_url,
        )
    pytestconfig.stash[TARGET_REPORT_KEY] = target.to_report()
    return target


@pytest.fixture(scope="session")
async def cluster(bindy_target: BindyTarget, bindy_run: RunContext) -> AsyncIterator[TestCluster]:
    """Connected, with bindy's CRDs and operator checked; every namespace of this run is
    removed at the end, whatever happened."""
    tc = await TestCluster.connect(bindy_target)
    await tc.check_crds()
    await tc.check_operator()
    try:
        yield tc
    finally:
        await tc.cleanup_run(bindy_run.run_id)


@pytest.fixture(scope="session")
async def watch_hub(cluster: TestCluster) -> AsyncIterator[WatchHub]:
    """One shared watch per kind for the whole session."""
    async with cluster.watch_hub() as hub:
        yield hub


@pytest.fixture
async def load_namespace(
    cluster: TestCluster, load_config: LoadTestConfig, bindy_run: RunContext
) -> AsyncIterator[str]:
    """A fresh namespace labelled with the run id; deleted afterwards unless --keep-namespace."""
    name = await cluster.create_namespace(load_config.namespace_prefix, bindy_run.run_id)
    try:
        yield name
    finally:
        if not load_config.keep_namespace:
            await cluster.delete_namespace(name, run_id=bindy_run.run_id)


@pytest.fixture
def generator(bindy_run: RunContext, request: pytest.FixtureRequest) -> FixtureGenerator:
    """Seeded fixtures; each test gets its own zone-name prefix so zone names stay unique
    cluster-wide within a run (a duplicate would be DuplicateZone, not load)."""
    counter = request.config.stash.setdefault(_GENERATOR_COUNT_KEY, [0])
    counter[0] += 1
    return FixtureGenerator(bindy_run.seed, bindy_run.run_id, zone_prefix=f"t{counter[0]}z")


@pytest.fixture
def metrics() -> MetricsCollector:
    return MetricsCollector()


@pytest.fixture
async def cr_operations(
    cluster: TestCluster, watch_hub: WatchHub, load_namespace: str
) -> CROperations:
    return CROperations(cluster.api, watch_hub, load_namespace)


@pytest.fixture
def record_scenario(request: pytest.FixtureRequest) -> Callable[[ScenarioReport], None]:
    """Hands a scenario's report to the session report (written at session end)."""

    def record(report: ScenarioReport) -> None:
        request.config.stash.setdefault(SCENARIOS_KEY, []).append(report)
        request.config.hook.pytest_bindy_load_scenario_finished(
            item=request.node, result=report, config=request.config
        )

    return record


@pytest.fixture
def bindy_scenario(
    bindy_profile: Profile,
    bindy_run: RunContext,
    bindy_target: BindyTarget,
    cluster: TestCluster,
    watch_hub: WatchHub,
    load_namespace: str,
    generator: FixtureGenerator,
    metrics: MetricsCollector,
    record_scenario: Callable[[ScenarioReport], None],
) -> ScenarioContext:
    """Everything a scenario test needs in one fixture (see scenario.ScenarioContext)."""
    return ScenarioContext(
        profile=bindy_profile,
        run=bindy_run,
        target=bindy_target,
        cluster=cluster,
        hub=watch_hub,
        namespace=load_namespace,
        generator=generator,
        metrics=metrics,
        record=record_scenario,
    )


# --- Scenario parametrization: each scenario test takes its section of the active profile.


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if PROFILE_KEY not in metafunc.config.stash:
        return
    profile = metafunc.config.stash[PROFILE_KEY]
    for fixture, section in _SCENARIO_SECTIONS.items():
        if fixture in metafunc.fixturenames:
            value = getattr(profile, section)
            metafunc.parametrize(fixture, [value], ids=[f"{profile.name}-{section}"])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A scenario whose profile section says ``enabled = false`` is deselected, not skipped:
    it was never meant to run, and CI treats skips as failures."""
    keep: list[pytest.Item] = []
    off: list[pytest.Item] = []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        disabled = any(
            getattr(params.get(fixture), "enabled", True) is False for fixture in _SCENARIO_SECTIONS
        )
        (off if disabled else keep).append(item)
    if off:
        config.hook.pytest_deselected(items=off)
        items[:] = keep


# --- Session report.


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    scenarios = config.stash.get(SCENARIOS_KEY, [])
    if not scenarios or RUN_KEY not in config.stash:
        return
    run, profile, load = (
        config.stash[RUN_KEY],
        config.stash[PROFILE_KEY],
        config.stash[LOAD_CONFIG_KEY],
    )
    target = config.stash.get(TARGET_REPORT_KEY, {"description": load.target_label})
    metadata = RunMetadata(
        run_id=run.run_id,
        target=target,
        profile=profile.name,
        profile_fingerprint=profile.fingerprint(),
        seed=run.seed,
        started_at=run.started_at,
        finished_at=datetime.now(UTC),
        versions={"pytest-bindy-load": __version__},
    )
    notes: tuple[str, ...] = ()
    if load.prometheus_url:
        notes = (f"--prometheus-url {load.prometheus_url} was not queried (not implemented yet)",)
    report = LoadTestReport(metadata=metadata, scenarios=tuple(scenarios), notes=notes)
    comparison = _compare_with_baseline(config, report.to_json(), profile, load)
    if comparison is not None:
        report = dataclasses.replace(report, comparison=comparison.to_dict())
        if comparison.regressed and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    save_to = None
    if load.save_baseline:
        save_to = load.baseline or load.output_dir / baseline.BASELINE_FILE
        note = (
            f"saved as the baseline: {save_to}"
            if report.passed
            else f"not saved as the baseline ({save_to}): this run did not pass"
        )
        report = dataclasses.replace(report, notes=(*report.notes, note))
    doc = report.to_json()
    config.stash[REPORT_PATHS_KEY] = write_report(doc, load.output_dir)
    config.stash[REPORT_DOC_KEY] = doc
    if save_to is not None and report.passed:
        baseline.save_baseline(doc, save_to)


def _compare_with_baseline(
    config: pytest.Config, doc: dict[str, Any], profile: Profile, load: LoadTestConfig
) -> baseline.Comparison | None:
    base = config.stash.get(BASELINE_DOC_KEY, None)
    if base is None:
        return None
    found = config.hook.pytest_bindy_load_compare(current=doc, baseline=base, config=config)
    if found is not None:
        if not isinstance(found, baseline.Comparison):
            raise TypeError(
                f"pytest_bindy_load_compare returned {type(found).__name__}, "
                "expected a pytest_bindy_load.baseline.Comparison or None"
            )
        return found
    return baseline.compare(doc, base, profile.regression, baseline_path=str(load.baseline))


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    doc = config.stash.get(REPORT_DOC_KEY, None)
    paths = config.stash.get(REPORT_PATHS_KEY, None)
    if doc is None or paths is None:
        return
    terminalreporter.section("bindy-load")
    for line in summary_lines(doc):
        terminalreporter.write_line(line)
    terminalreporter.write_line(f"reports: {paths.json} {paths.markdown} {paths.html}")
