"""Pure parts of provisioning and port choice: what a user without the tools is told, and
that a port already in use is never handed out."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from pytest_bindy_load.errors import ProvisionError
from pytest_bindy_load.localstack import provision
from pytest_bindy_load.localstack.processes import free_port, port_is_free


def test_missing_bind9_tools_without_root_name_the_debian_packages_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(provision, "_which_sbin", lambda _tool: None)
    monkeypatch.setattr(provision.os, "geteuid", lambda: 1000)
    with pytest.raises(ProvisionError) as info:
        provision._debian_tools(lambda _m: None)
    message = str(info.value)
    assert "\n" not in message
    assert "missing named, rndc, nsupdate, dig, dnsperf" in message
    assert "apt-get install bind9 bind9-utils bind9-dnsutils dnsperf" in message


def test_ports_in_use_are_never_handed_out() -> None:
    held = []
    try:
        for _ in range(20):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            s.listen()
            held.append(s)
        taken = {s.getsockname()[1] for s in held}
        assert not any(port_is_free(p) for p in taken)
        handed = {free_port() for _ in range(200)}
        assert handed.isdisjoint(taken)
        assert all(port_is_free(p) for p in handed)
    finally:
        for s in held:
            s.close()


def test_a_udp_and_tcp_port_is_free_on_both() -> None:
    port = free_port(udp_too=True)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, socket.socket() as t:
        u.bind(("127.0.0.1", port))
        t.bind(("127.0.0.1", port))
