"""``python -m pytest_bindy_load.localstack.operator --config FILE``: run the reference operator
until SIGTERM/SIGINT (or SIGKILL: it keeps no state, a restart relists and repairs)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from prometheus_client import disable_created_metrics

from pytest_bindy_load.errors import TargetError
from pytest_bindy_load.localstack.operator.config import load_config
from pytest_bindy_load.localstack.operator.controller import Operator
from pytest_bindy_load.localstack.operator.metrics import JsonLogFormatter

log = logging.getLogger("pytest_bindy_load.localstack.operator")


def _setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonLogFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("pytest_bindy_load").setLevel(level.upper())


async def _main(config_path: Path) -> int:
    cfg = load_config(config_path)
    _setup_logging(cfg.log_level)
    log.info("config: %r", cfg)
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        if task is not None:
            loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await Operator(cfg).run()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pytest_bindy_load.localstack.operator")
    parser.add_argument("--config", required=True, type=Path, help="operator JSON config file")
    args = parser.parse_args(argv)
    disable_created_metrics()  # type: ignore[no-untyped-call]
    try:
        return asyncio.run(_main(args.config))
    except TargetError as e:
        sys.stderr.write(f"operator: {e}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
