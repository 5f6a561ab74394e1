"""The local control plane: etcd, kube-apiserver and kube-controller-manager as processes on
loopback, with envtest's flags, token auth and an admin kubeconfig. No scheduling, no kubelet."""

from __future__ import annotations

import base64
import secrets
import ssl
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from pytest_bindy_load.localstack.pki import Pki, make_pki
from pytest_bindy_load.localstack.processes import ManagedProcess, free_port
from pytest_bindy_load.localstack.provision import Binaries
from pytest_bindy_load.target import Secret

# The namespace and garbage-collector controllers make namespace deletion and ownerReference
# cleanup complete; the service-account ones give namespaces their default ServiceAccount.
# Endpoint controllers stay off: they reject loopback addresses.
KCM_CONTROLLERS = (
    "namespace-controller",
    "garbage-collector-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
)
START_TIMEOUT_S = 60.0


@dataclass(slots=True, kw_only=True)
class ControlPlane:
    """The running control plane; ``stop()`` ends every process it started, newest first."""

    run_dir: Path
    api_port: int
    etcd_port: int
    kubeconfig: Path
    token: Secret
    pki: Pki
    processes: list[ManagedProcess] = field(default_factory=list)

    @property
    def api_url(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    async def stop(self) -> None:
        for proc in reversed(self.processes):
            await proc.stop()


def _write_kubeconfig(path: Path, *, server: str, ca: Path, token: Secret) -> None:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "bindy-load-local",
                "cluster": {
                    "server": server,
                    "certificate-authority-data": base64.b64encode(ca.read_bytes()).decode(),
                },
            }
        ],
        "users": [{"name": "admin", "user": {"token": token.reveal()}}],
        "contexts": [
            {
                "name": "bindy-load-local",
                "context": {"cluster": "bindy-load-local", "user": "admin"},
            }
        ],
        "current-context": "bindy-load-local",
    }
    path.write_text(yaml.safe_dump(doc))
    path.chmod(0o600)


def _client(ca: Path, token: Secret | None = None) -> httpx.AsyncClient:
    ctx = ssl.create_default_context(cafile=str(ca))
    headers = {"Authorization": f"Bearer {token.reveal()}"} if token else {}
    return httpx.AsyncClient(verify=ctx, headers=headers, timeout=5.0)


async def start_control_plane(bins: Binaries, run_dir: Path) -> ControlPlane:
    """Start etcd, kube-apiserver and kube-controller-manager; on any failure stop what started."""
    pki = make_pki(run_dir / "pki")
    token = Secret(secrets.token_urlsafe(32))
    etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
    kcm_port = free_port()
    tokens = run_dir / "tokens.csv"
    tokens.write_text(f'{token.reveal()},admin,admin,"system:masters"\n')
    tokens.chmod(0o600)
    kubeconfig = run_dir / "kubeconfig"
    _write_kubeconfig(
        kubeconfig, server=f"https://127.0.0.1:{api_port}", ca=pki.ca_cert, token=token
    )
    cp = ControlPlane(
        run_dir=run_dir,
        api_port=api_port,
        etcd_port=etcd_port,
        kubeconfig=kubeconfig,
        token=token,
        pki=pki,
    )
    logs = run_dir / "logs"
    etcd_url = f"http://127.0.0.1:{etcd_port}"
    peer_url = f"http://127.0.0.1:{peer_port}"
    etcd = ManagedProcess(
        name="etcd",
        log_path=logs / "etcd.log",
        argv=[
            str(bins.etcd),
            "--name=default",
            f"--data-dir={run_dir / 'etcd'}",
            f"--listen-client-urls={etcd_url}",
            f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=default={peer_url}",
            "--unsafe-no-fsync=true",
            "--quota-backend-bytes=4294967296",
            "--log-level=warn",
        ],
    )
    apiserver = ManagedProcess(
        name="kube-apiserver",
        log_path=logs / "kube-apiserver.log",
        argv=[
            str(bins.kube_apiserver),
            f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1",
            f"--secure-port={api_port}",
            "--advertise-address=127.0.0.1",
            "--endpoint-reconciler-type=none",
            f"--cert-dir={run_dir / 'pki'}",
            f"--tls-cert-file={pki.serving_cert}",
            f"--tls-private-key-file={pki.serving_key}",
            f"--client-ca-file={pki.ca_cert}",
            "--service-cluster-ip-range=10.0.0.0/24",
            f"--service-account-issuer=https://127.0.0.1:{api_port}",
            f"--service-account-key-file={pki.sa_pub}",
            f"--service-account-signing-key-file={pki.sa_key}",
            "--authorization-mode=RBAC",
            f"--token-auth-file={tokens}",
            "--disable-admission-plugins=ServiceAccount",
            "--allow-privileged=true",
            "--enable-priority-and-fairness=false",
            "--v=1",
        ],
    )
    kcm = ManagedProcess(
        name="kube-controller-manager",
        log_path=logs / "kube-controller-manager.log",
        argv=[
            str(bins.kube_controller_manager),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            f"--secure-port={kcm_port}",
            f"--cert-dir={run_dir / 'pki' / 'kcm'}",
            f"--controllers={','.join(KCM_CONTROLLERS)}",
            f"--service-account-private-key-file={pki.sa_key}",
            f"--root-ca-file={pki.ca_cert}",
            "--use-service-account-credentials=false",
            "--concurrent-namespace-syncs=10",
            "--concurrent-gc-syncs=20",
            "--v=1",
        ],
    )
    try:
        async with httpx.AsyncClient(timeout=2.0) as plain:

            async def etcd_healthy() -> bool:
                r = await plain.get(f"{etcd_url}/health")
                return r.status_code == 200 and r.json().get("health") == "true"

            cp.processes.append(etcd)
            await etcd.start()
            await etcd.wait_ready(etcd_healthy, timeout_s=START_TIMEOUT_S)

        async with _client(pki.ca_cert, token) as client:

            async def api_ready() -> bool:
                r = await client.get(f"{cp.api_url}/readyz")
                return r.status_code == 200

            cp.processes.append(apiserver)
            await apiserver.start()
            await apiserver.wait_ready(api_ready, timeout_s=START_TIMEOUT_S, interval_s=0.2)

            async def default_sa_exists() -> bool:
                r = await client.get(
                    f"{cp.api_url}/api/v1/namespaces/default/serviceaccounts/default"
                )
                return r.status_code == 200

            cp.processes.append(kcm)
            await kcm.start()
            # The serviceaccount controller creating `default` proves the controllers run.
            await kcm.wait_ready(default_sa_exists, timeout_s=START_TIMEOUT_S, interval_s=0.2)
    except BaseException:
        await cp.stop()
        raise
    return cp
