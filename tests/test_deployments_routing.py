"""Routing (pure) and the registry cache: sticky choice by routing key, validation of a split,
names resolved against a snapshot, and a cache that serves its last good copy when the registry
cannot be read."""

from __future__ import annotations

import io
import json
from collections import Counter
from typing import Any

import pytest

from chalicelib.deployments.cache import RegistryCache
from chalicelib.deployments.resolve import RegistryView, split_name
from chalicelib.deployments.routing import bucket, champion, choose, routing_problems
from chalicelib.errors import NotFound, ServiceUnavailable
from chalicelib.storage.registry import MemoryRegistryStore
from tests.conftest import log_lines

SPEC = {"provider": "bedrock", "model_id": "amazon.titan-text-lite-v1", "request_format": "titan"}
AT = "2026-01-01T00:00:00.000+00:00"
SPLIT = [{"version": 3, "weight": 90}, {"version": 4, "weight": 10}]


def test_the_same_key_gets_the_same_version_and_weights_hold() -> None:
    chosen = {f"user-{i}": choose("alias", SPLIT, f"user-{i}") for i in range(4000)}
    assert all(choose("alias", SPLIT, key) == v for key, v in chosen.items())
    share = Counter(chosen.values())[4] / len(chosen)
    assert 0.08 <= share <= 0.12
    # another alias hashes the same key elsewhere (independent splits)
    assert bucket("alias", "user-1") != bucket("other", "user-1")


def test_without_a_key_the_choice_is_random_by_weight() -> None:
    assert choose("alias", SPLIT, None, rand=lambda: 0.0) == 3
    assert choose("alias", SPLIT, None, rand=lambda: 0.8999) == 3
    assert choose("alias", SPLIT, None, rand=lambda: 0.9) == 4
    assert choose("alias", [{"version": 1, "weight": 0}, {"version": 2, "weight": 100}]) == 2


def test_a_weight_change_moves_only_the_keys_that_must_move() -> None:
    wider = [{"version": 3, "weight": 80}, {"version": 4, "weight": 20}]
    keys = [f"k{i}" for i in range(2000)]
    before = {k: choose("a", SPLIT, k) for k in keys}
    after = {k: choose("a", wider, k) for k in keys}
    assert all(after[k] == 4 for k in keys if before[k] == 4)


def test_routing_problems_name_the_field() -> None:
    assert routing_problems(SPLIT, [5]) == []
    assert champion(SPLIT) == 3
    fields = {p["field"] for p in routing_problems([{"version": 1, "weight": 60}], [])}
    assert fields == {"routes"}
    twice = [{"version": 1, "weight": 50}, {"version": 1, "weight": 50}]
    assert {p["field"] for p in routing_problems(twice, [])} == {"routes.1.version"}
    assert {p["field"] for p in routing_problems(SPLIT, [4])} == {"shadow.0"}
    assert routing_problems([], []) == [
        {"field": "routes", "reason": "at least one route is needed"}
    ]


def test_names_resolve_against_a_snapshot() -> None:
    store = MemoryRegistryStore()
    for _ in range(4):
        store.create_version("alias", SPEC, {}, AT)
    routing = {"routes": SPLIT, "shadow": [2]}
    store.set_routing("alias", routing, 1, "split", None, AT)
    view = RegistryView(store.snapshot())
    assert view.resolve("alias@2").version == 2
    resolved = view.resolve("alias", "user-1")
    assert resolved.version in (3, 4) and resolved.shadow == (2,)
    assert resolved.deployment.name == "alias"
    assert view.pinned(["alias", "alias@1"]) == {"alias": 3, "alias@1": 1}
    named = view.select(["alias@1", "alias"])
    assert [d.name for d in named] == ["alias@1", "alias"]
    with pytest.raises(NotFound) as unknown:
        view.select(["alias", "alias@9"])
    assert unknown.value.details == [{"field": "models.1", "reason": "unknown model 'alias@9'"}]
    for bad in ("nope", "alias@0", "alias@x", "alias@"):
        with pytest.raises(NotFound):
            view.resolve(bad)
    assert split_name("a.b-c@12") == ("a.b-c", 12)
    # versions are immutable: a new view reuses the validated deployments it already had
    again = RegistryView(store.snapshot(), view)
    assert again.built[("alias", 1)] is view.built[("alias", 1)]


class FailingStore(MemoryRegistryStore):
    """A registry that stops answering when told to (as the table does in an outage)."""

    down = False

    def snapshot(self) -> Any:
        if self.down:
            raise ServiceUnavailable("registry down", retry_after=5)
        return super().snapshot()


def test_the_cache_refreshes_after_its_bound_and_survives_an_outage(
    capsys: pytest.CaptureFixture[str], log_stream: io.StringIO
) -> None:
    store, now = FailingStore(), [100.0]
    store.create_version("alias", SPEC, {}, AT)
    store.create_version("alias", SPEC, {}, AT)
    cache = RegistryCache(store, 10, clock=lambda: now[0])
    assert cache.view().resolve("alias").version == 1
    store.set_routing("alias", {"routes": [{"version": 2, "weight": 100}]}, 1, "x", None, AT)
    now[0] += 9.9
    assert cache.view().resolve("alias").version == 1  # within the bound: the cached copy
    now[0] += 0.1
    assert cache.view().resolve("alias").version == 2  # at the bound: read again
    capsys.readouterr()
    store.down = True
    now[0] += 60
    assert cache.view().resolve("alias").version == 2  # the last good copy keeps serving
    out = capsys.readouterr().out
    stale = [json.loads(line) for line in out.splitlines() if '"RegistryStale"' in line]
    assert stale and stale[0]["RegistryStale"] == [1.0]
    assert any(line["message"].startswith("registry unreachable") for line in log_lines(log_stream))
    store.down = False
    store.set_routing("alias", {"routes": [{"version": 1, "weight": 100}]}, 2, "y", None, AT)
    now[0] += 10
    assert cache.view().resolve("alias").version == 1  # back: fresh again


def test_without_any_copy_an_outage_is_a_503() -> None:
    store = FailingStore()
    store.down = True
    with pytest.raises(ServiceUnavailable):
        RegistryCache(store, 10).view()
