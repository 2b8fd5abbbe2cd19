"""Who may read what (issue 11, item 8): an evaluation belongs to the key that created it; any
other key gets the 404 of an unknown id on every route of the job, unless it holds `admin`."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from tests.conftest import API_KEY, auth_headers
from tests.jobs.conftest import MODELS, Harness, drug_review_records, job_record

OWNER = "test-evaluate-key"
OTHER = "test-other-evaluate-key"
ADMIN = "test-admin-evaluate-key"  # evaluate+admin
READS = ["", "/items", "/report", "/results.json"]
CHANGES = ["/retry", "/cancel"]


def request(jobs: Harness, method: str, path: str, key: str, body: Any = None) -> Any:
    raw = json.dumps(body) if body is not None else b""
    return jobs.client.http.request(method, path, headers=auth_headers(key), body=raw)


def status(jobs: Harness, method: str, path: str, key: str) -> tuple[int, str]:
    response = request(jobs, method, path, key)
    body = (
        json.loads(response.body)
        if response.body and "json" in response.headers.get("Content-Type", "")
        else {}
    )
    return response.status_code, body.get("error", {}).get("code", "")


def test_only_the_creator_and_admin_see_an_evaluation(jobs: Harness) -> None:
    records = drug_review_records()[:5]
    created = request(
        jobs, "POST", "/v1/evaluations", OWNER, {"models": MODELS, "dataset": {"records": records}}
    )
    assert created.status_code == 202, created.body
    evaluation_id = json.loads(created.body)["evaluation_id"]
    base = f"/v1/evaluations/{evaluation_id}"
    assert jobs.record(evaluation_id).owner == hashlib.sha256(OWNER.encode()).hexdigest()[:12]

    for leaf in READS:
        assert status(jobs, "GET", base + leaf, OTHER) == (404, "not_found"), leaf
    for leaf in CHANGES:
        assert status(jobs, "POST", base + leaf, OTHER) == (404, "not_found"), leaf
    assert jobs.record(evaluation_id).status == "queued"  # the other key's cancel did nothing

    # The creator, a key with admin, and a bare-hash key (every scope) see it.
    for key in (OWNER, ADMIN, API_KEY):
        assert status(jobs, "GET", base, key)[0] == 200, key
    job = jobs.run(evaluation_id)
    assert job["status"] == "succeeded"
    for key in (OWNER, ADMIN):
        for leaf in READS:
            assert status(jobs, "GET", base + leaf, key)[0] == 200, (key, leaf)
        assert status(jobs, "POST", base + "/retry", key) == (409, "invalid_state")
    for leaf in READS:
        assert status(jobs, "GET", base + leaf, OTHER) == (404, "not_found"), leaf


def test_a_job_without_an_owner_is_seen_by_admin_only(jobs: Harness) -> None:
    """Jobs stored before owners were recorded: no key owns them, admin still reads them."""
    from chalicelib.jobs.context import get_job_context

    evaluation_id = uuid.uuid4().hex
    get_job_context().store.create(
        job_record(
            evaluation_id=evaluation_id,
            status="queued",
            models=MODELS,
            dataset="s3://bucket/key.jsonl",
            created_at="2026-01-01T00:00:00Z",
        )
    )
    base = f"/v1/evaluations/{evaluation_id}"
    assert status(jobs, "GET", base, OWNER) == (404, "not_found")
    assert status(jobs, "GET", base, ADMIN)[0] == 200
