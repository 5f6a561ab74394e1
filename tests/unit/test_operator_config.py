"""Parsing of the reference operator's JSON config: strict keys, loopback only, secrets hidden."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_bindy_load.errors import TargetError
from pytest_bindy_load.localstack.operator.config import (
    ConfigError,
    DelayDistribution,
    load_config,
    parse_config,
)

SECRET = "c2VjcmV0LXNlY3JldC1zZWNyZXQ="
TOKEN = "bearer-token-value"


def _raw(**over: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "kubeconfig": "/tmp/kubeconfig",
        "bindcar_url": "http://127.0.0.1:18080/",
        "bindcar_token": TOKEN,
        "dns_server": ["127.0.0.1", 15353],
        "tsig": {"name": "bindy-operator", "algorithm": "hmac-sha256", "secret": SECRET},
        "metrics_port": 19090,
    }
    raw.update(over)
    return raw


def test_minimal_config_gets_bindy_like_defaults() -> None:
    cfg = parse_config(_raw())
    assert cfg.bindcar_url == "http://127.0.0.1:18080"
    assert cfg.dns_server == ("127.0.0.1", 15353)
    assert cfg.metrics_host == "127.0.0.1"
    assert cfg.requeue.not_ready_s == 30.0
    assert cfg.faults.delay.distribution is DelayDistribution.NONE
    assert cfg.faults.error_rate == {}
    assert cfg.notify_on_reconcile is True
    assert str(cfg.kubeconfig) == "/tmp/kubeconfig"


def test_full_config_with_faults_parses() -> None:
    cfg = parse_config(
        _raw(
            workers=4,
            resync_period_s=20,
            requeue={"ready_s": 0, "not_ready_s": 5, "error_base_s": 0.1, "error_max_s": 2},
            faults={
                "seed": 3,
                "delay": {"distribution": "lognormal", "p50_s": 0.2, "p99_s": 1.0},
                "error_rate": {"ARecord": 0.1, "*": 0.01},
                "stalls": [
                    {"start_wall": 1000.0, "end_wall": 1010.0},
                    {"after_start_s": 5, "duration_s": 3},
                ],
            },
        )
    )
    assert cfg.workers == 4
    assert cfg.requeue.error_max_s == 2.0
    assert cfg.faults.delay.p99_s == 1.0
    assert cfg.faults.error_rate_for("ARecord") == 0.1
    assert cfg.faults.error_rate_for("TXTRecord") == 0.01
    assert len(cfg.faults.stalls) == 2
    assert cfg.faults.stalls[1].duration_s == 3.0


@pytest.mark.parametrize(
    ("over", "fragment"),
    [
        ({"bindcar_ulr": "x"}, "unknown key(s) ['bindcar_ulr']"),
        ({"faults": {"delay": {"distribution": "pareto"}}}, "faults.delay.distribution"),
        ({"faults": {"delay": {"distribution": "lognormal", "p50_s": 2, "p99_s": 1}}}, "p50_s"),
        ({"faults": {"delay": {"distribution": "uniform", "low_s": 2, "high_s": 1}}}, "high_s"),
        ({"faults": {"error_rate": {"Arecord": 0.1}}}, "unknown kind 'Arecord'"),
        ({"faults": {"error_rate": {"ARecord": 1.5}}}, "probability"),
        ({"faults": {"stalls": [{"start_wall": 1}]}}, "go together"),
        ({"faults": {"stalls": [{"start_wall": 1, "end_wall": 2, "duration_s": 1}]}}, "not both"),
        ({"faults": {"delay": {"distribution": "fixed", "kinds": ["Foo"]}}}, "unknown kind"),
        ({"dns_server": ["127.0.0.1"]}, "dns_server"),
        ({"dns_server": ["127.0.0.1", 70000]}, "dns_server[1]"),
        ({"workers": 0}, "workers"),
        ({"workers": True}, "workers"),
        ({"requeue": {"error_base_s": 5, "error_max_s": 1}}, "error_max_s"),
        ({"log_level": "loud"}, "log_level"),
        ({"tsig": {"name": "k"}}, "tsig.secret"),
    ],
)
def test_bad_values_fail_with_a_message_naming_the_key(over: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(_raw(**over))
    assert fragment in str(info.value)


def test_missing_required_key_is_named() -> None:
    raw = _raw()
    del raw["tsig"]
    with pytest.raises(ConfigError, match="'tsig'"):
        parse_config(raw)


@pytest.mark.parametrize(
    "over",
    [
        {"bindcar_url": "http://10.0.0.1:8080"},
        {"dns_server": ["192.0.2.1", 53]},
        {"metrics_host": "0.0.0.0"},
    ],
)
def test_non_loopback_addresses_are_refused(over: dict[str, Any]) -> None:
    with pytest.raises(TargetError, match="loopback"):
        parse_config(_raw(**over))


def test_repr_shows_no_secret_or_token() -> None:
    cfg = parse_config(_raw())
    text = repr(cfg) + str(cfg) + repr(cfg.tsig) + repr(cfg.faults)
    assert SECRET not in text
    assert TOKEN not in text
    assert cfg.tsig.secret.reveal() == SECRET
    assert cfg.bindcar_token is not None
    assert cfg.bindcar_token.reveal() == TOKEN


def test_load_config_reads_a_file_and_remembers_its_path(tmp_path: Path) -> None:
    path = tmp_path / "op.json"
    path.write_text(json.dumps(_raw()))
    cfg = load_config(path)
    assert cfg.config_path == path
    assert cfg.config_mtime_ns == path.stat().st_mtime_ns


def test_load_config_reports_bad_json_and_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "op.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="not JSON"):
        load_config(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.json")
