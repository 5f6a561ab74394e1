"""The local stack as one async context manager: control plane, bindy CRDs, the DNS data plane
and the reference operator under the pod supervisor, handed out as one ``BindyTarget``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import kr8s.asyncio

from pytest_bindy_load.errors import TargetError
from pytest_bindy_load.localstack import named as named_mod
from pytest_bindy_load.localstack.crds import crd_manifests
from pytest_bindy_load.localstack.kube import ControlPlane, start_control_plane
from pytest_bindy_load.localstack.processes import ManagedProcess, free_port
from pytest_bindy_load.localstack.provision import Binaries, cache_dir, provision
from pytest_bindy_load.localstack.supervisor import MANAGED_BY, PodGroup, PodSupervisor
from pytest_bindy_load.target import BindyTarget, TargetKind

log = logging.getLogger(__name__)

OPERATOR_NAMESPACE = "bindy-system"
INSTANCE_NAME = "local-primary-0"
CLUSTER_LABEL = "local"
INSTANCE_SELECTOR = {"bindy.firestoned.io/cluster": CLUSTER_LABEL}
DESCRIPTION = "local stack, reference operator"
CRD_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True, kw_only=True)
class StackOptions:
    """How to start a stack. ``operator_faults`` goes to the reference operator's config as is."""

    run_dir: Path | None = None
    keep: bool = False
    with_operator: bool = True
    operator_workers: int = 16
    resync_period_s: float = 30.0
    operator_faults: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True, kw_only=True)
class LocalStack:
    """A running stack; ``target`` is what tests use, the rest is for stack tests and chaos."""

    target: BindyTarget
    run_dir: Path
    control_plane: ControlPlane
    dns: named_mod.DnsPlaneConfig
    supervisor: PodSupervisor
    operator_config: Path | None
    started_s: float

    @property
    def processes(self) -> list[ManagedProcess]:
        procs = list(self.control_plane.processes)
        for name in ("bind9", "bindy"):
            with contextlib.suppress(KeyError):
                procs.extend(self.supervisor.group(name).processes)
        return procs


async def _install_crds(api: kr8s.asyncio.Api) -> None:
    """Apply our CRDs and wait until every one is Established."""
    names = []
    for manifest in crd_manifests():
        crd = await kr8s.asyncio.objects.new_class(
            "CustomResourceDefinition", "apiextensions.k8s.io/v1", asyncio=True, namespaced=False
        )(manifest, api=api)
        await crd.create()
        names.append(manifest["metadata"]["name"])
    deadline = time.monotonic() + CRD_TIMEOUT_S
    pending = set(names)
    while pending:
        async for crd in api.async_get("customresourcedefinitions"):
            raw: dict[str, Any] = crd if isinstance(crd, dict) else crd.raw
            conds = {c["type"]: c["status"] for c in raw.get("status", {}).get("conditions", [])}
            if conds.get("Established") == "True":
                pending.discard(raw["metadata"]["name"])
        if not pending:
            break
        if time.monotonic() > deadline:
            raise TargetError(
                f"CRDs not Established after {CRD_TIMEOUT_S:.0f} s: {sorted(pending)}"
            )
        await asyncio.sleep(0.2)


async def _create(api: kr8s.asyncio.Api, manifest: dict[str, Any]) -> None:
    api_version = manifest["apiVersion"]
    cls = kr8s.asyncio.objects.new_class(
        manifest["kind"], api_version, asyncio=True, namespaced="namespace" in manifest["metadata"]
    )
    obj = await cls(manifest, api=api)
    await obj.create()


async def _seed_bindy_objects(api: kr8s.asyncio.Api, dns: named_mod.DnsPlaneConfig) -> None:
    """What bindy's operator and a Bind9Cluster would have created: the operator namespace, one
    primary Bind9Instance that zones in any namespace may select, and its key Secret."""
    await _create(
        api,
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": OPERATOR_NAMESPACE, "labels": dict(MANAGED_BY)},
        },
    )
    await _create(
        api,
        {
            "apiVersion": "bindy.firestoned.io/v1beta1",
            "kind": "Bind9Instance",
            "metadata": {
                "name": INSTANCE_NAME,
                "namespace": OPERATOR_NAMESPACE,
                "labels": {
                    **INSTANCE_SELECTOR,
                    "bindy.firestoned.io/role": "primary",
                    "bindy.firestoned.io/managed-by": "Bind9Cluster",
                    **MANAGED_BY,
                },
                "annotations": {"bindy.firestoned.io/allow-zone-namespaces": "*"},
            },
            "spec": {"clusterRef": "", "role": "primary", "replicas": 1},
        },
    )
    await _create(
        api,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": f"{INSTANCE_NAME}-rndc-key",
                "namespace": OPERATOR_NAMESPACE,
                "labels": dict(MANAGED_BY),
            },
            "stringData": {
                "key-name": dns.tsig.name,
                "algorithm": dns.tsig.algorithm,
                "secret": dns.tsig.secret.reveal(),
            },
        },
    )


def _write_operator_config(
    path: Path,
    *,
    cp: ControlPlane,
    dns: named_mod.DnsPlaneConfig,
    metrics_port: int,
    opts: StackOptions,
) -> None:
    config = {
        "kubeconfig": str(cp.kubeconfig),
        "bindcar_url": dns.bindcar_url,
        "bindcar_token": dns.bindcar_token.reveal(),
        "dns_server": [dns.host, dns.named_port],
        "tsig": {
            "name": dns.tsig.name,
            "algorithm": dns.tsig.algorithm,
            "secret": dns.tsig.secret.reveal(),
        },
        "metrics_port": metrics_port,
        "workers": opts.operator_workers,
        "resync_period_s": opts.resync_period_s,
        "faults": opts.operator_faults,
    }
    path.write_text(json.dumps(config, indent=2))
    path.chmod(0o600)


def _named_group(bins: Binaries, dns: named_mod.DnsPlaneConfig) -> PodGroup:
    async def ready() -> None:
        named_proc, bindcar_proc = group.processes
        await named_proc.wait_ready(
            lambda: named_mod.named_answers(dns), timeout_s=30, interval_s=0.05
        )
        await bindcar_proc.wait_ready(
            lambda: named_mod.bindcar_ready(dns), timeout_s=30, interval_s=0.05
        )

    group = PodGroup(
        name="bind9",
        namespace=OPERATOR_NAMESPACE,
        labels={
            "app": "bind9",
            "instance": INSTANCE_NAME,
            "app.kubernetes.io/name": "bind9",
            "app.kubernetes.io/instance": INSTANCE_NAME,
            "app.kubernetes.io/component": "dns-server",
            "app.kubernetes.io/part-of": "bindy",
            "bindy.firestoned.io/role": "primary",
        },
        make_processes=lambda: [
            named_mod.named_process(dns, bins.named),
            named_mod.bindcar_process(dns, bins.bindcar, nsupdate_bin=bins.nsupdate),
        ],
        ready=ready,
        before_restart=lambda: named_mod.reset_state(dns),
    )
    return group


def _operator_group(config_path: Path, metrics_port: int, log_dir: Path) -> PodGroup:
    def make() -> list[ManagedProcess]:
        import sys

        env = {
            k: v
            for k, v in os.environ.items()
            if k in ("PATH", "HOME", "LANG", "PYTHONPATH", "VIRTUAL_ENV")
        }
        return [
            ManagedProcess(
                name="bindy",
                argv=[
                    sys.executable,
                    "-m",
                    "pytest_bindy_load.localstack.operator",
                    "--config",
                    str(config_path),
                ],
                log_path=log_dir / "operator.log",
                env=env,
            )
        ]

    async def ready() -> None:
        async with httpx.AsyncClient(timeout=1.0) as client:

            async def metrics_up() -> bool:
                return (
                    await client.get(f"http://127.0.0.1:{metrics_port}/metrics")
                ).status_code == 200

            await group.processes[0].wait_ready(metrics_up, timeout_s=30, interval_s=0.1)

    group = PodGroup(
        name="bindy",
        namespace=OPERATOR_NAMESPACE,
        labels={"app": "bindy", "version": "v1"},
        make_processes=make,
        ready=ready,
    )
    return group


@contextlib.asynccontextmanager
async def local_stack(options: StackOptions | None = None) -> AsyncIterator[LocalStack]:
    """Start everything, yield the stack, and always stop every process it started."""
    opts = options or StackOptions()
    started = time.monotonic()
    bins = await asyncio.to_thread(provision, log.info)
    base = cache_dir() / "run"
    base.mkdir(parents=True, exist_ok=True)
    run_dir = opts.run_dir or Path(tempfile.mkdtemp(prefix="stack-", dir=base))
    run_dir.mkdir(parents=True, exist_ok=True)
    cp: ControlPlane | None = None
    supervisor: PodSupervisor | None = None
    api: kr8s.asyncio.Api | None = None
    try:
        cp = await start_control_plane(bins, run_dir)
        api = await kr8s.asyncio.api(kubeconfig=str(cp.kubeconfig))
        await _install_crds(api)
        dns = named_mod.make_dns_plane_config(run_dir / "dns")
        named_mod.write_named_config(dns)
        await _seed_bindy_objects(api, dns)
        groups = [_named_group(bins, dns)]
        operator_config: Path | None = None
        metrics_port: int | None = None
        if opts.with_operator:
            metrics_port = free_port()
            operator_config = run_dir / "operator.json"
            _write_operator_config(
                operator_config, cp=cp, dns=dns, metrics_port=metrics_port, opts=opts
            )
            groups.append(_operator_group(operator_config, metrics_port, run_dir / "logs"))
        supervisor = PodSupervisor(api, groups)
        await supervisor.start()
        target = BindyTarget(
            kind=TargetKind.LOCAL_STACK,
            description=DESCRIPTION,
            kubeconfig=cp.kubeconfig,
            context=None,
            operator_namespace=OPERATOR_NAMESPACE,
            instance_selector=dict(INSTANCE_SELECTOR),
            dns_server=dns.dns_server,
            bindcar_url=dns.bindcar_url,
            bindcar_token=dns.bindcar_token,
            operator_metrics_url=f"http://127.0.0.1:{metrics_port}/metrics"
            if metrics_port
            else None,
            tsig=dns.tsig,
            rndc_endpoint=dns.rndc_endpoint,
        )
        stack = LocalStack(
            target=target,
            run_dir=run_dir,
            control_plane=cp,
            dns=dns,
            supervisor=supervisor,
            operator_config=operator_config,
            started_s=time.monotonic() - started,
        )
        log.info("local stack up in %.1f s (run dir %s)", stack.started_s, run_dir)
        yield stack
    finally:
        # Shielded so a cancelled test (timeout, Ctrl+C) still stops every process.
        await asyncio.shield(_teardown(supervisor, api, cp, run_dir, keep=opts.keep))


async def _teardown(
    supervisor: PodSupervisor | None,
    api: kr8s.asyncio.Api | None,
    cp: ControlPlane | None,
    run_dir: Path,
    *,
    keep: bool,
) -> None:
    if supervisor is not None:
        with contextlib.suppress(Exception):
            await supervisor.stop()
    if api is not None:
        with contextlib.suppress(Exception):
            await api._session.aclose() if api._session else None
    if cp is not None:
        await cp.stop()
    if not keep:
        shutil.rmtree(run_dir, ignore_errors=True)
