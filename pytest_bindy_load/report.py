"""Criteria evaluation and the run report: JSON is canonical, Markdown and HTML are rendered from
the JSON dict only, so any stored run can be rendered again.

Evaluation is pure and returns every violation. Writing is the only I/O: each file is written to
a temporary name and renamed, so a reader never sees half a report. No secret reaches a report:
the target comes from ``BindyTarget.to_report()`` and anything secret-looking is redacted again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import html
import json
import math
import os
import re
import tempfile
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from pytest_bindy_load.errors import ReportError
from pytest_bindy_load.metrics import MetricsSnapshot, Stage
from pytest_bindy_load.target import Secret

SCHEMA_VERSION = 2  # 2: run.profile_fingerprint and the baseline comparison
REPORT_FILES = ("report.json", "report.md", "report.html")
_SECRET_KEY = re.compile(r"token|secret|password|passwd|credential|private|bearer", re.IGNORECASE)
_SAFE_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
REDACTED = "***"


# --------------------------------------------------------------------------------------------
# criteria
# --------------------------------------------------------------------------------------------


class Bound(StrEnum):
    MAX = "max"  # observed must be <= limit
    MIN = "min"  # observed must be >= limit


class Status(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    # Nothing to compare (no getter, no observation, or no samples): shown in the report, and
    # a violation only when the caller says the value is required.
    NOT_MEASURED = "not_measured"


Getter = Callable[[MetricsSnapshot], "float | None"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Criterion:
    """One threshold: ``observe`` returns the value to compare, or None when there were no
    samples (a burst without DNS checks has no Ready-to-DNS latency)."""

    name: str
    label: str
    unit: str
    limit: float
    bound: Bound
    observe: Getter | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Violation:
    name: str
    label: str
    observed: float | None
    limit: float
    unit: str
    bound: Bound = Bound.MAX

    def __str__(self) -> str:
        limit = _fmt(self.limit, self.unit)
        if self.observed is None:
            return f"{self.label}: not measured (limit {limit})"
        op = ">" if self.bound is Bound.MAX else "<"
        return f"{self.label} {_fmt(self.observed, self.unit)} {op} limit {limit}"


@dataclass(frozen=True, slots=True, kw_only=True)
class CriterionResult:
    name: str
    label: str
    unit: str
    bound: Bound
    limit: float
    observed: float | None
    status: Status

    @property
    def violation(self) -> Violation | None:
        if self.status is not Status.FAILED:
            return None
        return Violation(
            name=self.name,
            label=self.label,
            observed=self.observed,
            limit=self.limit,
            unit=self.unit,
            bound=self.bound,
        )

    def to_dict(self) -> dict[str, Any]:
        v = self.violation
        return {
            "name": self.name,
            "label": self.label,
            "unit": self.unit,
            "bound": str(self.bound),
            "limit": self.limit,
            "observed": self.observed,
            "status": str(self.status),
            "message": str(v) if v else "",
        }


def _num(value: float, digits: int = 3) -> str:
    """``digits`` significant digits, never scientific notation: 12.3, 0.25, 1234."""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    if abs(value) >= 10 ** (digits - 1):
        return f"{value:.0f}"
    return f"{value:.{digits}g}"


def _fmt(value: float, unit: str) -> str:
    if unit == "ratio":
        return f"{_num(value * 100)}%"
    return f"{_num(value)} {unit}".rstrip()


_STAGE_ALIASES = {
    "operation": Stage.OPERATION,
    "reconcile": Stage.RECONCILE,
    # profiles.SuccessCriteria defines e2e_p99_s as Ready -> answerable in DNS.
    "e2e": Stage.PROPAGATION,
    "propagation": Stage.PROPAGATION,
    "end_to_end": Stage.END_TO_END,
    "scheduler_lag": Stage.SCHEDULER_LAG,
}
_STAGE_LABELS = {
    Stage.OPERATION: "operation",
    Stage.RECONCILE: "reconcile",
    Stage.END_TO_END: "end-to-end",
    Stage.PROPAGATION: "e2e (Ready to DNS)",
    Stage.SCHEDULER_LAG: "scheduler lag",
}
_STATS = ("p50", "p90", "p95", "p99", "p999", "max", "mean", "min")
_LATENCY_NAME = re.compile(
    r"^(?P<chaos>chaos_)?(?P<stage>"
    + "|".join(_STAGE_ALIASES)
    + r")_(?P<stat>"
    + "|".join(_STATS)
    + r")_(?P<unit>s|ms)(?:_max)?$"
)


def _latency_getter(stage: Stage, stat: str, unit: str, chaos: bool) -> Getter:
    scale = 1000.0 if unit == "s" else 1.0

    def get(snap: MetricsSnapshot) -> float | None:
        stats = (snap.chaos_latency if chaos else snap.latency)[stage]
        if stats.count == 0:
            return None
        return float(getattr(stats, f"{stat}_ms")) / scale

    return get


def _chaos_error_rate(s: MetricsSnapshot) -> float:
    return s.chaos_failed / s.chaos_operations if s.chaos_operations else 0.0


# name -> (label, unit, bound, getter) for criteria not named like a stage latency. A None
# getter: only the scenario that measures the value can supply it (``check(observed=...)``), so
# judging a whole profile against another scenario's snapshot leaves it NOT_MEASURED.
_SIMPLE: dict[str, tuple[str, str, Bound, Getter | None]] = {
    "error_rate_max": ("error rate", "ratio", Bound.MAX, lambda s: s.error_rate),
    "steady_error_rate_max": (
        "steady error rate",
        "ratio",
        Bound.MAX,
        lambda s: s.steady_error_rate,
    ),
    "chaos_error_rate_max": ("chaos error rate", "ratio", Bound.MAX, _chaos_error_rate),
    "sustained_rate_per_s": ("sustained rate", "ops/s", Bound.MIN, lambda s: s.throughput_per_s),
    "throughput_min_per_s": ("throughput", "ops/s", Bound.MIN, lambda s: s.throughput_per_s),
    "min_throughput_per_s": ("throughput", "ops/s", Bound.MIN, lambda s: s.throughput_per_s),
    "clamped_values_max": ("clamped samples", "", Bound.MAX, lambda s: float(s.clamped_values)),
    "failed_max": ("failed operations", "", Bound.MAX, lambda s: float(s.failed)),
    "dns_p99_s": ("DNS query p99", "s", Bound.MAX, None),
    "dns_rate_per_s": ("DNS answer rate", "answers/s", Bound.MIN, None),
    "bindcar_p99_s": ("bindcar request p99", "s", Bound.MAX, None),
}


def criterion(name: str, limit: float) -> Criterion:
    """The criterion a profile field names, e.g. ``reconcile_p99_s``, ``e2e_p99_s``,
    ``chaos_reconcile_p99_s``, ``error_rate_max``, ``sustained_rate_per_s``. A name with no
    known metric gets no getter (it is reported as not measured unless observed separately)."""
    if name in _SIMPLE:
        label, unit, bound, getter = _SIMPLE[name]
        return Criterion(
            name=name, label=label, unit=unit, limit=limit, bound=bound, observe=getter
        )
    m = _LATENCY_NAME.match(name)
    if m:
        stage = _STAGE_ALIASES[m["stage"]]
        label = f"{'chaos ' if m['chaos'] else ''}{_STAGE_LABELS[stage]} {m['stat']}"
        getter = _latency_getter(stage, m["stat"], m["unit"], bool(m["chaos"]))
        return Criterion(
            name=name, label=label, unit=m["unit"], limit=limit, bound=Bound.MAX, observe=getter
        )
    bound = Bound.MIN if name.endswith("_min") else Bound.MAX
    unit = _unit_from_name(name)
    label = re.sub(r"_(max|min|s|ms|per_s|mb_per_h)$", "", name).replace("_", " ")
    return Criterion(name=name, label=label, unit=unit, limit=limit, bound=bound, observe=None)


def _unit_from_name(name: str) -> str:
    base = re.sub(r"_(max|min)$", "", name)
    for suffix, unit in (("_mb_per_h", "MB/h"), ("_per_s", "ops/s"), ("_ms", "ms"), ("_s", "s")):
        if base.endswith(suffix):
            return unit
    return ""


def criteria_from(source: Any) -> list[Criterion]:
    """Criteria from a ``profiles.SuccessCriteria`` (any dataclass), a mapping name -> limit, or
    a sequence of ``Criterion``. Fields set to None are turned off."""
    if isinstance(source, Sequence) and not isinstance(source, str | bytes):
        return [c for c in source if isinstance(c, Criterion)]
    if isinstance(source, Mapping):
        items = list(source.items())
    elif dataclasses.is_dataclass(source) and not isinstance(source, type):
        items = [(f.name, getattr(source, f.name)) for f in dataclasses.fields(source)]
    else:
        raise TypeError(f"cannot read criteria from {type(source).__name__}")
    out = []
    for name, limit in items:
        if limit is None or isinstance(limit, bool) or not isinstance(limit, int | float):
            continue
        out.append(criterion(name, float(limit)))
    return out


def check(
    snapshot: MetricsSnapshot,
    criteria: Any,
    *,
    observed: Mapping[str, float] | None = None,
    required: Collection[str] = (),
) -> list[CriterionResult]:
    """Every criterion with its outcome. ``observed`` supplies values measured outside the
    snapshot (memory growth, ...) and wins over the snapshot's own. A criterion with nothing to
    compare is NOT_MEASURED, or FAILED when its name is in ``required``."""
    observed = observed or {}
    results = []
    for c in criteria_from(criteria):
        value: float | None = None
        if c.name in observed:
            value = float(observed[c.name])
        elif c.observe is not None:
            value = c.observe(snapshot)
        if value is None or math.isnan(value):
            status = Status.FAILED if c.name in required else Status.NOT_MEASURED
            results.append(_result(c, None, status))
            continue
        if c.bound is Bound.MAX:
            status = Status.PASSED if value <= c.limit else Status.FAILED
        else:
            status = Status.PASSED if value >= c.limit else Status.FAILED
        results.append(_result(c, value, status))
    return results


def _result(c: Criterion, value: float | None, status: Status) -> CriterionResult:
    return CriterionResult(
        name=c.name,
        label=c.label,
        unit=c.unit,
        bound=c.bound,
        limit=c.limit,
        observed=value,
        status=status,
    )


def evaluate(
    snapshot: MetricsSnapshot,
    criteria: Any,
    *,
    observed: Mapping[str, float] | None = None,
    required: Collection[str] = (),
) -> list[Violation]:
    """Every violated criterion (never stops at the first); empty means the scenario passed."""
    results = check(snapshot, criteria, observed=observed, required=required)
    return [v for r in results if (v := r.violation)]


# --------------------------------------------------------------------------------------------
# the report
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RunMetadata:
    run_id: str
    target: Mapping[str, Any]  # BindyTarget.to_report()
    profile: str
    seed: int
    started_at: dt.datetime
    finished_at: dt.datetime | None = None
    versions: Mapping[str, str] = field(default_factory=dict)
    profile_fingerprint: str = ""  # Profile.fingerprint(): equal means the same load offered


@dataclass(frozen=True, slots=True, kw_only=True)
class ScenarioReport:
    name: str
    parameters: Mapping[str, Any]
    metrics: MetricsSnapshot
    criteria: tuple[CriterionResult, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def violations(self) -> list[Violation]:
        return [v for r in self.criteria if (v := r.violation)]

    @property
    def passed(self) -> bool:
        return not self.violations


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportPaths:
    json: Path
    markdown: Path
    html: Path


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadTestReport:
    metadata: RunMetadata
    scenarios: tuple[ScenarioReport, ...] = ()
    notes: tuple[str, ...] = ()  # e.g. "saved as the baseline: ..."
    comparison: Mapping[str, Any] | None = None  # baseline.Comparison.to_dict(), with --baseline

    @property
    def passed(self) -> bool:
        regressed = bool(self.comparison and self.comparison.get("regressions"))
        return all(s.passed for s in self.scenarios) and not regressed

    def to_json(self) -> dict[str, Any]:
        """The canonical report document (plain JSON types only)."""
        md = self.metadata
        duration = (md.finished_at - md.started_at).total_seconds() if md.finished_at else None
        by_kind: dict[str, int] = {}
        examples: dict[str, list[str]] = {}
        scenarios = []
        for s in self.scenarios:
            for kind, n in s.metrics.errors_by_kind.items():
                by_kind[kind] = by_kind.get(kind, 0) + n
            for kind, msgs in s.metrics.error_examples.items():
                bucket = examples.setdefault(kind, [])
                bucket.extend(m for m in msgs if m not in bucket and len(bucket) < 5)
            scenarios.append(
                {
                    "name": s.name,
                    "passed": s.passed,
                    "parameters": redact(s.parameters),
                    "criteria": [r.to_dict() for r in s.criteria],
                    "violations": [str(v) for v in s.violations],
                    "notes": list(s.notes),
                    "metrics": s.metrics.to_dict(),
                }
            )
        doc = {
            "schema_version": SCHEMA_VERSION,
            "run": {
                "run_id": md.run_id,
                "profile": md.profile,
                "profile_fingerprint": md.profile_fingerprint,
                "seed": md.seed,
                "started_at": _iso(md.started_at),
                "finished_at": _iso(md.finished_at) if md.finished_at else None,
                "duration_s": duration,
                "target": redact(md.target),
                "versions": dict(md.versions),
            },
            "verdict": "passed" if self.passed else "failed",
            "scenarios": scenarios,
            "errors": {"by_kind": dict(sorted(by_kind.items())), "examples": examples},
            "baseline": dict(self.comparison) if self.comparison is not None else None,
            "notes": list(self.notes),
        }
        # Round-trip through json so the document holds plain types only.
        loaded: dict[str, Any] = json.loads(json.dumps(doc, default=_json_default))
        return loaded

    def write(self, output_dir: Path | str) -> ReportPaths:
        return write_report(self.to_json(), output_dir)


def _iso(t: dt.datetime) -> str:
    return t.isoformat(timespec="seconds")


def _json_default(obj: object) -> Any:
    if isinstance(obj, Secret):
        return REDACTED
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, dt.datetime | dt.date):
        return obj.isoformat()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, Mapping):
        return dict(obj)
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    return str(obj)


def redact(value: Any) -> Any:
    """A copy with secret-looking keys and ``Secret`` values replaced by ``***``."""
    if isinstance(value, Secret):
        return REDACTED
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {
            str(k): (REDACTED if _SECRET_KEY.search(str(k)) and v not in (None, "") else redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def load_report(path: Path | str) -> dict[str, Any]:
    """A report written by ``write_report``; a one-line ``ReportError`` for anything else."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ReportError(f"{path}: cannot read it ({exc.strerror})") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ReportError(
            f"{path}: not JSON ({exc}); expected the report.json of an earlier run"
        ) from exc
    if not isinstance(doc, dict):
        raise ReportError(f"{path}: expected a JSON object, the report.json of an earlier run")
    version = doc.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ReportError(f"{path}: report schema_version {version!r}, expected {SCHEMA_VERSION}")
    if not isinstance(doc.get("run"), dict) or not isinstance(doc.get("scenarios"), list):
        raise ReportError(f"{path}: no 'run' or 'scenarios'; not the report.json of a run")
    return doc


def write_report(doc: Mapping[str, Any], output_dir: Path | str) -> ReportPaths:
    """Write report.json, report.md and report.html to ``<output_dir>/<run_id>/``, atomically."""
    run_id = str(doc["run"]["run_id"])
    if not _SAFE_RUN_ID.match(run_id):
        raise ValueError(f"run id {run_id!r} is not usable as a directory name")
    folder = Path(output_dir) / run_id
    folder.mkdir(parents=True, exist_ok=True)
    paths = ReportPaths(
        json=folder / "report.json", markdown=folder / "report.md", html=folder / "report.html"
    )
    atomic_write(paths.json, json.dumps(doc, indent=2, sort_keys=False) + "\n")
    atomic_write(paths.markdown, render_markdown(doc))
    atomic_write(paths.html, render_html(doc))
    return paths


def atomic_write(path: Path, text: str) -> None:
    """Readers never see a half-written file; a crash keeps the previous one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------------------------
# renderers: from the JSON dict only, through one neutral list of blocks
# --------------------------------------------------------------------------------------------

Block = tuple[str, Any]  # ("h1"|"h2"|"h3"|"p", text) | ("table", (headers, rows)) | ("ul", items)
_MAX_TIMELINE_ROWS = 60
_STAGE_ORDER = ("operation", "reconcile", "end_to_end", "propagation", "scheduler_lag")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return _num(value, 4)
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _latency_rows(latency: Mapping[str, Any]) -> list[list[str]]:
    rows = []
    for stage in _STAGE_ORDER:
        st = latency.get(stage)
        if not st:
            continue
        keys = ("p50_ms", "p90_ms", "p95_ms", "p99_ms", "p999_ms", "max_ms", "mean_ms")
        values = (_num(st[k], 4) if st["count"] else "-" for k in keys)
        rows.append([stage, str(st["count"]), *values])
    return rows


_LATENCY_HEADERS = ["stage", "count", "p50", "p90", "p95", "p99", "p99.9", "max", "mean"]


def _timeline_rows(timeline: Sequence[Mapping[str, int]]) -> tuple[int, list[list[str]]]:
    """Buckets merged so that at most _MAX_TIMELINE_ROWS rows remain; returns the width in s."""
    if not timeline:
        return 1, []
    width = max(1, math.ceil(len(timeline) / _MAX_TIMELINE_ROWS))
    rows = []
    for i in range(0, len(timeline), width):
        chunk = timeline[i : i + width]
        rows.append(
            [
                f"{chunk[0]['second']}-{chunk[-1]['second'] + 1}",
                str(sum(b["intended"] for b in chunk)),
                str(sum(b["completed"] for b in chunk)),
                str(sum(b["errors"] for b in chunk)),
            ]
        )
    return width, rows


_RUN_HEADERS = ["run id", "profile", "seed", "started", "finished", "duration (s)"]
_RUN_KEYS = ("run_id", "profile", "seed", "started_at", "finished_at", "duration_s")
_SUMMARY_HEADERS = ["scenario", "verdict", "ops", "failed", "error rate", "throughput"]
_SUMMARY_HEADERS += ["reconcile p99 (ms)", "end-to-end p99 (ms)", "Ready to DNS p99 (ms)"]


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> Block:
    return ("table", (list(headers), [list(r) for r in rows]))


def _pairs(mapping: Mapping[str, Any]) -> list[list[str]]:
    return [[str(k), _cell(v)] for k, v in mapping.items()]


def _p99(latency: Mapping[str, Any], stage: str) -> str:
    st = latency.get(stage) or {}
    return _cell(st.get("p99_ms")) if st.get("count") else "-"


def _summary_row(sc: Mapping[str, Any]) -> list[str]:
    m = sc["metrics"]
    lat = m.get("latency", {})
    return [
        sc["name"],
        "passed" if sc["passed"] else "FAILED",
        str(m["operations"]),
        str(m["failed"]),
        _fmt(m["error_rate"], "ratio"),
        _fmt(m["throughput_per_s"], "ops/s"),
        _p99(lat, "reconcile"),
        _p99(lat, "end_to_end"),
        _p99(lat, "propagation"),
    ]


def _blocks(doc: Mapping[str, Any]) -> list[Block]:
    run = doc["run"]
    scenarios = doc.get("scenarios", [])
    blocks: list[Block] = [
        ("h1", f"bindy load test report: {str(doc.get('verdict', 'unknown')).upper()}"),
        _table(_RUN_HEADERS, [[_cell(run.get(k)) for k in _RUN_KEYS]]),
        ("h2", "Target"),
        _table(["key", "value"], _pairs(run.get("target") or {})),
    ]
    if run.get("versions"):
        blocks += [("h2", "Versions"), _table(["component", "version"], _pairs(run["versions"]))]
    blocks += [("h2", "Scenarios"), _table(_SUMMARY_HEADERS, [_summary_row(s) for s in scenarios])]
    for sc in scenarios:
        blocks.extend(_scenario_blocks(sc))
    errors = doc.get("errors", {})
    if errors.get("by_kind"):
        blocks += [("h2", "Errors (all scenarios)")]
        blocks += _error_blocks(errors["by_kind"], errors.get("examples", {}))
    if doc.get("baseline"):
        blocks += _baseline_blocks(doc["baseline"])
    if doc.get("notes"):
        blocks += [("h2", "Notes"), ("ul", list(doc["notes"]))]
    return blocks


def _baseline_blocks(cmp: Mapping[str, Any]) -> list[Block]:
    blocks: list[Block] = [
        ("h2", "Baseline comparison"),
        (
            "p",
            f"{str(cmp['verdict']).upper()} against run {cmp['baseline_run_id']} "
            f"({cmp['baseline_path']}): {cmp['compared']} metrics compared.",
        ),
    ]
    rows = [
        [r["scenario"], r["metric"], _cell(r["baseline"]), _cell(r["current"]), r["unit"],
         r["allowed"]]
        for r in cmp.get("regressions", [])
    ]  # fmt: skip
    if rows:
        blocks.append(_table(["scenario", "metric", "baseline", "now", "unit", "allowed"], rows))
    if cmp.get("notes"):
        blocks.append(("ul", list(cmp["notes"])))
    return blocks


def _error_blocks(by_kind: Mapping[str, int], examples: Mapping[str, Sequence[str]]) -> list[Block]:
    out: list[Block] = [_table(["error kind", "count"], [[k, str(n)] for k, n in by_kind.items()])]
    for kind, msgs in examples.items():
        out += [("p", f"Examples of {kind}:"), ("ul", list(msgs))]
    return out


def _scenario_blocks(sc: Mapping[str, Any]) -> list[Block]:
    m = sc["metrics"]
    out: list[Block] = [("h2", f"Scenario {sc['name']}: {'passed' if sc['passed'] else 'FAILED'}")]
    if sc.get("parameters"):
        params = [[k, _cell(v)] for k, v in sc["parameters"].items()]
        out.append(("table", (["parameter", "value"], params)))
    if sc.get("criteria"):
        out.append(("h3", "Criteria"))
        rows = []
        for c in sc["criteria"]:
            observed = "-" if c["observed"] is None else _fmt(c["observed"], c["unit"])
            op = "<=" if c["bound"] == Bound.MAX else ">="
            rows.append([c["label"], observed, f"{op} {_fmt(c['limit'], c['unit'])}", c["status"]])
        out.append(("table", (["criterion", "observed", "limit", "status"], rows)))
    if sc.get("violations"):
        out.append(("ul", list(sc["violations"])))
    out.append(("h3", "Latency, ms (outside chaos windows)"))
    out.append(("table", (_LATENCY_HEADERS, _latency_rows(m.get("latency", {})))))
    chaos = m.get("chaos_latency", {})
    if any(st.get("count") for st in chaos.values()):
        out.append(("h3", "Latency, ms (inside chaos windows)"))
        out.append(("table", (_LATENCY_HEADERS, _latency_rows(chaos))))
    out.append(
        (
            "p",
            f"{m['operations']} operations, {m['succeeded']} succeeded, {m['failed']} failed "
            f"({m['chaos_operations']} in chaos windows, {m['chaos_failed']} of them failed); "
            f"throughput {_fmt(m['throughput_per_s'], 'ops/s')} over {m['duration_s']:.4g} s; "
            f"{m['clamped_values']} samples clamped to the histogram range.",
        )
    )
    counts = [[r["kind"], r["operation"], r["error_kind"], str(r["count"])] for r in m["counts"]]
    if counts:
        out.append(("h3", "Operations"))
        out.append(("table", (["kind", "operation", "outcome", "count"], counts)))
    if m.get("errors_by_kind"):
        out += [("h3", "Errors"), *_error_blocks(m["errors_by_kind"], m.get("error_examples", {}))]
    width, rows = _timeline_rows(m.get("timeline", []))
    if rows:
        out.append(("h3", f"Timeline ({width} s buckets from the first intended start)"))
        out.append(("timeline", (["t (s)", "intended", "completed", "errors"], rows)))
    for note in sc.get("notes", []):
        out.append(("p", note))
    return out


def _md_cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def render_markdown(doc: Mapping[str, Any]) -> str:
    lines: list[str] = []
    for kind, body in _blocks(doc):
        if kind in ("h1", "h2", "h3"):
            lines += ["#" * int(kind[1]) + " " + _md_cell(body), ""]
        elif kind == "p":
            lines += [_md_cell(body), ""]
        elif kind == "ul":
            lines += [f"- {_md_cell(item)}" for item in body] + [""]
        else:  # table, timeline
            headers, rows = body
            lines.append("| " + " | ".join(_md_cell(h) for h in headers) + " |")
            lines.append("|" + "---|" * len(headers))
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
            lines.append("")
    return "\n".join(lines)


_CSS = (
    "body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0 1em}"
    "td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}"
    "th{background:#f2f2f2}.bar-ok{fill:#3a7}.bar-err{fill:#c33}"
)


def _html_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _svg_timeline(rows: Sequence[Sequence[str]]) -> str:
    """Completed (green) and errors (red) per bucket, stacked; static SVG, no script."""
    totals = [int(r[2]) + int(r[3]) for r in rows]
    top = max(totals, default=0) or 1
    bar, height = 10, 80
    parts = []
    for i, row in enumerate(rows):
        ok_h = height * int(row[2]) / top
        err_h = height * int(row[3]) / top
        x = i * bar
        parts.append(
            f'<rect class="bar-ok" x="{x}" y="{height - ok_h:.1f}" width="{bar - 1}" '
            f'height="{ok_h:.1f}"><title>{html.escape(row[0])} s: {row[2]} completed</title></rect>'
        )
        parts.append(
            f'<rect class="bar-err" x="{x}" y="{height - ok_h - err_h:.1f}" width="{bar - 1}" '
            f'height="{err_h:.1f}"><title>{html.escape(row[0])} s: {row[3]} errors</title></rect>'
        )
    width = max(len(rows) * bar, 1)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="timeline">{"".join(parts)}</svg>'
    )


def render_html(doc: Mapping[str, Any]) -> str:
    title = html.escape(f"bindy load test {doc['run']['run_id']}")
    body: list[str] = []
    for kind, content in _blocks(doc):
        if kind in ("h1", "h2", "h3", "p"):
            body.append(f"<{kind}>{html.escape(str(content))}</{kind}>")
        elif kind == "ul":
            body.append(
                "<ul>" + "".join(f"<li>{html.escape(str(i))}</li>" for i in content) + "</ul>"
            )
        elif kind == "timeline":
            headers, rows = content
            body.append(_svg_timeline(rows))
            body.append(_html_table(headers, rows))
        else:
            body.append(_html_table(*content))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>{_CSS}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def summary_lines(doc: Mapping[str, Any]) -> list[str]:
    """A few lines for the terminal summary."""
    lines = [f"bindy-load run {doc['run']['run_id']}: {doc.get('verdict', 'unknown')}"]
    for sc in doc.get("scenarios", []):
        m = sc["metrics"]
        lines.append(
            f"  {sc['name']}: {'passed' if sc['passed'] else 'FAILED'}, {m['operations']} ops, "
            f"error rate {_fmt(m['error_rate'], 'ratio')}, "
            f"throughput {_fmt(m['throughput_per_s'], 'ops/s')}"
        )
        lines += [f"    violation: {v}" for v in sc.get("violations", [])]
    cmp = doc.get("baseline")
    if cmp:
        lines.append(
            f"  baseline {cmp['baseline_run_id']}: {cmp['verdict']}, "
            f"{cmp['compared']} metrics compared"
        )
        lines += [f"    regression: {r['message']}" for r in cmp.get("regressions", [])]
        lines += [f"    note: {n}" for n in cmp.get("notes", [])]
    lines += [f"  note: {n}" for n in doc.get("notes", [])]
    return lines
