"""`bootstrap` seeds the versioned registry from MODELS_FILE: each name becomes version 1 once,
a second run changes nothing, a name added to the file later gets its version 1."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from chalicelib.config.registry import Registry
from tests.conftest import ECHO_ARN


def entry(name: str) -> dict[str, Any]:
    return {"name": name, "provider": "bedrock", "model_id": ECHO_ARN.format("converse"),
            "request_format": "converse"}  # fmt: skip


def test_the_file_seeds_version_one_of_each_name_once(local_stack: Any) -> None:
    from chalicelib.config.settings import get_settings
    from chalicelib.deployments.seed import seed_registry
    from chalicelib.storage.registry import DynamoRegistryStore

    store = DynamoRegistryStore(get_settings().registry_table)
    first, later = f"seed-{uuid.uuid4().hex[:8]}", f"seed-{uuid.uuid4().hex[:8]}"
    source = Path("models.json")
    lines = list(
        seed_registry(store, Registry.model_validate({"deployments": [entry(first)]}), source)
    )
    assert lines == [f"deployment {first}: version 1 from models.json"]
    assert (
        list(seed_registry(store, Registry.model_validate({"deployments": [entry(first)]}), source))
        == []
    )
    both = Registry.model_validate({"deployments": [entry(first), entry(later)]})
    assert list(seed_registry(store, both, source)) == [
        f"deployment {later}: version 1 from models.json"
    ]
    [version] = store.list_versions(first)
    assert (version.version, version.source) == (1, {"file": "models.json"})
    assert version.spec["model_id"] == ECHO_ARN.format("converse") and "name" not in version.spec


def test_bootstrap_seeded_the_test_stack(stack: Any) -> None:
    """The stack's own bootstrap ran: every file entry is an alias with its version 1."""
    snapshot = stack.runtime.registry_store.snapshot()
    for deployment in stack.runtime.registry.deployments:
        assert (deployment.name, 1) in snapshot.versions
