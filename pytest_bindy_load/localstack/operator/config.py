"""The reference operator's JSON config: every address, key and fault it uses comes from here.

Parsing is strict (unknown keys are errors naming the allowed keys) so a typo in a test's fault
settings fails loudly instead of silently measuring nothing. Secrets stay wrapped in ``Secret``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from pytest_bindy_load.errors import TargetError
from pytest_bindy_load.results import DNS_KINDS
from pytest_bindy_load.target import Secret, TsigKey, require_loopback

# Every loose value the config accepts for a kind name in per-kind maps: a kind or "*" (any kind).
ANY_KIND = "*"


class ConfigError(TargetError):
    """The operator config is missing, not JSON, or has a bad value; one line naming the key."""


class DelayDistribution(StrEnum):
    NONE = "none"
    FIXED = "fixed"
    UNIFORM = "uniform"
    LOGNORMAL = "lognormal"


@dataclass(frozen=True, slots=True, kw_only=True)
class DelayConfig:
    """Added reconcile delay; ``lognormal`` is given by its median and 99th percentile."""

    distribution: DelayDistribution = DelayDistribution.NONE
    value_s: float = 0.0
    low_s: float = 0.0
    high_s: float = 0.0
    p50_s: float = 0.0
    p99_s: float = 0.0
    kinds: frozenset[str] = frozenset(DNS_KINDS)


@dataclass(frozen=True, slots=True, kw_only=True)
class StallWindow:
    """A time range during which every reconcile blocks until the window ends.

    Either wall-clock (``start_wall``/``end_wall``, Unix seconds: a test can aim at "now + 5 s"
    without knowing when the operator started) or relative to operator start
    (``after_start_s``/``duration_s``: survives clock jumps, resets on restart).
    """

    start_wall: float | None = None
    end_wall: float | None = None
    after_start_s: float | None = None
    duration_s: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultConfig:
    seed: int | None = None
    delay: DelayConfig = field(default_factory=DelayConfig)
    # kind (or "*") -> probability in [0, 1] that a reconcile fails with ReconcileFailed.
    error_rate: dict[str, float] = field(default_factory=dict)
    stalls: tuple[StallWindow, ...] = ()

    def error_rate_for(self, kind: str) -> float:
        return self.error_rate.get(kind, self.error_rate.get(ANY_KIND, 0.0))


@dataclass(frozen=True, slots=True, kw_only=True)
class RequeueConfig:
    """Retry timing; bindy's constants are 300 s ready / 30 s not ready / 30 s error.

    ``ready_s`` = 0 turns per-object ready requeues off (the periodic resync covers them).
    Errors back off exponentially per object from ``error_base_s`` up to ``error_max_s``.
    """

    ready_s: float = 0.0
    not_ready_s: float = 30.0
    error_base_s: float = 0.5
    error_max_s: float = 30.0


@dataclass(frozen=True, slots=True, kw_only=True)
class OperatorConfig:
    kubeconfig: Path | None
    bindcar_url: str
    bindcar_token: Secret | None
    dns_server: tuple[str, int]
    tsig: TsigKey
    metrics_port: int
    metrics_host: str = "127.0.0.1"
    workers: int = 16
    resync_period_s: float = 300.0
    requeue: RequeueConfig = field(default_factory=RequeueConfig)
    faults: FaultConfig = field(default_factory=FaultConfig)
    # bindy POSTs .../notify on every zone reconcile; keep that load on bindcar by default.
    notify_on_reconcile: bool = True
    dns_timeout_s: float = 5.0
    bindcar_timeout_s: float = 30.0
    # Concurrent API writes inside one zone reconcile (tagging many records).
    zone_fanout: int = 8
    log_level: str = "info"
    config_path: Path | None = None
    # mtime of the file when it was read: a live edit made before the reload watcher started
    # must still count as a change.
    config_mtime_ns: int | None = None

    def __repr__(self) -> str:
        return (
            f"OperatorConfig(bindcar_url={self.bindcar_url!r}, dns_server={self.dns_server!r}, "
            f"tsig_key={self.tsig.name!r}, metrics={self.metrics_host}:{self.metrics_port}, "
            f"workers={self.workers}, resync_period_s={self.resync_period_s})"
        )


_TOP_KEYS = frozenset(
    {
        "kubeconfig",
        "bindcar_url",
        "bindcar_token",
        "dns_server",
        "tsig",
        "metrics_port",
        "metrics_host",
        "workers",
        "resync_period_s",
        "requeue",
        "faults",
        "notify_on_reconcile",
        "dns_timeout_s",
        "bindcar_timeout_s",
        "zone_fanout",
        "log_level",
    }
)
_Z99 = 2.3263478740408408  # standard normal quantile at 0.99


def _check_keys(raw: dict[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")


def _obj(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected an object, got {type(raw).__name__}")
    return raw


def _num(raw: Any, where: str, *, minimum: float = 0.0) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise ConfigError(f"{where}: expected a number, got {raw!r}")
    if raw < minimum:
        raise ConfigError(f"{where}: must be >= {minimum}, got {raw!r}")
    return float(raw)


def _int(raw: Any, where: str, *, minimum: int = 0, maximum: int | None = None) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise ConfigError(f"{where}: expected an integer, got {raw!r}")
    if raw < minimum or (maximum is not None and raw > maximum):
        raise ConfigError(f"{where}: must be in [{minimum}, {maximum}], got {raw!r}")
    return raw


def _str(raw: Any, where: str) -> str:
    if not isinstance(raw, str) or not raw:
        raise ConfigError(f"{where}: expected a non-empty string")
    return raw


def _kinds(raw: Any, where: str) -> frozenset[str]:
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: expected a list of kinds")
    bad = [k for k in raw if k not in DNS_KINDS]
    if bad:
        raise ConfigError(f"{where}: unknown kind(s) {bad}; allowed: {list(DNS_KINDS)}")
    return frozenset(raw)


def parse_delay(raw: Any, where: str = "faults.delay") -> DelayConfig:
    d = _obj(raw, where)
    keys = frozenset({"distribution", "value_s", "low_s", "high_s", "p50_s", "p99_s", "kinds"})
    _check_keys(d, keys, where)
    try:
        dist = DelayDistribution(d.get("distribution", "none"))
    except ValueError as e:
        allowed = [m.value for m in DelayDistribution]
        got = d.get("distribution")
        raise ConfigError(f"{where}.distribution: {got!r} not in {allowed}") from e
    kinds = _kinds(d["kinds"], f"{where}.kinds") if "kinds" in d else frozenset(DNS_KINDS)
    cfg = DelayConfig(
        distribution=dist,
        value_s=_num(d.get("value_s", 0.0), f"{where}.value_s"),
        low_s=_num(d.get("low_s", 0.0), f"{where}.low_s"),
        high_s=_num(d.get("high_s", 0.0), f"{where}.high_s"),
        p50_s=_num(d.get("p50_s", 0.0), f"{where}.p50_s"),
        p99_s=_num(d.get("p99_s", 0.0), f"{where}.p99_s"),
        kinds=kinds,
    )
    if dist is DelayDistribution.UNIFORM and cfg.high_s < cfg.low_s:
        raise ConfigError(f"{where}: high_s ({cfg.high_s}) < low_s ({cfg.low_s})")
    if dist is DelayDistribution.LOGNORMAL and not 0 < cfg.p50_s <= cfg.p99_s:
        raise ConfigError(
            f"{where}: lognormal needs 0 < p50_s <= p99_s, got {cfg.p50_s}, {cfg.p99_s}"
        )
    return cfg


def lognormal_params(p50_s: float, p99_s: float) -> tuple[float, float]:
    """(mu, sigma) of the underlying normal so the median is p50_s and the 99th percentile p99_s."""
    mu = math.log(p50_s)
    return mu, (math.log(p99_s) - mu) / _Z99


def parse_stall(raw: Any, where: str) -> StallWindow:
    d = _obj(raw, where)
    _check_keys(d, frozenset({"start_wall", "end_wall", "after_start_s", "duration_s"}), where)
    wall = "start_wall" in d or "end_wall" in d
    rel = "after_start_s" in d or "duration_s" in d
    if wall == rel:
        raise ConfigError(
            f"{where}: give either start_wall+end_wall or after_start_s+duration_s (not both)"
        )
    if wall:
        if "start_wall" not in d or "end_wall" not in d:
            raise ConfigError(f"{where}: start_wall and end_wall go together")
        s = _num(d["start_wall"], f"{where}.start_wall")
        e = _num(d["end_wall"], f"{where}.end_wall")
        if e < s:
            raise ConfigError(f"{where}: end_wall < start_wall")
        return StallWindow(start_wall=s, end_wall=e)
    if "after_start_s" not in d or "duration_s" not in d:
        raise ConfigError(f"{where}: after_start_s and duration_s go together")
    return StallWindow(
        after_start_s=_num(d["after_start_s"], f"{where}.after_start_s"),
        duration_s=_num(d["duration_s"], f"{where}.duration_s"),
    )


def parse_faults(raw: Any, where: str = "faults") -> FaultConfig:
    d = _obj(raw, where)
    _check_keys(d, frozenset({"seed", "delay", "error_rate", "stalls"}), where)
    rates: dict[str, float] = {}
    for kind, rate in _obj(d.get("error_rate", {}), f"{where}.error_rate").items():
        if kind != ANY_KIND and kind not in DNS_KINDS:
            raise ConfigError(
                f"{where}.error_rate: unknown kind {kind!r}; allowed: {[*DNS_KINDS, ANY_KIND]}"
            )
        r = _num(rate, f"{where}.error_rate.{kind}")
        if r > 1.0:
            raise ConfigError(f"{where}.error_rate.{kind}: a probability must be <= 1, got {r}")
        rates[kind] = r
    stalls_raw = d.get("stalls", [])
    if not isinstance(stalls_raw, list):
        raise ConfigError(f"{where}.stalls: expected a list")
    seed = d.get("seed")
    return FaultConfig(
        seed=None if seed is None else _int(seed, f"{where}.seed"),
        delay=parse_delay(d["delay"]) if "delay" in d else DelayConfig(),
        error_rate=rates,
        stalls=tuple(parse_stall(s, f"{where}.stalls[{i}]") for i, s in enumerate(stalls_raw)),
    )


def parse_requeue(raw: Any, where: str = "requeue") -> RequeueConfig:
    d = _obj(raw, where)
    keys = frozenset({"ready_s", "not_ready_s", "error_base_s", "error_max_s"})
    _check_keys(d, keys, where)
    defaults = RequeueConfig()
    cfg = RequeueConfig(
        ready_s=_num(d.get("ready_s", defaults.ready_s), f"{where}.ready_s"),
        not_ready_s=_num(d.get("not_ready_s", defaults.not_ready_s), f"{where}.not_ready_s"),
        error_base_s=_num(d.get("error_base_s", defaults.error_base_s), f"{where}.error_base_s"),
        error_max_s=_num(d.get("error_max_s", defaults.error_max_s), f"{where}.error_max_s"),
    )
    if cfg.error_max_s < cfg.error_base_s:
        raise ConfigError(f"{where}: error_max_s < error_base_s")
    return cfg


def parse_config(
    raw: Any, *, config_path: Path | None = None, config_mtime_ns: int | None = None
) -> OperatorConfig:
    """Build an ``OperatorConfig`` from decoded JSON; every error names its key."""
    d = _obj(raw, "config")
    _check_keys(d, _TOP_KEYS, "config")
    for key in ("bindcar_url", "dns_server", "tsig", "metrics_port"):
        if key not in d:
            raise ConfigError(f"config: missing required key {key!r}")
    bindcar_url = _str(d["bindcar_url"], "bindcar_url").rstrip("/")
    require_loopback(bindcar_url, "bindcar_url")
    ds = d["dns_server"]
    if not isinstance(ds, list) or len(ds) != 2:
        raise ConfigError("dns_server: expected [host, port]")
    dns_host = _str(ds[0], "dns_server[0]")
    require_loopback(dns_host, "dns_server")
    dns_port = _int(ds[1], "dns_server[1]", minimum=1, maximum=65535)
    t = _obj(d["tsig"], "tsig")
    _check_keys(t, frozenset({"name", "algorithm", "secret"}), "tsig")
    tsig = TsigKey(
        name=_str(t.get("name"), "tsig.name"),
        algorithm=_str(t.get("algorithm", "hmac-sha256"), "tsig.algorithm"),
        secret=Secret(_str(t.get("secret"), "tsig.secret")),
    )
    token = d.get("bindcar_token")
    metrics_host = _str(d.get("metrics_host", "127.0.0.1"), "metrics_host")
    require_loopback(metrics_host, "metrics_host")
    kubeconfig = d.get("kubeconfig")
    level = _str(d.get("log_level", "info"), "log_level").lower()
    if level not in ("debug", "info", "warning", "error"):
        raise ConfigError(f"log_level: {level!r} not in ['debug', 'info', 'warning', 'error']")
    notify = d.get("notify_on_reconcile", True)
    if not isinstance(notify, bool):
        raise ConfigError("notify_on_reconcile: expected true or false")
    return OperatorConfig(
        kubeconfig=None if kubeconfig is None else Path(_str(kubeconfig, "kubeconfig")),
        bindcar_url=bindcar_url,
        bindcar_token=None if token in (None, "") else Secret(_str(token, "bindcar_token")),
        dns_server=(dns_host, dns_port),
        tsig=tsig,
        metrics_port=_int(d["metrics_port"], "metrics_port", minimum=0, maximum=65535),
        metrics_host=metrics_host,
        workers=_int(d.get("workers", 16), "workers", minimum=1, maximum=1024),
        resync_period_s=_num(d.get("resync_period_s", 300.0), "resync_period_s"),
        requeue=parse_requeue(d.get("requeue", {})),
        faults=parse_faults(d.get("faults", {})),
        notify_on_reconcile=notify,
        dns_timeout_s=_num(d.get("dns_timeout_s", 5.0), "dns_timeout_s", minimum=0.01),
        bindcar_timeout_s=_num(d.get("bindcar_timeout_s", 30.0), "bindcar_timeout_s", minimum=0.01),
        zone_fanout=_int(d.get("zone_fanout", 8), "zone_fanout", minimum=1, maximum=256),
        log_level=level,
        config_path=config_path,
        config_mtime_ns=config_mtime_ns,
    )


def load_config(path: Path) -> OperatorConfig:
    try:
        mtime = path.stat().st_mtime_ns  # before reading: a write in between is seen later
        raw = json.loads(path.read_text())
    except OSError as e:
        raise ConfigError(f"cannot read operator config {path}: {e.strerror}") from e
    except json.JSONDecodeError as e:
        raise ConfigError(f"operator config {path} is not JSON: {e}") from e
    return parse_config(raw, config_path=path, config_mtime_ns=mtime)
