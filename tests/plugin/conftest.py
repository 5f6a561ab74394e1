"""Helpers for the pytester tests: load the plugin exactly once and isolate BINDY_LOAD_*."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points

import pytest

# An installed plugin loads through its entry point; adding -p as well would register it twice.
_AUTOLOADED = bool(entry_points(group="pytest11", name="bindy_load")) and not os.environ.get(
    "PYTEST_DISABLE_PLUGIN_AUTOLOAD"
)
PLUGIN_ARGS: tuple[str, ...] = () if _AUTOLOADED else ("-p", "pytest_bindy_load.plugin")
# pytest-asyncio (a dependency) warns on every inner run that does not choose a loop scope.
QUIET_ARGS: tuple[str, ...] = ("-o", "asyncio_default_fixture_loop_scope=function")

RunPytest = Callable[..., pytest.RunResult]


@pytest.fixture(autouse=True)
def _no_bindy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The inner runs read os.environ; settings from the developer's shell must not leak in."""
    for name in list(os.environ):
        if name.startswith("BINDY_LOAD_"):
            monkeypatch.delenv(name)


@pytest.fixture
def run(pytester: pytest.Pytester) -> RunPytest:
    """Run pytest in-process in the pytester directory with the plugin loaded once."""

    def _run(*args: str, first: Sequence[str] = (), load_now: bool = False) -> pytest.RunResult:
        """``first``: arguments that must come before the plugin is loaded (plugin order).
        ``load_now``: load the plugin with ``-p`` even when installed, blocking its entry point,
        so it registers before any autoloaded plugin."""
        plugin = (
            ("-p", "no:bindy_load", "-p", "pytest_bindy_load.plugin") if load_now else PLUGIN_ARGS
        )
        return pytester.runpytest(*first, *plugin, *QUIET_ARGS, *args)

    return _run
