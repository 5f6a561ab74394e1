"""Reading what a scenario run under pytester wrote (shared by the *_scenario tests)."""

from __future__ import annotations

import json
from typing import Any

import pytest


def only_report(pytester: pytest.Pytester) -> dict[str, Any]:
    """The report.json of the one run in ``reports/``."""
    (path,) = (pytester.path / "reports").glob("*/report.json")
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc
