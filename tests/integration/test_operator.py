"""The reference operator against the real local stack (kube-apiserver with bindy's CRDs, named,
bindcar): readiness, DNS answers, updates, deletes, selection, duplicates, injected delay,
SIGKILL of the operator and of named. No mocks; answers are checked with real DNS queries.

The operator's own JSON-lines log (``<run dir>/logs/operator.log``) is the measurement source
for reconcile counts and durations; every line carries wall and monotonic timestamps.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import math
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.asyncquery
import dns.message
import dns.name
import dns.rdataclass
import dns.rdatatype
import httpx
import kr8s
import kr8s.asyncio
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pytest_bindy_load import results
from pytest_bindy_load.dns import DnsClient, normalize_rdatas
from pytest_bindy_load.localstack.stack import LocalStack, StackOptions, local_stack

pytestmark = pytest.mark.timeout(900)

API_VERSION = results.API_VERSION
PLURALS = {k: v for k, v in results.PLURALS.items() if k in results.DNS_KINDS}
RECORD_KINDS = results.RECORD_KINDS
RDTYPE = results.RDTYPES
MANAGED = {"app.kubernetes.io/managed-by": "pytest-bindy-load", "bindy-load/run-id": "optest"}
ZONE_LABEL = "bindy.firestoned.io/zone"
CREATE_CONCURRENCY = 24
DNS_CONCURRENCY = 32


# --- small Kubernetes helpers (kept here: the operator's tests do not lean on cluster.py) ---


async def call(
    api: kr8s.asyncio.Api,
    method: str,
    url: str,
    *,
    namespace: str | None = None,
    body: Any = None,
    version: str = API_VERSION,
    merge: bool = False,
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if body is not None:
        kwargs["content"] = json.dumps(body)
    if merge:
        kwargs["headers"] = {"Content-Type": "application/merge-patch+json"}
    async with api.call_api(method, version=version, namespace=namespace, url=url, **kwargs) as r:
        data: dict[str, Any] = r.json()
        return data


async def create(api: kr8s.asyncio.Api, manifest: dict[str, Any]) -> dict[str, Any]:
    ns = manifest["metadata"]["namespace"]
    return await call(api, "POST", PLURALS[manifest["kind"]], namespace=ns, body=manifest)


async def create_all(api: kr8s.asyncio.Api, manifests: Iterable[dict[str, Any]]) -> None:
    sem = asyncio.Semaphore(CREATE_CONCURRENCY)

    async def one(m: dict[str, Any]) -> None:
        async with sem:
            await create(api, m)

    async with asyncio.TaskGroup() as tg:
        for m in manifests:
            tg.create_task(one(m))


async def get_or_none(
    api: kr8s.asyncio.Api, kind: str, ns: str, name: str
) -> dict[str, Any] | None:
    try:
        return await call(api, "GET", f"{PLURALS[kind]}/{name}", namespace=ns)
    except kr8s.ServerError as e:
        if e.response is not None and e.response.status_code == 404:
            return None
        raise


async def new_namespace(api: kr8s.asyncio.Api, prefix: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": MANAGED}}
    await call(api, "POST", "namespaces", body=body, version="v1")
    return name


class Mirror:
    """list+watch of every bindy kind in one namespace; ``wait`` re-checks a predicate on change."""

    def __init__(self, api: kr8s.asyncio.Api, namespace: str) -> None:
        self.api = api
        self.ns = namespace
        self.objs: dict[str, dict[str, dict[str, Any]]] = {k: {} for k in PLURALS}
        self._changed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Mirror:
        synced = [asyncio.Event() for _ in PLURALS]
        for kind, ev in zip(PLURALS, synced, strict=True):
            self._tasks.append(asyncio.create_task(self._run(kind, ev)))
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in synced)), 30)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t

    async def _run(self, kind: str, synced: asyncio.Event) -> None:
        rv: str | None = None
        while True:
            try:
                if rv is None:
                    data = await call(self.api, "GET", PLURALS[kind], namespace=self.ns)
                    self.objs[kind] = {o["metadata"]["name"]: o for o in data.get("items", [])}
                    rv = data["metadata"]["resourceVersion"]
                    synced.set()
                    self._changed.set()
                params = {"watch": "true", "resourceVersion": rv, "allowWatchBookmarks": "true"}
                async with self.api.call_api(
                    "GET",
                    version=API_VERSION,
                    namespace=self.ns,
                    url=PLURALS[kind],
                    params=params,
                    stream=True,
                    timeout=httpx.Timeout(None, connect=10),
                ) as resp:
                    async for line in resp.aiter_lines():
                        if not line:
                            continue
                        ev = json.loads(line)
                        obj = ev["object"]
                        if ev["type"] == "ERROR":
                            rv = None
                            break
                        rv = obj["metadata"]["resourceVersion"]
                        if ev["type"] == "BOOKMARK":
                            continue
                        if ev["type"] == "DELETED":
                            self.objs[kind].pop(obj["metadata"]["name"], None)
                        else:
                            self.objs[kind][obj["metadata"]["name"]] = obj
                        self._changed.set()
            except asyncio.CancelledError:
                raise
            except Exception:
                rv = None
                await asyncio.sleep(0.5)

    async def wait(self, predicate: Callable[[Mirror], bool], timeout_s: float, what: str) -> float:
        """Seconds until ``predicate`` held; fails the test with ``what`` after ``timeout_s``."""
        t0 = time.monotonic()
        deadline = t0 + timeout_s
        while not predicate(self):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 1.0))
            await asyncio.sleep(0.05)  # coalesce bursts of events before re-checking
        return time.monotonic() - t0

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        return self.objs[kind].get(name)


def ready(obj: dict[str, Any] | None) -> tuple[str | None, str | None]:
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return c.get("status"), c.get("reason")
    return None, None


def reconciled(obj: dict[str, Any] | None) -> bool:
    """The contract's record/zone predicate: Ready True, ReconcileSucceeded, current generation."""
    if obj is None:
        return False
    st = obj.get("status") or {}
    return ready(obj) == ("True", "ReconcileSucceeded") and st.get("observedGeneration") == obj[
        "metadata"
    ].get("generation")


# --- fixtures: zones and records with independently written expected answers ---------------


def zone_manifest(ns: str, name: str, zone_name: str, selector: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "DNSZone",
        "metadata": {"name": name, "namespace": ns, "labels": MANAGED},
        "spec": {
            "zoneName": zone_name,
            "soaRecord": {
                "primaryNs": f"ns1.{zone_name}.",
                "adminEmail": f"admin.{zone_name}.",
                "serial": 2026010101,
                "refresh": 3600,
                "retry": 600,
                "expire": 604800,
                "negativeTtl": 300,
            },
            "bind9InstancesFrom": [
                {"selector": {"matchLabels": {"bindy.firestoned.io/cluster": "local"}}}
            ],
            "recordsFrom": [{"selector": {"matchLabels": selector}}],
        },
    }


@dataclass(frozen=True, slots=True)
class Expect:
    kind: str
    name: str
    zone_name: str
    owner: str
    rdatas: frozenset[str]
    ttl: int


def record_manifest(
    kind: str, i: int, ns: str, zone_name: str, labels: dict[str, str]
) -> tuple[dict[str, Any], Expect]:
    """Record ``i`` of ``kind`` and the answer named must give for it (written out by hand)."""
    z = zone_name
    specs: dict[str, tuple[dict[str, Any], str, list[str]]] = {
        "ARecord": (
            {"name": f"a{i}", "ipv4Addresses": [f"10.1.{i // 250}.{i % 250 + 1}", "192.0.2.7"]},
            f"a{i}",
            [f"10.1.{i // 250}.{i % 250 + 1}", "192.0.2.7"],
        ),
        "AAAARecord": (
            {"name": f"v6-{i}", "ipv6Addresses": [f"2001:db8:0:0::{i:x}"]},
            f"v6-{i}",
            [str(ipaddress.IPv6Address(f"2001:db8::{i:x}"))],
        ),
        "CNAMERecord": (
            {"name": f"alias{i}", "target": f"target{i}.{z}."},
            f"alias{i}",
            [f"target{i}.{z}."],
        ),
        "TXTRecord": (
            {"name": f"txt{i}", "text": [f"v=load{i}", "second string"]},
            f"txt{i}",
            [f'"v=load{i}" "second string"'],
        ),
        "MXRecord": (
            # Out of zone on purpose: named refuses an update adding an MX whose in-zone target
            # has no address record (check-integrity), and bindy would fail the same way.
            {"name": f"mx{i}", "priority": 10 + i % 50, "mailServer": f"mail{i}.mx.example."},
            f"mx{i}",
            [f"{10 + i % 50} mail{i}.mx.example."],
        ),
        "SRVRecord": (
            {
                "name": f"_s{i}._tcp",
                "priority": 1,
                "weight": i % 100,
                "port": 1000 + i,
                "target": f"srv{i}.{z}.",
            },
            f"_s{i}._tcp",
            [f"1 {i % 100} {1000 + i} srv{i}.{z}."],
        ),
        "CAARecord": (
            {"name": f"caa{i}", "flags": 0, "tag": "issue", "value": f"ca{i}.example"},
            f"caa{i}",
            [f'0 issue "ca{i}.example"'],
        ),
        "NSRecord": (
            {"name": f"sub{i}", "nameserver": f"ns{i}.elsewhere.example."},
            f"sub{i}",
            [f"ns{i}.elsewhere.example."],
        ),
    }
    spec, rel, rdatas = specs[kind]
    ttl = 300
    if i % 3 == 0:
        spec["ttl"] = ttl = 60 + i % 7
    name = f"{kind.lower()}-{i}"
    manifest = {
        "apiVersion": API_VERSION,
        "kind": kind,
        "metadata": {"name": name, "namespace": ns, "labels": {**MANAGED, **labels}},
        "spec": spec,
    }
    expect = Expect(
        kind=kind,
        name=name,
        zone_name=z,
        owner=f"{rel}.{z}.",
        rdatas=normalize_rdatas(RDTYPE[kind], rdatas),
        ttl=ttl,
    )
    return manifest, expect


async def answer(
    server: tuple[str, int], owner: str, rdtype: str
) -> tuple[frozenset[str], int | None]:
    """The RRset named serves, reading the authority section for a delegation (NS below apex)."""
    qname = dns.name.from_text(owner)
    msg = dns.message.make_query(qname, dns.rdatatype.from_text(rdtype))
    reply = await dns.asyncquery.tcp(msg, server[0], port=server[1], timeout=5)
    for section in (reply.answer, reply.authority):
        rrset = reply.get_rrset(section, qname, dns.rdataclass.IN, dns.rdatatype.from_text(rdtype))
        if rrset:
            return frozenset(rd.to_text() for rd in rrset), rrset.ttl
    return frozenset(), None


async def wrong_answers(server: tuple[str, int], expects: list[Expect]) -> list[str]:
    sem = asyncio.Semaphore(DNS_CONCURRENCY)
    bad: list[str] = []

    async def one(e: Expect) -> None:
        async with sem:
            got, ttl = await answer(server, e.owner, RDTYPE[e.kind])
        if got != e.rdatas or ttl != e.ttl:
            want = f"{sorted(e.rdatas)} ttl {e.ttl}"
            bad.append(f"{e.kind} {e.owner}: got {sorted(got)} ttl {ttl}, want {want}")

    async with asyncio.TaskGroup() as tg:
        for e in expects:
            tg.create_task(one(e))
    return bad


# --- the operator's log and metrics ---------------------------------------------------------


def operator_log(stack: LocalStack) -> Path:
    return stack.run_dir / "logs" / "operator.log"


def log_events(
    stack: LocalStack, event: str | None = None, since_wall: float = 0.0
) -> list[dict[str, Any]]:
    out = []
    for line in operator_log(stack).read_text(errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        try:
            ev = json.loads(line)
        except json.JSONDecodeError:
            continue
        if (event is None or ev.get("event") == event) and ev.get("wall", 0) >= since_wall:
            out.append(ev)
    return out


async def scrape(stack: LocalStack) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    url = stack.target.operator_metrics_url
    assert url is not None
    async with httpx.AsyncClient(timeout=5, trust_env=False) as client:
        text = (await client.get(url)).text
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def metric_sum(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return sum(
        v
        for (n, ls), v in samples.items()
        if n == name and all((k, val) in ls for k, val in labels.items())
    )


def quantile(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, math.floor(q * len(s)))]


PHASE_KEYS = frozenset({"api_s", "api_queue_s", "dns_s", "bindcar_s"})


def edit_faults(stack: LocalStack, faults: dict[str, Any]) -> float:
    """Rewrite the faults section of the operator config (the operator reloads it live)."""
    assert stack.operator_config is not None
    cfg = json.loads(stack.operator_config.read_text())
    cfg["faults"] = faults
    stack.operator_config.write_text(json.dumps(cfg, indent=2))
    return time.time()


async def wait_log_event(
    stack: LocalStack, event: str, since_wall: float, timeout_s: float
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = log_events(stack, event, since_wall)
        if found:
            return found[0]
        await asyncio.sleep(0.2)
    pytest.fail(f"operator logged no {event!r} within {timeout_s:.0f} s")


@pytest.fixture(scope="module")
async def stack() -> AsyncIterator[LocalStack]:
    """A stack of this module's own: these tests change the operator's faults live and measure
    its timing, so they do not share an operator with tests that kill pods and leave work
    behind. (Sharing the session stack after the other integration files made the injected-error
    test time out in two of two full runs, and pass alone; the cause is not found yet.)"""
    async with local_stack(StackOptions(resync_period_s=10.0)) as s:
        yield s


@pytest.fixture(scope="module")
async def kube(stack: LocalStack) -> kr8s.asyncio.Api:
    return await kr8s.asyncio.api(kubeconfig=str(stack.target.kubeconfig))


@pytest.fixture
async def ns(kube: kr8s.asyncio.Api) -> AsyncIterator[str]:
    name = await new_namespace(kube, "optest")
    yield name
    # Namespace deletion goes through the operator's finalizers; do not wait for it.
    with contextlib.suppress(Exception):
        await call(kube, "DELETE", f"namespaces/{name}", version="v1")


# --- tests ------------------------------------------------------------------------------------


N_ZONES = 10
N_RECORDS = 1000


async def test_a_thousand_records_of_all_kinds_in_ten_zones_become_ready_and_answer(
    stack: LocalStack,
    kube: kr8s.asyncio.Api,
    ns: str,
    record_property: Callable[[str, object], None],
) -> None:
    suffix = ns.rsplit("-", 1)[1]
    zones = [(f"zone{z:02d}", f"z{z:02d}-{suffix}.optest.example") for z in range(N_ZONES)]
    manifests, expects = [], []
    for j in range(N_RECORDS):
        zone_name = zones[j % N_ZONES][1]
        kind = RECORD_KINDS[(j // N_ZONES) % len(RECORD_KINDS)]
        m, e = record_manifest(kind, j, ns, zone_name, {ZONE_LABEL: zone_name})
        manifests.append(m)
        expects.append(e)
    assert {e.kind for e in expects} == set(RECORD_KINDS)
    async with Mirror(kube, ns) as mirror:
        t0_wall = time.time()
        t0 = time.monotonic()
        await create_all(kube, [zone_manifest(ns, n, zn, {ZONE_LABEL: zn}) for n, zn in zones])
        await create_all(kube, manifests)
        created_s = time.monotonic() - t0

        def all_ready(m: Mirror) -> bool:
            return all(reconciled(m.get(e.kind, e.name)) for e in expects) and all(
                reconciled(z := m.get("DNSZone", n))
                and (z or {}).get("status", {}).get("recordsCount") == N_RECORDS // N_ZONES
                for n, _ in zones
            )

        await mirror.wait(all_ready, 600, "1000 records and 10 zones Ready")
        ready_s = time.monotonic() - t0
        for e in expects:
            obj = mirror.get(e.kind, e.name)
            assert obj is not None
            assert obj["status"]["zoneRef"]["zoneName"] == e.zone_name
            assert obj["status"]["zone"] == e.zone_name
            assert (
                f"bindy.firestoned.io/{e.kind.lower()}-finalizer" in obj["metadata"]["finalizers"]
            )
        for n, _ in zones:
            zone = mirror.get("DNSZone", n)
            assert zone is not None
            assert zone["status"]["recordsCount"] == N_RECORDS // N_ZONES
            types = {c["type"]: c["status"] for c in zone["status"]["conditions"]}
            assert types == {"Ready": "True", "Progressing": "False", "Degraded": "False"}
    assert stack.target.dns_server is not None
    bad = await wrong_answers(stack.target.dns_server, expects)
    assert bad == [], f"{len(bad)} wrong answers, first: {bad[:5]}"
    recs = [
        ev
        for ev in log_events(stack, "reconcile", t0_wall)
        if ev["kind"] != "DNSZone" and ev["namespace"] == ns
    ]
    span = max(ev["mono_ns"] for ev in recs) - min(ev["mono_ns"] for ev in recs)
    rate = len(recs) / (span / 1e9)
    mean_ms = 1000 * sum(ev["duration_s"] for ev in recs) / len(recs)
    record_property("create_s", round(created_s, 2))
    record_property("all_ready_s", round(ready_s, 2))
    record_property("record_reconciles", len(recs))
    record_property("reconciles_per_s", round(rate, 1))
    record_property("mean_reconcile_ms", round(mean_ms, 2))
    # Where a reconcile's time goes: the operator logs seconds per phase (api, api_queue, dns,
    # bindcar); the rest is its own CPU and the event loop.
    phases = {
        k[: -len("_s")]: round(1000 * sum(ev.get(k, 0.0) for ev in recs) / len(recs), 2)
        for k in sorted({k for ev in recs for k in ev if k in PHASE_KEYS})
    }
    for name, ms in phases.items():
        record_property(f"mean_{name}_ms", ms)
    print(
        f"\n1000 records: created in {created_s:.1f} s, all Ready after {ready_s:.1f} s; "
        f"{len(recs)} record reconciles at {rate:.1f}/s, mean {mean_ms:.1f} ms; "
        f"mean ms per phase {phases}"
    )


async def test_an_update_changes_the_answer_and_a_delete_removes_it_before_the_object(
    stack: LocalStack, kube: kr8s.asyncio.Api, ns: str
) -> None:
    zone_name = f"upd-{ns.rsplit('-', 1)[1]}.optest.example"
    sel = {ZONE_LABEL: zone_name}
    assert stack.target.dns_server is not None
    server = stack.target.dns_server
    owner = f"www.{zone_name}."
    async with Mirror(kube, ns) as mirror:
        await create(kube, zone_manifest(ns, "zone", zone_name, sel))
        await create(
            kube,
            {
                "apiVersion": API_VERSION,
                "kind": "ARecord",
                "metadata": {"name": "www", "namespace": ns, "labels": {**MANAGED, **sel}},
                "spec": {"name": "www", "ipv4Addresses": ["192.0.2.1"], "ttl": 120},
            },
        )
        await mirror.wait(lambda m: reconciled(m.get("ARecord", "www")), 60, "www Ready")
        assert await answer(server, owner, "A") == (frozenset({"192.0.2.1"}), 120)

        patched = await call(
            kube,
            "PATCH",
            "arecords/www",
            namespace=ns,
            merge=True,
            body={"spec": {"ipv4Addresses": ["192.0.2.2", "192.0.2.3"]}},
        )
        gen = patched["metadata"]["generation"]
        assert gen == 2

        def updated(m: Mirror) -> bool:
            obj = m.get("ARecord", "www")
            return (
                reconciled(obj) and obj is not None and obj["status"]["observedGeneration"] == gen
            )

        await mirror.wait(updated, 60, "www Ready at generation 2")
        assert await answer(server, owner, "A") == (frozenset({"192.0.2.2", "192.0.2.3"}), 120)
        obj = mirror.get("ARecord", "www")
        assert obj is not None
        assert obj["status"]["addresses"] == "192.0.2.2,192.0.2.3"

        before = await scrape(stack)
        await call(kube, "DELETE", "arecords/www", namespace=ns)
        await mirror.wait(lambda m: m.get("ARecord", "www") is None, 60, "www gone")
        # The finalizer is released only once named no longer has the RRset.
        assert await answer(server, owner, "A") == (frozenset(), None)
        assert await get_or_none(kube, "ARecord", ns, "www") is None
        after = await scrape(stack)
        name = "bindy_firestoned_io_resources_deleted_total"
        assert (
            metric_sum(after, name, resource_type="ARecord")
            == metric_sum(before, name, resource_type="ARecord") + 1
        )


async def test_a_record_no_zone_selects_is_not_selected(kube: kr8s.asyncio.Api, ns: str) -> None:
    zone_name = f"sel-{ns.rsplit('-', 1)[1]}.optest.example"
    async with Mirror(kube, ns) as mirror:
        await create(kube, zone_manifest(ns, "zone", zone_name, {ZONE_LABEL: zone_name}))
        orphan = {
            "apiVersion": API_VERSION,
            "kind": "TXTRecord",
            "metadata": {
                "name": "orphan",
                "namespace": ns,
                "labels": {**MANAGED, ZONE_LABEL: "nope"},
            },
            "spec": {"name": "orphan", "text": ["x"]},
        }
        await create(kube, orphan)

        def not_selected(m: Mirror) -> bool:
            obj = m.get("TXTRecord", "orphan")
            gen_ok = obj is not None and obj.get("status", {}).get("observedGeneration") == 1
            return ready(obj) == ("False", "NotSelected") and gen_ok

        await mirror.wait(not_selected, 60, "orphan NotSelected")
        await mirror.wait(lambda m: reconciled(m.get("DNSZone", "zone")), 60, "zone Ready")
        obj = mirror.get("TXTRecord", "orphan")
        assert obj is not None
        assert not obj["status"].get("zoneRef")
        zone = mirror.get("DNSZone", "zone")
        assert zone is not None
        assert zone["status"]["recordsCount"] == 0


async def test_the_younger_of_two_zones_with_one_zone_name_is_a_duplicate(
    kube: kr8s.asyncio.Api, ns: str
) -> None:
    zone_name = f"dup-{ns.rsplit('-', 1)[1]}.optest.example"
    async with Mirror(kube, ns) as mirror:
        await create(kube, zone_manifest(ns, "first", zone_name, {ZONE_LABEL: zone_name}))
        await mirror.wait(lambda m: reconciled(m.get("DNSZone", "first")), 60, "first zone Ready")
        await asyncio.sleep(1.1)  # creationTimestamp has one-second resolution
        await create(kube, zone_manifest(ns, "second", zone_name, {ZONE_LABEL: zone_name}))
        await mirror.wait(
            lambda m: ready(m.get("DNSZone", "second")) == ("False", "DuplicateZone"),
            60,
            "second zone DuplicateZone",
        )
        assert reconciled(mirror.get("DNSZone", "first"))


async def test_an_injected_lognormal_delay_shows_in_the_reconcile_durations(
    stack: LocalStack,
    kube: kr8s.asyncio.Api,
    ns: str,
    record_property: Callable[[str, object], None],
) -> None:
    """p50/p99 come from the operator's own per-reconcile log lines (exact durations, not the
    coarse bindy buckets). The delay goes to TXTRecord only, and the samples are reconciles of
    this test's unselected TXT records that made no API or DNS call (resync passes), so the
    measured duration is the injected delay plus well under a millisecond of real work. The
    bindy histogram must hold exactly the logged TXTRecord reconciles at its 0.5 s and 1 s
    bounds (comparing it with the lognormal CDF instead would be at the mercy of CPU load on
    the reconciles that did real work)."""
    p50, p99, want_samples = 0.5, 1.0, 1500
    before_wall = time.time()
    before = await scrape(stack)
    delay = {"distribution": "lognormal", "p50_s": p50, "p99_s": p99, "kinds": ["TXTRecord"]}
    since = edit_faults(stack, {"seed": 5, "delay": delay})
    try:
        reloaded = await wait_log_event(stack, "faults_reloaded", since, 10)
        # Unselected records: one reconcile with writes now, then a pure one every resync.
        await create_all(
            kube,
            [
                {
                    "apiVersion": API_VERSION,
                    "kind": "TXTRecord",
                    "metadata": {"name": f"d{i}", "namespace": ns, "labels": MANAGED},
                    "spec": {"name": f"d{i}", "text": ["x"]},
                }
                for i in range(300)
            ],
        )
        deadline = time.monotonic() + 300
        samples: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            samples = [
                ev
                for ev in log_events(stack, "reconcile", reloaded["wall"])
                if ev["namespace"] == ns
                and ev["injected_delay_s"] > 0
                and not any(k in ev for k in ("api_s", "api_queue_s", "dns_s", "bindcar_s"))
            ]
            if len(samples) >= want_samples:
                break
            await asyncio.sleep(2)
        after = await scrape(stack)
        after_wall = time.time()
    finally:
        edit_faults(stack, {})
    assert len(samples) >= want_samples, f"only {len(samples)} pure delayed reconciles in 300 s"
    durations = [ev["duration_s"] for ev in samples]
    injected = [ev["injected_delay_s"] for ev in samples]
    got50, got99 = quantile(durations, 0.50), quantile(durations, 0.99)
    record_property("delay_samples", len(samples))
    record_property("duration_p50_s", round(got50, 4))
    record_property("duration_p99_s", round(got99, 4))
    record_property("injected_p50_s", round(quantile(injected, 0.5), 4))
    print(
        f"\n{len(samples)} delayed reconciles: p50 {got50:.3f} s (want {p50}), "
        f"p99 {got99:.3f} s (want {p99})"
    )
    assert got50 == pytest.approx(p50, rel=0.10)
    assert got99 == pytest.approx(p99, rel=0.10)
    # bindy's coarse histogram for TXTRecord over the same window holds the logged reconciles
    # (every namespace: resyncs of earlier tests' TXT records are delayed too).
    name = "bindy_firestoned_io_reconciliation_duration_seconds_bucket"
    count = "bindy_firestoned_io_reconciliation_duration_seconds_count"
    txt = {"resource_type": "TXTRecord"}
    logged = [
        ev["duration_s"]
        for ev in log_events(stack, "reconcile", before_wall)
        if ev["kind"] == "TXTRecord" and ev["wall"] <= after_wall
    ]
    n = metric_sum(after, count, **txt) - metric_sum(before, count, **txt)
    le05 = metric_sum(after, name, le="0.5", **txt) - metric_sum(before, name, le="0.5", **txt)
    le1 = metric_sum(after, name, le="1.0", **txt) - metric_sum(before, name, le="1.0", **txt)
    assert n >= want_samples
    # A reconcile finishing during a scrape may fall on either side of it: a few, not more.
    assert n == pytest.approx(len(logged), abs=3)
    assert le05 == pytest.approx(sum(d <= 0.5 for d in logged), abs=3)
    assert le1 == pytest.approx(sum(d <= 1.0 for d in logged), abs=3)
    assert le05 < le1 < n  # the delay spreads over the buckets, not all below 0.5 s


async def test_every_record_of_a_burst_becomes_ready_after_the_operator_is_sigkilled(
    stack: LocalStack, kube: kr8s.asyncio.Api, ns: str
) -> None:
    zone_name = f"kill-{ns.rsplit('-', 1)[1]}.optest.example"
    sel = {ZONE_LABEL: zone_name}
    items = [record_manifest(RECORD_KINDS[i % 8], i, ns, zone_name, sel) for i in range(500)]
    operator = stack.supervisor.group("bindy")
    old_pid = operator.processes[0].pid
    t0_wall = time.time()
    async with Mirror(kube, ns) as mirror:
        await create(kube, zone_manifest(ns, "zone", zone_name, sel))

        def some_ready(m: Mirror) -> bool:
            return sum(reconciled(m.get(e.kind, e.name)) for _, e in items) >= 50

        async with asyncio.TaskGroup() as tg:
            tg.create_task(create_all(kube, [m for m, _ in items]))
            await mirror.wait(some_ready, 120, "the first 50 records Ready")
            operator.processes[0].kill()  # SIGKILL to the operator's process group
            ready_at_kill = sum(reconciled(mirror.get(e.kind, e.name)) for _, e in items)
        assert ready_at_kill < len(items), "the kill came after the burst was already done"

        def all_ready(m: Mirror) -> bool:
            return all(reconciled(m.get(e.kind, e.name)) for _, e in items)

        await mirror.wait(all_ready, 600, "all 500 records Ready after the restart")
    assert operator.processes[0].pid != old_pid
    assert len(log_events(stack, "starting", t0_wall)) >= 1
    assert stack.target.dns_server is not None
    bad = await wrong_answers(stack.target.dns_server, [e for _, e in items])
    assert bad == [], f"{len(bad)} wrong answers, first: {bad[:5]}"


async def test_records_answer_again_within_the_resync_period_after_named_is_killed(
    stack: LocalStack,
    kube: kr8s.asyncio.Api,
    ns: str,
    record_property: Callable[[str, object], None],
) -> None:
    assert stack.operator_config is not None
    resync_s = float(json.loads(stack.operator_config.read_text())["resync_period_s"])
    zone_name = f"named-{ns.rsplit('-', 1)[1]}.optest.example"
    sel = {ZONE_LABEL: zone_name}
    items = [record_manifest(RECORD_KINDS[i % 8], i, ns, zone_name, sel) for i in range(80)]
    expects = [e for _, e in items]
    assert stack.target.dns_server is not None
    server = stack.target.dns_server
    async with Mirror(kube, ns) as mirror:
        await create(kube, zone_manifest(ns, "zone", zone_name, sel))
        await create_all(kube, [m for m, _ in items])
        await mirror.wait(
            lambda m: all(reconciled(m.get(e.kind, e.name)) for e in expects),
            300,
            "80 records Ready",
        )
    assert await wrong_answers(server, expects) == []
    bind9 = stack.supervisor.group("bind9")
    restarts = bind9.restarts
    await call(
        kube,
        "DELETE",
        f"pods/{bind9.pod_name}",
        namespace="bindy-system",
        version="v1",
        body={"gracePeriodSeconds": 0},
    )
    client = DnsClient(server, timeout_s=1.0)
    deadline = time.monotonic() + 120
    # named restarts empty: wait until it is back (answering at all) after the restart.
    while (
        bind9.restarts == restarts
        or not bind9.processes
        or not all(p.running for p in bind9.processes)
    ):
        if time.monotonic() > deadline:
            pytest.fail("named was not restarted within 120 s")
        await asyncio.sleep(0.1)
    while True:
        with contextlib.suppress(Exception):
            await client.query(zone_name + ".", "SOA")
            break
        if time.monotonic() > deadline:
            pytest.fail("restarted named did not answer within 120 s")
        await asyncio.sleep(0.1)
    t_up, t_up_wall = time.monotonic(), time.time()
    # The next periodic resync re-creates the zone through bindcar and re-pushes its records;
    # 5 s covers that work (80 records), so the bound is "repaired by the first resync".
    limit = resync_s + 5.0
    while bad := await wrong_answers(server, expects):
        if time.monotonic() - t_up > limit:
            pytest.fail(
                f"{len(bad)} records still wrong {limit:.0f} s after named came back: {bad[:3]}"
            )
        await asyncio.sleep(0.2)
    repaired_s = time.monotonic() - t_up
    resyncs = log_events(stack, "resync", t_up_wall)
    after_resync = (
        f", {t_up_wall + repaired_s - resyncs[0]['wall']:.1f} s after the first resync"
        if resyncs
        else ""
    )
    record_property("named_repair_s", round(repaired_s, 2))
    print(
        f"\nnamed restarted empty; all 80 records answered again {repaired_s:.1f} s after it "
        f"came back (resync period {resync_s:.0f} s){after_resync}"
    )


async def test_a_record_created_in_a_stall_window_becomes_ready_only_after_the_window(
    stack: LocalStack, kube: kr8s.asyncio.Api, ns: str
) -> None:
    zone_name = f"stall-{ns.rsplit('-', 1)[1]}.optest.example"
    sel = {ZONE_LABEL: zone_name}
    async with Mirror(kube, ns) as mirror:
        await create(kube, zone_manifest(ns, "zone", zone_name, sel))
        await mirror.wait(lambda m: reconciled(m.get("DNSZone", "zone")), 60, "zone Ready")
        now = time.time()
        end = now + 6.0
        since = edit_faults(stack, {"stalls": [{"start_wall": now, "end_wall": end}]})
        try:
            await wait_log_event(stack, "faults_reloaded", since, 10)
            m, _ = record_manifest("TXTRecord", 1, ns, zone_name, sel)
            await create(kube, m)
            await mirror.wait(
                lambda mi: reconciled(mi.get("TXTRecord", m["metadata"]["name"])), 60, "Ready"
            )
        finally:
            edit_faults(stack, {})
    writes = [
        ev
        for ev in log_events(stack, "status_write", since)
        if ev["name"] == m["metadata"]["name"] and ev["namespace"] == ns
    ]
    assert writes, "no status write logged for the record"
    assert min(ev["wall"] for ev in writes) >= end - 0.05


async def test_injected_errors_are_retried_until_every_record_is_ready(
    stack: LocalStack, kube: kr8s.asyncio.Api, ns: str
) -> None:
    zone_name = f"err-{ns.rsplit('-', 1)[1]}.optest.example"
    sel = {ZONE_LABEL: zone_name}
    items = [record_manifest("ARecord", i, ns, zone_name, sel) for i in range(40)]
    before = await scrape(stack)
    since = edit_faults(stack, {"seed": 9, "error_rate": {"ARecord": 0.5}})
    ever_ready: set[str] = set()

    def each_ready_once(m: Mirror) -> bool:
        # While faults are on, every later reconcile (resync, zone requeue) of a Ready record
        # fails half the time too, so "all 40 Ready at once" is luck; each must get there.
        ever_ready.update(e.name for _, e in items if reconciled(m.get(e.kind, e.name)))
        return len(ever_ready) == len(items)

    async with Mirror(kube, ns) as mirror:
        try:
            await wait_log_event(stack, "faults_reloaded", since, 10)
            await create(kube, zone_manifest(ns, "zone", zone_name, sel))
            await create_all(kube, [m for m, _ in items])
            await mirror.wait(each_ready_once, 180, "each of 40 A records Ready despite errors")
        finally:
            lifted = edit_faults(stack, {})
        # Once faults stop, pending retries and the next resync leave no record failed.
        await wait_log_event(stack, "faults_reloaded", lifted, 10)
        await mirror.wait(
            lambda m: all(reconciled(m.get(e.kind, e.name)) for _, e in items),
            90,
            "all 40 A records Ready together after the faults were lifted",
        )
    failed = [
        ev
        for ev in log_events(stack, "status_write", since)
        if ev["namespace"] == ns and ev["reason"] == "ReconcileFailed"
    ]
    assert failed, "no ReconcileFailed status was written although half the reconciles failed"
    after = await scrape(stack)
    name = "bindy_firestoned_io_errors_total"
    grew = metric_sum(
        after, name, resource_type="ARecord", error_type="reconcile_error"
    ) - metric_sum(before, name, resource_type="ARecord", error_type="reconcile_error")
    assert grew >= len(failed)
    assert stack.target.dns_server is not None
    assert await wrong_answers(stack.target.dns_server, [e for _, e in items]) == []


async def test_the_operator_log_never_contains_the_tsig_secret_or_the_bindcar_token(
    stack: LocalStack,
) -> None:
    text = operator_log(stack).read_text(errors="replace")
    assert '"event":"synced"' in text  # the log is the operator's, and it ran
    assert stack.target.tsig is not None
    assert stack.target.bindcar_token is not None
    assert stack.target.tsig.secret.reveal() not in text
    assert stack.target.bindcar_token.reveal() not in text
