"""The API key at the gateway: the authorizer's answers, and the deployed app's route wiring.

The deployed configuration is imported in a child process (a stage with
API_KEY_AUTHORIZER=true), and its authorizer is called with the TOKEN event API Gateway sends.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import pytest

from chalicelib.auth.authorizer import authorize, stage_wide
from tests.conftest import run_python_json

METHOD_ARN = "arn:aws:execute-api:eu-west-1:123456789012:abcdef1234/prod/POST/v1/models/m/invoke"
STAGE_ARN = "arn:aws:execute-api:eu-west-1:123456789012:abcdef1234/prod/*"
KEY = "tg_valid-key-for-the-gateway"
DIGEST = hashlib.sha256(KEY.encode()).hexdigest()


def statement(answer: dict[str, Any]) -> dict[str, Any]:
    [only] = answer["policyDocument"]["Statement"]
    return dict(only)


def test_a_valid_key_is_allowed_stage_wide_and_named_by_its_hash() -> None:
    answer = authorize(KEY, METHOD_ARN, {"0" * 64, DIGEST})
    assert statement(answer) == {
        "Action": "execute-api:Invoke",
        "Effect": "Allow",
        "Resource": [STAGE_ARN],
    }
    assert answer["usageIdentifierKey"] == DIGEST
    assert KEY not in json.dumps(answer)
    assert answer["principalId"] == f"key-{DIGEST[:12]}"


@pytest.mark.parametrize("scopes", ["invoke", "evaluate+admin", "admin"])
def test_a_scoped_key_is_authenticated_and_its_scopes_left_to_the_app(scopes: str) -> None:
    """The gateway only authenticates (gateway_auth.py says why): a valid key of any scope is
    allowed stage-wide, named by its hash alone; the app answers 403 for a missing scope."""
    answer = authorize(KEY, METHOD_ARN, {"0" * 64, f"{DIGEST}:{scopes}"})
    assert statement(answer)["Effect"] == "Allow"
    assert answer["usageIdentifierKey"] == DIGEST
    assert answer["context"] == {"scopes": scopes}


@pytest.mark.parametrize("presented", [KEY + "x", "", None, DIGEST])
def test_anything_else_is_denied_without_a_usage_key(presented: str | None) -> None:
    answer = authorize(presented, METHOD_ARN, {DIGEST})
    assert statement(answer)["Effect"] == "Deny"
    assert "usageIdentifierKey" not in answer
    assert answer["principalId"] == "anonymous"


@pytest.mark.parametrize(
    ("arn", "expected"),
    [
        (METHOD_ARN, STAGE_ARN),
        ("arn:aws:execute-api:r:1:api/stage/GET/", "arn:aws:execute-api:r:1:api/stage/*"),
    ],
)
def test_stage_wide(arn: str, expected: str) -> None:
    assert stage_wide(arn) == expected


@pytest.mark.parametrize("arn", ["", "arn:aws:execute-api:r:1:api", "/stage/GET/x"])
def test_a_bad_method_arn_is_an_error(arn: str) -> None:
    with pytest.raises(ValueError, match="method ARN"):
        stage_wide(arn)


PROBE = """
import json, sys
import app

public, protected, bearer = [], [], []
authorizers = (app.api_key_authorizer, app.bearer_key_authorizer)
for path, methods in app.app.routes.items():
    for method, entry in methods.items():
        wired = entry.api_key_required and entry.authorizer in authorizers
        (protected if wired else public).append(f"{method} {path}")
        if entry.authorizer is app.bearer_key_authorizer:
            bearer.append(f"{method} {path}")
def token(authorizer, value):
    event = {"type": "TOKEN", "authorizationToken": value, "methodArn": sys.argv[2]}
    return authorizer(event, None)
answer = token(app.api_key_authorizer, sys.argv[1])
config = app.api_key_authorizer.config
print(json.dumps({"public": sorted(public), "protected": sorted(protected), "answer": answer,
                  "header": config.header, "ttl": config.ttl_seconds,
                  "bearer": sorted(bearer),
                  "bearer_header": app.bearer_key_authorizer.config.header,
                  "bearer_answer": token(app.bearer_key_authorizer, "Bearer " + sys.argv[1]),
                  "bare_answer": token(app.bearer_key_authorizer, sys.argv[1])}))
"""


def deployed_app(key: str, **env: str) -> dict[str, Any]:
    stage_env = {
        "MODELS_FILE": "chalicelib/registries/local.json",
        "API_KEY_HASHES": DIGEST,
        "FEEDBACK_TOKEN_SECRET": "s",
        "API_KEY_AUTHORIZER": "true",
        **env,
    }
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MODELS_", "API_KEY"))}
    return run_python_json(["-c", PROBE, key, METHOD_ARN], {**clean, **stage_env})


def test_deployed_routes_need_the_gateway_key_check_except_the_public_ones() -> None:
    """CONTRACT section 3: every /v1 route needs the key except POST /v1/feedback (and its
    CORS preflight) and the human review page's static shell (CONTRACT section 10: a browser's
    navigation cannot send the key; its data calls do); /health, the widget and the OpenAPI
    document are public."""
    out = deployed_app(KEY, API_KEY_AUTHORIZER_TTL_SECONDS="120")
    assert out["public"] == [
        "GET /health",
        "GET /openapi.json",
        "GET /v1/evaluations/{evaluation_id}/review",
        "GET /widget/feedback.js",
        "OPTIONS /v1/feedback",
        "POST /v1/feedback",
    ]
    assert out["protected"] and all(r.split(" ")[1].startswith("/v1/") for r in out["protected"])
    assert (out["header"], out["ttl"]) == ("x-api-key", 120)
    assert out["answer"]["usageIdentifierKey"] == DIGEST
    assert statement(out["answer"])["Effect"] == "Allow"


def test_the_deployed_authorizer_reads_scoped_entries() -> None:
    answer = deployed_app(KEY, API_KEY_HASHES=f"{DIGEST}:invoke")["answer"]
    assert statement(answer)["Effect"] == "Allow"
    assert answer["context"] == {"scopes": "invoke"}


def test_the_openai_routes_take_the_key_as_a_bearer_token_at_the_gateway() -> None:
    """OpenAI clients send `Authorization: Bearer KEY`: the two completion routes get an
    authorizer on that header; the same key, without the scheme, is denied there."""
    out = deployed_app(KEY)
    assert out["bearer"] == ["POST /v1/chat/completions", "POST /v1/completions"]
    assert out["bearer_header"] == "Authorization"
    assert statement(out["bearer_answer"])["Effect"] == "Allow"
    assert out["bearer_answer"]["usageIdentifierKey"] == DIGEST
    assert statement(out["bare_answer"])["Effect"] == "Deny"


def test_the_deployed_authorizer_denies_a_wrong_key() -> None:
    answer = deployed_app("tg_wrong")["answer"]
    assert statement(answer)["Effect"] == "Deny" and "usageIdentifierKey" not in answer


def test_local_stages_leave_the_key_check_to_the_app(stack: Any) -> None:
    """Without API_KEY_AUTHORIZER (chalice local, tests) no route carries gateway auth."""
    assert not hasattr(stack, "api_key_authorizer")
    for methods in stack.app.routes.values():
        for entry in methods.values():
            assert entry.authorizer is None and not entry.api_key_required
