"""Integration fixtures: one real local stack per session (etcd, kube-apiserver, KCM, named,
bindcar, reference operator), torn down at the end whatever happens."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import kr8s.asyncio
import pytest

from pytest_bindy_load.cluster import TestCluster
from pytest_bindy_load.localstack import provision
from pytest_bindy_load.localstack.stack import LocalStack, StackOptions, local_stack

REPO = Path(__file__).resolve().parents[2]
# Taken at import: pytester points HOME at a temporary dir, which would hide the binary cache.
REAL_CACHE = provision.cache_dir()
SCENARIO_INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = session
asyncio_default_test_loop_scope = session
"""

RunScenario = Callable[..., pytest.RunResult]


@pytest.fixture(scope="session")
async def stack() -> AsyncIterator[LocalStack]:
    async with local_stack(StackOptions(resync_period_s=10.0)) as s:
        yield s


@pytest.fixture(scope="session")
async def kube(stack: LocalStack) -> kr8s.asyncio.Api:
    return await kr8s.asyncio.api(kubeconfig=str(stack.target.kubeconfig))


@pytest.fixture
async def ns(cluster: TestCluster) -> AsyncIterator[str]:
    """A labelled namespace of its own run id, removed with everything in it. Each module names
    the ``cluster`` it runs against (with or without the operator)."""
    run_id = uuid.uuid4().hex
    name = await cluster.create_namespace("bindy-load", run_id)
    yield name
    await cluster.cleanup_run(run_id, timeout_s=240)


@pytest.fixture
def run_scenario(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> RunScenario:
    """Run one scenario of loadtests/ as users do: a pytest subprocess on its own local stack,
    with a TOML profile given as text; reports go to ``reports/``."""

    def run(scenario: str, profile: str, *args: str, timeout: float = 600) -> pytest.RunResult:
        monkeypatch.setenv(provision.CACHE_ENV, str(REAL_CACHE))
        # The subprocess must import this tree's plugin, not whichever checkout is pip-installed.
        monkeypatch.setenv("PYTHONPATH", str(REPO))
        pytester.makeini(SCENARIO_INI)
        shutil.copy(REPO / "loadtests" / f"test_{scenario}.py", pytester.path)
        (pytester.path / "profile.toml").write_text(profile)
        return pytester.runpytest_subprocess(
            "-m", scenario, "--profile", "profile.toml", "--output-dir", "reports", *args,
            timeout=timeout,
        )  # fmt: skip

    return run
