"""The local stack's DNS data plane: one BIND9 ``named`` and one ``bindcar`` on loopback.

Generates named.conf, the rndc and TSIG keys and both process specs, and starts and stops the
pair. Every listener binds 127.0.0.1 on a port chosen at run time; nothing here is fixed or
global, and no secret reaches a log line, an argv or a repr.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from pytest_bindy_load.bindcar import BindcarClient
from pytest_bindy_load.dns import DnsClient
from pytest_bindy_load.errors import TargetError
from pytest_bindy_load.localstack.processes import ManagedProcess, free_port
from pytest_bindy_load.target import Secret, TsigKey, require_loopback

log = logging.getLogger(__name__)

# bindy's operator generates its TSIG key with this name and algorithm (CONTRACT 5.3).
TSIG_KEY_NAME = "bindy-operator"
RNDC_KEY_NAME = "rndc-key"
KEY_ALGORITHM = "hmac-sha256"
# bindcar's record endpoints shell out to nsupdate, and it resolves it through PATH only.
_BASE_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9._-]{1,253}$")
_BASE64 = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")
_ALGORITHMS = frozenset(
    {"hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384", "hmac-sha512", "hmac-md5"}
)
_SEVERITIES = frozenset({"critical", "error", "warning", "notice", "info", "dynamic"})


def new_key(name: str, algorithm: str = KEY_ALGORITHM) -> TsigKey:
    """A fresh HMAC key: 32 random bytes, base64, the way bindy's operator makes them."""
    return TsigKey(
        name=name,
        algorithm=algorithm,
        secret=Secret(base64.b64encode(secrets.token_bytes(32)).decode("ascii")),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class DnsPlaneConfig:
    """Where one named + bindcar pair lives and how it is reached; all paths under ``run_dir``."""

    run_dir: Path
    named_port: int
    rndc_port: int
    bindcar_port: int
    tsig: TsigKey
    rndc_key: TsigKey
    bindcar_token: Secret
    host: str = "127.0.0.1"
    # named logs each dynamic update at info; under load that is only disk noise.
    named_log_severity: str = "notice"

    @property
    def zone_dir(self) -> Path:
        """named's ``directory`` and bindcar's ``BIND_ZONE_DIR``: they must be the same."""
        return self.run_dir / "zones"

    @property
    def nzd_dir(self) -> Path:
        """Where named keeps zones added by ``rndc addzone`` (``_default.nzd``)."""
        return self.run_dir / "nzd"

    @property
    def conf_path(self) -> Path:
        return self.run_dir / "named.conf"

    @property
    def rndc_conf_path(self) -> Path:
        return self.run_dir / "rndc.conf"

    @property
    def pid_path(self) -> Path:
        return self.run_dir / "named.pid"

    @property
    def log_dir(self) -> Path:
        return self.run_dir / "logs"

    @property
    def tmp_dir(self) -> Path:
        """bindcar's TMPDIR: its per-update nsupdate key files land here, not in /tmp."""
        return self.run_dir / "tmp"

    @property
    def dns_server(self) -> tuple[str, int]:
        return (self.host, self.named_port)

    @property
    def rndc_endpoint(self) -> tuple[str, int]:
        return (self.host, self.rndc_port)

    @property
    def bindcar_url(self) -> str:
        return f"http://{self.host}:{self.bindcar_port}"


def _distinct_ports(host: str) -> tuple[int, int, int]:
    """Three different free ports: DNS (TCP and UDP), rndc, bindcar."""
    named_port = free_port(host, udp_too=True)
    taken = {named_port}
    others: list[int] = []
    for _ in range(50):
        port = free_port(host)
        if port not in taken:
            taken.add(port)
            others.append(port)
        if len(others) == 2:
            return named_port, others[0], others[1]
    raise TargetError(f"could not find three distinct free ports on {host}")


def make_dns_plane_config(run_dir: Path, *, host: str = "127.0.0.1") -> DnsPlaneConfig:
    """Fresh ports and fresh secrets for one data plane under ``run_dir``."""
    require_loopback(host, "DNS data plane address")
    named_port, rndc_port, bindcar_port = _distinct_ports(host)
    return DnsPlaneConfig(
        run_dir=Path(run_dir).resolve(),
        named_port=named_port,
        rndc_port=rndc_port,
        bindcar_port=bindcar_port,
        tsig=new_key(TSIG_KEY_NAME),
        rndc_key=new_key(RNDC_KEY_NAME),
        bindcar_token=Secret(secrets.token_urlsafe(32)),
        host=host,
    )


def _check_key(key: TsigKey) -> None:
    """Key material is interpolated into named.conf: refuse anything that could break out."""
    if not _SAFE_NAME.match(key.name):
        raise TargetError(f"key name {key.name!r} has characters named.conf cannot take")
    if key.algorithm.lower() not in _ALGORITHMS:
        raise TargetError(f"key {key.name!r}: unknown algorithm {key.algorithm!r}")
    if not _BASE64.match(key.secret.reveal()):
        raise TargetError(f"key {key.name!r}: secret is not base64")


def _key_block(key: TsigKey) -> str:
    return (
        f'key "{key.name}" {{\n'
        f"    algorithm {key.algorithm.lower()};\n"
        f'    secret "{key.secret.reveal()}";\n'
        f"}};\n"
    )


def render_named_config(cfg: DnsPlaneConfig) -> str:
    """named.conf text for ``cfg``. Contains both secrets: write it with mode 0600."""
    require_loopback(cfg.host, "named listen address")
    _check_key(cfg.tsig)
    _check_key(cfg.rndc_key)
    if cfg.tsig.name == cfg.rndc_key.name:
        raise TargetError("the TSIG key and the rndc key need different names")
    if cfg.named_log_severity not in _SEVERITIES:
        raise TargetError(
            f"named log severity {cfg.named_log_severity!r} is not one of {sorted(_SEVERITIES)}"
        )
    return (
        "// Generated by pytest-bindy-load; holds secrets, mode 0600.\n"
        "options {\n"
        f'    directory "{cfg.zone_dir}";\n'
        f'    new-zones-directory "{cfg.nzd_dir}";\n'
        f'    pid-file "{cfg.pid_path}";\n'
        f'    session-keyfile "{cfg.run_dir / "session.key"}";\n'
        f'    dump-file "{cfg.run_dir / "named_dump.db"}";\n'
        f'    statistics-file "{cfg.run_dir / "named.stats"}";\n'
        f"    listen-on port {cfg.named_port} {{ {cfg.host}; }};\n"
        "    listen-on-v6 { none; };\n"
        "    allow-new-zones yes;\n"
        "    recursion no;\n"
        "    dnssec-validation no;\n"
        "    notify no;\n"
        f"    allow-query {{ {cfg.host}; }};\n"
        "    allow-transfer { none; };\n"
        "    querylog no;\n"
        "};\n\n"
        f"{_key_block(cfg.rndc_key)}\n"
        f"{_key_block(cfg.tsig)}\n"
        "controls {\n"
        f"    inet {cfg.host} port {cfg.rndc_port} allow {{ {cfg.host}; }}"
        f' keys {{ "{cfg.rndc_key.name}"; }};\n'
        "};\n\n"
        "logging {\n"
        "    channel to_stderr {\n"
        "        stderr;\n"
        f"        severity {cfg.named_log_severity};\n"
        "        print-time yes;\n"
        "        print-severity yes;\n"
        "        print-category yes;\n"
        "    };\n"
        "    category default { to_stderr; };\n"
        "    category lame-servers { null; };\n"
        "};\n"
    )


def render_rndc_config(cfg: DnsPlaneConfig) -> str:
    """rndc.conf for humans debugging a run (``rndc -c <run_dir>/rndc.conf status``)."""
    _check_key(cfg.rndc_key)
    return (
        f"{_key_block(cfg.rndc_key)}\n"
        "options {\n"
        f'    default-key "{cfg.rndc_key.name}";\n'
        f"    default-server {cfg.host};\n"
        f"    default-port {cfg.rndc_port};\n"
        "};\n"
    )


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)  # O_CREAT's mode does not apply to a file that already existed


def write_named_config(cfg: DnsPlaneConfig) -> Path:
    """Create the run directories and write named.conf and rndc.conf (both 0600)."""
    for d in (cfg.run_dir, cfg.zone_dir, cfg.nzd_dir, cfg.log_dir, cfg.tmp_dir):
        d.mkdir(parents=True, exist_ok=True)
    # named refuses a directory it cannot write; bindcar writes zone files that named reads.
    for d in (cfg.zone_dir, cfg.nzd_dir):
        if not os.access(d, os.R_OK | os.W_OK | os.X_OK):
            raise TargetError(f"{d} is not readable and writable by this user")
    _write_private(cfg.conf_path, render_named_config(cfg))
    _write_private(cfg.rndc_conf_path, render_rndc_config(cfg))
    return cfg.conf_path


def named_process(cfg: DnsPlaneConfig, named_bin: Path | str) -> ManagedProcess:
    """named in the foreground; ``-L /dev/stderr`` sends the messages logged before named.conf
    is parsed (the ones that explain a failed start) to our log file instead of syslog."""
    return ManagedProcess(
        name="named",
        argv=[str(named_bin), "-f", "-L", "/dev/stderr", "-c", str(cfg.conf_path)],
        log_path=cfg.log_dir / "named.log",
        env={"PATH": _BASE_PATH, "LANG": "C"},
        cwd=cfg.run_dir,
    )


def bindcar_env(cfg: DnsPlaneConfig, *, nsupdate_bin: Path | str | None = None) -> dict[str, str]:
    """bindcar's whole environment (names checked against bindcar 0.7.3 ``src/main.rs``).

    Built from scratch so no stray variable of ours reaches it; holds secrets, never log it.
    """
    nsupdate = nsupdate_bin or shutil.which("nsupdate")
    if nsupdate is None:
        raise TargetError("nsupdate not found on PATH; install bind9-dnsutils")
    path = f"{Path(nsupdate).resolve().parent}:{_BASE_PATH}"
    return {
        "PATH": path,
        "TMPDIR": str(cfg.tmp_dir),
        "BIND_API_ADDRESS": cfg.host,
        "API_PORT": str(cfg.bindcar_port),
        "BIND_ZONE_DIR": str(cfg.zone_dir),
        "RNDC_SERVER": f"{cfg.host}:{cfg.rndc_port}",
        # bindcar strips "hmac-" itself, but its rndc client wants the bare name.
        "RNDC_ALGORITHM": cfg.rndc_key.algorithm.lower().removeprefix("hmac-"),
        "RNDC_SECRET": cfg.rndc_key.secret.reveal(),
        "RNDC_KEY_NAME": cfg.rndc_key.name,
        "NSUPDATE_SERVER": cfg.host,
        "NSUPDATE_PORT": str(cfg.named_port),
        "NSUPDATE_KEY_NAME": cfg.tsig.name,
        "NSUPDATE_ALGORITHM": cfg.tsig.algorithm,
        "NSUPDATE_SECRET": cfg.tsig.secret.reveal(),
        "BIND_API_TOKEN": cfg.bindcar_token.reveal(),
        # Default is 1 request/s with a burst of 10 per peer IP: a load test would measure that.
        "RATE_LIMIT_ENABLED": "false",
        "RUST_LOG": "info",
    }


def bindcar_process(
    cfg: DnsPlaneConfig, bindcar_bin: Path | str, *, nsupdate_bin: Path | str | None = None
) -> ManagedProcess:
    return ManagedProcess(
        name="bindcar",
        argv=[str(bindcar_bin), "run"],
        log_path=cfg.log_dir / "bindcar.log",
        env=bindcar_env(cfg, nsupdate_bin=nsupdate_bin),
        cwd=cfg.run_dir,
    )


async def named_answers(cfg: DnsPlaneConfig) -> bool:
    """Readiness probe: any DNS answer (REFUSED for the root SOA is the normal one) plus an
    open rndc port. Raises while named is not there yet (``ManagedProcess.wait_ready`` retries)."""
    await DnsClient(cfg.dns_server, timeout_s=0.5).query(".", "SOA")
    _reader, writer = await asyncio.open_connection(*cfg.rndc_endpoint)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def bindcar_ready(cfg: DnsPlaneConfig) -> bool:
    """Readiness probe: bindcar's ``/api/v1/ready`` reports its zone dir and rndc both ok."""
    async with BindcarClient(cfg.bindcar_url, None, timeout=2.0) as client:
        return (await client.ready()).ready


async def start_named(
    cfg: DnsPlaneConfig, named_bin: Path | str, *, timeout_s: float = 30.0
) -> ManagedProcess:
    """Start named on an existing config and wait until it answers DNS and rndc."""
    proc = named_process(cfg, named_bin)
    await proc.start()
    try:
        await proc.wait_ready(lambda: named_answers(cfg), timeout_s=timeout_s, interval_s=0.05)
    except BaseException:
        await proc.stop()
        raise
    return proc


async def start_bindcar(
    cfg: DnsPlaneConfig,
    bindcar_bin: Path | str,
    *,
    nsupdate_bin: Path | str | None = None,
    timeout_s: float = 30.0,
) -> ManagedProcess:
    """Start bindcar and wait until ``/api/v1/ready`` says ready (zone dir and rndc both ok)."""
    proc = bindcar_process(cfg, bindcar_bin, nsupdate_bin=nsupdate_bin)
    await proc.start()
    try:
        await proc.wait_ready(lambda: bindcar_ready(cfg), timeout_s=timeout_s, interval_s=0.05)
    except BaseException:
        await proc.stop()
        raise
    return proc


@dataclass(slots=True)
class DnsPlane:
    """A running named + bindcar pair; ``*_start_s`` are launch-to-ready times."""

    config: DnsPlaneConfig
    named: ManagedProcess
    bindcar: ManagedProcess
    named_start_s: float
    bindcar_start_s: float

    async def stop(self) -> None:
        """bindcar first (it talks to named), then named; both always reaped."""
        try:
            await self.bindcar.stop()
        finally:
            await self.named.stop()

    async def restart_named(
        self, named_bin: Path | str, *, reset: bool = True, timeout_s: float = 30.0
    ) -> None:
        """Stop named, optionally wipe its state (bindy's ephemeral pod storage), start it again.

        bindcar keeps running: it holds no zone state and reconnects to rndc per request.
        """
        await self.named.stop()
        if reset:
            reset_state(self.config)
        t0 = time.monotonic()
        self.named = await start_named(self.config, named_bin, timeout_s=timeout_s)
        self.named_start_s = time.monotonic() - t0


async def start_dns_plane(
    cfg: DnsPlaneConfig,
    named_bin: Path | str,
    bindcar_bin: Path | str,
    *,
    nsupdate_bin: Path | str | None = None,
    timeout_s: float = 30.0,
) -> DnsPlane:
    """Write the config, start named, then bindcar; on any failure stop what was started."""
    write_named_config(cfg)
    t0 = time.monotonic()
    named = await start_named(cfg, named_bin, timeout_s=timeout_s)
    named_start_s = time.monotonic() - t0
    try:
        t1 = time.monotonic()
        bindcar = await start_bindcar(
            cfg, bindcar_bin, nsupdate_bin=nsupdate_bin, timeout_s=timeout_s
        )
        bindcar_start_s = time.monotonic() - t1
    except BaseException:
        await named.stop()
        raise
    log.info(
        "DNS plane up: named %s:%s (%.2f s), bindcar %s (%.2f s)",
        cfg.host,
        cfg.named_port,
        named_start_s,
        cfg.bindcar_url,
        bindcar_start_s,
    )
    return DnsPlane(
        config=cfg,
        named=named,
        bindcar=bindcar,
        named_start_s=named_start_s,
        bindcar_start_s=bindcar_start_s,
    )


def _named_alive(cfg: DnsPlaneConfig) -> int | None:
    """The pid from named's pid file if that process still runs named, else None."""
    try:
        pid = int(cfg.pid_path.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    argv0 = cmdline.split(b"\0", 1)[0]
    return pid if os.path.basename(argv0) == b"named" else None


def reset_state(cfg: DnsPlaneConfig) -> None:
    """Wipe zone files, journals and named's new-zone database so named restarts empty.

    Call only while named is stopped; a running named would keep serving what it loaded.
    """
    pid = _named_alive(cfg)
    if pid is not None:
        raise TargetError(f"named (pid {pid}) is still running; stop it before reset_state")
    removed = 0
    for d in (cfg.zone_dir, cfg.nzd_dir):
        if not d.is_dir():
            continue
        for entry in d.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink(missing_ok=True)
            removed += 1
    cfg.pid_path.unlink(missing_ok=True)
    log.info("reset DNS plane state under %s (%s entries removed)", cfg.run_dir, removed)
