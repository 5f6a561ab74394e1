"""Load the plugin from the source tree when its pytest11 entry point will not (not installed,
or autoload disabled); importing it twice under two names would fail, so never both."""

from __future__ import annotations

import os
from importlib.metadata import entry_points

_AUTOLOADED = bool(entry_points(group="pytest11", name="bindy_load")) and not os.environ.get(
    "PYTEST_DISABLE_PLUGIN_AUTOLOAD"
)
pytest_plugins = [] if _AUTOLOADED else ["pytest_bindy_load.plugin"]
