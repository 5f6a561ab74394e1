"""bindy-compatible reference operator for the local stack: a separate process that watches
DNSZone and the eight record kinds, creates zones through bindcar, publishes records as
TSIG-signed RFC 2136 updates, writes bindy's status and serves bindy's metrics.

Run it with ``python -m pytest_bindy_load.localstack.operator --config FILE``.
"""

from __future__ import annotations

from pytest_bindy_load.localstack.operator.config import OperatorConfig, load_config, parse_config

__all__ = ["OperatorConfig", "load_config", "parse_config"]
