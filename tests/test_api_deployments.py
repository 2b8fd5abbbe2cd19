"""Deployments through the API on the local stack (CONTRACT section 7): versions, routing with
optimistic concurrency, rollback, history, sticky splits, the cache bound and an unreachable
registry, and `admin` on every route."""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.conftest import ECHO_ARN, SCOPED_KEYS, auth_headers

INVOKE_KEY = next(k for k, s in SCOPED_KEYS.items() if s == "invoke")
SPEC = {
    "provider": "bedrock",
    "model_id": ECHO_ARN.format("converse"),
    "request_format": "converse",
    "output": {"type": "text"},
    "inference": {"max_tokens": 20},
}


def call(client: Any, method: str, path: str, body: Any = None, key: str | None = None) -> Any:
    headers = auth_headers(key) if key else auth_headers()
    raw = b"" if body is None else json.dumps(body)
    return client.http.request(method, path, headers=headers, body=raw)


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.body
    return json.loads(response.body)


def deployment(client: Any, versions: int = 2) -> str:
    """A fresh alias with `versions` versions (routed 100% to version 1)."""
    name = f"dep-{uuid.uuid4().hex[:10]}"
    for i in range(versions):
        created = ok(call(client, "POST", f"/v1/deployments/{name}/versions", SPEC), 201)
        assert (created["name"], created["version"], created["status"]) == (name, i + 1, "active")
    return name


def route(client: Any, name: str, revision: int, *pairs: tuple[int, int], **extra: Any) -> Any:
    body = {
        "routes": [{"version": v, "weight": w} for v, w in pairs],
        "expected_revision": revision,
        **extra,
    }
    return call(client, "PUT", f"/v1/deployments/{name}/routing", body)


def invoke(client: Any, name: str, **extra: Any) -> dict[str, Any]:
    return ok(call(client, "POST", f"/v1/models/{name}/invoke", {"input": "hi", **extra}))


def test_a_version_is_created_read_and_listed(client: Any) -> None:
    name = deployment(client, versions=1)
    alias = ok(call(client, "GET", f"/v1/deployments/{name}"))
    assert alias["routes"] == [{"version": 1, "weight": 100}]
    assert (alias["revision"], alias["champion"], alias["latest_version"]) == (1, 1, 1)
    [version] = alias["versions"]
    assert version["model_id"] == SPEC["model_id"] and version["source"]["caller"]
    assert ok(call(client, "GET", f"/v1/deployments/{name}/versions/1"))["version"] == 1
    listed = ok(call(client, "GET", "/v1/deployments"))["deployments"]
    assert name in {d["name"] for d in listed}
    assert "sentiment-converse" in {d["name"] for d in listed}  # the seed
    for missing in (f"/v1/deployments/{name}/versions/2", f"/v1/deployments/{name}/versions/x"):
        assert call(client, "GET", missing).status_code == 404
    bad = call(client, "POST", f"/v1/deployments/{name}/versions", {**SPEC, "provider": "x"})
    assert bad.status_code == 400
    assert "provider" in {d["field"] for d in json.loads(bad.body)["error"]["details"]}
    other = call(client, "POST", f"/v1/deployments/{name}/versions", {**SPEC, "name": "zzz"})
    assert other.status_code == 400
    # the answer names the version, and the invocation record keeps it
    answer = invoke(client, name)
    assert answer["version"] == 1 and answer["model"] == name


def test_invalid_routing_is_a_400_naming_the_field(client: Any) -> None:
    name = deployment(client)
    cases = {
        "routes": [(1, 50), (2, 40)],
        "routes.1.version": [(1, 50), (1, 50)],
        "routes.0.version": [(7, 100)],
    }
    for field, pairs in cases.items():
        response = route(client, name, 1, *pairs)
        assert response.status_code == 400, response.body
        assert field in {d["field"] for d in json.loads(response.body)["error"]["details"]}
    shadowed = route(client, name, 1, (1, 100), shadow=[1])
    assert shadowed.status_code == 400
    missing = call(client, "PUT", f"/v1/deployments/{name}/routing", {"routes": []})
    assert missing.status_code == 400


def test_a_retired_version_is_not_routed_but_can_be_named(client: Any, stack: Any) -> None:
    name = deployment(client)
    stack.runtime.registry_store.set_status(name, 2, "retired")
    stack.runtime.deployments.invalidate()
    refused = route(client, name, 1, (2, 100))
    assert refused.status_code == 400
    assert "retired" in json.loads(refused.body)["error"]["details"][0]["reason"]
    assert invoke(client, f"{name}@2")["version"] == 2
    # nor does a rollback to a routing that names it
    other = deployment(client)
    ok(route(client, other, 1, (2, 100)))
    stack.runtime.registry_store.set_status(other, 1, "retired")
    refused = call(client, "POST", f"/v1/deployments/{other}/rollback")
    assert refused.status_code == 409
    assert json.loads(refused.body)["error"]["code"] == "invalid_state"


def test_two_racing_changes_one_200_one_409_one_history_entry(client: Any, stack: Any) -> None:
    from chalice.test import Client

    name = deployment(client, versions=3)
    start = threading.Barrier(2)

    def change(version: int) -> int:
        # One test client per thread: each is its own caller, as two admins would be.
        with Client(stack.app, stage_name="pytest") as own:
            start.wait()
            return int(route(own, name, 1, (version, 100)).status_code)

    with ThreadPoolExecutor(max_workers=2) as pool:
        statuses = sorted(pool.map(change, [2, 3]))
    assert statuses == [200, 409]
    history = ok(call(client, "GET", f"/v1/deployments/{name}/history"))["history"]
    assert len(history) == 1 and history[0]["revision"] == 2
    stale = route(client, name, 1, (1, 100))
    assert json.loads(stale.body)["error"]["code"] == "conflict"


def test_rollback_restores_the_previous_routing(client: Any) -> None:
    name = deployment(client)
    nothing = call(client, "POST", f"/v1/deployments/{name}/rollback")
    assert nothing.status_code == 409
    assert json.loads(nothing.body)["error"]["code"] == "invalid_state"
    ok(route(client, name, 1, (1, 50), (2, 50), reason="half"))
    ok(route(client, name, 2, (2, 100)))
    assert invoke(client, name)["version"] == 2
    back = ok(call(client, "POST", f"/v1/deployments/{name}/rollback"))
    assert back["routes"] == [{"version": 1, "weight": 50}, {"version": 2, "weight": 50}]
    assert back["revision"] == 4
    history = ok(call(client, "GET", f"/v1/deployments/{name}/history"))["history"]
    assert [h["reason"] for h in history] == ["half", "routing", "rollback"]
    assert history[-1]["from"]["routes"] == [{"version": 2, "weight": 100}]
    assert all(h["caller"] for h in history)


def test_a_90_10_split_is_sticky_by_routing_key(client: Any) -> None:
    name = deployment(client)
    ok(route(client, name, 1, (1, 90), (2, 10)))
    keys = [f"user-{i}" for i in range(2000)]
    first = {key: invoke(client, name, routing_key=key)["version"] for key in keys}
    share = Counter(first.values())
    assert abs(share[1] / len(keys) - 0.90) <= 0.03 and abs(share[2] / len(keys) - 0.10) <= 0.03
    again = {key: invoke(client, name, routing_key=key)["version"] for key in keys}
    assert again == first


def test_a_routing_change_from_elsewhere_arrives_within_the_cache_bound(
    client: Any, stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = deployment(client)
    cache = stack.runtime.deployments
    now = [1000.0]
    monkeypatch.setattr(cache, "clock", lambda: now[0])
    cache.invalidate()
    assert invoke(client, name)["version"] == 1
    # Another process (another warm Lambda, the CLI) changes the routing in the table.
    stack.runtime.registry_store.set_routing(
        name, {"routes": [{"version": 2, "weight": 100}], "shadow": []}, 1, "elsewhere", None, "t"
    )
    now[0] += cache.max_age_seconds - 0.5
    assert invoke(client, name)["version"] == 1
    now[0] += 0.5
    assert invoke(client, name)["version"] == 2


def test_an_unreachable_registry_keeps_invokes_answering(
    client: Any, stack: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    name = deployment(client)
    cache = stack.runtime.deployments
    now = [5000.0]
    monkeypatch.setattr(cache, "clock", lambda: now[0])
    cache.invalidate()
    assert invoke(client, name)["version"] == 1
    # The registry table stops answering (the other tables still do).
    monkeypatch.setattr(cache.store, "table_name", "tunegate-test-registry-gone")
    now[0] += cache.max_age_seconds + 1
    capsys.readouterr()
    assert invoke(client, name)["version"] == 1
    out = capsys.readouterr().out
    assert any('"RegistryStale"' in line for line in out.splitlines())
    monkeypatch.undo()
    cache.invalidate()


def test_evaluations_take_alias_at_version_and_keep_what_names_resolved_to(client: Any) -> None:
    name = deployment(client)
    records = [{"input": "hi", "target": "hi"}]
    body = {"models": [f"{name}@1", name], "dataset": {"records": records}}
    ok(route(client, name, 1, (2, 100)))
    job = ok(call(client, "POST", "/v1/evaluations", body), 202)
    view = ok(call(client, "GET", f"/v1/evaluations/{job['evaluation_id']}"))
    assert view["models"] == [f"{name}@1", name]
    assert view["versions"] == {f"{name}@1": 1, name: 2}
    unknown = call(client, "POST", "/v1/evaluations", {**body, "models": [f"{name}@9"]})
    assert unknown.status_code == 404
    assert json.loads(unknown.body)["error"]["details"][0]["field"] == "models.0"


ADMIN_ROUTES = [
    ("GET", "/v1/deployments", None),
    ("GET", "/v1/deployments/sentiment-converse", None),
    ("POST", "/v1/deployments/sentiment-converse/versions", SPEC),
    ("GET", "/v1/deployments/sentiment-converse/versions/1", None),
    (
        "PUT",
        "/v1/deployments/sentiment-converse/routing",
        {"routes": [{"version": 1, "weight": 100}], "expected_revision": 1},
    ),
    ("POST", "/v1/deployments/sentiment-converse/rollback", None),
    ("GET", "/v1/deployments/sentiment-converse/history", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ROUTES)
def test_an_invoke_key_cannot_read_or_change_deployments(
    client: Any, method: str, path: str, body: Any
) -> None:
    response = call(client, method, path, body, key=INVOKE_KEY)
    assert response.status_code == 403
    assert json.loads(response.body)["error"]["code"] == "forbidden"
