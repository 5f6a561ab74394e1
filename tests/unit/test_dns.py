"""Pure parts of the DNS adapter: value normalisation, loopback guard, error translation."""

from __future__ import annotations

import socket
import time

import pytest

from pytest_bindy_load.dns import DnsAnswer, DnsClient, DnsError, normalize_rdatas, tsig_key
from pytest_bindy_load.errors import DeadlineExceeded, OperationError, TargetError
from pytest_bindy_load.results import ErrorKind
from pytest_bindy_load.target import Secret, TsigKey


def test_txt_values_compare_equal_with_or_without_quotes() -> None:
    assert normalize_rdatas("TXT", ["hello"]) == normalize_rdatas("TXT", ['"hello"'])


def test_names_in_rdata_are_absolute_and_case_folded_for_comparison() -> None:
    assert normalize_rdatas("CNAME", ["Target.Example.COM"]) == normalize_rdatas(
        "CNAME", ["target.example.com."]
    )


def test_mx_and_srv_values_keep_their_numbers() -> None:
    assert normalize_rdatas("MX", ["10 mail.example.com."]) == frozenset({"10 mail.example.com."})
    assert normalize_rdatas("SRV", ["1 2 443 svc.example.com."]) == frozenset(
        {"1 2 443 svc.example.com."}
    )


def test_an_invalid_value_raises_an_operation_error_naming_it() -> None:
    with pytest.raises(OperationError, match="not-an-ip"):
        normalize_rdatas("A", ["not-an-ip"])


def test_a_non_loopback_server_is_refused() -> None:
    with pytest.raises(TargetError, match="loopback"):
        DnsClient(("192.0.2.1", 53))


def test_only_noerror_counts_as_ok() -> None:
    def answer(rcode: str) -> DnsAnswer:
        return DnsAnswer(
            name="a.", rdtype="A", rcode=rcode, rdatas=frozenset(), ttl=None, authoritative=True
        )

    assert answer("NOERROR").ok
    assert not answer("REFUSED").ok


def test_a_bad_tsig_secret_error_does_not_show_the_secret() -> None:
    key = TsigKey(name="k", algorithm="hmac-sha256", secret=Secret("!!not*base64!!"))
    with pytest.raises(OperationError) as info:
        tsig_key(key)
    assert "!!not*base64!!" not in str(info.value)
    assert "'k'" in str(info.value)


def _silent_udp_port() -> socket.socket:
    """A bound UDP socket nobody reads: queries to it time out without touching the network."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    return s


async def test_a_server_that_never_answers_gives_a_timeout_dns_error() -> None:
    with _silent_udp_port() as s:
        client = DnsClient(s.getsockname(), timeout_s=0.2)
        with pytest.raises(DnsError) as info:
            await client.query("example.com", "A")
    assert info.value.error_kind is ErrorKind.TIMEOUT


async def test_wait_answerable_gives_up_at_its_deadline() -> None:
    with _silent_udp_port() as s:
        client = DnsClient(s.getsockname(), timeout_s=0.1)
        t0 = time.monotonic()
        with pytest.raises(DeadlineExceeded, match="did not become"):
            await client.wait_answerable("www.example.com", "A", {"10.0.0.1"}, t0 + 0.5)
        assert time.monotonic() - t0 < 1.5


async def test_an_unknown_record_type_is_an_operation_error() -> None:
    with _silent_udp_port() as s:
        client = DnsClient(s.getsockname(), timeout_s=0.1)
        with pytest.raises(OperationError, match="NOPE"):
            await client.query("example.com", "NOPE")
