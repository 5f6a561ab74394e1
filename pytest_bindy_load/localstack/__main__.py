"""Command line for the local stack: provision | up | down | status (and the internal serve).

``up`` starts a detached ``serve`` process that owns every stack process and writes a state
file once the stack is ready; ``down`` asks it to stop and waits until nothing is left.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pytest_bindy_load.errors import BindyLoadError
from pytest_bindy_load.localstack.provision import cache_dir, provision

UP_TIMEOUT_S = 3600.0  # a cold provision builds kube-apiserver


def _state_path(name: str) -> Path:
    return cache_dir() / "run" / f"{name}.json"


def _read_state(name: str) -> dict[str, Any] | None:
    try:
        return dict(json.loads(_state_path(name).read_text()))
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def _serve(name: str, run_dir: Path, keep: bool) -> int:
    from pytest_bindy_load.localstack.stack import StackOptions, local_stack

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    state = _state_path(name)
    async with local_stack(StackOptions(run_dir=run_dir, keep=keep)) as stack:
        t = stack.target
        doc = {
            "status": "ready",
            "pid": os.getpid(),
            "run_dir": str(stack.run_dir),
            "kubeconfig": str(t.kubeconfig),
            "dns_server": list(t.dns_server) if t.dns_server else None,
            "bindcar_url": t.bindcar_url,
            "operator_metrics_url": t.operator_metrics_url,
            "started_s": round(stack.started_s, 2),
            "processes": {p.name: p.pid for p in stack.processes},
        }
        tmp = state.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=2))
        tmp.replace(state)
        await stop.wait()
    with contextlib.suppress(FileNotFoundError):
        state.unlink()
    return 0


def _up(name: str, keep: bool) -> int:
    existing = _read_state(name)
    if existing and _alive(int(existing["pid"])):
        print(f"stack {name!r} already up: kubeconfig {existing['kubeconfig']}")
        return 0
    provision()  # progress lines go to the terminal, not a log file
    run_dir = cache_dir() / "run" / name
    run_dir.mkdir(parents=True, exist_ok=True)
    log_path = run_dir.parent / f"{name}.serve.log"
    with log_path.open("ab") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pytest_bindy_load.localstack",
                "serve",
                "--name",
                name,
                "--run-dir",
                str(run_dir),
                *(["--keep"] if keep else []),
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + UP_TIMEOUT_S
    while time.monotonic() < deadline:
        state = _read_state(name)
        if state and state.get("pid") == proc.pid:
            print(f"stack {name!r} up in {state['started_s']} s")
            print(f"  KUBECONFIG={state['kubeconfig']}")
            host, port = state["dns_server"]
            print(f"  DNS {host}:{port}, bindcar {state['bindcar_url']}")
            return 0
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace").splitlines()[-25:]
            print(
                f"stack {name!r} failed to start (exit {proc.returncode}):",
                *tail,
                sep="\n",
                file=sys.stderr,
            )
            return 1
        time.sleep(0.2)
    proc.terminate()
    print(f"stack {name!r} did not come up in {UP_TIMEOUT_S:.0f} s", file=sys.stderr)
    return 1


def _down(name: str, timeout_s: float = 60.0) -> int:
    state = _read_state(name)
    if state is None:
        print(f"stack {name!r} is not up")
        return 0
    pid = int(state["pid"])
    if _alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    leftovers = [n for n, p in state.get("processes", {}).items() if p and _alive(int(p))]
    for n in leftovers:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(int(state["processes"][n]), signal.SIGKILL)
    with contextlib.suppress(FileNotFoundError):
        _state_path(name).unlink()
    print(
        f"stack {name!r} down"
        + (f" (killed leftovers: {', '.join(leftovers)})" if leftovers else "")
    )
    return 0


def _status(name: str) -> int:
    state = _read_state(name)
    if state is None or not _alive(int(state["pid"])):
        print(f"stack {name!r}: down")
        return 3
    procs = ", ".join(
        f"{n}={'up' if p and _alive(int(p)) else 'DEAD'}" for n, p in state["processes"].items()
    )
    print(f"stack {name!r}: up (pid {state['pid']}); kubeconfig {state['kubeconfig']}; {procs}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pytest_bindy_load.localstack")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser(
        "provision", help="build or find every binary; cached in $PYTEST_BINDY_LOAD_CACHE"
    )
    for cmd in ("up", "down", "status", "serve"):
        p = sub.add_parser(cmd)
        p.add_argument(
            "--name", default="default", help="stack name (several can run side by side)"
        )
        if cmd in ("up", "serve"):
            p.add_argument("--keep", action="store_true", help="keep the run dir after down")
        if cmd == "serve":
            p.add_argument("--run-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        if args.command == "provision":
            provision()
            return 0
        if args.command == "up":
            return _up(args.name, args.keep)
        if args.command == "down":
            return _down(args.name)
        if args.command == "status":
            return _status(args.name)
        return asyncio.run(_serve(args.name, args.run_dir, args.keep))
    except BindyLoadError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
