"""The registry file (MODELS_FILE) as the seed of the versioned registry: each entry becomes
version 1 of its name, once. A name already in the store is left alone (its versions and
routing are data now), so a second bootstrap changes nothing and a name added to the file
later gets its version 1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from chalicelib.config.registry import Registry
from chalicelib.storage.codec import now_iso
from chalicelib.storage.registry import RegistryStore


def seed_registry(store: RegistryStore, registry: Registry, source: Path) -> Iterator[str]:
    """One line per seeded name; nothing for names already in the store."""
    for deployment in registry.deployments:
        if store.get_alias(deployment.name) is not None:
            continue
        spec = deployment.model_dump(mode="json", exclude={"name"}, exclude_none=True)
        record, _ = store.create_version(deployment.name, spec, {"file": source.name}, now_iso())
        yield f"deployment {deployment.name}: version {record.version} from {source.name}"
