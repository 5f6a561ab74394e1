"""Pure parts of the bindcar adapter: request bodies, status mapping, token redaction."""

from __future__ import annotations

import socket

import pytest

from pytest_bindy_load.bindcar import (
    BindcarClient,
    BindcarError,
    create_zone_body,
    error_kind_for_status,
)
from pytest_bindy_load.errors import OperationError, TargetError
from pytest_bindy_load.results import ErrorKind
from pytest_bindy_load.target import Secret

TOKEN = "s3cr3t-token-value-for-tests"
SOA = {
    "primaryNs": "ns1.zone0001.loadtest.example.",
    "adminEmail": "admin.zone0001.loadtest.example.",
    "serial": 2026010101,
    "refresh": 3600,
    "retry": 600,
    "expire": 604800,
    "negativeTtl": 300,
}


def test_create_zone_body_matches_what_bindy_sends_for_a_primary() -> None:
    body = create_zone_body(
        "zone0001.loadtest.example",
        soa=SOA,
        name_servers=["ns1.zone0001.loadtest.example."],
        name_server_ips={"ns1.zone0001.loadtest.example.": "127.0.0.1"},
        update_key_name="bindy-operator",
    )
    assert body == {
        "zoneName": "zone0001.loadtest.example",
        "zoneType": "primary",
        "zoneConfig": {
            "ttl": 300,
            "soa": SOA,
            "nameServers": ["ns1.zone0001.loadtest.example."],
            "nameServerIps": {"ns1.zone0001.loadtest.example.": "127.0.0.1"},
            "records": [],
        },
        "updateKeyName": "bindy-operator",
    }


def test_secondary_lists_are_sent_only_when_given() -> None:
    body = create_zone_body(
        "z.example",
        soa=SOA,
        name_servers=[],
        name_server_ips={},
        update_key_name=None,
        also_notify=["127.0.0.2:5353"],
        allow_transfer=["127.0.0.2"],
    )
    assert body["zoneConfig"]["alsoNotify"] == ["127.0.0.2:5353"]
    assert body["zoneConfig"]["allowTransfer"] == ["127.0.0.2"]
    assert "updateKeyName" not in body


def test_an_unknown_soa_field_is_rejected_with_the_allowed_names() -> None:
    with pytest.raises(OperationError, match="primary_ns"):
        create_zone_body(
            "z.example",
            soa={"primary_ns": "ns1.z.example.", "adminEmail": "a.z.example."},
            name_servers=[],
            name_server_ips={},
            update_key_name=None,
        )


def test_an_soa_without_admin_email_is_rejected() -> None:
    with pytest.raises(OperationError, match="adminEmail"):
        create_zone_body(
            "z.example",
            soa={"primaryNs": "ns1.z.example."},
            name_servers=[],
            name_server_ips={},
            update_key_name=None,
        )


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (401, ErrorKind.API_4XX),
        (404, ErrorKind.API_4XX),
        (409, ErrorKind.CONFLICT),
        (429, ErrorKind.THROTTLED),
        (500, ErrorKind.API_5XX),
        (503, ErrorKind.API_5XX),
    ],
)
def test_http_statuses_map_to_error_kinds(status: int, kind: ErrorKind) -> None:
    assert error_kind_for_status(status) is kind


def test_the_client_repr_hides_the_token() -> None:
    client = BindcarClient("http://127.0.0.1:1", Secret(TOKEN))
    assert TOKEN not in repr(client)
    assert "***" in repr(client)


def test_a_non_loopback_url_is_refused() -> None:
    with pytest.raises(TargetError, match="loopback"):
        BindcarClient("http://192.0.2.10:8080", None)


async def test_using_the_client_outside_async_with_is_an_operation_error() -> None:
    with pytest.raises(OperationError, match="async with"):
        await BindcarClient("http://127.0.0.1:1", None).health()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_refused_connection_is_a_connection_error_without_the_token() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    async with BindcarClient(url, Secret(TOKEN), timeout=2.0) as client:
        with pytest.raises(BindcarError) as info:
            await client.zone_status("example.com")
    err = info.value
    assert err.status is None
    assert err.error_kind is ErrorKind.CONNECTION
    assert TOKEN not in str(err)
    assert TOKEN not in repr(err)
