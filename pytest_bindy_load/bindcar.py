"""bindcar REST adapter (httpx.AsyncClient): the zone calls bindy makes, plus health and metrics.

Request bodies follow bindy's ``CreateZoneRequest`` (camelCase, CONTRACT 5.2). HTTP failures
become ``BindcarError`` carrying the status; the bearer token never appears in a log line, a
repr or an exception message.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import httpx

from pytest_bindy_load.errors import OperationError
from pytest_bindy_load.results import ErrorKind
from pytest_bindy_load.target import Secret, require_loopback

log = logging.getLogger(__name__)

API = "/api/v1"
# SoaRecord fields bindcar 0.7 accepts; the first two are required (zones.rs ``SoaRecord``).
SOA_REQUIRED = ("primaryNs", "adminEmail")
SOA_FIELDS = frozenset({*SOA_REQUIRED, "serial", "refresh", "retry", "expire", "negativeTtl"})
_BODY_EXCERPT = 300


class BindcarError(OperationError):
    """A bindcar call failed. ``status`` is the HTTP status, None when no response came."""

    def __init__(self, message: str, *, status: int | None, error_kind: ErrorKind) -> None:
        super().__init__(message)
        self.status = status
        self.error_kind = error_kind


def error_kind_for_status(status: int) -> ErrorKind:
    if status == 429:
        return ErrorKind.THROTTLED
    if status == 409:
        return ErrorKind.CONFLICT
    if 400 <= status < 500:
        return ErrorKind.API_4XX
    if status >= 500:
        return ErrorKind.API_5XX
    return ErrorKind.OTHER


@dataclass(frozen=True, slots=True, kw_only=True)
class ZoneResponse:
    """bindcar's ``ZoneResponse``; ``details`` is rndc's output text when it gave one."""

    status: int
    success: bool
    message: str
    details: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Readiness:
    ready: bool
    checks: tuple[str, ...]


def create_zone_body(
    zone_name: str,
    *,
    soa: Mapping[str, Any],
    name_servers: Sequence[str],
    name_server_ips: Mapping[str, str],
    update_key_name: str | None,
    ttl: int = 300,
    also_notify: Sequence[str] | None = None,
    allow_transfer: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The ``CreateZoneRequest`` bindy sends for a primary zone.

    ``soa`` uses the DNSZone ``soaRecord`` keys (camelCase), so a spec can be passed through.
    """
    unknown = set(soa) - SOA_FIELDS
    if unknown:
        raise OperationError(f"unknown SOA fields {sorted(unknown)}; allowed: {sorted(SOA_FIELDS)}")
    missing = [k for k in SOA_REQUIRED if not soa.get(k)]
    if missing:
        raise OperationError(f"SOA for {zone_name} lacks {missing}")
    zone_config: dict[str, Any] = {
        "ttl": ttl,
        "soa": dict(soa),
        "nameServers": list(name_servers),
        "nameServerIps": dict(name_server_ips),
        "records": [],
    }
    if also_notify:
        zone_config["alsoNotify"] = list(also_notify)
    if allow_transfer:
        zone_config["allowTransfer"] = list(allow_transfer)
    body: dict[str, Any] = {
        "zoneName": zone_name,
        "zoneType": "primary",
        "zoneConfig": zone_config,
    }
    if update_key_name is not None:
        body["updateKeyName"] = update_key_name
    return body


class BindcarClient:
    """One bindcar endpoint. Use as ``async with BindcarClient(url, token) as c:``."""

    __slots__ = ("_base_url", "_client", "_connect_timeout", "_timeout", "_token")

    def __init__(
        self,
        base_url: str,
        token: Secret | None,
        *,
        timeout: float = 30.0,
        connect_timeout: float = 5.0,
    ) -> None:
        # bindy's own client: connect timeout 5 s, request timeout 30 s (CONTRACT 5.2).
        require_loopback(base_url, "bindcar URL")
        self._base_url = base_url.rstrip("/")
        self._token = token
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._client: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        auth = "token=***" if self._token is not None else "no token"
        return f"BindcarClient({self._base_url!r}, {auth})"

    @property
    def base_url(self) -> str:
        return self._base_url

    async def __aenter__(self) -> Self:
        headers = {"Accept": "application/json"}
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token.reveal()}"
        self._client = httpx.AsyncClient(
            base_url=self._base_url,
            headers=headers,
            timeout=httpx.Timeout(self._timeout, connect=self._connect_timeout),
            trust_env=False,  # never route loopback calls through a proxy from the environment
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _redact(self, text: str) -> str:
        if self._token is not None and self._token.reveal():
            text = text.replace(self._token.reveal(), "***")
        return text

    async def _request(
        self, method: str, path: str, *, json: Any = None, ok: tuple[int, ...] = (200,)
    ) -> httpx.Response:
        if self._client is None:
            raise OperationError(f"{self!r} used outside 'async with'")
        what = f"{method} {path}"
        try:
            resp = await self._client.request(method, path, json=json)
        except httpx.TimeoutException as e:
            raise BindcarError(
                self._redact(f"bindcar {what}: timed out ({type(e).__name__})"),
                status=None,
                error_kind=ErrorKind.TIMEOUT,
            ) from e
        except httpx.HTTPError as e:
            raise BindcarError(
                self._redact(f"bindcar {what}: {type(e).__name__}: {e}"),
                status=None,
                error_kind=ErrorKind.CONNECTION,
            ) from e
        if resp.status_code not in ok:
            body = resp.text[:_BODY_EXCERPT]
            raise BindcarError(
                self._redact(f"bindcar {what}: HTTP {resp.status_code}: {body}"),
                status=resp.status_code,
                error_kind=error_kind_for_status(resp.status_code),
            )
        return resp

    def _zone_response(self, resp: httpx.Response) -> ZoneResponse:
        try:
            data = resp.json()
        except ValueError:
            data = {}
        return ZoneResponse(
            status=resp.status_code,
            success=bool(data.get("success", resp.is_success)),
            message=str(data.get("message", "")),
            details=data.get("details"),
        )

    @staticmethod
    def _zone_path(name: str, action: str = "") -> str:
        path = f"{API}/zones/{quote(name.rstrip('.'), safe='')}"
        return f"{path}/{action}" if action else path

    async def health(self) -> dict[str, Any]:
        """``{"status": "healthy", "version": ...}``; unauthenticated."""
        data: dict[str, Any] = (await self._request("GET", f"{API}/health")).json()
        return data

    async def ready(self) -> Readiness:
        """Always HTTP 200; ``ready`` is false until the zone dir and ``rndc status`` are ok."""
        data = (await self._request("GET", f"{API}/ready")).json()
        return Readiness(ready=bool(data.get("ready")), checks=tuple(data.get("checks", ())))

    async def create_zone(
        self,
        zone_name: str,
        *,
        soa: Mapping[str, Any],
        name_servers: Sequence[str],
        name_server_ips: Mapping[str, str],
        update_key_name: str | None,
        ttl: int = 300,
        also_notify: Sequence[str] | None = None,
        allow_transfer: Sequence[str] | None = None,
    ) -> ZoneResponse:
        """POST /api/v1/zones (201). A zone that exists raises ``BindcarError`` with status 409."""
        body = create_zone_body(
            zone_name.rstrip("."),
            soa=soa,
            name_servers=name_servers,
            name_server_ips=name_server_ips,
            update_key_name=update_key_name,
            ttl=ttl,
            also_notify=also_notify,
            allow_transfer=allow_transfer,
        )
        resp = await self._request("POST", f"{API}/zones", json=body, ok=(200, 201))
        return self._zone_response(resp)

    async def zone_status(self, name: str) -> bool:
        """Whether named has the zone (200) or not (404); any other status raises."""
        resp = await self._request("GET", self._zone_path(name, "status"), ok=(200, 404))
        return resp.status_code == 200

    async def delete_zone(self, name: str) -> ZoneResponse:
        """DELETE (rndc delzone + file removal). bindcar answers 500 for an unknown zone."""
        return self._zone_response(await self._request("DELETE", self._zone_path(name)))

    async def freeze(self, name: str) -> ZoneResponse:
        return self._zone_response(await self._request("POST", self._zone_path(name, "freeze")))

    async def thaw(self, name: str) -> ZoneResponse:
        return self._zone_response(await self._request("POST", self._zone_path(name, "thaw")))

    async def notify(self, name: str) -> ZoneResponse:
        return self._zone_response(await self._request("POST", self._zone_path(name, "notify")))

    async def list_zones(self) -> list[str]:
        """Names of primary zone files in bindcar's zone dir (not named's view)."""
        data = (await self._request("GET", f"{API}/zones")).json()
        return [str(z) for z in data.get("zones", [])]

    async def server_status(self) -> str:
        """``rndc status`` text, through bindcar."""
        data = (await self._request("GET", f"{API}/server/status")).json()
        return str(data.get("status", ""))

    async def metrics_text(self) -> str:
        """Prometheus text from ``/metrics`` (unauthenticated, not rate limited)."""
        return (await self._request("GET", "/metrics")).text
