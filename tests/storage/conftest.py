"""Every store twice: in memory and on DynamoDB (moto server over HTTP), through the same test
cases, so the two implementations cannot drift. `-k memory` runs without the local stack."""

from __future__ import annotations

from typing import Any

import pytest

BACKENDS = ["memory", "dynamo"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "dynamo":
        request.getfixturevalue("local_stack")
    return str(request.param)


@pytest.fixture()
def invocations(backend: str) -> Any:
    from chalicelib.storage.invocations import DynamoInvocationStore, MemoryInvocationStore

    if backend == "memory":
        return MemoryInvocationStore()
    from chalicelib.config.settings import get_settings

    return DynamoInvocationStore(get_settings().invocations_table)


@pytest.fixture()
def feedback(backend: str) -> Any:
    from chalicelib.storage.feedback import DynamoFeedbackStore, MemoryFeedbackStore

    if backend == "memory":
        return MemoryFeedbackStore()
    from chalicelib.config.settings import get_settings

    return DynamoFeedbackStore(get_settings().feedback_table)


@pytest.fixture()
def jobs(backend: str) -> Any:
    from chalicelib.storage.jobs import DynamoJobStore
    from chalicelib.storage.memory_jobs import MemoryJobStore

    if backend == "memory":
        return MemoryJobStore()
    from chalicelib.config.settings import get_settings

    return DynamoJobStore(get_settings().evaluations_table)


@pytest.fixture()
def registry(backend: str) -> Any:
    from chalicelib.storage.registry import DynamoRegistryStore, MemoryRegistryStore

    if backend == "memory":
        return MemoryRegistryStore()
    from chalicelib.config.settings import get_settings

    return DynamoRegistryStore(get_settings().registry_table)


@pytest.fixture()
def provisioned(backend: str) -> Any:
    from chalicelib.storage.provisioned import DynamoProvisionedStore, MemoryProvisionedStore

    if backend == "memory":
        return MemoryProvisionedStore()
    from chalicelib.config.settings import get_settings

    return DynamoProvisionedStore(get_settings().provisioned_table)


@pytest.fixture()
def tuning(backend: str) -> Any:
    from chalicelib.storage.tuning import DynamoTuningStore, MemoryTuningStore

    if backend == "memory":
        return MemoryTuningStore()
    from chalicelib.deploy.bootstrap import ensure_table
    from chalicelib.storage.tuning import KIND_INDEX

    # A table of its own: the suite's bare records must not show in the stage's job lists.
    name = "tunegate-test-tuning-store"
    ensure_table(name, ["pk"], indexes={KIND_INDEX: ["kind", "created_at"]})
    return DynamoTuningStore(name)


@pytest.fixture()
def reviews(backend: str) -> Any:
    from chalicelib.storage.reviews import DynamoReviewStore, MemoryReviewStore

    if backend == "memory":
        return MemoryReviewStore()
    from chalicelib.config.settings import get_settings

    return DynamoReviewStore(get_settings().evaluations_table)
