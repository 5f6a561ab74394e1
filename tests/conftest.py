"""Shared fixtures of the framework's own tests. pytester drives the plugin tests."""

from __future__ import annotations

pytest_plugins = ["pytester"]
