"""Human review through the API on the local stack (CONTRACT section 10): ratings stored per
item and reviewer (a re-rating replaces), 400 for bad ratings, 403 without `evaluate`, 404 for
another owner's evaluation, and the judge-human kappa in the view, results and report."""

from __future__ import annotations

import json
import math
import warnings
from typing import Any

import pytest
from sklearn.metrics import cohen_kappa_score

from tests.conftest import auth_headers
from tests.jobs.conftest import Harness
from tests.jobs.test_judge_jobs import PAIR, explain_records

OWNER = "test-evaluate-key"
OTHER = "test-other-evaluate-key"
ADMIN = "test-admin-evaluate-key"
INVOKE_ONLY = "test-invoke-key"


def call(jobs: Harness, method: str, path: str, key: str, body: Any = None) -> tuple[int, Any]:
    raw = json.dumps(body) if body is not None else b""
    response = jobs.client.http.request(method, path, headers=auth_headers(key), body=raw)
    text = response.body.decode() if isinstance(response.body, bytes) else response.body
    if "json" in response.headers.get("Content-Type", ""):
        return response.status_code, json.loads(text)
    return response.status_code, text


def judged_job(jobs: Harness, models: list[str], mode: str, n: int = 4) -> str:
    body = {
        "models": models,
        "dataset": {"records": explain_records(n)},
        "judge": {"model": "judge", "mode": mode},
    }
    status, created = call(jobs, "POST", "/v1/evaluations", OWNER, body)
    assert status == 202, created
    evaluation_id = str(created["evaluation_id"])
    assert jobs.run(evaluation_id)["status"] == "succeeded"
    return evaluation_id


def judge_verdicts(jobs: Harness, evaluation_id: str) -> dict[int, str]:
    """The judge's two-order verdict per item on PAIR (first / second / tie)."""
    verdicts = {}
    for record in jobs.items(evaluation_id):
        if record["model"] != PAIR[0]:
            continue
        ab, ba = (j["winner"] for j in record["judge"])
        verdicts[record["index"]] = (
            "first" if (ab, ba) == ("A", "B") else "second" if (ab, ba) == ("B", "A") else "tie"
        )
    return verdicts


def kappa(judge: list[str], human: list[str]) -> Any:
    """scikit-learn's kappa, approximately; None where it is undefined (nan)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = cohen_kappa_score(judge, human, labels=["first", "second", "tie"])
    return None if math.isnan(value) else pytest.approx(value)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"index": 0, "models": PAIR, "choice": "C"}, "choice"),
        ({"index": 0, "models": PAIR, "rating": 3}, "choice"),
        ({"index": 0, "models": PAIR}, "choice"),
        ({"index": 0, "models": [PAIR[0], PAIR[0]], "choice": "A"}, "models"),
        ({"index": 0, "models": [PAIR[0]], "choice": "A"}, "models"),
        ({"index": 0, "models": [PAIR[0], "nope"], "choice": "A"}, "models"),
        ({"index": 4, "models": PAIR, "choice": "A"}, "index"),
        ({"index": -1, "models": PAIR, "choice": "A"}, "index"),
        ({"index": "0", "models": PAIR, "choice": "A"}, "index"),
        ({"index": 0, "models": PAIR, "choice": "A", "extra": 1}, "extra"),
    ],
)
def test_a_bad_pairwise_review_is_a_400_naming_its_field(
    jobs: Harness, pairwise_job: str, body: dict[str, Any], field: str
) -> None:
    status, answer = call(jobs, "POST", f"/v1/evaluations/{pairwise_job}/reviews", OWNER, body)
    assert status == 400, answer
    assert answer["error"]["code"] == "invalid_request"
    assert [d["field"] for d in answer["error"]["details"]] == [field]


@pytest.fixture(scope="module")
def pairwise_job_id() -> dict[str, str]:
    return {}


@pytest.fixture()
def pairwise_job(jobs: Harness, pairwise_job_id: dict[str, str]) -> str:
    """One judged pairwise job per module (the stack is shared)."""
    if "id" not in pairwise_job_id:
        pairwise_job_id["id"] = judged_job(jobs, PAIR, "pairwise")
    return pairwise_job_id["id"]


def test_pairwise_reviews_are_stored_replaced_and_agree_with_the_judge(
    jobs: Harness, pairwise_job: str
) -> None:
    base = f"/v1/evaluations/{pairwise_job}"
    verdicts = judge_verdicts(jobs, pairwise_job)
    assert sorted(verdicts) == [0, 1, 2, 3]
    # Shown swapped (B is the first model): "A" means the second model won.
    status, stored = call(
        jobs, "POST", base + "/reviews", OWNER, {"index": 0, "models": PAIR[::-1], "choice": "A"}
    )
    assert status == 201, stored
    assert (stored["models"], stored["verdict"], stored["shown_first"]) == (PAIR, "second", PAIR[1])
    assert stored["revision"] == 1
    human = {0: "first", 1: "tie", 2: "second", 3: "first"}
    choice = {"first": "A", "second": "B", "tie": "tie"}
    for index, verdict in human.items():
        body = {"index": index, "models": PAIR, "choice": choice[verdict], "reviewer_name": "Ann"}
        status, stored = call(jobs, "POST", base + "/reviews", OWNER, body)
        assert status == (200 if index == 0 else 201), stored
        assert stored["verdict"] == verdict
    assert stored["revision"] == 1 and stored["reviewer_name"] == "Ann"
    # a second reviewer (an admin key sees every evaluation) on two items
    for index in (0, 1):
        body = {"index": index, "models": PAIR, "choice": "tie"}
        assert call(jobs, "POST", base + "/reviews", ADMIN, body)[0] == 201

    status, listed = call(jobs, "GET", base + "/reviews", OWNER)
    assert status == 200, listed
    assert listed["mode"] == "pairwise" and listed["subjects"] == [PAIR]
    assert len(listed["reviews"]) == 6
    mine = [r for r in listed["reviews"] if r["reviewer"] == listed["reviewer"]]
    # each review carries the judge's call on the same item and pair
    assert [r["judge"] for r in mine] == [verdicts[i] for i in range(4)]
    assert [(r["index"], r["verdict"], r["revision"]) for r in mine] == [
        (0, "first", 2),
        (1, "tie", 1),
        (2, "second", 1),
        (3, "first", 1),
    ]

    agreement = listed["human_review"]
    pooled_judge = [verdicts[i] for i in range(4)] + [verdicts[0], verdicts[1]]
    pooled_human = [human[i] for i in range(4)] + ["tie", "tie"]
    # pooled in reviewer order: the admin key's hash may sort first
    reviewers = agreement["reviewers"]
    assert {r["reviews"] for r in reviewers} == {4, 2}
    assert agreement["n"] == 6 and agreement["n_reviews"] == 6 and agreement["n_reviewers"] == 2
    assert agreement["kappa"] == kappa(pooled_judge, pooled_human)
    owner_row = next(r for r in reviewers if r["name"] == "Ann")
    assert owner_row["n"] == 4
    assert owner_row["kappa"] == kappa([verdicts[i] for i in range(4)], list(human.values()))

    status, view = call(jobs, "GET", base, OWNER)
    assert view["human_review"] == agreement
    status, results = call(jobs, "GET", base + "/results.json", OWNER)
    assert results["human_review"] == agreement
    status, lm_eval = call(jobs, "GET", base + "/results.json?format=lm-eval", OWNER)
    assert "human_review" not in lm_eval
    status, report = call(jobs, "GET", base + "/report", OWNER)
    assert status == 200
    assert '<section id="human-review"' in report and "Ann" in report


def test_rubric_reviews_rate_one_answer(jobs: Harness) -> None:
    evaluation_id = judged_job(jobs, PAIR[:1], "rubric", n=3)
    base = f"/v1/evaluations/{evaluation_id}"
    for body, field in [
        ({"index": 0, "models": PAIR[:1], "rating": 6}, "rating"),
        ({"index": 0, "models": PAIR[:1], "rating": 0}, "rating"),
        ({"index": 0, "models": PAIR[:1], "rating": 2.5}, "rating"),
        ({"index": 0, "models": PAIR[:1]}, "rating"),
        ({"index": 0, "models": PAIR[:1], "rating": 3, "choice": "A"}, "rating"),
        ({"index": 0, "models": PAIR, "rating": 3}, "models"),
    ]:
        status, answer = call(jobs, "POST", base + "/reviews", OWNER, body)
        assert status == 400, (body, answer)
        assert [d["field"] for d in answer["error"]["details"]] == [field], body
    for index, rating in enumerate([5, 4, 1]):
        body = {"index": index, "models": PAIR[:1], "rating": rating}
        assert call(jobs, "POST", base + "/reviews", OWNER, body)[0] == 201
    status, listed = call(jobs, "GET", base + "/reviews", OWNER)
    summary = listed["human_review"]
    assert summary["mode"] == "rubric" and summary["n"] == 3
    assert "weighted_kappa" in summary


def test_scope_and_ownership(jobs: Harness, pairwise_job: str) -> None:
    base = f"/v1/evaluations/{pairwise_job}/reviews"
    body = {"index": 0, "models": PAIR, "choice": "A"}
    for method, payload in (("GET", None), ("POST", body)):
        status, answer = call(jobs, method, base, INVOKE_ONLY, payload)
        assert (status, answer["error"]["code"]) == (403, "forbidden"), method
        status, answer = call(jobs, method, base, OTHER, payload)
        assert (status, answer["error"]["code"]) == (404, "not_found"), method
    # the page itself is a public static shell: no data, the same for any id
    status, page = call(jobs, "GET", f"/v1/evaluations/{pairwise_job}/review", INVOKE_ONLY)
    assert status == 200 and pairwise_job not in page


def test_a_review_before_the_results_is_a_409(jobs: Harness) -> None:
    status, created = call(
        jobs,
        "POST",
        "/v1/evaluations",
        OWNER,
        {"models": PAIR, "dataset": {"records": explain_records(2)}},
    )
    base = f"/v1/evaluations/{created['evaluation_id']}/reviews"
    body = {"index": 0, "models": PAIR[:1], "rating": 3}
    status, answer = call(jobs, "POST", base, OWNER, body)
    assert status == 409, answer
    jobs.run(created["evaluation_id"])


def test_an_answer_that_errored_cannot_be_reviewed(jobs: Harness) -> None:
    from chalicelib.evaluation.agreement import rubric_label
    from chalicelib.runtime import get_runtime

    model_id = get_runtime().registry.get(PAIR[0]).model_id
    jobs.emulator.script([{"model_id": model_id, "error": "AccessDeniedException"}])
    body = {
        "models": PAIR[:1],
        "dataset": {"records": explain_records(2)},
        "judge": {"model": "judge", "mode": "rubric"},
    }
    status, created = call(jobs, "POST", "/v1/evaluations", OWNER, body)
    evaluation_id = created["evaluation_id"]
    assert jobs.run(evaluation_id)["status"] == "completed_with_errors"
    records = {r["index"]: r for r in jobs.items(evaluation_id)}
    (failed,) = [i for i, r in records.items() if r["status"] == "error"]
    (answered,) = [i for i, r in records.items() if r["status"] != "error"]
    base = f"/v1/evaluations/{evaluation_id}/reviews"
    status, answer = call(
        jobs, "POST", base, OWNER, {"index": failed, "models": PAIR[:1], "rating": 3}
    )
    assert status == 400, answer
    assert answer["error"]["details"] == [
        {"field": "index", "reason": f"item {failed} has no answer from {PAIR[0]!r} to review"}
    ]
    status, stored = call(
        jobs, "POST", base, OWNER, {"index": answered, "models": PAIR[:1], "rating": 3}
    )
    assert status == 201, stored
    (judged,) = records[answered]["judge"]
    assert stored["judge"] == rubric_label(judged["scores"])
