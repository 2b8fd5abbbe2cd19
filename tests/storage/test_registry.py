"""The registry store, in memory and on DynamoDB: version numbers in order and never shared,
a new name routed 100% to its first version, routing changed only from the current revision
(a stale one is a Conflict) with its history entry in the same write, and one snapshot of
every alias and version."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from chalicelib.errors import Conflict, NotFound
from tests.conftest import ECHO_ARN

AT = "2026-01-01T00:00:00.000+00:00"
# A model the emulator serves: the table is the running app's too.
SPEC = {
    "provider": "bedrock",
    "model_id": ECHO_ARN.format("converse"),
    "request_format": "converse",
}


def fresh() -> str:
    return f"d-{uuid.uuid4().hex[:12]}"


def route(*pairs: tuple[int, int]) -> dict[str, Any]:
    return {"routes": [{"version": v, "weight": w} for v, w in pairs], "shadow": []}


def test_versions_are_numbered_in_order_and_a_new_name_gets_its_alias(registry: Any) -> None:
    name = fresh()
    first, new = registry.create_version(name, SPEC, {"file": "models.json"}, AT)
    assert new and (first.version, first.status, first.source) == (
        1,
        "active",
        {"file": "models.json"},
    )
    alias = registry.get_alias(name)
    assert alias.routes == [{"version": 1, "weight": 100}] and alias.shadow == []
    assert (alias.revision, alias.latest_version) == (1, 1)
    second, new = registry.create_version(name, {**SPEC, "store_inputs": True}, {}, AT)
    assert not new and second.version == 2
    # a new version does not change the routing or its revision
    assert registry.get_alias(name).routes == [{"version": 1, "weight": 100}]
    assert registry.get_alias(name).revision == 1
    assert [v.version for v in registry.list_versions(name)] == [1, 2]
    assert registry.get_version(name, 2).spec == {**SPEC, "store_inputs": True}
    assert registry.get_version(name, 3) is None and registry.get_alias(fresh()) is None


def test_concurrent_creates_never_share_a_number(registry: Any) -> None:
    name = fresh()
    with ThreadPoolExecutor(max_workers=6) as pool:
        made = list(
            pool.map(lambda i: registry.create_version(name, SPEC, {"i": i}, AT), range(12))
        )
    numbers = sorted(record.version for record, _ in made)
    assert numbers == list(range(1, 13))
    assert sum(new for _, new in made) == 1
    assert registry.get_alias(name).latest_version == 12


def test_routing_changes_only_from_the_current_revision_with_history(registry: Any) -> None:
    name = fresh()
    registry.create_version(name, SPEC, {}, AT)
    registry.create_version(name, SPEC, {}, AT)
    changed = registry.set_routing(name, route((1, 90), (2, 10)), 1, "canary", "abcd1234", AT)
    assert changed.revision == 2 and changed.routes == route((1, 90), (2, 10))["routes"]
    with pytest.raises(Conflict):
        registry.set_routing(name, route((2, 100)), 1, "stale", None, AT)
    with pytest.raises(NotFound):
        registry.set_routing(fresh(), route((1, 100)), 1, "nope", None, AT)
    (entry,) = registry.history(name)
    assert (entry.revision, entry.reason, entry.caller) == (2, "canary", "abcd1234")
    assert entry.from_routing == route((1, 100)) and entry.to_routing == route((1, 90), (2, 10))
    assert registry.get_alias(name).revision == 2


def test_two_racing_changes_from_one_revision_one_wins(registry: Any) -> None:
    name = fresh()
    for _ in range(3):
        registry.create_version(name, SPEC, {}, AT)
    start = threading.Barrier(2)

    def change(version: int) -> str:
        start.wait()
        try:
            registry.set_routing(name, route((version, 100)), 1, f"to {version}", None, AT)
        except Conflict:
            return "conflict"
        return "ok"

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = sorted(pool.map(change, [2, 3]))
    assert outcomes == ["conflict", "ok"]
    (entry,) = registry.history(name)
    assert entry.to_routing == registry.get_alias(name).routing()


def test_status_and_snapshot(registry: Any) -> None:
    name = fresh()
    registry.create_version(name, SPEC, {}, AT)
    registry.create_version(name, SPEC, {}, AT)
    assert registry.set_status(name, 1, "retired").status == "retired"
    with pytest.raises(NotFound):
        registry.set_status(name, 9, "retired")
    registry.set_routing(name, route((2, 100)), 1, "move", None, AT)
    snapshot = registry.snapshot()
    assert snapshot.aliases[name].routes == [{"version": 2, "weight": 100}]
    assert snapshot.versions[(name, 1)].status == "retired"
    assert snapshot.versions[(name, 2)].spec == SPEC
    assert name in {a.name for a in registry.list_aliases()}
