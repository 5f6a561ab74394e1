"""The regression verdict: this run's report compared with an earlier run's report.

A baseline is simply an earlier run's ``report.json``, as kube-burner keeps its previous results
and k6 users keep a summary export. Each scenario is compared metric by metric with the
profile's ``[regression]`` tolerances; only runs that offered the same load (same profile
fingerprint) on the same kind of target are compared, otherwise the comparison says why not.
Pure: documents in, a ``Comparison`` out; the plugin turns regressions into the exit status.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from pytest_bindy_load.metrics import Stage
from pytest_bindy_load.profiles import RegressionTolerance
from pytest_bindy_load.report import atomic_write

# Latency stages compared (scheduler lag is the generator's own delay, not the target's).
STAGES: Final = (Stage.OPERATION, Stage.RECONCILE, Stage.END_TO_END, Stage.PROPAGATION)
PERCENTILES: Final = ("p50", "p95", "p99")
BASELINE_FILE: Final = "baseline.json"


@dataclass(frozen=True, slots=True, kw_only=True)
class Regression:
    """One metric of one scenario that got worse than the tolerance allows."""

    scenario: str
    metric: str  # e.g. "reconcile p99", "throughput", "error rate"
    unit: str  # "ms", "/s" or "%" (error rates are shown in percent)
    baseline: float
    current: float
    allowed: str  # the tolerance, e.g. "+20 %"

    def __str__(self) -> str:
        if self.unit == "%":
            change = f"{self.current - self.baseline:+.2f} points"
        elif self.baseline:
            change = f"{(self.current - self.baseline) / self.baseline * 100:+.1f} %"
        else:
            change = "from zero"
        return (
            f"{self.scenario}: {self.metric} {self.baseline:.3f} {self.unit} -> "
            f"{self.current:.3f} {self.unit} ({change}, allowed {self.allowed})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "metric": self.metric,
            "unit": self.unit,
            "baseline": self.baseline,
            "current": self.current,
            "allowed": self.allowed,
            "message": str(self),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Comparison:
    baseline_run_id: str
    baseline_path: str
    compared: int = 0  # metrics compared
    regressions: tuple[Regression, ...] = ()
    notes: tuple[str, ...] = ()  # why something was not compared

    @property
    def regressed(self) -> bool:
        return bool(self.regressions)

    def to_dict(self) -> dict[str, Any]:
        return {
            "baseline_run_id": self.baseline_run_id,
            "baseline_path": self.baseline_path,
            "compared": self.compared,
            "verdict": "regressed" if self.regressed else "no regression",
            "regressions": [r.to_dict() for r in self.regressions],
            "notes": list(self.notes),
        }


def compare(
    current: Mapping[str, Any],
    baseline: Mapping[str, Any],
    tolerance: RegressionTolerance,
    *,
    baseline_path: str = "",
) -> Comparison:
    """Each scenario of ``current`` against the same-named one in ``baseline``."""
    base_run, cur_run = baseline.get("run", {}), current.get("run", {})
    base_id = str(base_run.get("run_id", "?"))
    why_not = _not_comparable(cur_run, base_run)
    if why_not:
        return Comparison(
            baseline_run_id=base_id,
            baseline_path=baseline_path,
            notes=(f"not compared: {why_not}",),
        )
    base_by_name = {str(s.get("name")): s for s in baseline.get("scenarios", [])}
    current_names = {str(s.get("name")) for s in current.get("scenarios", [])}
    regressions: list[Regression] = []
    notes: list[str] = []
    compared = 0
    for sc in current.get("scenarios", []):
        name = str(sc.get("name"))
        base = base_by_name.get(name)
        if base is None:
            notes.append(f"{name}: not in the baseline, not compared")
            continue
        n, found = _compare_scenario(name, sc["metrics"], base["metrics"], tolerance, notes)
        compared += n
        regressions += found
    notes += [
        f"{n}: in the baseline but not run now" for n in sorted(base_by_name.keys() - current_names)
    ]
    return Comparison(
        baseline_run_id=base_id,
        baseline_path=baseline_path,
        compared=compared,
        regressions=tuple(regressions),
        notes=tuple(notes),
    )


def _not_comparable(cur: Mapping[str, Any], base: Mapping[str, Any]) -> str:
    cur_kind = (cur.get("target") or {}).get("kind")
    base_kind = (base.get("target") or {}).get("kind")
    if cur_kind != base_kind:
        return f"the baseline measured target {base_kind!r}, this run {cur_kind!r}"
    cur_fp, base_fp = cur.get("profile_fingerprint"), base.get("profile_fingerprint")
    if not cur_fp or not base_fp:
        return "a report without a profile fingerprint cannot show it offered the same load"
    if cur_fp != base_fp:
        return (
            f"the baseline offered a different load (profile {base.get('profile')!r} "
            f"fingerprint {str(base_fp)[:12]}, this run {cur.get('profile')!r} {str(cur_fp)[:12]})"
        )
    return ""


def _compare_scenario(
    name: str,
    cur: Mapping[str, Any],
    base: Mapping[str, Any],
    tol: RegressionTolerance,
    notes: list[str],
) -> tuple[int, list[Regression]]:
    found: list[Regression] = []
    compared = 0
    allowed = f"+{tol.latency_increase_max * 100:g} % and > {tol.latency_floor_ms:g} ms"
    for stage in STAGES:
        c, b = cur["latency"].get(stage), base["latency"].get(stage)
        if not c or not b or not c.get("count") or not b.get("count"):
            continue  # not measured by this scenario
        if min(c["count"], b["count"]) < tol.min_samples:
            notes.append(
                f"{name}: {stage} latency not compared, {min(c['count'], b['count'])} samples "
                f"< min_samples {tol.min_samples}"
            )
            continue
        for p in PERCENTILES:
            now, then = float(c[f"{p}_ms"]), float(b[f"{p}_ms"])
            compared += 1
            worse = now - then
            if worse > then * tol.latency_increase_max and worse > tol.latency_floor_ms:
                found.append(
                    Regression(
                        scenario=name, metric=f"{stage} {p}", unit="ms",
                        baseline=then, current=now, allowed=allowed,
                    )
                )  # fmt: skip
    now_tp, then_tp = float(cur.get("throughput_per_s", 0)), float(base.get("throughput_per_s", 0))
    if then_tp > 0:
        compared += 1
        if now_tp < then_tp * (1 - tol.throughput_decrease_max):
            found.append(
                Regression(
                    scenario=name, metric="throughput", unit="/s", baseline=then_tp,
                    current=now_tp, allowed=f"-{tol.throughput_decrease_max * 100:g} %",
                )
            )  # fmt: skip
    now_er, then_er = float(cur.get("error_rate", 0)), float(base.get("error_rate", 0))
    compared += 1
    if now_er - then_er > tol.error_rate_increase_max:
        found.append(
            Regression(
                scenario=name, metric="error rate", unit="%", baseline=then_er * 100,
                current=now_er * 100, allowed=f"+{tol.error_rate_increase_max * 100:g} points",
            )
        )  # fmt: skip
    return compared, found


def save_baseline(doc: Mapping[str, Any], path: Path) -> Path:
    """Write the run's report as the next baseline; atomic, so a crash keeps the old one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(doc, indent=2) + "\n")
    return path
