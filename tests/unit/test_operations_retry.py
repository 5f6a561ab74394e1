"""Backoff, Retry-After, error classification and the bounded retry loop: pure logic."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from kr8s import APITimeoutError, ServerError

from pytest_bindy_load.errors import BindyLoadError
from pytest_bindy_load.operations import (
    ErrorInfo,
    RetryPolicy,
    backoff_delay_s,
    call_with_retries,
    classify_error,
    parse_retry_after,
)
from pytest_bindy_load.results import ErrorKind


def server_error(code: int, reason: str = "", headers: dict[str, str] | None = None) -> ServerError:
    """Built the way kr8s builds it: a Status dict for 4xx, the code as a string for 5xx."""
    message = f"{reason} happened"
    body: dict[str, Any] = {"kind": "Status", "code": code, "reason": reason, "message": message}
    response = httpx.Response(code, json=body, headers=headers or {})
    status: Any = body if code < 500 else str(code)
    return ServerError(message if code < 500 else f"HTTP {code}", status=status, response=response)


class Script:
    """An API call failing with the given exceptions in turn, then returning its attempt number."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls: list[int] = []

    async def __call__(self, attempt: int) -> int:
        self.calls.append(attempt)
        if self.errors:
            raise self.errors.pop(0)
        return attempt


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def test_full_jitter_stays_below_the_exponential_ceiling() -> None:
    policy = RetryPolicy(base_delay_s=0.1, max_delay_s=1.0)
    rng = random.Random(7)
    for attempt, ceiling in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0), (9, 1.0)]:
        delays = [backoff_delay_s(policy, attempt, rng=rng) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # jitter spreads over the whole range


def test_retry_after_is_a_floor_capped_by_the_policy() -> None:
    policy = RetryPolicy(base_delay_s=0.01, max_delay_s=0.02, max_retry_after_s=5.0)
    assert backoff_delay_s(policy, 1, retry_after_s=2.0, rng=random.Random(1)) == 2.0
    assert backoff_delay_s(policy, 1, retry_after_s=60.0, rng=random.Random(1)) == 5.0


def test_retry_after_parses_seconds_and_http_dates() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert (
        parse_retry_after(format_datetime(now + timedelta(seconds=7), usegmt=True), now=now) == 7.0
    )
    assert (
        parse_retry_after(format_datetime(now - timedelta(seconds=7), usegmt=True), now=now) == 0.0
    )
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None


def test_a_bad_retry_policy_is_refused() -> None:
    with pytest.raises(BindyLoadError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(BindyLoadError, match="base_delay_s"):
        RetryPolicy(base_delay_s=2.0, max_delay_s=1.0)


def test_throttling_is_retried_and_carries_retry_after() -> None:
    info = classify_error(server_error(429, "TooManyRequests", {"Retry-After": "2"}))
    assert (info.kind, info.retryable, info.status_code, info.retry_after_s) == (
        ErrorKind.THROTTLED,
        True,
        429,
        2.0,
    )


def test_a_conflict_is_retried_but_already_exists_is_not() -> None:
    conflict = classify_error(server_error(409, "Conflict"))
    exists = classify_error(server_error(409, "AlreadyExists"))
    assert (conflict.kind, conflict.retryable, conflict.reason) == (
        ErrorKind.CONFLICT,
        True,
        "Conflict",
    )
    assert (exists.kind, exists.retryable) == (ErrorKind.CONFLICT, False)


def test_server_errors_are_retried_and_client_errors_are_not() -> None:
    unavailable = classify_error(server_error(503, headers={"Retry-After": "1"}))
    assert (unavailable.kind, unavailable.retryable, unavailable.retry_after_s) == (
        ErrorKind.API_5XX,
        True,
        1.0,
    )
    invalid = classify_error(server_error(422, "Invalid"))
    assert (invalid.kind, invalid.retryable, invalid.reason) == (
        ErrorKind.API_4XX,
        False,
        "Invalid",
    )
    assert "Invalid happened" in invalid.message


def test_a_watch_error_event_without_response_is_classified_by_its_code() -> None:
    status: Any = {"code": 500, "reason": "InternalError"}
    info = classify_error(ServerError("expired", status=status))
    assert (info.kind, info.status_code) == (ErrorKind.API_5XX, 500)


def test_connection_and_timeout_errors_are_retried_and_unknown_errors_are_not() -> None:
    assert classify_error(httpx.ConnectError("refused")).kind is ErrorKind.CONNECTION
    assert classify_error(ConnectionResetError()).kind is ErrorKind.CONNECTION
    assert classify_error(httpx.ReadTimeout("slow")).kind is ErrorKind.TIMEOUT
    assert classify_error(APITimeoutError("slow")).kind is ErrorKind.TIMEOUT
    assert classify_error(TimeoutError()).retryable
    other = classify_error(KeyError("metadata"))
    assert (other.kind, other.retryable) == (ErrorKind.OTHER, False)


async def test_retries_conflicts_until_success_and_counts_attempts() -> None:
    call, sleeps = Script(server_error(409, "Conflict"), httpx.ConnectError("x")), Sleeps()
    policy = RetryPolicy(max_attempts=5, base_delay_s=0.1, max_delay_s=1.0)
    out = await call_with_retries(call, policy, rng=random.Random(3), sleep=sleeps)
    assert (out.value, out.error, out.attempts, call.calls) == (3, None, 3, [1, 2, 3])
    assert out.acknowledged_ns is not None
    assert out.acknowledged_ns >= out.sent_ns
    assert len(sleeps.delays) == 2
    assert 0 <= sleeps.delays[0] <= 0.1
    assert 0 <= sleeps.delays[1] <= 0.2


async def test_retries_stop_at_max_attempts_with_the_last_error() -> None:
    call, sleeps = Script(*[server_error(500) for _ in range(10)]), Sleeps()
    out = await call_with_retries(call, RetryPolicy(max_attempts=3), sleep=sleeps)
    assert out.value is None
    assert out.acknowledged_ns is None
    assert out.error is not None
    assert out.error.kind is ErrorKind.API_5XX
    assert (out.attempts, len(call.calls), len(sleeps.delays)) == (3, 3, 2)


async def test_a_non_retryable_error_ends_after_one_attempt() -> None:
    call, sleeps = Script(server_error(422, "Invalid")), Sleeps()
    out = await call_with_retries(call, RetryPolicy(), sleep=sleeps)
    assert out.error is not None
    assert out.error.kind is ErrorKind.API_4XX
    assert (out.attempts, sleeps.delays) == (1, [])


async def test_throttling_waits_at_least_retry_after() -> None:
    call, sleeps = Script(server_error(429, "TooManyRequests", {"Retry-After": "3"})), Sleeps()
    out = await call_with_retries(call, RetryPolicy(base_delay_s=0.01), sleep=sleeps)
    assert out.attempts == 2
    assert sleeps.delays == [3.0]


async def test_recover_turns_an_error_into_success() -> None:
    call = Script(httpx.ReadError("lost"), server_error(409, "AlreadyExists"))
    seen: list[tuple[str, int]] = []

    async def recover(info: ErrorInfo, attempt: int) -> int | None:
        seen.append((info.reason, attempt))
        return 42 if info.reason == "AlreadyExists" else None

    out = await call_with_retries(call, RetryPolicy(), recover=recover, sleep=Sleeps())
    assert (out.value, out.attempts, seen) == (42, 2, [("", 1), ("AlreadyExists", 2)])


async def test_an_attempt_that_hangs_is_cut_by_the_attempt_timeout_and_retried() -> None:
    calls: list[int] = []

    async def call(attempt: int) -> str:
        calls.append(attempt)
        if attempt == 1:
            await asyncio.sleep(10)
        return "ok"

    out = await call_with_retries(call, RetryPolicy(attempt_timeout_s=0.05), sleep=Sleeps())
    assert (out.value, out.attempts, calls) == ("ok", 2, [1, 2])
