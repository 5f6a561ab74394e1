"""Pure parts of the DNS data plane: named.conf rendering, key checks, bindcar's environment,
state reset. Starting the processes is in tests/integration/test_dns_plane.py."""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path

import pytest

from pytest_bindy_load.errors import TargetError
from pytest_bindy_load.localstack import named
from pytest_bindy_load.localstack.named import (
    DnsPlaneConfig,
    bindcar_env,
    make_dns_plane_config,
    render_named_config,
    reset_state,
    write_named_config,
)
from pytest_bindy_load.target import Secret, TsigKey


@pytest.fixture
def cfg(tmp_path: Path) -> DnsPlaneConfig:
    return make_dns_plane_config(tmp_path / "dns")


def test_ports_are_three_different_numbers(cfg: DnsPlaneConfig) -> None:
    assert len({cfg.named_port, cfg.rndc_port, cfg.bindcar_port}) == 3


def test_each_config_gets_fresh_secrets(tmp_path: Path) -> None:
    a = make_dns_plane_config(tmp_path / "a")
    b = make_dns_plane_config(tmp_path / "b")
    assert a.tsig.secret != b.tsig.secret
    assert a.rndc_key.secret != b.rndc_key.secret
    assert a.tsig.secret != a.rndc_key.secret
    assert a.bindcar_token != b.bindcar_token


def test_the_tsig_key_is_what_bindys_operator_generates(cfg: DnsPlaneConfig) -> None:
    import base64

    assert cfg.tsig.name == "bindy-operator"
    assert cfg.tsig.algorithm == "hmac-sha256"
    assert len(base64.b64decode(cfg.tsig.secret.reveal())) == 32


def test_a_non_loopback_host_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="loopback"):
        make_dns_plane_config(tmp_path, host="0.0.0.0")


def test_the_config_repr_shows_no_secret(cfg: DnsPlaneConfig) -> None:
    text = repr(cfg)
    for secret in (cfg.tsig.secret, cfg.rndc_key.secret, cfg.bindcar_token):
        assert secret.reveal() not in text


def test_named_conf_listens_on_loopback_only(cfg: DnsPlaneConfig) -> None:
    conf = render_named_config(cfg)
    assert f"listen-on port {cfg.named_port} {{ 127.0.0.1; }};" in conf
    assert "listen-on-v6 { none; };" in conf
    assert f"inet 127.0.0.1 port {cfg.rndc_port} allow {{ 127.0.0.1; }}" in conf
    assert "0.0.0.0" not in conf
    assert "any;" not in conf


def test_named_conf_lets_rndc_add_zones_in_the_bindcar_zone_dir(cfg: DnsPlaneConfig) -> None:
    conf = render_named_config(cfg)
    assert "allow-new-zones yes;" in conf
    assert f'directory "{cfg.zone_dir}";' in conf
    assert f'new-zones-directory "{cfg.nzd_dir}";' in conf
    assert "recursion no;" in conf


def test_named_conf_defines_both_keys_and_only_the_rndc_key_controls_named(
    cfg: DnsPlaneConfig,
) -> None:
    conf = render_named_config(cfg)
    assert f'key "{cfg.rndc_key.name}"' in conf
    assert f'key "{cfg.tsig.name}"' in conf
    assert f'secret "{cfg.tsig.secret.reveal()}";' in conf
    assert f'keys {{ "{cfg.rndc_key.name}"; }};' in conf


@pytest.mark.parametrize(
    "bad_key",
    [
        TsigKey(
            name='evil"; }; include "/etc/shadow', algorithm="hmac-sha256", secret=Secret("YQ==")
        ),
        TsigKey(name="ok", algorithm="rot13", secret=Secret("YQ==")),
        TsigKey(name="ok", algorithm="hmac-sha256", secret=Secret('YQ=="; };')),
    ],
)
def test_key_material_that_could_break_named_conf_is_refused(
    cfg: DnsPlaneConfig, bad_key: TsigKey
) -> None:
    with pytest.raises(TargetError):
        render_named_config(dataclasses.replace(cfg, tsig=bad_key))


def test_an_unknown_log_severity_is_refused(cfg: DnsPlaneConfig) -> None:
    with pytest.raises(TargetError, match="severity"):
        render_named_config(dataclasses.replace(cfg, named_log_severity="loud"))


def test_config_files_holding_secrets_are_private(cfg: DnsPlaneConfig) -> None:
    path = write_named_config(cfg)
    for p in (path, cfg.rndc_conf_path):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
    assert cfg.zone_dir.is_dir()
    assert cfg.nzd_dir.is_dir()


def test_bindcar_env_is_built_from_scratch(
    cfg: DnsPlaneConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "do-not-leak")
    env = bindcar_env(cfg, nsupdate_bin="/usr/bin/nsupdate")
    assert "AWS_SECRET_ACCESS_KEY" not in env
    assert "do-not-leak" not in env.values()
    assert env["PATH"].startswith("/usr/bin:")


def test_bindcar_env_points_at_this_planes_named_and_keys(cfg: DnsPlaneConfig) -> None:
    env = bindcar_env(cfg, nsupdate_bin="/usr/bin/nsupdate")
    assert env["BIND_API_ADDRESS"] == "127.0.0.1"
    assert env["API_PORT"] == str(cfg.bindcar_port)
    assert env["BIND_ZONE_DIR"] == str(cfg.zone_dir)
    assert env["RNDC_SERVER"] == f"127.0.0.1:{cfg.rndc_port}"
    assert env["RNDC_ALGORITHM"] == "sha256"
    assert env["RNDC_SECRET"] == cfg.rndc_key.secret.reveal()
    assert env["NSUPDATE_PORT"] == str(cfg.named_port)
    assert env["NSUPDATE_KEY_NAME"] == "bindy-operator"
    assert env["NSUPDATE_SECRET"] == cfg.tsig.secret.reveal()
    assert env["BIND_API_TOKEN"] == cfg.bindcar_token.reveal()
    assert env["RATE_LIMIT_ENABLED"] == "false"
    assert "DISABLE_AUTH" not in env


def test_no_secret_is_in_any_process_argv(cfg: DnsPlaneConfig) -> None:
    argv = " ".join(
        [
            *named.named_process(cfg, "named").argv,
            *named.bindcar_process(cfg, "bindcar", nsupdate_bin="/usr/bin/nsupdate").argv,
        ]
    )
    for secret in (cfg.tsig.secret, cfg.rndc_key.secret, cfg.bindcar_token):
        assert secret.reveal() not in argv


def test_reset_state_empties_zone_files_journals_and_the_new_zone_db(cfg: DnsPlaneConfig) -> None:
    write_named_config(cfg)
    for p in (
        cfg.zone_dir / "a.example.zone",
        cfg.zone_dir / "a.example.zone.jnl",
        cfg.nzd_dir / "_default.nzd",
        cfg.nzd_dir / "_default.nzd-lock",
    ):
        p.write_text("x")
    reset_state(cfg)
    assert list(cfg.zone_dir.iterdir()) == []
    assert list(cfg.nzd_dir.iterdir()) == []
    # The directories stay: bindcar resolved BIND_ZONE_DIR once at start.
    assert cfg.zone_dir.is_dir()
    assert cfg.conf_path.exists()


def test_reset_state_ignores_a_stale_pid_file(cfg: DnsPlaneConfig) -> None:
    write_named_config(cfg)
    cfg.pid_path.write_text(f"{os.getpid()}\n")  # pytest, not named
    reset_state(cfg)
    assert not cfg.pid_path.exists()
