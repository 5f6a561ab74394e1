"""The DNS data plane against the real thing: Debian named and bindcar from crates.io, started by
``start_dns_plane`` on loopback ports in a temporary run directory. No mocks."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from pytest_bindy_load.bindcar import BindcarClient, BindcarError
from pytest_bindy_load.dns import DnsClient, DnsError
from pytest_bindy_load.errors import TargetError
from pytest_bindy_load.localstack import named as named_mod
from pytest_bindy_load.localstack.named import (
    DnsPlane,
    DnsPlaneConfig,
    make_dns_plane_config,
    start_dns_plane,
    start_named,
    write_named_config,
)
from pytest_bindy_load.results import ErrorKind
from pytest_bindy_load.target import Secret

pytestmark = pytest.mark.timeout(180)

SPIKE_BINDCAR = Path("/root/spike/bindcar/bin/bindcar")


def _tool(name: str) -> Path:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not on PATH; install Debian bind9 / bind9-utils / bind9-dnsutils")
    return Path(found)


def find_bindcar() -> Path:
    """The bindcar binary, from the places provisioning and the spike put it."""
    cache = Path(os.environ.get("PYTEST_BINDY_LOAD_CACHE", "~/.cache/pytest-bindy-load"))
    candidates = [
        os.environ.get("PYTEST_BINDY_LOAD_BINDCAR"),
        shutil.which("bindcar"),
        str(cache.expanduser() / "bin" / "bindcar"),
        str(cache.expanduser() / "cargo-root" / "bin" / "bindcar"),
        str(SPIKE_BINDCAR),
    ]
    for c in candidates:
        if c and Path(c).is_file() and os.access(c, os.X_OK):
            return Path(c)
    pytest.fail(
        "bindcar binary not found; set PYTEST_BINDY_LOAD_BINDCAR, put bindcar on PATH or run "
        "`python -m pytest_bindy_load.localstack provision`. Looked in: "
        + ", ".join(c for c in candidates if c)
    )


def processes_using(path: Path) -> list[int]:
    """Pids whose command line mentions ``path`` (our named.conf): what a failed start left."""
    needle = str(path).encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().split()[2]
        except OSError:
            continue
        if needle in cmdline and state != "Z":
            pids.append(int(entry.name))
    return pids


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return state != "Z"


def listening_addresses(pid: int) -> set[tuple[str, int, str]]:
    """(ip, port, proto) of every TCP listener and bound UDP socket the process holds."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found: set[tuple[str, int, str]] = set()
    for proto in ("tcp", "udp", "tcp6", "udp6"):
        lines = Path(f"/proc/{pid}/net/{proto}").read_text().splitlines()[1:]
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if inode not in inodes:
                continue
            if proto.startswith("tcp") and state != "0A":  # 0A = LISTEN
                continue
            hex_ip, hex_port = local.split(":")
            if len(hex_ip) == 8:
                ip = socket.inet_ntop(socket.AF_INET, bytes.fromhex(hex_ip)[::-1])
            else:
                raw = bytes.fromhex(hex_ip)
                ip = socket.inet_ntop(
                    socket.AF_INET6, b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                )
            found.add((ip, int(hex_port, 16), proto))
    return found


def soa_for(zone: str, serial: int) -> dict[str, object]:
    return {
        "primaryNs": f"ns1.{zone}.",
        "adminEmail": f"hostmaster.{zone}.",
        "serial": serial,
        "refresh": 3601,
        "retry": 601,
        "expire": 604801,
        "negativeTtl": 301,
    }


async def create_zone(bindcar: BindcarClient, cfg: DnsPlaneConfig, zone: str, serial: int) -> None:
    await bindcar.create_zone(
        zone,
        soa=soa_for(zone, serial),
        name_servers=[f"ns1.{zone}."],
        name_server_ips={f"ns1.{zone}.": cfg.host},
        update_key_name=cfg.tsig.name,
        ttl=300,
    )


@pytest.fixture(scope="module")
def named_bin() -> Path:
    return _tool("named")


@pytest.fixture(scope="module")
def bindcar_bin() -> Path:
    return find_bindcar()


@pytest.fixture(scope="module")
async def plane(
    tmp_path_factory: pytest.TempPathFactory, named_bin: Path, bindcar_bin: Path
) -> AsyncIterator[DnsPlane]:
    cfg = make_dns_plane_config(tmp_path_factory.mktemp("dns-plane"))
    p = await start_dns_plane(cfg, named_bin, bindcar_bin, nsupdate_bin=_tool("nsupdate"))
    print(f"\nTIMING named start {p.named_start_s * 1000:.0f} ms")
    print(f"TIMING bindcar start {p.bindcar_start_s * 1000:.0f} ms")
    try:
        yield p
    finally:
        named_pid, bindcar_pid = p.named.pid, p.bindcar.pid
        await p.stop()
        assert named_pid is not None
        assert not pid_alive(named_pid)
        assert bindcar_pid is not None
        assert not pid_alive(bindcar_pid)
        assert processes_using(cfg.conf_path) == []


@pytest.fixture
async def bindcar(plane: DnsPlane) -> AsyncIterator[BindcarClient]:
    async with BindcarClient(plane.config.bindcar_url, plane.config.bindcar_token) as client:
        yield client


@pytest.fixture
def dns(plane: DnsPlane) -> DnsClient:
    return DnsClient(plane.config.dns_server, timeout_s=2.0)


_zone_counter = iter(range(1, 10_000))


@pytest.fixture
def zone() -> str:
    return f"zone{next(_zone_counter):04d}.loadtest.example"


# --- configuration -------------------------------------------------------------------------


def test_the_generated_named_conf_passes_named_checkconf(tmp_path: Path) -> None:
    cfg = make_dns_plane_config(tmp_path)
    conf = write_named_config(cfg)
    result = subprocess.run(
        [_tool("named-checkconf"), str(conf)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


async def test_named_and_bindcar_listen_on_loopback_only(plane: DnsPlane) -> None:
    cfg = plane.config
    assert plane.named.pid is not None
    assert plane.bindcar.pid is not None
    named_socks = listening_addresses(plane.named.pid)
    bindcar_socks = listening_addresses(plane.bindcar.pid)
    assert ("127.0.0.1", cfg.named_port, "tcp") in named_socks
    assert ("127.0.0.1", cfg.named_port, "udp") in named_socks
    assert ("127.0.0.1", cfg.rndc_port, "tcp") in named_socks
    assert bindcar_socks == {("127.0.0.1", cfg.bindcar_port, "tcp")}
    for ip, port, proto in named_socks | bindcar_socks:
        assert ip == "127.0.0.1", f"{proto} socket on {ip}:{port}"


async def test_bindcar_reports_healthy_and_ready_with_its_version(
    bindcar: BindcarClient,
) -> None:
    health = await bindcar.health()
    ready = await bindcar.ready()
    assert health["status"] == "healthy"
    assert str(health["version"]).startswith("0.7.")
    assert ready.ready
    assert ready.checks == ("zone_dir: ok", "rndc: ok")


# --- zones through bindcar -----------------------------------------------------------------


async def test_named_answers_soa_with_the_values_sent_to_bindcar(
    plane: DnsPlane, bindcar: BindcarClient, dns: DnsClient, zone: str
) -> None:
    assert (await dns.query(zone, "SOA")).rcode == "REFUSED"
    t0 = time.monotonic()
    await create_zone(bindcar, plane.config, zone, serial=2026010101)
    created = time.monotonic()
    soa = await dns.soa(zone)
    answered = time.monotonic()
    print(
        f"\nTIMING zone create {1000 * (created - t0):.1f} ms, "
        f"create->SOA answered {1000 * (answered - t0):.1f} ms"
    )
    assert soa is not None
    assert soa.mname.to_text() == f"ns1.{zone}."
    assert soa.rname.to_text() == f"hostmaster.{zone}."
    assert (soa.serial, soa.refresh, soa.retry, soa.expire, soa.minimum) == (
        2026010101,
        3601,
        601,
        604801,
        301,
    )
    ns = await dns.query(zone, "NS")
    assert ns.ok
    assert ns.rdatas == {f"ns1.{zone}."}
    assert ns.authoritative
    assert await bindcar.zone_status(zone)
    assert (plane.config.zone_dir / f"{zone}.zone").is_file()


async def test_zone_create_latency_over_a_few_zones(
    plane: DnsPlane, bindcar: BindcarClient, dns: DnsClient
) -> None:
    samples = []
    for i in range(5):
        z = f"latency{i}.loadtest.example"
        t0 = time.monotonic()
        await create_zone(bindcar, plane.config, z, serial=1)
        samples.append(time.monotonic() - t0)
        assert await dns.soa_serial(z) == 1
    ms = sorted(s * 1000 for s in samples)
    print(f"\nTIMING zone create x5: median {statistics.median(ms):.1f} ms, max {ms[-1]:.1f} ms")


async def test_creating_an_existing_zone_is_a_409_conflict(
    plane: DnsPlane, bindcar: BindcarClient, zone: str
) -> None:
    await create_zone(bindcar, plane.config, zone, serial=1)
    with pytest.raises(BindcarError) as info:
        await create_zone(bindcar, plane.config, zone, serial=1)
    assert info.value.status == 409
    assert info.value.error_kind is ErrorKind.CONFLICT


async def test_deleting_a_zone_through_bindcar_stops_named_answering_for_it(
    plane: DnsPlane, bindcar: BindcarClient, dns: DnsClient, zone: str
) -> None:
    await create_zone(bindcar, plane.config, zone, serial=7)
    assert await dns.soa_serial(zone) == 7
    await bindcar.freeze(zone)  # what bindy does before DELETE
    await bindcar.delete_zone(zone)
    answer = await dns.query(zone, "SOA")
    assert answer.rcode != "NOERROR"
    assert answer.rcode == "REFUSED"
    assert not await bindcar.zone_status(zone)
    assert not (plane.config.zone_dir / f"{zone}.zone").exists()


async def test_notify_and_metrics_work_through_the_adapter(
    plane: DnsPlane, bindcar: BindcarClient, zone: str
) -> None:
    await create_zone(bindcar, plane.config, zone, serial=1)
    assert (await bindcar.notify(zone)).success
    metrics = await bindcar.metrics_text()
    assert 'bindcar_zone_operations_total{operation="create",result="success"}' in metrics
    assert "bindcar_http_requests_total" in metrics


# --- bearer token --------------------------------------------------------------------------


async def test_bindcar_rejects_a_request_without_the_bearer_token(
    plane: DnsPlane, zone: str
) -> None:
    async with BindcarClient(plane.config.bindcar_url, None) as anonymous:
        with pytest.raises(BindcarError) as info:
            await create_zone(anonymous, plane.config, zone, serial=1)
    assert info.value.status == 401
    assert info.value.error_kind is ErrorKind.API_4XX


async def test_bindcar_rejects_a_wrong_token_and_the_error_does_not_show_it(
    plane: DnsPlane, zone: str
) -> None:
    wrong = "wrong-token-0123456789abcdef"
    async with BindcarClient(plane.config.bindcar_url, Secret(wrong)) as client:
        with pytest.raises(BindcarError) as info:
            await client.zone_status(zone)
    assert info.value.status == 401
    assert wrong not in str(info.value)
    assert plane.config.bindcar_token.reveal() not in str(info.value)


async def test_the_bindcar_log_never_contains_a_secret(plane: DnsPlane) -> None:
    log_text = plane.bindcar.log_path.read_text(errors="replace")
    named_log = plane.named.log_path.read_text(errors="replace")
    cfg = plane.config
    for secret in (cfg.tsig.secret, cfg.rndc_key.secret, cfg.bindcar_token):
        assert secret.reveal() not in log_text
        assert secret.reveal() not in named_log


# --- RFC 2136 updates ----------------------------------------------------------------------


async def test_a_tsig_signed_update_becomes_answerable(
    plane: DnsPlane, bindcar: BindcarClient, dns: DnsClient, zone: str
) -> None:
    cfg = plane.config
    await create_zone(bindcar, cfg, zone, serial=100)
    samples = []
    for i in range(5):
        values = {f"10.0.{i}.1", f"10.0.{i}.2"}
        t0 = time.monotonic()
        rcode = await dns.replace_rrset(zone, "www", "A", 60, values, cfg.tsig)
        answer = await dns.wait_answerable(f"www.{zone}", "A", values, time.monotonic() + 5)
        samples.append(time.monotonic() - t0)
        assert rcode == "NOERROR"
        assert answer.rdatas == values
        assert answer.ttl == 60
    ms = sorted(s * 1000 for s in samples)
    print(
        f"\nTIMING update->answerable x5: median {statistics.median(ms):.1f} ms, max {ms[-1]:.1f}"
    )
    # The RRset was replaced each time, not appended to.
    assert (await dns.query(f"www.{zone}", "A")).rdatas == {"10.0.4.1", "10.0.4.2"}
    serial = await dns.soa_serial(zone)
    assert serial is not None
    assert serial > 100


async def test_txt_cname_mx_srv_caa_values_round_trip(
    plane: DnsPlane, bindcar: BindcarClient, dns: DnsClient, zone: str
) -> None:
    cfg = plane.config
    await create_zone(bindcar, cfg, zone, serial=1)
    cases = {
        # In-zone MX and SRV targets need an address first (see the integrity test below).
        ("mail", "A"): ["10.5.5.5"],
        ("www", "A"): ["10.5.5.6"],
        ("txt", "TXT"): ['"v=spf1 -all"'],
        ("alias", "CNAME"): [f"www.{zone}."],
        ("@", "MX"): [f"10 mail.{zone}."],
        ("_https._tcp", "SRV"): [f"1 5 443 www.{zone}."],
        ("@", "CAA"): ['0 issue "letsencrypt.org"'],
        ("v6", "AAAA"): ["2001:db8::1"],
        ("sub", "NS"): ["ns.example.net."],
    }
    for (name, rdtype), values in cases.items():
        rcode = await dns.replace_rrset(zone, name, rdtype, 120, values, cfg.tsig)
        assert rcode == "NOERROR", f"{name} {rdtype}"
        if rdtype == "NS":  # a delegation: named answers it as a referral, not in ANSWER
            continue
        fqdn = zone if name == "@" else f"{name}.{zone}"
        await dns.wait_answerable(fqdn, rdtype, values, time.monotonic() + 5)


async def test_named_refuses_an_mx_pointing_at_an_in_zone_name_without_address(
    plane: DnsPlane, bindcar: BindcarClient, dns: DnsClient, zone: str
) -> None:
    # named's default check-integrity on primary zones; bindy's BIND9 pods do the same, so
    # generated MX/SRV records must point outside the zone or at names that have A/AAAA.
    cfg = plane.config
    await create_zone(bindcar, cfg, zone, serial=1)
    assert await dns.replace_rrset(zone, "@", "MX", 60, [f"10 nomail.{zone}."], cfg.tsig) == (
        "REFUSED"
    )
    assert await dns.replace_rrset(zone, "@", "MX", 60, ["10 mx.example.net."], cfg.tsig) == (
        "NOERROR"
    )


async def test_an_unsigned_update_is_refused(
    plane: DnsPlane, bindcar: BindcarClient, dns: DnsClient, zone: str
) -> None:
    await create_zone(bindcar, plane.config, zone, serial=1)
    rcode = await dns.replace_rrset(zone, "sneaky", "A", 60, ["10.9.9.9"], None)
    assert rcode == "REFUSED"
    assert (await dns.query(f"sneaky.{zone}", "A")).rcode == "NXDOMAIN"


async def test_an_update_signed_with_a_key_not_allowed_for_the_zone_is_refused(
    plane: DnsPlane, bindcar: BindcarClient, dns: DnsClient, zone: str
) -> None:
    # The rndc key is known to named, but allow-update names only the TSIG key.
    await create_zone(bindcar, plane.config, zone, serial=1)
    rcode = await dns.replace_rrset(zone, "sneaky", "A", 60, ["10.9.9.9"], plane.config.rndc_key)
    assert rcode == "REFUSED"


async def test_an_update_signed_with_a_wrong_secret_fails_tsig_verification(
    plane: DnsPlane, bindcar: BindcarClient, dns: DnsClient, zone: str
) -> None:
    await create_zone(bindcar, plane.config, zone, serial=1)
    forged = named_mod.new_key(plane.config.tsig.name)
    with pytest.raises(DnsError, match="PeerBadSignature"):
        await dns.replace_rrset(zone, "sneaky", "A", 60, ["10.9.9.9"], forged)
    assert (await dns.query(f"sneaky.{zone}", "A")).rcode == "NXDOMAIN"


async def test_delete_rrset_removes_the_name(
    plane: DnsPlane, bindcar: BindcarClient, dns: DnsClient, zone: str
) -> None:
    cfg = plane.config
    await create_zone(bindcar, cfg, zone, serial=1)
    await dns.replace_rrset(zone, "gone", "A", 60, ["10.1.1.1"], cfg.tsig)
    await dns.wait_answerable(f"gone.{zone}", "A", {"10.1.1.1"}, time.monotonic() + 5)
    assert await dns.delete_rrset(zone, "gone", "A", cfg.tsig) == "NOERROR"
    answer = await dns.wait_answerable(f"gone.{zone}", "A", set(), time.monotonic() + 5)
    assert answer.rcode == "NXDOMAIN"


# --- restart and state ---------------------------------------------------------------------


async def test_a_restart_without_reset_keeps_zones_and_updates(
    plane: DnsPlane, named_bin: Path, bindcar: BindcarClient, dns: DnsClient, zone: str
) -> None:
    cfg = plane.config
    await create_zone(bindcar, cfg, zone, serial=1)
    await dns.replace_rrset(zone, "kept", "A", 60, ["10.2.2.2"], cfg.tsig)
    await plane.restart_named(named_bin, reset=False)
    assert (await dns.query(f"kept.{zone}", "A")).rdatas == {"10.2.2.2"}


async def test_after_reset_and_restart_named_comes_back_empty(
    plane: DnsPlane, named_bin: Path, bindcar: BindcarClient, dns: DnsClient, zone: str
) -> None:
    cfg = plane.config
    await create_zone(bindcar, cfg, zone, serial=1)
    await dns.replace_rrset(zone, "www", "A", 60, ["10.3.3.3"], cfg.tsig)
    old_pid = plane.named.pid
    await plane.restart_named(named_bin, reset=True)
    print(f"\nTIMING named restart (after reset) {plane.named_start_s * 1000:.0f} ms")
    assert plane.named.pid != old_pid
    assert (await dns.query(zone, "SOA")).rcode == "REFUSED"
    assert not await bindcar.zone_status(zone)
    assert list(cfg.zone_dir.glob("*.zone*")) == []
    # bindcar keeps working against the new named: the zone can be created again.
    await create_zone(bindcar, cfg, zone, serial=2)
    assert await dns.soa_serial(zone) == 2


# --- failed starts -------------------------------------------------------------------------


async def test_an_unusable_zone_dir_fails_start_with_the_log_tail_and_leaves_nothing(
    tmp_path: Path, named_bin: Path
) -> None:
    cfg = make_dns_plane_config(tmp_path)
    write_named_config(cfg)
    shutil.rmtree(cfg.zone_dir)
    cfg.zone_dir.write_text("not a directory")
    with pytest.raises(TargetError) as info:
        await start_named(cfg, named_bin, timeout_s=15)
    message = str(info.value)
    assert "named exited" in message
    assert str(cfg.zone_dir) in message  # named's own words, from the log tail
    assert processes_using(cfg.conf_path) == []


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port held on TCP and UDP by this test, as if another server owned it."""
    with socket.socket() as t, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        t.bind(("127.0.0.1", 0))
        t.listen()
        port = int(t.getsockname()[1])
        u.bind(("127.0.0.1", port))
        yield port


async def test_a_taken_dns_port_fails_the_plane_with_the_log_tail_and_leaves_nothing(
    tmp_path: Path, named_bin: Path, bindcar_bin: Path, taken_port: int
) -> None:
    import dataclasses

    cfg = dataclasses.replace(make_dns_plane_config(tmp_path), named_port=taken_port)
    with pytest.raises(TargetError) as info:
        await start_dns_plane(cfg, named_bin, bindcar_bin, timeout_s=15)
    message = str(info.value)
    assert "named" in message
    assert "listen" in message  # "unable to listen on any configured interfaces"
    assert processes_using(cfg.conf_path) == []


async def test_a_bindcar_that_cannot_start_stops_the_named_already_started(
    tmp_path: Path, named_bin: Path
) -> None:
    cfg = make_dns_plane_config(tmp_path)
    with pytest.raises(TargetError, match="bindcar exited"):
        await start_dns_plane(cfg, named_bin, _tool("false"), timeout_s=15)
    assert processes_using(cfg.conf_path) == []
    # Nothing answers on the plane's DNS port any more.
    with pytest.raises(DnsError):
        await DnsClient(cfg.dns_server, timeout_s=0.3).query(".", "SOA")


async def test_reset_state_refuses_while_named_runs(tmp_path: Path, named_bin: Path) -> None:
    cfg = make_dns_plane_config(tmp_path)
    write_named_config(cfg)
    proc = await start_named(cfg, named_bin)
    try:
        with pytest.raises(TargetError, match="still running"):
            named_mod.reset_state(cfg)
    finally:
        await proc.stop()
    await asyncio.sleep(0)
    named_mod.reset_state(cfg)  # fine once it is stopped
