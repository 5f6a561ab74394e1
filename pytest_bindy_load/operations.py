"""Operations on bindy custom resources: create, update and delete, each turned into exactly one
``OperationResult`` with monotonic timestamps (intended, sent, acknowledged, ready).

Expected failures (API errors, throttling, conflicts, timeouts, permanent reconcile failures) are
recorded, never raised. Retries happen only where the protocol asks for them (429 with
Retry-After, 5xx, 409, broken connections), with bounded attempts and full-jitter backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import httpx
import kr8s.asyncio
from kr8s import APITimeoutError, ServerError

from pytest_bindy_load.cluster import (
    Obj,
    Readiness,
    ReadyState,
    WatchHub,
    classify,
    kind_class,
)
from pytest_bindy_load.errors import BindyLoadError, DeadlineExceeded
from pytest_bindy_load.results import ErrorKind, Operation, OperationResult

try:  # OpenTelemetry is optional: spans when the API is importable, a no-op otherwise.
    from opentelemetry import trace as _otel_trace
except ImportError:  # pragma: no cover - depends on the environment
    _otel_trace = None

log = logging.getLogger(__name__)

T = TypeVar("T")
MAX_MESSAGE_CHARS = 500


# --------------------------------------------------------------------------- retry policy


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """Bounded retries with exponential backoff and full jitter; Retry-After is a floor."""

    max_attempts: int = 5
    base_delay_s: float = 0.05
    max_delay_s: float = 5.0
    max_retry_after_s: float = 30.0
    attempt_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise BindyLoadError(f"RetryPolicy.max_attempts must be >= 1, got {self.max_attempts}")
        if self.base_delay_s < 0 or self.max_delay_s < self.base_delay_s:
            raise BindyLoadError("RetryPolicy needs 0 <= base_delay_s <= max_delay_s")
        if self.attempt_timeout_s <= 0 or self.max_retry_after_s < 0:
            raise BindyLoadError("RetryPolicy timeouts must be positive")


def backoff_delay_s(
    policy: RetryPolicy,
    attempt: int,
    *,
    retry_after_s: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Delay before attempt ``attempt + 1``: uniform(0, min(max, base * 2**(attempt-1))), never
    less than the server's Retry-After (capped by ``max_retry_after_s``)."""
    ceiling = min(policy.max_delay_s, policy.base_delay_s * (2 ** max(0, attempt - 1)))
    delay = (rng or random).uniform(0.0, ceiling)
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, policy.max_retry_after_s))
    return delay


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date); None when absent/invalid."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


# --------------------------------------------------------------------------- error classification


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorInfo:
    kind: ErrorKind
    retryable: bool
    message: str
    status_code: int | None = None
    reason: str = ""  # Kubernetes Status reason, e.g. "Conflict", "AlreadyExists", "NotFound"
    retry_after_s: float | None = None


def classify_error(exc: BaseException) -> ErrorInfo:
    """Map an exception from an API call to a closed ErrorKind and whether to retry it."""
    if isinstance(exc, ServerError):
        resp = exc.response
        body: dict[str, Any] = exc.status if isinstance(exc.status, dict) else {}
        code = resp.status_code if resp is not None else _int_or_none(body.get("code", exc.status))
        reason = str(body.get("reason") or "")
        message = str(body.get("message") or exc)[:MAX_MESSAGE_CHARS]
        retry_after = (
            parse_retry_after(resp.headers.get("Retry-After")) if resp is not None else None
        )
        if code == 429:
            return ErrorInfo(
                kind=ErrorKind.THROTTLED,
                retryable=True,
                message=message,
                status_code=code,
                reason=reason,
                retry_after_s=retry_after,
            )
        if code == 409:
            # AlreadyExists is a fact about the world, not a race: retrying cannot fix it.
            return ErrorInfo(
                kind=ErrorKind.CONFLICT,
                retryable=reason != "AlreadyExists",
                message=message,
                status_code=code,
                reason=reason,
            )
        if code is not None and code >= 500:
            return ErrorInfo(
                kind=ErrorKind.API_5XX,
                retryable=True,
                message=message,
                status_code=code,
                reason=reason,
                retry_after_s=retry_after,
            )
        return ErrorInfo(
            kind=ErrorKind.API_4XX,
            retryable=False,
            message=message,
            status_code=code,
            reason=reason,
        )
    if isinstance(exc, TimeoutError | APITimeoutError | httpx.TimeoutException):
        return ErrorInfo(kind=ErrorKind.TIMEOUT, retryable=True, message=_msg(exc, "timed out"))
    if isinstance(exc, httpx.TransportError | OSError):
        return ErrorInfo(kind=ErrorKind.CONNECTION, retryable=True, message=_msg(exc, "connection"))
    return ErrorInfo(kind=ErrorKind.OTHER, retryable=False, message=_msg(exc, type(exc).__name__))


def _msg(exc: BaseException, default: str) -> str:
    return (str(exc) or f"{type(exc).__name__}: {default}")[:MAX_MESSAGE_CHARS]


def _int_or_none(value: object) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


# --------------------------------------------------------------------------- retry loop


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptOutcome(Generic[T]):
    """What the API phase of one operation produced."""

    value: T | None
    error: ErrorInfo | None
    attempts: int
    sent_ns: int
    acknowledged_ns: int | None


Recover = Callable[[ErrorInfo, int], Awaitable[T | None]]


async def call_with_retries(
    call: Callable[[int], Awaitable[T]],
    policy: RetryPolicy,
    *,
    recover: Recover[T] | None = None,
    rng: random.Random | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    on_retry: Callable[[ErrorInfo, int, float], None] | None = None,
) -> AttemptOutcome[T]:
    """Run ``call(attempt)`` until it succeeds, fails for good or attempts run out.

    ``recover(error, attempt)`` may turn an error into a success (e.g. AlreadyExists after an
    attempt whose outcome we never saw); it returns the value, or None to carry on.
    """
    sent_ns = time.monotonic_ns()
    for attempt in range(1, policy.max_attempts + 1):
        try:
            async with asyncio.timeout(policy.attempt_timeout_s):
                value = await call(attempt)
            return AttemptOutcome(
                value=value,
                error=None,
                attempts=attempt,
                sent_ns=sent_ns,
                acknowledged_ns=time.monotonic_ns(),
            )
        except Exception as exc:  # classified below; anything unknown is OTHER, not retried
            info = classify_error(exc)
        if recover is not None:
            recovered = await recover(info, attempt)
            if recovered is not None:
                return AttemptOutcome(
                    value=recovered,
                    error=None,
                    attempts=attempt,
                    sent_ns=sent_ns,
                    acknowledged_ns=time.monotonic_ns(),
                )
        if not info.retryable or attempt == policy.max_attempts:
            return AttemptOutcome(
                value=None, error=info, attempts=attempt, sent_ns=sent_ns, acknowledged_ns=None
            )
        delay = backoff_delay_s(policy, attempt, retry_after_s=info.retry_after_s, rng=rng)
        if on_retry is not None:
            on_retry(info, attempt, delay)
        await sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


# --------------------------------------------------------------------------- tracing


@contextlib.contextmanager
def _span(name: str, attributes: Mapping[str, str | int]) -> Iterator[Any]:
    if _otel_trace is None:
        yield None
        return
    tracer = _otel_trace.get_tracer("pytest_bindy_load.operations")
    with tracer.start_as_current_span(name, attributes=dict(attributes)) as span:
        yield span


def _finish_span(span: Any, result: OperationResult) -> None:
    if span is None:
        return
    span.set_attribute("bindy.success", result.success)
    span.set_attribute("bindy.attempts", result.attempts)
    span.set_attribute("bindy.error_kind", str(result.error_kind))


# --------------------------------------------------------------------------- operations


_UNCERTAIN = frozenset({ErrorKind.CONNECTION, ErrorKind.TIMEOUT, ErrorKind.API_5XX})
_DELETE_OPTIONS = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
Finish = Callable[[dict[str, Any], AttemptOutcome[Obj]], Awaitable[OperationResult]]


class CROperations:
    """Create, update and delete bindy resources in one namespace and time them to Ready.

    Readiness comes from a shared ``WatchHub``: no per-object polling.
    """

    def __init__(
        self,
        api: kr8s.asyncio.Api,
        hub: WatchHub,
        namespace: str,
        *,
        retry: RetryPolicy | None = None,
        ready_timeout_s: float = 300.0,
        rng: random.Random | None = None,
        api_gate: asyncio.Semaphore | None = None,
    ) -> None:
        """``api_gate`` caps API requests in flight (a burst's concurrency) without capping the
        waits for Ready, so the operator sees the whole burst at once."""
        self.api_gate = api_gate
        self.api = api
        self.hub = hub
        self.namespace = namespace
        self.retry = retry or RetryPolicy()
        self.ready_timeout_s = ready_timeout_s
        self._rng = rng or random.Random()

    async def _call(
        self,
        method: str,
        kind: str,
        name: str | None = None,
        *,
        body: object | None = None,
        content_type: str = "application/json",
    ) -> Obj:
        cls = kind_class(kind)
        kwargs: dict[str, Any] = {}
        if body is not None:
            kwargs = {"content": json.dumps(body), "headers": {"Content-Type": content_type}}
        async with self.api.call_api(
            method,
            version=cls.version,
            url=cls.endpoint if name is None else f"{cls.endpoint}/{name}",
            namespace=self.namespace if cls.namespaced else None,
            **kwargs,
        ) as resp:
            data: Obj = resp.json() if resp.content else {}
            return data

    def _extra(self, op: Operation, kind: str, name: str, **more: object) -> dict[str, object]:
        return {
            "op": str(op),
            "cr_kind": kind,
            "cr_namespace": self.namespace,
            "cr_name": name,
            **more,
        }

    async def _operate(
        self,
        op: Operation,
        kind: str,
        name: str,
        *,
        intended_ns: int,
        labels: Mapping[str, str] | None,
        attempt: Callable[[int], Awaitable[Obj]],
        recover: Recover[Obj] | None,
        finish: Finish,
    ) -> OperationResult:
        """The shared skeleton: span, bounded retries, one result, one log line."""

        def on_retry(info: ErrorInfo, n: int, delay: float) -> None:
            log.info(
                "%s %s %s/%s attempt %d failed (%s %s); retrying in %.3fs",
                op,
                kind,
                self.namespace,
                name,
                n,
                info.kind,
                info.reason,
                delay,
                extra=self._extra(op, kind, name, attempts=n, error_kind=str(info.kind)),
            )

        with _span(f"bindy.{op}", {"bindy.kind": kind, "bindy.name": name}) as span:
            async with self.api_gate or contextlib.nullcontext():
                outcome = await call_with_retries(
                    attempt, self.retry, recover=recover, rng=self._rng, on_retry=on_retry
                )
            base: dict[str, Any] = {
                "name": name,
                "namespace": self.namespace,
                "kind": kind,
                "operation": op,
                "intended_ns": intended_ns,
                "sent_ns": outcome.sent_ns,
                "acknowledged_ns": outcome.acknowledged_ns,
                "attempts": outcome.attempts,
                "labels": dict(labels or {}),
            }
            if outcome.error is not None:
                err = outcome.error
                detail = f"HTTP {err.status_code} {err.reason}: " if err.status_code else ""
                result = OperationResult(
                    **base,
                    error_kind=err.kind,
                    error_message=(detail + err.message)[:MAX_MESSAGE_CHARS],
                )
            else:
                result = await finish(base, outcome)
            _finish_span(span, result)
        extra = self._extra(
            op,
            kind,
            name,
            attempts=result.attempts,
            error_kind=str(result.error_kind),
            success=result.success,
        )
        if result.success:
            log.debug("%s %s %s/%s ok", op, kind, self.namespace, name, extra=extra)
        else:
            log.warning(
                "%s %s %s/%s failed: %s %s",
                op,
                kind,
                self.namespace,
                name,
                result.error_kind,
                result.error_message,
                extra=extra,
            )
        return result

    # ---- waiting

    async def _prepare_watch(self, kind: str) -> None:
        """Have the kind's watch open before the write, so its events are timed as they arrive.
        A watch that cannot start is not fatal here: the wait for Ready records the failure."""
        try:
            await self.hub.ensure_watching(kind, self.namespace, timeout_s=self.ready_timeout_s)
        except BindyLoadError as exc:
            log.warning(
                "watch of %s in %s not ready before the write: %s", kind, self.namespace, exc
            )

    async def wait_for_ready(
        self,
        kind: str,
        name: str,
        generation: int | None,
        *,
        timeout_s: float | None = None,
        uid: str | None = None,
        expected_zone: str | None = None,
    ) -> tuple[Obj, Readiness, int]:
        """Wait until the object is READY or permanently FAILED for ``generation`` (or later);
        returns the object, its classification and the monotonic ns its event arrived.
        Raises DeadlineExceeded when neither happens in time."""

        def settled(obj: Obj) -> bool:
            if uid is not None and obj["metadata"].get("uid") != uid:
                return False  # an older incarnation with the same name
            r = classify(kind, obj, min_generation=generation, expected_zone=expected_zone)
            return r.state is not ReadyState.PENDING

        timeout = self.ready_timeout_s if timeout_s is None else timeout_s
        obj, ts = await self.hub.wait_for(kind, self.namespace, name, settled, timeout)
        readiness = classify(kind, obj, min_generation=generation, expected_zone=expected_zone)
        return obj, readiness, ts

    def _ready_finisher(self, wait: bool, timeout_s: float | None, zone: str | None) -> Finish:
        async def finish(base: dict[str, Any], outcome: AttemptOutcome[Obj]) -> OperationResult:
            if not wait:
                return OperationResult(**base, success=True)
            meta = (outcome.value or {}).get("metadata") or {}
            try:
                _o, readiness, ts = await self.wait_for_ready(
                    base["kind"],
                    base["name"],
                    meta.get("generation"),
                    timeout_s=timeout_s,
                    uid=meta.get("uid"),
                    expected_zone=zone,
                )
            except DeadlineExceeded as exc:
                return OperationResult(
                    **base, error_kind=ErrorKind.NOT_READY, error_message=str(exc)
                )
            except BindyLoadError as exc:  # the shared watch itself failed
                return OperationResult(**base, error_kind=ErrorKind.OTHER, error_message=str(exc))
            if readiness.state is ReadyState.READY:
                # The watch event may be handled before this coroutine resumes with the HTTP
                # response; Ready cannot precede the acknowledgement of the write.
                ready_ns = max(ts, outcome.acknowledged_ns or ts)
                return OperationResult(**base, ready_ns=ready_ns, success=True)
            message = f"{readiness.reason}: {readiness.message}"[:MAX_MESSAGE_CHARS]
            return OperationResult(
                **base, error_kind=ErrorKind.RECONCILE_FAILED, error_message=message
            )

        return finish

    # ---- create

    async def create(
        self,
        manifest: Mapping[str, Any],
        *,
        intended_ns: int,
        wait_ready: bool = True,
        timeout_s: float | None = None,
        expected_zone: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> OperationResult:
        """POST the manifest into this namespace, then (optionally) wait for Ready of the
        generation created, or a permanent failure."""
        kind = str(manifest.get("kind", ""))
        name = str((manifest.get("metadata") or {}).get("name", ""))
        if not name:
            raise BindyLoadError(f"manifest of kind {kind!r} has no metadata.name")
        body = {**manifest, "metadata": {**manifest["metadata"], "namespace": self.namespace}}
        uncertain = False
        if wait_ready:
            await self._prepare_watch(kind)

        async def attempt(_n: int) -> Obj:
            nonlocal uncertain
            try:
                return await self._call("POST", kind, body=body)
            except Exception as exc:
                uncertain = uncertain or classify_error(exc).kind in _UNCERTAIN
                raise

        async def recover(error: ErrorInfo, _n: int) -> Obj | None:
            # A lost response may hide a create that succeeded: accept our own object.
            if not (uncertain and error.reason == "AlreadyExists"):
                return None
            with contextlib.suppress(Exception):
                current = await self._call("GET", kind, name)
                spec = current.get("spec") or {}
                if all(spec.get(k) == v for k, v in (manifest.get("spec") or {}).items()):
                    return current
            return None

        return await self._operate(
            Operation.CREATE,
            kind,
            name,
            intended_ns=intended_ns,
            labels=labels,
            attempt=attempt,
            recover=recover,
            finish=self._ready_finisher(wait_ready, timeout_s, expected_zone),
        )

    # ---- update

    async def update(
        self,
        kind: str,
        name: str,
        *,
        intended_ns: int,
        patch: Mapping[str, Any] | None = None,
        spec: Mapping[str, Any] | None = None,
        resource_version: str | None = None,
        wait_ready: bool = True,
        timeout_s: float | None = None,
        expected_zone: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> OperationResult:
        """Change an object: a JSON merge ``patch``, or a whole new ``spec`` (read, replace,
        PUT). With ``resource_version`` the first write is conditional on it; after a 409 the
        object is re-read and the write retried on the fresh version. Ready is awaited for the
        generation the write produced."""
        if (patch is None) == (spec is None):
            raise BindyLoadError("update needs exactly one of patch= or spec=")
        if wait_ready:
            await self._prepare_watch(kind)

        async def attempt(n: int) -> Obj:
            rv = resource_version if n == 1 else None
            if spec is not None:
                current = await self._call("GET", kind, name)
                current["spec"] = dict(spec)
                if rv is not None:
                    current["metadata"]["resourceVersion"] = rv
                return await self._call("PUT", kind, name, body=current)
            body: dict[str, Any] = dict(patch or {})
            if n > 1 and resource_version is not None:
                rv = (await self._call("GET", kind, name))["metadata"]["resourceVersion"]
            if rv is not None:
                body["metadata"] = {**(body.get("metadata") or {}), "resourceVersion": rv}
            return await self._call(
                "PATCH", kind, name, body=body, content_type="application/merge-patch+json"
            )

        return await self._operate(
            Operation.UPDATE,
            kind,
            name,
            intended_ns=intended_ns,
            labels=labels,
            attempt=attempt,
            recover=None,
            finish=self._ready_finisher(wait_ready, timeout_s, expected_zone),
        )

    # ---- delete

    async def delete(
        self,
        kind: str,
        name: str,
        *,
        intended_ns: int,
        wait_gone: bool = True,
        timeout_s: float | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> OperationResult:
        """DELETE the object; ``ready_ns`` is when the watch saw it gone (finalizers done)."""
        uncertain = False
        if wait_gone:
            await self._prepare_watch(kind)
        cached = self.hub.latest(kind, self.namespace, name) or {}
        known_uid = (cached.get("metadata") or {}).get("uid")

        async def attempt(_n: int) -> Obj:
            nonlocal uncertain
            try:
                return await self._call("DELETE", kind, name, body=_DELETE_OPTIONS)
            except Exception as exc:
                uncertain = uncertain or classify_error(exc).kind in _UNCERTAIN
                raise

        async def recover(error: ErrorInfo, _n: int) -> Obj | None:
            # 404 after an attempt whose response we lost: that attempt deleted it.
            return {} if uncertain and error.status_code == 404 else None

        async def finish(base: dict[str, Any], outcome: AttemptOutcome[Obj]) -> OperationResult:
            if not wait_gone:
                return OperationResult(**base, success=True)
            value = outcome.value or {}
            uid = (value.get("metadata") or {}).get("uid") if value.get("kind") == kind else None
            timeout = self.ready_timeout_s if timeout_s is None else timeout_s
            try:
                ts = await self.hub.wait_deleted(
                    kind, self.namespace, name, timeout, uid=uid or known_uid
                )
            except DeadlineExceeded as exc:
                return OperationResult(
                    **base, error_kind=ErrorKind.NOT_READY, error_message=str(exc)
                )
            except BindyLoadError as exc:
                return OperationResult(**base, error_kind=ErrorKind.OTHER, error_message=str(exc))
            ready_ns = max(ts, outcome.acknowledged_ns or ts)
            return OperationResult(**base, ready_ns=ready_ns, success=True)

        return await self._operate(
            Operation.DELETE,
            kind,
            name,
            intended_ns=intended_ns,
            labels=labels,
            attempt=attempt,
            recover=recover,
            finish=finish,
        )
