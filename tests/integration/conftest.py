"""Integration fixtures: one real local stack per session (etcd, kube-apiserver, KCM, named,
bindcar, reference operator), torn down at the end whatever happens."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import kr8s.asyncio
import pytest

from pytest_bindy_load.cluster import TestCluster
from pytest_bindy_load.localstack.stack import LocalStack, StackOptions, local_stack


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
