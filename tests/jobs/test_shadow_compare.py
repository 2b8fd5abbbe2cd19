"""Shadow traffic and compare through the API on the local stack (CONTRACT section 7): copies go
through the evaluation queue and the worker, off the answer's path, stored once; compare's
statistics equal scipy's on the same data."""

from __future__ import annotations

import json
import math
import os
import random
from typing import Any

import pytest
from scipy import stats as scipy_stats

from emulator import BASE_MODEL_ID, REFERENCE_MODEL_ARN
from tests.conftest import API_KEY, SCOPED_KEYS, auth_headers, log_lines
from tests.jobs.conftest import Harness, drug_review_records
from tests.jobs.test_promote import alias, sentiment_spec

EVALUATE_KEY = next(k for k, s in SCOPED_KEYS.items() if s == "evaluate")
INVOKE_KEY = next(k for k, s in SCOPED_KEYS.items() if s == "invoke")


def route(jobs: Harness, name: str, routes: list[tuple[int, int]], shadow: list[int]) -> None:
    revision = json.loads(jobs.get(f"/v1/deployments/{name}").body)["revision"]
    body = {
        "routes": [{"version": v, "weight": w} for v, w in routes],
        "shadow": shadow,
        "expected_revision": revision,
    }
    routed = jobs.client.http.put(
        f"/v1/deployments/{name}/routing", headers=auth_headers(), body=json.dumps(body)
    )
    assert routed.status_code == 200, routed.body


def invoke(jobs: Harness, name: str, text: str, key: str | None = None) -> dict[str, Any]:
    body = {"input": text, **({"routing_key": key} if key else {})}
    answer = jobs.post(f"/v1/models/{name}/invoke", body)
    assert answer.status_code == 200, answer.body
    return dict(json.loads(answer.body))


def compare(jobs: Harness, name: str, query: str = "") -> dict[str, Any]:
    response = jobs.client.http.get(
        f"/v1/deployments/{name}/compare{query}", headers=auth_headers(EVALUATE_KEY)
    )
    assert response.status_code == 200, response.body
    return dict(json.loads(response.body))


def z_test(up_a: int, n_a: int, up_b: int, n_b: int) -> tuple[float, float]:
    """The pooled two-proportion z-test, p from scipy.stats.norm."""
    pooled = (up_a + up_b) / (n_a + n_b)
    z = (up_a / n_a - up_b / n_b) / math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    return z, 2 * scipy_stats.norm.sf(abs(z))


def test_compare_statistics_equal_scipy(jobs: Harness) -> None:
    name = alias(jobs, REFERENCE_MODEL_ARN, BASE_MODEL_ID)
    route(jobs, name, [(1, 50), (2, 50)], [])
    rng = random.Random(13)
    ratings: dict[int, list[int]] = {1: [], 2: []}
    thumbs: dict[int, list[bool]] = {1: [], 2: []}
    served: dict[int, int] = {1: 0, 2: 0}
    for i, record in enumerate(drug_review_records()[:80]):
        answer = invoke(jobs, name, record["prompt"], key=f"user-{i}")
        version = answer["version"]
        served[version] += 1
        if i % 4 == 3:
            continue  # not every answer is rated
        rating = min(5, max(1, round(rng.gauss(3.9 if version == 1 else 3.2, 1.0))))
        up = rng.random() < (0.8 if version == 1 else 0.55)
        feedback = {
            "invocation_id": answer["invocation_id"],
            "feedback_token": answer["feedback_token"],
            "rating": rating,
            "thumbs": "up" if up else "down",
        }
        posted = jobs.client.http.post(
            "/v1/feedback",
            headers={"content-type": "application/json"},
            body=json.dumps(feedback),
        )
        assert posted.status_code == 201, posted.body
        ratings[version].append(rating)
        thumbs[version].append(up)
    assert min(served.values()) > 20  # both versions saw traffic

    found = compare(jobs, name)
    assert found["champion"] == 1
    by_version = {v["version"]: v for v in found["versions"]}
    assert {v["role"] for v in found["versions"]} == {"champion", "served"}
    for version in (1, 2):
        entry = by_version[version]
        assert entry["invocations"] == served[version]
        assert entry["feedback"]["count"] == len(ratings[version])
        assert entry["feedback"]["mean_rating"] == pytest.approx(
            sum(ratings[version]) / len(ratings[version])
        )
        up = sum(thumbs[version])
        assert entry["feedback"]["thumbs_up_rate"] == pytest.approx(up / len(thumbs[version]))
    against = by_version[2]["against_champion"]
    z, p = z_test(sum(thumbs[2]), len(thumbs[2]), sum(thumbs[1]), len(thumbs[1]))
    assert against["thumbs_up_rate"]["z"] == pytest.approx(z)
    assert against["thumbs_up_rate"]["p_value"] == pytest.approx(p)
    expected = scipy_stats.mannwhitneyu(
        ratings[2], ratings[1], alternative="two-sided", method="asymptotic", use_continuity=True
    )
    assert against["rating"]["u"] == pytest.approx(expected.statistic)
    assert against["rating"]["p_value"] == pytest.approx(expected.pvalue)

    # the window: nothing after it, a bad time is a 400, an invoke key is refused
    assert compare(jobs, name, "?from=2999-01-01T00:00:00Z")["versions"] == []
    bad = jobs.get(f"/v1/deployments/{name}/compare?from=yesterday")
    assert bad.status_code == 400
    assert json.loads(bad.body)["error"]["details"][0]["field"] == "from"
    refused = jobs.client.http.get(
        f"/v1/deployments/{name}/compare", headers=auth_headers(INVOKE_KEY)
    )
    assert refused.status_code == 403
    assert jobs.get("/v1/deployments/no-such-alias/compare").status_code == 404


def test_shadow_copies_are_answered_off_the_path_and_stored_once(jobs: Harness) -> None:
    from chalicelib.runtime import get_runtime
    from chalicelib.serving.shadow import shadow_id

    store = get_runtime().invocations
    name = alias(jobs, REFERENCE_MODEL_ARN, BASE_MODEL_ID)
    route(jobs, name, [(1, 100)], [2])
    jobs.emulator.set_faults(
        model_latency_ms={BASE_MODEL_ID: 700}
    )  # slow (the stack reads for 1 s)
    texts = [r["prompt"] for r in drug_review_records()[:4]]
    answers = []
    for text in texts:
        answer = invoke(jobs, name, text)
        # the served answer is back, recorded; its shadow copy is not (it waits in the queue)
        assert answer["version"] == 1
        assert store.get(answer["invocation_id"]).version == 1
        assert store.get_many([shadow_id(answer["invocation_id"], 2)]) == {}
        answers.append(answer)
    assert BASE_MODEL_ID not in jobs.emulator.stats()["models"]
    pinned = invoke(jobs, f"{name}@1", texts[0])  # an explicit version call is not shadowed
    chat = {"model": name, "messages": [{"role": "user", "content": texts[0]}]}
    chatted = jobs.client.http.post(  # the OpenAI routes are shadowed too
        "/v1/chat/completions",
        headers={"authorization": f"Bearer {API_KEY}", "content-type": "application/json"},
        body=json.dumps(chat),
    )
    assert chatted.status_code == 200, chatted.body

    jobs.worker.redeliver = True  # every message handled twice, as SQS may
    jobs.drain()
    records = list(store.for_model(name))
    shadows = [r for r in records if r.shadow_of is not None]
    [chat_shadow] = [r for r in shadows if r.shadow_of not in {a["invocation_id"] for a in answers}]
    assert store.get(chat_shadow.shadow_of).metadata == {}  # the chat completion's own record
    shadows.remove(chat_shadow)
    assert sorted(r.shadow_of for r in shadows) == sorted(a["invocation_id"] for a in answers)
    assert {r.version for r in shadows} == {2}
    assert {r.status for r in shadows} <= {"ok", "invalid"}
    calls = jobs.emulator.stats()["models"][BASE_MODEL_ID]["total"]
    assert calls == len(texts) + 1  # each copy once: a redelivery makes no call
    assert pinned["invocation_id"] not in {r.shadow_of for r in shadows}

    served = {a["invocation_id"]: a for a in answers}
    agree = sum(
        (s.status == "invalid" and not served[s.shadow_of]["valid"])
        or (s.status == "ok" and s.prediction == served[s.shadow_of]["prediction"])
        for s in shadows
    )
    found = compare(jobs, name)
    by_role = {v["role"]: v for v in found["versions"]}
    assert by_role["champion"]["invocations"] == len(answers) + 2  # shadows are not counted
    shadow = by_role["shadow"]
    assert shadow["version"] == 2 and shadow["invocations"] == len(texts) + 1
    chat_agrees = chat_shadow.prediction == store.get(chat_shadow.shadow_of).prediction
    rate = (agree + chat_agrees) / (len(texts) + 1)
    assert shadow["shadow"] == {"pairs": len(texts) + 1, "agreement_rate": rate}


def test_a_queue_outage_never_fails_the_served_answer(
    jobs: Harness, log_stream: Any, stack: Any
) -> None:
    from chalicelib import aws

    name = alias(jobs, REFERENCE_MODEL_ARN, BASE_MODEL_ID)
    route(jobs, name, [(1, 100)], [2])
    log_lines(log_stream)
    os.environ["AWS_ENDPOINT_URL_SQS"] = "http://127.0.0.1:9"
    aws.reset_clients()
    try:
        answer = invoke(jobs, name, "It helped a lot.")
    finally:
        del os.environ["AWS_ENDPOINT_URL_SQS"]
        aws.reset_clients()
    assert answer["version"] == 1 and answer["valid"] is not None
    dropped = [
        line for line in log_lines(log_stream) if line.get("message") == "shadow copy dropped"
    ]
    assert dropped and dropped[0]["shadow_of"] == answer["invocation_id"]


def test_a_shadow_version_is_called_in_its_own_trained_format(jobs: Harness) -> None:
    from chalicelib.runtime import get_runtime

    name = alias(jobs, REFERENCE_MODEL_ARN)
    base = sentiment_spec(BASE_MODEL_ID)
    base |= {
        "prompt": {"system": "Rate it.", "template": "Review: {input}", "separator": "\n=>"},
        "inference": {"max_tokens": 7, "temperature": 0},
        "store_inputs": True,
    }
    assert jobs.post(f"/v1/deployments/{name}/versions", base).status_code == 201
    route(jobs, name, [(1, 100)], [2])
    served = invoke(jobs, name, "No side effects at all.")
    jobs.drain()
    [copy] = [r for r in get_runtime().invocations.for_model(name) if r.shadow_of]
    assert copy.shadow_of == served["invocation_id"] and copy.version == 2
    assert copy.input == {
        "system": "Rate it.",
        "messages": [{"role": "user", "content": "Review: No side effects at all.\n=>"}],
    }
