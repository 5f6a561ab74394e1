"""Load profiles and run settings: frozen dataclasses, TOML loading and one precedence rule.

Precedence is CLI > environment > ini > profile file > dataclass default, resolved once. Every
bad value raises ``ProfileError`` with one line naming the value, where it came from and what is
valid. Pure: no pytest import; the only I/O is reading profile files (and a stat of the
baseline file).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
import tomllib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar
from urllib.parse import urlsplit

from pytest_bindy_load.errors import ProfileError
from pytest_bindy_load.results import RECORD_KINDS, Operation
from pytest_bindy_load.target import is_loopback

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

    from _typeshed import DataclassInstance

_D = TypeVar("_D", bound="DataclassInstance")

DEFAULT_PROFILE: Final = "quick"
LOCAL_STACK_CONTEXT: Final = "local-stack"  # kube context value that selects the embedded stack
ENV_PREFIX: Final = "BINDY_LOAD_"
INI_PREFIX: Final = "bindy_load_"
MAX_SEED: Final = 2**63 - 1


class ChaosTarget(StrEnum):
    """What a chaos fault kills (the pod is deleted; its controller starts a new one)."""

    OPERATOR = "operator"  # the bindy operator pod, app=bindy
    BIND9 = "bind9"  # a BIND9 pod (named + bindcar), app=bind9


class Layer(StrEnum):
    """Where a raw setting came from, highest precedence first."""

    CLI = "cli"
    ENV = "env"
    INI = "ini"
    PROFILE = "profile"
    DEFAULT = "default"


_TEXT_LAYERS: Final = frozenset({Layer.CLI, Layer.ENV, Layer.INI})


# --------------------------------------------------------------------------------------------
# per-field rules: one table drives TOML parsing, overrides and validation of hook results
# --------------------------------------------------------------------------------------------


class _Kind(StrEnum):
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    RECORD_KINDS = "record_kinds"
    CHAOS_TARGETS = "chaos_targets"
    TABLE = "table"


@dataclass(frozen=True, slots=True, kw_only=True)
class _Rule:
    kind: _Kind
    low: float | None = None
    low_open: bool = False  # value must be > low rather than >= low
    high: float | None = None
    optional: bool = False  # None allowed (the check is off)
    seconds: bool = False  # text may carry a unit: 90, 90s, 2m, 1h

    def expected(self, *, text: bool = False) -> str:
        match self.kind:
            case _Kind.BOOL:
                return "true or false" + (" (also 1/0, yes/no, on/off)" if text else "")
            case _Kind.RECORD_KINDS:
                return "a non-empty list of distinct record kinds from " + ", ".join(RECORD_KINDS)
            case _Kind.CHAOS_TARGETS:
                return "a non-empty list of distinct targets from " + ", ".join(ChaosTarget)
            case _Kind.TABLE:
                return "a table"
        noun = "an integer" if self.kind is _Kind.INT else "a number"
        if self.low == 0 and self.high == 1:
            out = "a fraction between 0 and 1 (0.01 = 1 %)"
        elif self.high is not None:
            out = f"{noun} between {_num(self.low)} and {_num(self.high)}"
        else:
            out = f"{noun} {'>' if self.low_open else '>='} {_num(self.low)}"
        if self.seconds and text:
            out += " of seconds, optionally with a unit (90, 90s, 2m, 1h)"
        if self.optional:
            out += " (leave unset to turn the check off)"
        return out


def _num(value: float | None) -> str:
    if value is None:
        return "?"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


COUNT: Final = _Rule(kind=_Kind.INT, low=1)
POSITIVE: Final = _Rule(kind=_Kind.FLOAT, low=0, low_open=True)
SECONDS: Final = _Rule(kind=_Kind.FLOAT, low=0, low_open=True, seconds=True)
WEIGHT: Final = _Rule(kind=_Kind.FLOAT, low=0)
FRACTION: Final = _Rule(kind=_Kind.FLOAT, low=0, high=1)
FLAG: Final = _Rule(kind=_Kind.BOOL)
KINDS: Final = _Rule(kind=_Kind.RECORD_KINDS)
TARGETS: Final = _Rule(kind=_Kind.CHAOS_TARGETS)
SEED: Final = _Rule(kind=_Kind.INT, low=0, high=MAX_SEED)
OPTIONAL_POSITIVE: Final = replace(POSITIVE, optional=True)
OPTIONAL_FRACTION: Final = replace(FRACTION, optional=True)


def _f(default: Any, rule: _Rule) -> Any:
    return field(default=default, metadata={"rule": rule})


# --------------------------------------------------------------------------------------------
# the configuration types (defaults are the quick profile's, the most lenient)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class OperationMix:
    """Relative weights of the sustained load's operations; only the ratios matter."""

    create: float = _f(0.5, WEIGHT)
    update: float = _f(0.3, WEIGHT)
    delete: float = _f(0.2, WEIGHT)

    def fractions(self) -> dict[Operation, float]:
        """Weights scaled to sum to 1, for picking the next operation."""
        total = self.create + self.update + self.delete
        if not total > 0:
            raise ProfileError(f"operation mix {self.describe()} has no positive weight")
        return {
            Operation.CREATE: self.create / total,
            Operation.UPDATE: self.update / total,
            Operation.DELETE: self.delete / total,
        }

    def describe(self) -> str:
        return f"create={self.create:g}, update={self.update:g}, delete={self.delete:g}"


@dataclass(frozen=True, slots=True, kw_only=True)
class BurstConfig:
    """Create ``records`` records over ``zones`` zones as fast as ``concurrency`` allows."""

    enabled: bool = _f(True, FLAG)
    zones: int = _f(2, COUNT)
    records: int = _f(100, COUNT)  # total over all zones
    concurrency: int = _f(20, COUNT)  # operations in flight at once
    timeout_s: float = _f(300.0, SECONDS)  # deadline for every record to become Ready
    record_kinds: tuple[str, ...] = _f(RECORD_KINDS, KINDS)  # used round-robin


@dataclass(frozen=True, slots=True, kw_only=True)
class SustainedConfig:
    """Open-loop create/update/delete load at ``rate_per_s`` for ``duration_s``."""

    enabled: bool = _f(True, FLAG)
    rate_per_s: float = _f(10.0, POSITIVE)  # offered operations per second
    duration_s: float = _f(120.0, SECONDS)
    zones: int = _f(2, COUNT)
    max_in_flight: int = _f(1000, COUNT)  # cap so a stalled target cannot grow tasks unbounded
    ready_timeout_s: float = _f(60.0, SECONDS)  # per operation: acknowledged -> Ready
    # Live records are held here (creates beyond it run as deletes), so memory growth measured
    # once it is reached is the operator's, not the data's.
    max_live_records: int = _f(1000, COUNT)
    mix: OperationMix = field(
        default_factory=OperationMix, metadata={"rule": _Rule(kind=_Kind.TABLE)}
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ChaosConfig:
    """Kill target pods ``kills`` times, ``interval_s`` apart, under load at ``rate_per_s``."""

    enabled: bool = _f(True, FLAG)
    targets: tuple[ChaosTarget, ...] = _f((ChaosTarget.OPERATOR,), TARGETS)  # used in turn
    kills: int = _f(1, COUNT)
    interval_s: float = _f(30.0, SECONDS)
    rate_per_s: float = _f(5.0, POSITIVE)  # background load while faults happen
    recovery_timeout_s: float = _f(120.0, SECONDS)  # after the last kill: all Ready again
    zones: int = _f(2, COUNT)
    # After a target is back, operations still count as in the fault window this long: the
    # operator catches up on what queued while it was down.
    grace_s: float = _f(10.0, WEIGHT)


@dataclass(frozen=True, slots=True, kw_only=True)
class E2EConfig:
    """Follow ``records`` records from creation through Ready to a DNS answer."""

    enabled: bool = _f(True, FLAG)
    zones: int = _f(1, COUNT)
    records: int = _f(16, COUNT)
    record_kinds: tuple[str, ...] = _f(RECORD_KINDS, KINDS)
    timeout_s: float = _f(60.0, SECONDS)  # per record: created -> answerable
    query_timeout_s: float = _f(2.0, SECONDS)  # one DNS query
    poll_interval_s: float = _f(0.2, SECONDS)  # between DNS queries for one record


@dataclass(frozen=True, slots=True, kw_only=True)
class DnsLoadConfig:
    """Open-loop DNS queries at ``rate_qps`` for ``duration_s`` against the target's DNS server,
    over ``records`` records first created through the operator (Ready and answering)."""

    enabled: bool = _f(True, FLAG)
    zones: int = _f(1, COUNT)
    records: int = _f(16, COUNT)  # queried in turn, each answer checked against its rdata
    rate_qps: float = _f(200.0, POSITIVE)  # offered (open-loop) queries per second
    duration_s: float = _f(8.0, SECONDS)
    query_timeout_s: float = _f(2.0, SECONDS)  # one query
    max_in_flight: int = _f(200, COUNT)  # queries due beyond this are dropped and counted
    ready_timeout_s: float = _f(60.0, SECONDS)  # records: created -> Ready and answering
    tcp: bool = _f(False, FLAG)  # one TCP connection per query instead of UDP


@dataclass(frozen=True, slots=True, kw_only=True)
class BindcarLoadConfig:
    """Create ``zones`` zones through bindcar's REST API directly (not as DNSZone resources)
    open-loop at ``rate_per_s``, then delete them at the same rate."""

    enabled: bool = _f(True, FLAG)
    zones: int = _f(20, COUNT)
    rate_per_s: float = _f(10.0, POSITIVE)  # offered requests per second, creates then deletes
    timeout_s: float = _f(30.0, SECONDS)  # one request; also the wait for DNS to follow it
    max_in_flight: int = _f(50, COUNT)  # requests due beyond this are dropped and counted


@dataclass(frozen=True, slots=True, kw_only=True)
class SuccessCriteria:
    """Pass/fail limits. Latencies in seconds, ``error_rate_max`` a fraction (0.01 = 1 %)."""

    reconcile_p99_s: float = _f(10.0, POSITIVE)  # created -> Ready, p99
    e2e_p99_s: float = _f(30.0, POSITIVE)  # Ready -> answerable by DNS, p99
    error_rate_max: float = _f(0.01, FRACTION)
    memory_growth_mb_per_h: float = _f(100.0, WEIGHT)  # operator RSS growth
    sustained_rate_per_s: float = _f(10.0, POSITIVE)  # achieved operations/s, minimum
    operation_p99_s: float | None = _f(None, OPTIONAL_POSITIVE)  # API ack
    chaos_reconcile_p99_s: float | None = _f(None, OPTIONAL_POSITIVE)
    chaos_error_rate_max: float | None = _f(None, OPTIONAL_FRACTION)
    dns_p99_s: float = _f(0.05, POSITIVE)  # intended -> correct answer; bindy's target < 50 ms
    dns_rate_per_s: float | None = _f(None, OPTIONAL_POSITIVE)  # correct answers/s, minimum
    bindcar_p99_s: float = _f(0.5, POSITIVE)  # intended -> HTTP response; bindy: POST 100-500 ms


@dataclass(frozen=True, slots=True, kw_only=True)
class RegressionTolerance:
    """How much worse than ``--baseline`` a run may be. Fractions: 0.2 = 20 %.

    A latency percentile regresses only when it grew by more than ``latency_increase_max`` of
    the baseline *and* by more than ``latency_floor_ms``, so millisecond noise on a fast stage
    is not a regression; stages with fewer than ``min_samples`` samples are not compared.
    """

    latency_increase_max: float = _f(0.2, WEIGHT)  # p50/p95/p99 of each latency stage
    latency_floor_ms: float = _f(5.0, WEIGHT)
    throughput_decrease_max: float = _f(0.2, FRACTION)
    error_rate_increase_max: float = _f(0.005, FRACTION)  # absolute: 0.005 = 0.5 points
    min_samples: int = _f(20, COUNT)


SECTIONS: Final[Mapping[str, type[Any]]] = {
    "burst": BurstConfig,
    "sustained": SustainedConfig,
    "chaos": ChaosConfig,
    "e2e": E2EConfig,
    "dns": DnsLoadConfig,
    "bindcar": BindcarLoadConfig,
    "criteria": SuccessCriteria,
    "regression": RegressionTolerance,
}
_WORKLOAD: Final = ("burst", "sustained", "chaos", "e2e", "dns", "bindcar")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    """A named workload plus its success criteria; ``source`` is the TOML file it came from."""

    name: str = "defaults"
    description: str = ""
    source: Path | None = None  # None: built in code, not read from a file
    builtin: bool = False
    burst: BurstConfig = field(default_factory=BurstConfig)
    sustained: SustainedConfig = field(default_factory=SustainedConfig)
    chaos: ChaosConfig = field(default_factory=ChaosConfig)
    e2e: E2EConfig = field(default_factory=E2EConfig)
    dns: DnsLoadConfig = field(default_factory=DnsLoadConfig)
    bindcar: BindcarLoadConfig = field(default_factory=BindcarLoadConfig)
    criteria: SuccessCriteria = field(default_factory=SuccessCriteria)
    regression: RegressionTolerance = field(default_factory=RegressionTolerance)
    # (key, source) of every value set above the profile file, e.g. ("burst.records", "--records")
    overrides: tuple[tuple[str, str], ...] = ()

    @property
    def source_label(self) -> str:
        if self.builtin:
            return "built-in"
        return str(self.source) if self.source is not None else "defaults"

    def value_at(self, key: str) -> Any:
        """The value at a dotted key such as ``burst.records`` or ``sustained.mix.create``."""
        obj: Any = self
        for part in key.split("."):
            obj = getattr(obj, part)
        return obj

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for reports."""
        out: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "source": None if self.source is None else str(self.source),
            "builtin": self.builtin,
        }
        out.update({name: _plain(getattr(self, name)) for name in SECTIONS})
        out["overrides"] = [{"key": k, "source": s} for k, s in self.overrides]
        out["fingerprint"] = self.fingerprint()
        return out

    def fingerprint(self) -> str:
        """Hash of the workload sections only (not name, source or criteria): two runs with the
        same fingerprint offered the same load, so their measurements are comparable."""
        workload = {name: _plain(getattr(self, name)) for name in _WORKLOAD}
        blob = json.dumps(workload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, StrEnum):
        return str(value)
    if isinstance(value, Path):
        return str(value)
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadTestConfig:
    """Where and how this run executes; not part of the profile, never in a profile file."""

    namespace_prefix: str = "bindy-load"
    kube_context: str | None = None  # None: the embedded local stack
    output_dir: Path = Path("bindy-load-reports")
    prometheus_url: str | None = None
    seed: int | None = None  # None: derived from the run id
    keep_namespace: bool = False
    baseline: Path | None = None  # run JSON to compare against
    save_baseline: bool = False  # write this run as the baseline
    # A cluster's data plane, reached on loopback (kubectl port-forward); the local stack
    # brings its own. The bindcar token only ever comes from BINDY_LOAD_BINDCAR_TOKEN.
    dns_server: tuple[str, int] | None = None
    bindcar_url: str | None = None
    operator_metrics_url: str | None = None

    @property
    def target_label(self) -> str:
        if self.kube_context is None:
            return "local stack"
        return f"cluster context {self.kube_context}"


@dataclass(frozen=True, slots=True, kw_only=True)
class RunContext:
    """Identity of one pytest run: labels, names, report paths and the printed seed use it."""

    run_id: str  # uuid4 hex, 32 characters
    seed: int
    started_at: datetime  # UTC wall clock, for display only
    started_ns: int  # time.monotonic_ns() at start, for measurement

    @property
    def short_id(self) -> str:
        """First 8 hex digits: short enough for namespace names."""
        return self.run_id[:8]

    @classmethod
    def new(cls, *, seed: int | None = None) -> RunContext:
        run_id = uuid.uuid4().hex
        return cls(
            run_id=run_id,
            seed=seed_from_run_id(run_id) if seed is None else seed,
            started_at=datetime.now(UTC),
            started_ns=time.monotonic_ns(),
        )


def seed_from_run_id(run_id: str) -> int:
    """Default seed: printed in the header so ``--seed N`` repeats the run's data."""
    return int(run_id[:8], 16)


@dataclass(frozen=True, slots=True, kw_only=True)
class RawValue:
    """One unparsed setting and where it came from (``where`` goes into error messages)."""

    value: object  # text from CLI, env and ini; native values otherwise
    layer: Layer
    where: str  # e.g. "--records", "BINDY_LOAD_RECORDS", "ini bindy_load_records in /x/tox.ini"
    base_dir: Path | None = None  # relative paths resolve against it


@dataclass(frozen=True, slots=True, kw_only=True)
class Resolved:
    profile: Profile
    load_config: LoadTestConfig


# --------------------------------------------------------------------------------------------
# settings: the names behind --<name>, bindy_load_<name> and BINDY_LOAD_<NAME>
# --------------------------------------------------------------------------------------------

OVERRIDES: Final[Mapping[str, str]] = {
    "zones": "burst.zones",
    "records": "burst.records",
    "concurrency": "burst.concurrency",
    "rate": "sustained.rate_per_s",
    "duration": "sustained.duration_s",
}
RUN_SETTINGS: Final = (
    "namespace_prefix", "kube_context", "output_dir", "prometheus_url",
    "seed", "keep_namespace", "baseline", "save_baseline",
    "dns_server", "bindcar_url", "operator_metrics_url",
)  # fmt: skip
_CLUSTER_ONLY: Final = ("dns_server", "bindcar_url", "operator_metrics_url")
SETTINGS: Final = ("profile", *RUN_SETTINGS, *OVERRIDES)


def env_var(setting: str) -> str:
    return ENV_PREFIX + setting.upper()


def ini_key(setting: str) -> str:
    return INI_PREFIX + setting


def pick(
    setting: str,
    *,
    cli: object | None,
    cli_flag: str,
    env: Mapping[str, str],
    ini: object | None,
    ini_file: Path | None,
    cwd: Path,
) -> RawValue | None:
    """The raw value that wins for ``setting``: CLI, then environment, then ini; None if unset.

    Empty environment and ini values count as unset so ``BINDY_LOAD_X=`` can clear a variable.
    Relative paths from the ini file resolve against its directory, others against ``cwd``.
    """
    if cli is not None:
        return RawValue(value=cli, layer=Layer.CLI, where=cli_flag, base_dir=cwd)
    name = env_var(setting)
    if env.get(name, "").strip():
        return RawValue(value=env[name], layer=Layer.ENV, where=name, base_dir=cwd)
    if ini is not None and not (isinstance(ini, str) and not ini.strip()):
        where = f"ini {ini_key(setting)}" + (f" in {ini_file}" if ini_file else "")
        base = ini_file.parent if ini_file is not None else cwd
        return RawValue(value=ini, layer=Layer.INI, where=where, base_dir=base)
    return None


def resolve(raw: Mapping[str, RawValue]) -> Resolved:
    """Build the run's profile and load config from the winning raw values (see ``pick``)."""
    unknown = sorted(set(raw) - set(SETTINGS))
    if unknown:
        raise ProfileError(f"unknown setting {unknown[0]}; expected one of {', '.join(SETTINGS)}")
    spec = raw.get("profile")
    if spec is None:
        profile = load_profile(DEFAULT_PROFILE, where="default profile")
    else:
        if not isinstance(spec.value, str | Path):
            raise _invalid(spec.where, spec.value, "a profile name or a path to a .toml file")
        profile = load_profile(spec.value, where=spec.where, base_dir=spec.base_dir)
    for setting, key in OVERRIDES.items():
        if (override := raw.get(setting)) is not None:
            profile = apply_override(profile, key, override)
    return Resolved(profile=profile, load_config=_load_config(raw))


# --------------------------------------------------------------------------------------------
# profiles: built-ins and files
# --------------------------------------------------------------------------------------------


def _builtin_dir() -> Traversable:
    """The wheel ships profiles/ inside the package; a source checkout has it at the repo root."""
    packaged = resources.files("pytest_bindy_load") / "profiles"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "profiles"


def builtin_profile_names() -> tuple[str, ...]:
    directory = _builtin_dir()
    if not directory.is_dir():
        return ()
    names = (e.name.removesuffix(".toml") for e in directory.iterdir() if e.name.endswith(".toml"))
    return tuple(sorted(names))


def load_profile(
    spec: str | Path, *, where: str = "profile", base_dir: Path | None = None
) -> Profile:
    """A built-in profile by name, or a TOML file by path (relative to ``base_dir`` or cwd)."""
    text = str(spec).strip()
    names = builtin_profile_names()
    if isinstance(spec, str) and text in names:
        entry = _builtin_dir() / f"{text}.toml"
        path = Path(str(entry))
        try:
            data = tomllib.loads(entry.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ProfileError(f"{where}: built-in profile {path} is broken: {_line(exc)}") from exc
        return parse_profile(data, source=path, builtin=True)
    choices = f"one of {', '.join(names)} or a path to a .toml file"
    if not (isinstance(spec, Path) or text.endswith(".toml") or "/" in text):
        raise ProfileError(f"{where}: unknown profile {text!r}; expected {choices}")
    path = Path(text).expanduser()
    if not path.is_absolute():
        path = (base_dir or Path.cwd()) / path
    return load_profile_file(path, where=where, choices=choices)


def load_profile_file(path: Path, *, where: str = "profile", choices: str = "") -> Profile:
    try:
        body = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        hint = f"; expected {choices}" if choices else ""
        raise ProfileError(f"{where}: profile file {path} does not exist{hint}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{where}: cannot read profile file {path}: {_line(exc)}") from exc
    try:
        data = tomllib.loads(body)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{where}: cannot parse profile file {path}: {_line(exc)}") from exc
    return parse_profile(data, source=path)


def parse_profile(
    data: Mapping[str, Any], *, source: Path | None = None, builtin: bool = False
) -> Profile:
    """A profile from parsed TOML; unknown keys and wrong types are errors naming the key."""
    where = f"profile file {source}" if source is not None else "profile"
    top = {"name", "description", *SECTIONS}
    _reject_unknown(data, top, where=where, prefix="")
    default_name = source.stem if source is not None else "custom"
    name = _text(data.get("name", default_name), f"{where} key name")
    if not _NAME.match(name):
        raise _invalid(f"{where} key name", name, "letters, digits, '.', '_' or '-' (max 63)")
    description = _text(data.get("description", ""), f"{where} key description")
    sections: dict[str, Any] = {}
    for key, cls in SECTIONS.items():
        table = data.get(key, {})
        if not isinstance(table, Mapping):
            raise _invalid(f"{where} key {key}", table, "a table", show_type=True)
        sections[key] = _build(cls, table, where=where, prefix=f"{key}.")
    return Profile(name=name, description=description, source=source, builtin=builtin, **sections)


def _build(cls: type[_D], table: Mapping[str, Any], *, where: str, prefix: str) -> _D:
    _reject_unknown(table, {f.name for f in fields(cls)}, where=where, prefix=prefix)
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in table:
            continue
        rule: _Rule = f.metadata["rule"]
        value = table[f.name]
        key_where = f"{where} key {prefix}{f.name}"
        if rule.kind is _Kind.TABLE:
            if not isinstance(value, Mapping):
                raise _invalid(key_where, value, "a table", show_type=True)
            kwargs[f.name] = _build(OperationMix, value, where=where, prefix=f"{prefix}{f.name}.")
        else:
            kwargs[f.name] = _convert(rule, value, key_where, text=False)
    built = cls(**kwargs)
    if isinstance(built, OperationMix):
        _check_mix(built, f"{where} key {prefix.rstrip('.')}")
    return built


def _reject_unknown(
    table: Mapping[str, Any], allowed: set[str], *, where: str, prefix: str
) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        scope = f"[{prefix.rstrip('.')}]" if prefix else "the top level"
        raise ProfileError(
            f"{where}: unknown key {prefix}{unknown[0]}; "
            f"allowed keys in {scope}: {', '.join(sorted(allowed))}"
        )


def _check_mix(mix: OperationMix, where: str) -> None:
    if not (mix.create + mix.update + mix.delete) > 0:
        raise ProfileError(
            f"{where}: invalid operation mix {mix.describe()}; "
            "expected weights >= 0 with at least one > 0"
        )


def apply_override(profile: Profile, key: str, raw: RawValue) -> Profile:
    """``profile`` with the field at ``key`` (``section.field``) set from ``raw``."""
    section, _, name = key.partition(".")
    current = getattr(profile, section)
    rule: _Rule = {f.name: f for f in fields(current)}[name].metadata["rule"]
    value = _convert(rule, raw.value, f"{raw.where} ({key})", text=raw.layer in _TEXT_LAYERS)
    changed = replace(current, **{name: value})
    return replace(profile, **{section: changed}, overrides=(*profile.overrides, (key, raw.where)))


def validate_profile(profile: object, *, where: str) -> Profile:
    """Check a profile built in code (e.g. returned by a hook) with the rules files obey."""
    if not isinstance(profile, Profile):
        raise ProfileError(f"{where}: returned {type(profile).__name__}; expected a Profile")
    if not _NAME.match(profile.name):
        raise _invalid(f"{where} (name)", profile.name, "letters, digits, '.', '_' or '-'")
    for key, cls in SECTIONS.items():
        _check_dataclass(getattr(profile, key), cls, where=where, prefix=f"{key}.")
    return profile


def _check_dataclass(obj: object, cls: type[Any], *, where: str, prefix: str) -> None:
    if not isinstance(obj, cls):
        raise _invalid(f"{where} ({prefix.rstrip('.')})", obj, f"a {cls.__name__}", show_type=True)
    for f in fields(obj):
        rule: _Rule = f.metadata["rule"]
        value = getattr(obj, f.name)
        if rule.kind is _Kind.TABLE:
            _check_dataclass(value, OperationMix, where=where, prefix=f"{prefix}{f.name}.")
            _check_mix(value, f"{where} ({prefix}{f.name})")
        else:
            _convert(rule, value, f"{where} ({prefix}{f.name})", text=False)


# --------------------------------------------------------------------------------------------
# value parsing
# --------------------------------------------------------------------------------------------

_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(s|m|h)?\s*$")
_UNIT_S: Final = {None: 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}
_TYPE_NAMES: Final = {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}


def _invalid(where: str, value: object, expected: str, *, show_type: bool = False) -> ProfileError:
    shown = repr(value)
    if show_type:
        kind = type(value).__name__
        shown += f" ({_TYPE_NAMES.get(kind, kind)})"
    return ProfileError(_one_line(f"{where}: invalid value {shown}; expected {expected}"))


def _one_line(message: str) -> str:
    return " ".join(message.split())


def _line(exc: BaseException) -> str:
    return _one_line(str(exc)) or type(exc).__name__


def parse_duration(text: str) -> float | None:
    """Seconds from ``90``, ``90s``, ``2m`` or ``1h``; None when the text is not a duration."""
    match = _DURATION.match(text)
    return None if match is None else float(match[1]) * _UNIT_S[match[2]]


def parse_bool(text: str) -> bool | None:
    word = text.strip().lower()
    return True if word in _TRUE else False if word in _FALSE else None


def _convert(rule: _Rule, value: object, where: str, *, text: bool) -> Any:
    """Check one value against its rule; ``text`` values (CLI, env, ini) are parsed first."""
    if value is None and rule.optional:
        return None
    expected = rule.expected(text=text)
    parsed: object = value
    if text and isinstance(value, str):
        parsed = _from_text(rule, value)
        if parsed is None:
            raise _invalid(where, value, expected)
    match rule.kind:
        case _Kind.BOOL:
            if not isinstance(parsed, bool):
                raise _invalid(where, value, expected, show_type=not text)
            return parsed
        case _Kind.RECORD_KINDS | _Kind.CHAOS_TARGETS:
            return _choices(rule, parsed, value, where, expected, show_type=not text)
        case _Kind.INT:
            if not isinstance(parsed, int) or isinstance(parsed, bool):
                raise _invalid(where, value, expected, show_type=not text)
            number: float = parsed
        case _:
            if not isinstance(parsed, int | float) or isinstance(parsed, bool):
                raise _invalid(where, value, expected, show_type=not text)
            number = float(parsed)
    if not math.isfinite(number) or not _in_range(rule, number):
        raise _invalid(where, value, expected)
    return number


def _from_text(rule: _Rule, text: str) -> object:
    try:
        match rule.kind:
            case _Kind.BOOL:
                return parse_bool(text)
            case _Kind.INT:
                return int(text.strip())
            case _Kind.FLOAT:
                return parse_duration(text) if rule.seconds else float(text.strip())
            case _Kind.RECORD_KINDS | _Kind.CHAOS_TARGETS:
                return [part.strip() for part in text.split(",") if part.strip()]
    except ValueError:
        return None
    return None


def _in_range(rule: _Rule, number: float) -> bool:
    if rule.low is not None and (number <= rule.low if rule.low_open else number < rule.low):
        return False
    return rule.high is None or number <= rule.high


def _choices(
    rule: _Rule, parsed: object, value: object, where: str, expected: str, *, show_type: bool
) -> tuple[Any, ...]:
    valid: tuple[str, ...] = RECORD_KINDS if rule.kind is _Kind.RECORD_KINDS else tuple(ChaosTarget)
    items = list(parsed) if isinstance(parsed, list | tuple) else None
    if (
        not items
        or not all(isinstance(i, str) and i in valid for i in items)
        or len(set(items)) != len(items)
    ):
        raise _invalid(where, value, expected, show_type=show_type)
    if rule.kind is _Kind.CHAOS_TARGETS:
        return tuple(ChaosTarget(i) for i in items)
    return tuple(str(i) for i in items)


def _text(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise _invalid(where, value, "a string", show_type=True)
    return value


# --------------------------------------------------------------------------------------------
# the load config
# --------------------------------------------------------------------------------------------

_NAMESPACE_PREFIX = re.compile(r"^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$")


def _load_config(raw: Mapping[str, RawValue]) -> LoadTestConfig:
    kwargs: dict[str, Any] = {}
    for setting in RUN_SETTINGS:
        rv = raw.get(setting)
        if rv is not None:
            kwargs[setting] = _RUN_PARSERS[setting](rv)
    config = LoadTestConfig(**kwargs)
    if config.kube_context is None:
        for setting in _CLUSTER_ONLY:
            if (rv := raw.get(setting)) is not None:
                raise ProfileError(
                    f"{rv.where}: {rv.value!r} only applies to a cluster named with "
                    "--kube-context; the local stack brings its own addresses"
                )
    if config.baseline is not None and not config.save_baseline and not config.baseline.is_file():
        rv = raw["baseline"]
        raise ProfileError(
            f"{rv.where}: baseline file {config.baseline} does not exist; "
            "expected an existing baseline JSON file (or --save-baseline to create it)"
        )
    return config


def _raw_text(rv: RawValue, expected: str) -> str:
    if not isinstance(rv.value, str | Path) or not str(rv.value).strip():
        raise _invalid(rv.where, rv.value, expected, show_type=True)
    return str(rv.value).strip()


def _parse_namespace_prefix(rv: RawValue) -> str:
    expected = "lowercase letters, digits and '-', starting with a letter, at most 40 characters"
    value = _raw_text(rv, expected)
    if not _NAMESPACE_PREFIX.match(value):
        raise _invalid(rv.where, rv.value, expected)
    return value


def _parse_context(rv: RawValue) -> str | None:
    value = _raw_text(
        rv, f"a kubeconfig context name, or {LOCAL_STACK_CONTEXT} for the local stack"
    )
    return None if value == LOCAL_STACK_CONTEXT else value


def _parse_path(rv: RawValue) -> Path:
    path = Path(_raw_text(rv, "a file system path")).expanduser()
    if not path.is_absolute() and rv.base_dir is not None:
        path = rv.base_dir / path
    return path


def _parse_url(rv: RawValue) -> str:
    expected = "an http:// or https:// URL such as http://127.0.0.1:9090"
    value = _raw_text(rv, expected)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _invalid(rv.where, rv.value, expected)
    return value.rstrip("/")


def _parse_loopback_url(rv: RawValue) -> str:
    expected = "an http:// URL on loopback such as http://127.0.0.1:8080 (kubectl port-forward)"
    value = _parse_url(replace(rv, value=_raw_text(rv, expected)))
    host = urlsplit(value).hostname
    if host is None or not is_loopback(host):
        raise _invalid(rv.where, rv.value, expected)
    return value


def _parse_dns_server(rv: RawValue) -> tuple[str, int]:
    expected = "HOST:PORT on loopback such as 127.0.0.1:5353 or [::1]:5353 (kubectl port-forward)"
    value = _raw_text(rv, expected)
    parts = urlsplit(f"//{value}")
    try:
        port = parts.port
    except ValueError:
        port = None
    host = parts.hostname
    if port is None or port == 0 or host is None or not is_loopback(host):
        raise _invalid(rv.where, rv.value, expected)
    return host, port


def _parse_with(rule: _Rule) -> Callable[[RawValue], Any]:
    return lambda rv: _convert(rule, rv.value, rv.where, text=rv.layer in _TEXT_LAYERS)


_RUN_PARSERS: Final[Mapping[str, Callable[[RawValue], Any]]] = {
    "namespace_prefix": _parse_namespace_prefix,
    "kube_context": _parse_context,
    "output_dir": _parse_path,
    "prometheus_url": _parse_url,
    "seed": _parse_with(SEED),
    "keep_namespace": _parse_with(FLAG),
    "baseline": _parse_path,
    "save_baseline": _parse_with(FLAG),
    "dns_server": _parse_dns_server,
    "bindcar_url": _parse_loopback_url,
    "operator_metrics_url": _parse_loopback_url,
}
