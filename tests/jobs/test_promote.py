"""Promotion through the API on the local stack (CONTRACT section 7): the gate reads a real
evaluation job run by the worker; the change goes through the conditional routing change, its
history names the evaluation or the forced reason, and the next invokes answer with the new
version."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from emulator import BASE_MODEL_ID, REFERENCE_MODEL_ARN
from tests.conftest import API_KEY, LABELS, SCOPED_KEYS, auth_headers
from tests.jobs.conftest import Harness, drug_review_records

INVOKE_KEY = next(k for k, s in SCOPED_KEYS.items() if s == "invoke")
OWNER = hashlib.sha256(API_KEY.encode()).hexdigest()[:12]


def sentiment_spec(model_id: str) -> dict[str, Any]:
    """The fine-tuned reference classifier, or the untuned base model, behind the same prompt."""
    return {
        "provider": "bedrock",
        "model_id": model_id,
        "request_format": "converse",
        "prompt": {"system": "Classify the sentiment of this drug review."},
        "inference": {"max_tokens": 5, "temperature": 0, "stop": ["\n"]},
        "output": LABELS,
    }


def alias(jobs: Harness, *model_ids: str) -> str:
    name = f"promo-{uuid.uuid4().hex[:8]}"
    for model_id in model_ids:
        created = jobs.post(f"/v1/deployments/{name}/versions", sentiment_spec(model_id))
        assert created.status_code == 201, created.body
    return name


def promote(jobs: Harness, name: str, body: dict[str, Any], key: str = API_KEY) -> Any:
    return jobs.client.http.post(
        f"/v1/deployments/{name}/promote", headers=auth_headers(key), body=json.dumps(body)
    )


def error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.body
    found = json.loads(response.body)["error"]
    assert found["code"] == code, found
    return dict(found)


def invoke_version(jobs: Harness, name: str) -> int:
    answer = jobs.post(f"/v1/models/{name}/invoke", {"input": "It worked, no side effects."})
    assert answer.status_code == 200, answer.body
    return int(json.loads(answer.body)["version"])


def test_the_gate_refuses_then_passes_and_force_is_recorded(jobs: Harness) -> None:
    # v1 and v3: the fine-tuned classifier; v2: the untuned base model (worse).
    name = alias(jobs, REFERENCE_MODEL_ARN, BASE_MODEL_ID, REFERENCE_MODEL_ARN)
    records = drug_review_records()
    all_three = jobs.submit(
        {"models": [f"{name}@1", f"{name}@2", f"{name}@3"], "dataset": {"records": records}}
    )
    no_champion = jobs.submit(
        {"models": [f"{name}@2", f"{name}@3"], "dataset": {"records": records[:5]}}
    )
    # not finished yet: nothing to decide on
    found = error(
        promote(jobs, name, {"version": 2, "evaluation_id": all_three}), 409, "invalid_state"
    )
    assert found["details"][0]["reason"] == "queued"
    assert jobs.run(all_three)["status"] == "succeeded"
    assert jobs.run(no_champion)["status"] == "succeeded"

    # without an evaluation
    found = error(promote(jobs, name, {"version": 2}), 409, "promotion_rejected")
    assert found["details"][0]["reasons"] == ["no finished evaluation"]
    # with one that lacks the champion (version 1)
    found = error(
        promote(jobs, name, {"version": 3, "evaluation_id": no_champion}), 409, "promotion_rejected"
    )
    assert found["details"][0]["reasons"] == ["the evaluation did not run the champion (version 1)"]
    # a worse candidate: rejected with the comparison
    found = error(
        promote(jobs, name, {"version": 2, "evaluation_id": all_three}), 409, "promotion_rejected"
    )
    comparison = found["details"][0]["comparison"]
    assert comparison["candidate"] == {"model": f"{name}@2", "version": 2}
    assert comparison["champion"] == {"model": f"{name}@1", "version": 1}
    assert comparison["metrics"]["accuracy"]["difference"] < 0
    assert found["details"][0]["evaluation_id"] == all_three
    assert invoke_version(jobs, name) == 1  # nothing changed

    # what the API refuses before any gate
    error(promote(jobs, name, {"version": 2, "force_reason": "x"}, INVOKE_KEY), 403, "forbidden")
    error(promote(jobs, name, {"version": 1, "force_reason": "x"}), 409, "invalid_state")
    error(promote(jobs, name, {"version": 9, "force_reason": "x"}), 404, "not_found")
    error(promote(jobs, "no-such-alias", {"version": 2, "force_reason": "x"}), 404, "not_found")
    both = {"version": 2, "force_reason": "x", "evaluation_id": all_three}
    error(promote(jobs, name, both), 400, "invalid_request")
    unknown = {"version": 2, "evaluation_id": "0" * 32}
    error(promote(jobs, name, unknown), 404, "not_found")

    # forced: no gate, the reason and the caller in the history
    forced = promote(jobs, name, {"version": 2, "force_reason": "demo of the base model"})
    assert forced.status_code == 200, forced.body
    assert json.loads(forced.body)["routes"] == [{"version": 2, "weight": 100}]
    assert invoke_version(jobs, name) == 2
    last = json.loads(jobs.get(f"/v1/deployments/{name}/history").body)["history"][-1]
    assert last["reason"] == "promote 2 (forced): demo of the base model"
    assert last["caller"] == OWNER
    assert last["from"]["routes"] == [{"version": 1, "weight": 100}]

    # a better candidate than the champion (now the base model): the gate passes
    passed = promote(jobs, name, {"version": 3, "evaluation_id": all_three})
    assert passed.status_code == 200, passed.body
    assert json.loads(passed.body)["routes"] == [{"version": 3, "weight": 100}]
    assert {invoke_version(jobs, name) for _ in range(5)} == {3}
    last = json.loads(jobs.get(f"/v1/deployments/{name}/history").body)["history"][-1]
    assert last["reason"] == f"promote 3: evaluation {all_three}"
    assert last["to"]["routes"] == [{"version": 3, "weight": 100}]


def test_a_retired_version_is_not_promoted(jobs: Harness, stack: Any) -> None:
    name = alias(jobs, REFERENCE_MODEL_ARN, BASE_MODEL_ID)
    stack.runtime.registry_store.set_status(name, 2, "retired")
    found = error(promote(jobs, name, {"version": 2, "force_reason": "x"}), 400, "invalid_request")
    assert found["details"] == [{"field": "version", "reason": "version 2 is retired"}]


def test_a_promotion_reaches_another_process_within_the_cache_bound(
    jobs: Harness, stack: Any
) -> None:
    """Another warm process (its own cache) answers with the promoted version once its copy is
    older than REGISTRY_CACHE_SECONDS: driven by its clock, not by sleeping."""
    from chalicelib.deployments.cache import RegistryCache

    now = [0.0]
    other = RegistryCache(stack.runtime.registry_store, 10.0, clock=lambda: now[0])
    name = alias(jobs, REFERENCE_MODEL_ARN, BASE_MODEL_ID)
    assert other.view().resolve(name).version == 1
    forced = promote(jobs, name, {"version": 2, "force_reason": "cache bound"})
    assert forced.status_code == 200, forced.body
    now[0] = 9.9
    assert other.view().resolve(name).version == 1
    now[0] = 10.0
    assert other.view().resolve(name).version == 2
