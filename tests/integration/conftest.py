"""Integration fixtures: one real local stack per session (etcd, kube-apiserver, KCM, named,
bindcar, reference operator), torn down at the end whatever happens."""

from __future__ import annotations

from collections.abc import AsyncIterator

import kr8s.asyncio
import pytest

from pytest_bindy_load.localstack.stack import LocalStack, StackOptions, local_stack


@pytest.fixture(scope="session")
async def stack() -> AsyncIterator[LocalStack]:
    async with local_stack(StackOptions(resync_period_s=10.0)) as s:
        yield s


@pytest.fixture(scope="session")
async def kube(stack: LocalStack) -> kr8s.asyncio.Api:
    return await kr8s.asyncio.api(kubeconfig=str(stack.target.kubeconfig))
