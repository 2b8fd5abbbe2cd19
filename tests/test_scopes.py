"""Key scopes (CONTRACT section 3): every protected route names one scope, a key without it gets
403 `forbidden`, and the OpenAPI document shows the same scope the app enforces."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import pytest

from chalicelib.api.edge import SCOPE_ATTRIBUTE
from chalicelib.api.openapi import document
from chalicelib.auth.keys import known_key, require_api_key
from chalicelib.auth.scopes import SCOPES, KeyEntry, parse_key_entry, parse_scopes
from chalicelib.config.settings import settings_from_env
from chalicelib.errors import ConfigurationError, Forbidden, Unauthorized
from tests.conftest import API_KEY, SCOPED_KEYS, auth_headers

DIGEST = hashlib.sha256(b"k").hexdigest()
MISSING_ID = uuid.uuid4().hex
#: The contract's scope of each protected route, with a request that reaches the route's logic.
ROUTES: dict[tuple[str, str], tuple[str, str, Any]] = {
    ("GET", "/v1/models"): ("invoke", "/v1/models", None),
    ("POST", "/v1/models/{name}/invoke"): ("invoke", "/v1/models/nope/invoke", {"input": "x"}),
    ("POST", "/v1/chat/completions"): (
        "invoke",
        "/v1/chat/completions",
        {"model": "nope", "messages": [{"role": "user", "content": "x"}]},
    ),
    ("POST", "/v1/completions"): ("invoke", "/v1/completions", {"model": "nope", "prompt": "x"}),
    ("GET", "/v1/models/{name}/feedback/summary"): (
        "evaluate",
        "/v1/models/nope/feedback/summary",
        None,
    ),
    ("GET", "/v1/feedback/export"): ("evaluate", "/v1/feedback/export?model=nope", None),
    ("POST", "/v1/evaluations"): ("evaluate", "/v1/evaluations", {}),
    ("GET", "/v1/evaluations/{evaluation_id}"): ("evaluate", f"/v1/evaluations/{MISSING_ID}", None),
    **{
        (method, f"/v1/evaluations/{{evaluation_id}}/{leaf}"): (
            "evaluate",
            f"/v1/evaluations/{MISSING_ID}/{leaf}",
            {} if method == "POST" else None,
        )
        for method, leaf in [
            ("GET", "items"),
            ("GET", "report"),
            ("GET", "results.json"),
            ("POST", "retry"),
            ("POST", "cancel"),
            ("GET", "reviews"),
            ("POST", "reviews"),
        ]
    },
    # Deployments (CONTRACT section 7): unknown names, so nothing changes.
    ("GET", "/v1/deployments"): ("admin", "/v1/deployments", None),
    ("GET", "/v1/deployments/{name}"): ("admin", "/v1/deployments/nope", None),
    ("POST", "/v1/deployments/{name}/versions"): ("admin", "/v1/deployments/nope/versions", {}),
    ("GET", "/v1/deployments/{name}/versions/{version}"): (
        "admin",
        "/v1/deployments/nope/versions/1",
        None,
    ),
    ("PUT", "/v1/deployments/{name}/routing"): (
        "admin",
        "/v1/deployments/nope/routing",
        {"routes": [{"version": 1, "weight": 100}], "expected_revision": 1},
    ),
    ("POST", "/v1/deployments/{name}/rollback"): ("admin", "/v1/deployments/nope/rollback", {}),
    ("GET", "/v1/deployments/{name}/history"): ("admin", "/v1/deployments/nope/history", None),
    ("POST", "/v1/provisioned-models"): ("admin", "/v1/provisioned-models", {}),
    ("GET", "/v1/provisioned-models/{name}"): ("admin", "/v1/provisioned-models/nope", None),
    ("DELETE", "/v1/provisioned-models/{name}"): ("admin", "/v1/provisioned-models/nope", None),
    ("POST", "/v1/provisioned-models/{name}/register"): (
        "admin",
        "/v1/provisioned-models/nope/register",
        {},
    ),
    ("POST", "/v1/deployments/{name}/promote"): (
        "admin",
        "/v1/deployments/nope/promote",
        {"version": 2, "force_reason": "scope check"},
    ),
    ("GET", "/v1/deployments/{name}/compare"): ("evaluate", "/v1/deployments/nope/compare", None),
    ("POST", "/v1/tuning-jobs"): ("admin", "/v1/tuning-jobs", {}),
    ("GET", "/v1/tuning-jobs"): ("admin", "/v1/tuning-jobs", None),
    ("GET", "/v1/tuning-jobs/{tuning_job_id}"): ("admin", f"/v1/tuning-jobs/{MISSING_ID}", None),
    ("GET", "/v1/tuning-jobs/{tuning_job_id}/report"): (
        "admin",
        f"/v1/tuning-jobs/{MISSING_ID}/report",
        None,
    ),
    ("POST", "/v1/tuning-jobs/{tuning_job_id}/stop"): (
        "admin",
        f"/v1/tuning-jobs/{MISSING_ID}/stop",
        {},
    ),
}
BEARER_PATHS = {"/v1/models", "/v1/chat/completions", "/v1/completions"}
PUBLIC = {
    ("GET", "/health"),
    ("GET", "/openapi.json"),
    ("GET", "/widget/feedback.js"),
    ("POST", "/v1/feedback"),
    ("OPTIONS", "/v1/feedback"),
    # A static shell (no data): a navigation cannot send x-api-key; its data calls need `evaluate`.
    ("GET", "/v1/evaluations/{evaluation_id}/review"),
}


def app_scopes(app: Any) -> dict[tuple[str, str], str | None]:
    return {
        (method, path): getattr(entry.view_function, SCOPE_ATTRIBUTE)
        for path, methods in app.routes.items()
        for method, entry in methods.items()
    }


def test_every_route_is_public_or_has_the_contracts_scope(stack: Any) -> None:
    scopes = app_scopes(stack.app)
    assert {r for r, s in scopes.items() if s is None} == PUBLIC
    assert {r: s for r, s in scopes.items() if s is not None} == {
        r: scope for r, (scope, _, _) in ROUTES.items()
    }


def test_the_openapi_document_shows_the_scope_the_app_enforces(stack: Any) -> None:
    paths = document()["paths"]
    for (method, path), scope in app_scopes(stack.app).items():
        operation = paths[path][method.lower()]
        if scope is None:
            assert "security" not in operation and "x-tunegate-scope" not in operation
        else:
            # The OpenAI-compatible routes also take the key as a Bearer token.
            bearer = [{"Bearer": [scope]}] if path in BEARER_PATHS else []
            assert operation["security"] == [{"ApiKey": [scope]}, *bearer], (method, path)
            assert operation["x-tunegate-scope"] == scope
            assert "403" in operation["responses"]


def call(client: Any, method: str, path: str, body: Any, key: str) -> Any:
    raw = None if body is None else json.dumps(body)
    return client.http.request(method, path, headers=auth_headers(key), body=raw or b"")


@pytest.mark.parametrize("key", [API_KEY, *SCOPED_KEYS])
@pytest.mark.parametrize("route", sorted(ROUTES))
def test_a_key_without_the_routes_scope_is_forbidden(
    client: Any, key: str, route: tuple[str, str]
) -> None:
    scope, path, body = ROUTES[route]
    granted = SCOPED_KEYS[key].split("+") if key in SCOPED_KEYS else list(SCOPES)
    response = call(client, route[0], path, body, key)
    if scope in granted:
        assert response.status_code not in (401, 403), response.body
    else:
        assert response.status_code == 403, response.body
        error = json.loads(response.body)["error"]
        assert error["code"] == "forbidden" and scope in error["message"]


def test_an_unknown_key_is_still_unauthorized_not_forbidden(client: Any) -> None:
    response = call(client, "GET", "/v1/models", None, "no-such-key")
    assert response.status_code == 401
    assert json.loads(response.body)["error"]["code"] == "unauthorized"


# --- entries -------------------------------------------------------------------------------


def test_a_bare_hash_carries_every_scope_and_an_entry_its_own() -> None:
    assert parse_key_entry(DIGEST) == KeyEntry(DIGEST, frozenset(SCOPES))
    scoped = parse_key_entry(f" {DIGEST.upper()}:Evaluate+invoke ")
    assert scoped == KeyEntry(DIGEST, frozenset({"invoke", "evaluate"}))
    assert scoped.entry() == f"{DIGEST}:invoke+evaluate"
    assert parse_key_entry(DIGEST).entry() == DIGEST
    assert scoped.owner == DIGEST[:12]
    assert parse_scopes("invoke,admin", ",") == frozenset({"invoke", "admin"})


@pytest.mark.parametrize(
    "entry", [f"{DIGEST}:", f"{DIGEST}:deploy", f"{DIGEST}:invoke+", "abc:invoke", DIGEST[:-1]]
)
def test_a_bad_entry_stops_the_app_at_start(entry: str) -> None:
    with pytest.raises(ValueError):
        parse_key_entry(entry)
    env = {"MODELS_FILE": "m.json", "API_KEY_HASHES": entry, "FEEDBACK_TOKEN_SECRET": "s"}
    with pytest.raises(ConfigurationError, match="API_KEY_HASHES"):
        settings_from_env(env)


def test_the_check_reads_scopes_and_skips_a_malformed_stored_entry() -> None:
    entries = ["not-a-hash:invoke", f"{DIGEST}:invoke"]
    assert known_key("k", entries) == KeyEntry(DIGEST, frozenset({"invoke"}))
    assert known_key("other", entries) is None
    settings = settings_from_env(
        {"MODELS_FILE": "m.json", "API_KEY_HASHES": entries[1], "FEEDBACK_TOKEN_SECRET": "s"}
    )
    assert require_api_key("k", settings, "invoke").digest == DIGEST
    with pytest.raises(Forbidden):
        require_api_key("k", settings, "evaluate")
    with pytest.raises(Unauthorized):
        require_api_key("kk", settings, "invoke")


def test_the_admin_scope_is_ready_for_its_routes(stack: Any) -> None:
    """No admin route exists yet; one declared the same way is refused to keys without it."""
    from chalice.app import Chalice
    from chalice.test import Client

    from chalicelib.api.edge import api_routes, caller, json_response

    app = Chalice(app_name="admin-probe")
    route = api_routes(app)

    @route("/v1/deployments", scope="admin")
    def deployments() -> Any:
        return json_response({"owner": caller().owner})

    with Client(app) as probe:
        for key in ("test-admin-only-key", "test-admin-evaluate-key", API_KEY):
            answer = probe.http.get("/v1/deployments", headers=auth_headers(key))
            assert answer.status_code == 200, key
            assert json.loads(answer.body)["owner"] == hashlib.sha256(key.encode()).hexdigest()[:12]
        for key in ("test-invoke-key", "test-evaluate-key"):
            answer = probe.http.get("/v1/deployments", headers=auth_headers(key))
            assert answer.status_code == 403
            assert json.loads(answer.body)["error"]["code"] == "forbidden"


def test_a_protected_route_without_a_scope_does_not_load() -> None:
    from chalice.app import Chalice

    from chalicelib.api.edge import api_routes

    route = api_routes(Chalice(app_name="no-scope"))
    with pytest.raises(TypeError, match="names its scope"):
        route("/v1/anything")
    with pytest.raises(TypeError, match="names its scope"):
        route("/health", public=True, scope="invoke")
