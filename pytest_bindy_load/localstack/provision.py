"""Finds or builds the local stack's binaries and caches them outside the repo.

Idempotent: a binary whose recorded build inputs are unchanged is reused, so a warm provision
takes seconds. Users who already have binaries point environment variables at them instead.
Nothing here starts a server.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from pytest_bindy_load.errors import ProvisionError

CACHE_ENV = "PYTEST_BINDY_LOAD_CACHE"
K8S_VERSION = "v1.37.2"
ETCD_VERSION = "v3.6.16"
BINDCAR_VERSION = "0.7.3"  # the 0.7 line bindy depends on (bindy's Cargo.toml: bindcar = "0.7")
APT_PACKAGES = ("bind9", "bind9-utils", "bind9-dnsutils", "dnsperf")
DEBIAN_TOOLS = ("named", "rndc", "nsupdate", "dig", "dnsperf")

# Env vars that point at existing binaries; envtest's names are honoured too.
OVERRIDE_ENV = {
    "etcd": ("PYTEST_BINDY_LOAD_ETCD", "TEST_ASSET_ETCD"),
    "kube-apiserver": ("PYTEST_BINDY_LOAD_KUBE_APISERVER", "TEST_ASSET_KUBE_APISERVER"),
    "kube-controller-manager": ("PYTEST_BINDY_LOAD_KUBE_CONTROLLER_MANAGER",),
    "bindcar": ("PYTEST_BINDY_LOAD_BINDCAR",),
}

_K8S_LDFLAGS = " ".join(
    [
        "-s -w",
        f"-X k8s.io/component-base/version.gitVersion={K8S_VERSION}",
        "-X k8s.io/component-base/version.gitMajor=1",
        "-X k8s.io/component-base/version.gitMinor=37",
        "-X k8s.io/component-base/version.gitTreeState=clean",
        f"-X k8s.io/client-go/pkg/version.gitVersion={K8S_VERSION}",
    ]
)
_K8S_TAGS = "selinux,notest,grpcnotrace"

Progress = Callable[[str], None]


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)  # noqa: T201 - provisioning's progress lines


def cache_dir() -> Path:
    raw = os.environ.get(CACHE_ENV)
    return Path(raw).expanduser() if raw else Path.home() / ".cache" / "pytest-bindy-load"


@dataclass(frozen=True, slots=True, kw_only=True)
class Binaries:
    """Absolute paths of every program the local stack runs."""

    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    bindcar: Path
    named: Path
    rndc: Path
    nsupdate: Path
    dig: Path
    dnsperf: Path | None


def _override(name: str) -> Path | None:
    for var in OVERRIDE_ENV.get(name, ()):
        raw = os.environ.get(var)
        if raw:
            path = Path(raw).expanduser()
            if not (path.is_file() and os.access(path, os.X_OK)):
                raise ProvisionError(
                    f"{var}={raw!r} is not an executable file; unset it or fix the path"
                )
            return path
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if assets and name in ("etcd", "kube-apiserver"):
        path = Path(assets) / name
        if path.is_file():
            return path
    return None


def _require_tool(tool: str, install_hint: str) -> str:
    found = shutil.which(tool)
    if found is None:
        raise ProvisionError(f"{tool} not found on PATH: {install_hint}")
    return found


def _run(argv: list[str], *, cwd: Path, env: dict[str, str], log_path: Path, what: str) -> None:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as out:
        out.write(f"\n--- {time.strftime('%F %T')} {' '.join(argv)}\n".encode())
        out.flush()
        proc = subprocess.run(
            argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, check=False
        )
    if proc.returncode != 0:
        lines = log_path.read_text(errors="replace").splitlines()[-20:]
        joined = "\n".join(lines)
        raise ProvisionError(f"{what} failed (exit {proc.returncode}); see {log_path}:\n{joined}")


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
        h.update(b"\0")
    return h.hexdigest()[:16]


def _gomod_files(name: str) -> dict[str, bytes]:
    base = resources.files("pytest_bindy_load.localstack").joinpath("gomod", name)
    return {f: base.joinpath(f).read_bytes() for f in ("go.mod", "go.sum")}


def _is_current(binary: Path, stamp: str) -> bool:
    stamp_file = binary.with_name(binary.name + ".stamp")
    return binary.is_file() and stamp_file.is_file() and stamp_file.read_text() == stamp


def _write_stamp(binary: Path, stamp: str) -> None:
    binary.with_name(binary.name + ".stamp").write_text(stamp)


def _go_env(cache: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"GOTOOLCHAIN": "local", "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"})
    return env


def _go_build(
    *,
    module: str,
    packages: dict[str, str],
    ldflags: str,
    tags: str,
    cache: Path,
    progress: Progress,
) -> dict[str, Path]:
    """Build ``packages`` (binary name -> import path) from the wrapper module ``module``."""
    bindir = cache / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    files = _gomod_files(module)
    go = _require_tool(
        "go", "install Go >= 1.26 (Debian: apt-get install golang-go, or a go.dev toolchain)"
    )
    go_version = subprocess.run(
        [go, "env", "GOVERSION"], capture_output=True, text=True, check=False
    )
    stamp = _digest(
        files["go.mod"],
        files["go.sum"],
        ldflags.encode(),
        tags.encode(),
        go_version.stdout.encode(),
    )
    targets = {name: bindir / name for name in packages}
    if all(_is_current(path, stamp) for path in targets.values()):
        for name, path in targets.items():
            progress(f"  {name}: cached ({path}, {path.stat().st_size // 2**20} MiB)")
        return targets
    workdir = cache / "build" / module
    workdir.mkdir(parents=True, exist_ok=True)
    for fname, data in files.items():
        (workdir / fname).write_bytes(data)
    env = _go_env(cache)
    log_path = cache / "logs" / f"build-{module}.log"
    started = time.monotonic()
    progress(
        f"  {', '.join(packages)}: building with {go_version.stdout.strip()} (log: {log_path})"
    )
    with tempfile.TemporaryDirectory(dir=bindir) as tmp:
        for name, package in packages.items():
            # One build per binary with an explicit output file: `-o dir/` would name
            # go.etcd.io/etcd/server/v3 after its module path, not "etcd".
            argv = [
                go,
                "build",
                "-trimpath",
                "-tags",
                tags,
                "-ldflags",
                ldflags,
                "-o",
                f"{tmp}/{name}",
                package,
            ]
            _run(argv, cwd=workdir, env=env, log_path=log_path, what=f"go build of {package}")
        for name, path in targets.items():
            os.replace(Path(tmp) / name, path)
            _write_stamp(path, stamp)
    for name, path in targets.items():
        size = path.stat().st_size // 2**20
        progress(f"  {name}: built in {time.monotonic() - started:.0f} s ({size} MiB)")
    return targets


def _swagger_zip(cache: Path, progress: Progress) -> Path:
    """utoipa-swagger-ui's build script downloads Swagger UI from GitHub; take the zip that the
    crates.io crate utoipa-swagger-ui-vendored ships instead."""
    target = cache / "build" / "swagger-ui.zip"
    if target.is_file():
        return target
    cargo = _require_tool("cargo", "install Rust (rustup, or Debian: apt-get install cargo)")
    fetch_dir = cache / "build" / "swagger-fetch"
    (fetch_dir / "src").mkdir(parents=True, exist_ok=True)
    (fetch_dir / "Cargo.toml").write_text(
        '[package]\nname = "swagger-fetch"\nversion = "0.0.0"\nedition = "2021"\n\n'
        '[dependencies]\nutoipa-swagger-ui-vendored = "0.2"\n'
    )
    (fetch_dir / "src" / "lib.rs").write_text("")
    progress("  bindcar: fetching utoipa-swagger-ui-vendored for the offline Swagger UI zip")
    _run(
        [cargo, "fetch"],
        cwd=fetch_dir,
        env=dict(os.environ),
        log_path=cache / "logs" / "swagger-fetch.log",
        what="cargo fetch of utoipa-swagger-ui-vendored",
    )
    cargo_home = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo"))
    crates = sorted(cargo_home.glob("registry/cache/*/utoipa-swagger-ui-vendored-*.crate"))
    if not crates:
        raise ProvisionError(
            "utoipa-swagger-ui-vendored was fetched but its .crate is not in the cargo cache"
        )
    with tarfile.open(crates[-1]) as tar:
        member = next(
            (m for m in tar.getmembers() if m.name.endswith(".zip") and "/res/" in m.name), None
        )
        if member is None:
            raise ProvisionError(f"no Swagger UI zip inside {crates[-1]}")
        data = tar.extractfile(member)
        if data is None:
            raise ProvisionError(f"cannot read {member.name} from {crates[-1]}")
        target.write_bytes(io.BytesIO(data.read()).getvalue())
    return target


def _bindcar(cache: Path, progress: Progress) -> Path:
    root = cache / "cargo-root"
    binary = root / "bin" / "bindcar"
    stamp = _digest(BINDCAR_VERSION.encode(), b"lto=false")
    if _is_current(binary, stamp):
        progress(f"  bindcar: cached ({binary}, {binary.stat().st_size // 2**20} MiB)")
        return binary
    cargo = _require_tool("cargo", "install Rust (rustup, or Debian: apt-get install cargo)")
    zip_path = _swagger_zip(cache, progress)
    env = dict(os.environ)
    env.update(
        {
            "SWAGGER_UI_DOWNLOAD_URL": f"file://{zip_path}",
            # 2 cores: skip fat LTO, the binary is a test fixture, not a release.
            "CARGO_PROFILE_RELEASE_LTO": "false",
            "CARGO_PROFILE_RELEASE_CODEGEN_UNITS": "16",
        }
    )
    started = time.monotonic()
    log_path = cache / "logs" / "build-bindcar.log"
    progress(f"  bindcar: cargo install bindcar@{BINDCAR_VERSION} (log: {log_path})")
    argv = [
        cargo,
        "install",
        "bindcar",
        "--version",
        f"={BINDCAR_VERSION}",
        "--locked",
        "--force",
        "--root",
        str(root),
    ]
    _run(argv, cwd=cache, env=env, log_path=log_path, what="cargo install bindcar")
    _write_stamp(binary, stamp)
    size = binary.stat().st_size // 2**20
    progress(f"  bindcar: built in {time.monotonic() - started:.0f} s ({size} MiB)")
    return binary


def _debian_tools(progress: Progress) -> dict[str, Path]:
    missing = [t for t in DEBIAN_TOOLS if _which_sbin(t) is None]
    if missing:
        if os.geteuid() != 0 or shutil.which("apt-get") is None:
            raise ProvisionError(
                f"missing {', '.join(missing)}: install the Debian packages "
                f"{' '.join(APT_PACKAGES)} (as root: apt-get install {' '.join(APT_PACKAGES)})"
            )
        progress(f"  bind9 tools: apt-get install {' '.join(APT_PACKAGES)}")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        log_path = cache_dir() / "logs" / "apt.log"
        _run(
            ["apt-get", "update"], cwd=Path("/"), env=env, log_path=log_path, what="apt-get update"
        )
        _run(
            ["apt-get", "install", "-y", "--no-install-recommends", *APT_PACKAGES],
            cwd=Path("/"),
            env=env,
            log_path=log_path,
            what="apt-get install",
        )
    found = {t: _which_sbin(t) for t in DEBIAN_TOOLS}
    still = [t for t, p in found.items() if p is None and t != "dnsperf"]
    if still:
        raise ProvisionError(
            f"{', '.join(still)} still missing after apt-get install {' '.join(APT_PACKAGES)}"
        )
    progress("  bind9 tools: " + ", ".join(f"{t}={p}" for t, p in found.items()))
    return {t: p for t, p in found.items() if p is not None}


def _which_sbin(tool: str) -> Path | None:
    path = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin:/sbin"
    found = shutil.which(tool, path=path)
    return Path(found) if found else None


def provision(progress: Progress = _stderr) -> Binaries:
    """Find or build every binary; a warm cache makes this a few stat calls and `go env`."""
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    progress(f"[1/4] Debian tools (cache: {cache})")
    tools = _debian_tools(progress)

    progress(f"[2/4] etcd {ETCD_VERSION}")
    etcd = (
        _override("etcd")
        or _go_build(
            module="etcd",
            packages={"etcd": "go.etcd.io/etcd/server/v3"},
            ldflags="-s -w",
            tags="",
            cache=cache,
            progress=progress,
        )["etcd"]
    )

    progress(f"[3/4] kube-apiserver and kube-controller-manager {K8S_VERSION}")
    api_override = _override("kube-apiserver")
    kcm_override = _override("kube-controller-manager")
    if api_override and kcm_override:
        api, kcm = api_override, kcm_override
    else:
        built = _go_build(
            module="kube",
            packages={
                "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
                "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
            },
            ldflags=_K8S_LDFLAGS,
            tags=_K8S_TAGS,
            cache=cache,
            progress=progress,
        )
        api = api_override or built["kube-apiserver"]
        kcm = kcm_override or built["kube-controller-manager"]

    progress(f"[4/4] bindcar {BINDCAR_VERSION}")
    bindcar = _override("bindcar") or _bindcar(cache, progress)
    progress(f"provisioned in {time.monotonic() - started:.1f} s")
    return Binaries(
        etcd=etcd,
        kube_apiserver=api,
        kube_controller_manager=kcm,
        bindcar=bindcar,
        named=tools["named"],
        rndc=tools["rndc"],
        nsupdate=tools["nsupdate"],
        dig=tools["dig"],
        dnsperf=tools.get("dnsperf"),
    )


def find_binaries() -> Binaries:
    """Binaries already provisioned, without building: for starting a stack quickly."""
    return provision(progress=lambda _msg: None)
