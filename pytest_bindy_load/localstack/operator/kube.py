"""The operator's own small Kubernetes client over kr8s.asyncio's low-level ``call_api``: paged
lists, raw watch streams, metadata and status merge-patches. Independent of the framework's
``cluster.py`` on purpose: the operator is a separate process that must not share its internals.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import kr8s
import kr8s.asyncio
from kr8s.asyncio import Api

from pytest_bindy_load.errors import TargetError
from pytest_bindy_load.localstack.operator.metrics import phase
from pytest_bindy_load.localstack.operator.model import API_VERSION, PLURALS

log = logging.getLogger(__name__)

MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}
LIST_PAGE = 500
WATCH_TIMEOUT_S = 290  # server-side watch timeout; the informer simply re-watches
# Requests in flight at once. More wait on a cheap semaphore, not in httpcore's pool: its
# per-request bookkeeping probes every idle connection (anyio get_extra_info), so a big pool
# costs more CPU than it saves; a pool as large as the limit still avoids TLS re-handshakes.
MAX_IN_FLIGHT = 12
# Watches get their own connections so their long-lived streams stay out of that pool.
WATCH_POOL = 16


class KubeError(TargetError):
    """An API call failed; ``status`` is the HTTP status (None: no response)."""

    def __init__(self, message: str, *, status: int | None) -> None:
        super().__init__(message)
        self.status = status


class GoneError(KubeError):
    """HTTP 410 / watch ERROR 410: the resourceVersion is too old, relist."""


async def _session(api: Api, pool: int, limits_timeout: httpx.Timeout) -> httpx.AsyncClient:
    """An httpx client built from kr8s's resolved auth the way ``Api._create_session`` builds
    its own, but with a pool of ``pool`` kept-alive connections (kr8s 0.20 has no knob)."""
    auth = api.auth
    headers = {"User-Agent": api.__version__, "content-type": "application/json"}
    if auth.token:
        headers["Authorization"] = f"Bearer {auth.token}"
    return httpx.AsyncClient(
        base_url=auth.server,
        headers=headers,
        verify=await auth.ssl_context(),  # type: ignore[no-untyped-call]
        timeout=limits_timeout,
        follow_redirects=True,
        proxy=auth.proxy,
        limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
    )


def _status_of(e: BaseException) -> int | None:
    resp = getattr(e, "response", None)
    return resp.status_code if isinstance(resp, httpx.Response) else None


class KubeClient:
    """Namespaced bindy kinds under ``bindy.firestoned.io/v1beta1`` (cluster-wide access)."""

    def __init__(self, api: Api, watch_session: httpx.AsyncClient) -> None:
        self._api = api
        self._watch = watch_session
        self._in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)

    @classmethod
    async def connect(cls, kubeconfig: Path | None) -> KubeClient:
        try:
            api = await kr8s.asyncio.api(kubeconfig=None if kubeconfig is None else str(kubeconfig))
            # kr8s's call_api uses api._session when it is open; give it the sized pool.
            old = api._session
            api._session = await _session(api, MAX_IN_FLIGHT, httpx.Timeout(30.0, connect=10.0))
            if old is not None:
                await old.aclose()
            watch = await _session(api, WATCH_POOL, httpx.Timeout(None, connect=10.0))
        except (kr8s.ServerError, httpx.HTTPError, OSError, ValueError) as e:
            raise TargetError(f"cannot reach the Kubernetes API ({kubeconfig}): {e}") from e
        return cls(api, watch)

    async def _call(
        self,
        method: str,
        url: str,
        *,
        namespace: str | None = None,
        what: str,
        **kwargs: Any,
    ) -> dict[str, Any]:
        try:
            with phase("api_queue"):
                await self._in_flight.acquire()
            try:
                with phase("api"):
                    async with self._api.call_api(
                        method, version=API_VERSION, namespace=namespace, url=url, **kwargs
                    ) as resp:
                        data: dict[str, Any] = resp.json()
                        return data
            finally:
                self._in_flight.release()
        except kr8s.ServerError as e:
            status = _status_of(e)
            cls = GoneError if status == 410 else KubeError
            raise cls(f"{what}: HTTP {status}: {e}", status=status) from e
        except (httpx.HTTPError, kr8s.APITimeoutError, OSError) as e:
            raise KubeError(f"{what}: {type(e).__name__}: {e}", status=None) from e

    async def list(self, kind: str) -> tuple[list[dict[str, Any]], str]:
        """All objects of ``kind`` in every namespace, paged; returns (items, resourceVersion)."""
        items: list[dict[str, Any]] = []
        params: dict[str, Any] = {"limit": LIST_PAGE}
        while True:
            data = await self._call("GET", PLURALS[kind], params=params, what=f"list {kind}")
            items.extend(data.get("items") or [])
            meta = data.get("metadata") or {}
            if not meta.get("continue"):
                return items, str(meta.get("resourceVersion", ""))
            params["continue"] = meta["continue"]

    async def watch(self, kind: str, resource_version: str) -> AsyncIterator[dict[str, Any]]:
        """Raw watch events (``{"type", "object"}``) from ``resource_version``, with bookmarks.

        Ends normally when the server closes the stream; raises ``GoneError`` on 410.
        """
        params: dict[str, str | int] = {
            "watch": "true",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": WATCH_TIMEOUT_S,
        }
        url = f"/apis/{API_VERSION}/{PLURALS[kind]}"
        try:
            async with self._watch.stream("GET", url, params=params) as resp:
                if resp.status_code != 200:
                    body = (await resp.aread())[:300].decode(errors="replace")
                    cls = GoneError if resp.status_code == 410 else KubeError
                    raise cls(
                        f"watch {kind}: HTTP {resp.status_code}: {body}", status=resp.status_code
                    )
                async for line in resp.aiter_lines():
                    if not line:
                        continue
                    event = json.loads(line)
                    if event.get("type") == "ERROR":
                        obj = event.get("object") or {}
                        code = obj.get("code")
                        if code == 410:
                            raise GoneError(f"watch {kind}: 410 {obj.get('message')}", status=410)
                        raise KubeError(f"watch {kind}: {obj.get('message')}", status=code)
                    yield event
        except (httpx.HTTPError, OSError, json.JSONDecodeError) as e:
            raise KubeError(f"watch {kind}: {type(e).__name__}: {e}", status=None) from e

    async def get(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        what = f"get {kind} {namespace}/{name}"
        return await self._call("GET", f"{PLURALS[kind]}/{name}", namespace=namespace, what=what)

    async def patch(
        self, kind: str, namespace: str, name: str, body: dict[str, Any], *, status: bool = False
    ) -> dict[str, Any]:
        """Merge-patch the object (or its ``/status``); returns the new object."""
        url = f"{PLURALS[kind]}/{name}" + ("/status" if status else "")
        return await self._call(
            "PATCH",
            url,
            namespace=namespace,
            content=json.dumps(body),
            headers=MERGE_PATCH,
            what=f"patch {kind} {namespace}/{name}{'/status' if status else ''}",
        )

    async def close(self) -> None:
        await self._watch.aclose()
        session = getattr(self._api, "_session", None)
        if session is not None:
            await session.aclose()
