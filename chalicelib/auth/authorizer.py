"""API Gateway's side of the API key: per-key throttling without storing any key in the clear.

API Gateway throttles per key only through a usage plan, and a usage plan counts requests by
API Gateway API keys. A client's Tunegate key must not become one of those (API Gateway keeps
key values readable), so the deployed REST API takes its keys from a Lambda authorizer
(`x-amazon-apigateway-api-key-source: AUTHORIZER`, in `infra/resources.json`): the authorizer
hashes the presented key, checks the hash against the stored ones, and names the hash as the
request's `usageIdentifierKey`. `create-api-key --usage-plan-id` registers that same hash as an
API Gateway key in the plan. A wrong key is refused at the gateway, before the API Lambda
runs; the app still checks every key itself, so `chalice local` and deployed behave the same.

Scopes are enforced by the app alone; the authorizer authenticates and only reports the key's
scopes in its context (for access logs). Three reasons: a gateway refusal has one status per
kind (a scope denied by the policy would come back as ACCESS_DENIED, the same answer as a wrong
key, where the contract wants 401 for one and 403 `forbidden` for the other); API Gateway caches
the answer per key for every route, so a per-route decision there would be cached for routes it
was never made for; and one rule in one place (chalicelib/auth/scopes.py, `api_route`) cannot
disagree with a copy of itself. Both sides read the same stored entries through `known_key`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chalicelib.auth.keys import known_key
from chalicelib.auth.scopes import join_scopes

AUTHORIZER_HEADER = "x-api-key"


def stage_wide(method_arn: str) -> str:
    """`arn:…:{api}/{stage}/{verb}/{path}` → `arn:…:{api}/{stage}/*`.

    API Gateway caches an authorizer's answer per key for every route, so the policy it caches
    must cover the whole stage, not only the route that happened to ask first."""
    api_and_stage = method_arn.split("/", 2)[:2]
    if len(api_and_stage) != 2 or not all(api_and_stage):
        raise ValueError(f"not an execute-api method ARN: {method_arn!r}")
    return "/".join(api_and_stage) + "/*"


def authorize(
    presented: str | None, method_arn: str, known_hashes: Iterable[str]
) -> dict[str, Any]:
    """The authorizer's answer: Allow (whatever the key's scopes: the app checks them) with the
    key's hash as usage-plan key, or Deny."""
    entry = known_key(presented, known_hashes) if presented else None
    digest = entry.digest if entry else None
    answer: dict[str, Any] = {
        # Enough to tell keys apart in access logs; never the key, and not the whole hash.
        "principalId": f"key-{entry.owner}" if entry else "anonymous",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Action": "execute-api:Invoke",
                    "Effect": "Allow" if digest else "Deny",
                    "Resource": [stage_wide(method_arn)],
                }
            ],
        },
        "context": {"scopes": join_scopes(entry.scopes)} if entry else {},
    }
    if digest:
        answer["usageIdentifierKey"] = digest
    return answer
