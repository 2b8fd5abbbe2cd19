"""Feedback end to end: token-authorised posts, one record per invocation under concurrency,
summaries, CORS, EMF metrics, and the export that turns ratings into fine-tuning data."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import API_KEY, ROOT, auth_headers, log_lines
from tests.test_api_invoke import NEGATIVE, POSITIVE, error_of, invoke

SECRET = b"test-feedback-secret"
TABLE = "tunegate-test-feedback"


def invocation(client: Any, model: str = "sentiment-converse", text: str = POSITIVE) -> dict:
    response = invoke(client, model, {"input": text})
    assert response.status_code == 200, response.body
    return json.loads(response.body)


def feedback(client: Any, body: dict, **headers: str) -> Any:
    return client.http.post(
        "/v1/feedback",
        headers={"content-type": "application/json", **headers},
        body=json.dumps(body),
    )


def stored(invocation_id: str) -> dict[str, Any] | None:
    item = (
        boto3.client("dynamodb")
        .get_item(TableName=TABLE, Key={"invocation_id": {"S": invocation_id}}, ConsistentRead=True)
        .get("Item")
    )
    if item is None:
        return None
    from chalicelib.dynamo_codec import from_item

    return from_item(item)


def test_first_post_creates_later_posts_replace(client: Any) -> None:
    inv = invocation(client)
    ids = {"invocation_id": inv["invocation_id"], "feedback_token": inv["feedback_token"]}
    first = feedback(client, {**ids, "rating": 2, "comment": "meh"})
    assert first.status_code == 201, first.body
    assert json.loads(first.body)["model"] == "sentiment-converse"
    second = feedback(client, {**ids, "rating": 5, "thumbs": "up"})
    assert second.status_code == 200
    record = stored(inv["invocation_id"])
    assert record is not None
    assert (record["rating"], record["thumbs"], record["revision"]) == (5, "up", 2)
    assert "comment" not in record  # replaced, not merged
    assert record["created_at"] <= record["updated_at"]
    # Each answer shows the record as stored: its revision, and when it was first created.
    first_body, second_body = json.loads(first.body), json.loads(second.body)
    assert (first_body["revision"], first_body["created_at"]) == (1, first_body["updated_at"])
    assert second_body == {
        k: v for k, v in record.items() if k in second_body or k in ("revision", "created_at")
    }
    assert (second_body["revision"], second_body["created_at"]) == (2, first_body["created_at"])


def test_token_abuse_is_403(client: Any) -> None:
    from chalicelib.tokens import issue_feedback_token

    a, b = invocation(client), invocation(client)
    now = time.time()
    cases = [
        {"invocation_id": a["invocation_id"], "feedback_token": b["feedback_token"]},
        {"invocation_id": a["invocation_id"], "feedback_token": "v1.9999999999.x.forged"},
        {
            "invocation_id": a["invocation_id"],
            "feedback_token": issue_feedback_token(
                b"wrong-secret", a["invocation_id"], "sentiment-converse", now=now, ttl_seconds=60
            ),
        },
        {
            "invocation_id": a["invocation_id"],
            "feedback_token": issue_feedback_token(
                SECRET, a["invocation_id"], "sentiment-converse", now=now - 120, ttl_seconds=60
            ),
        },
        {
            "invocation_id": a["invocation_id"],
            "feedback_token": a["feedback_token"].replace(
                ".sentiment-converse.", ".echo-converse."
            ),
        },
    ]
    for body in cases:
        response = feedback(client, {**body, "rating": 1})
        assert response.status_code == 403, body
        assert error_of(response)["code"] == "invalid_feedback_token"
    assert stored(a["invocation_id"]) is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({}, "(body)"),
        ({"rating": 6}, "rating"),
        ({"rating": "5"}, "rating"),
        ({"thumbs": "sideways"}, "thumbs"),
        ({"rating": 3, "comment": "x" * 2001}, "comment"),
        ({"rating": 3, "correction": "x" * 10001}, "correction"),
        ({"rating": 3, "extra": True}, "extra"),
    ],
)
def test_bad_feedback_is_400(client: Any, change: dict, field: str) -> None:
    inv = invocation(client, "echo-converse", "x")
    body = {"invocation_id": inv["invocation_id"], "feedback_token": inv["feedback_token"]}
    response = feedback(client, {**body, **change})
    assert response.status_code == 400
    assert field in {d["field"] for d in error_of(response)["details"]}


def test_concurrent_posts_keep_one_record_per_invocation(client: Any, stack: Any) -> None:
    """200 posts over 50 invocations from 50 threads: each invocation's posts arrive in order
    from one thread while all invocations race; then 8 simultaneous posts on one invocation."""
    from chalicelib.feedback import FeedbackRequest, submit_feedback

    runtime = stack.runtime
    invocations = [invocation(client, "echo-converse", f"item {i}") for i in range(50)]

    def post_four(inv: dict) -> list[bool]:
        results = []
        for rating in (1, 2, 3, 4):
            request = FeedbackRequest(
                invocation_id=inv["invocation_id"],
                feedback_token=inv["feedback_token"],
                rating=rating,
            )
            results.append(
                submit_feedback(request, runtime.feedback, SECRET, datetime.now(UTC)).created
            )
        return results

    with ThreadPoolExecutor(max_workers=50) as pool:
        outcomes = list(pool.map(post_four, invocations))
    assert sum(created for row in outcomes for created in row) == 50
    assert all(row[0] and not any(row[1:]) for row in outcomes)
    for inv in invocations:
        record = stored(inv["invocation_id"])
        assert record is not None and record["rating"] == 4 and record["revision"] == 4

    racing = invocation(client, "echo-converse", "race")
    request = FeedbackRequest(
        invocation_id=racing["invocation_id"], feedback_token=racing["feedback_token"], thumbs="up"
    )
    with ThreadPoolExecutor(max_workers=8) as pool:
        created = list(
            pool.map(
                lambda _: (
                    submit_feedback(request, runtime.feedback, SECRET, datetime.now(UTC)).created
                ),
                range(8),
            )
        )
    assert created.count(True) == 1
    assert stored(racing["invocation_id"])["revision"] == 8
    from chalicelib.observability import metrics

    metrics.clear_metrics()  # these calls bypassed the request middleware that flushes


def test_summary_window(client: Any) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    ratings = [(5, "up"), (4, "up"), (1, "down"), (None, "down")]
    for rating, thumbs in ratings:
        inv = invocation(client, "legacy-stored")
        body = {"invocation_id": inv["invocation_id"], "feedback_token": inv["feedback_token"]}
        body["thumbs"] = thumbs
        if rating is not None:
            body["rating"] = rating
        assert feedback(client, body).status_code == 201
    after = datetime.now(UTC) + timedelta(seconds=1)
    query = f"from={before.isoformat()}&to={after.isoformat()}".replace("+", "%2B")
    response = client.http.get(
        f"/v1/models/legacy-stored/feedback/summary?{query}", headers=auth_headers()
    )
    assert response.status_code == 200, response.body
    summary = json.loads(response.body)
    assert summary["count"] == 4
    assert summary["rating"]["mean"] == pytest.approx(10 / 3)
    assert summary["rating"]["distribution"] == {"1": 1, "2": 0, "3": 0, "4": 1, "5": 1}
    assert summary["thumbs"] == {"up": 2, "down": 2, "up_rate": 0.5}
    empty = client.http.get(
        "/v1/models/legacy-stored/feedback/summary?to=2000-01-01T00:00:00Z", headers=auth_headers()
    )
    assert json.loads(empty.body)["count"] == 0
    bad = client.http.get(
        "/v1/models/legacy-stored/feedback/summary?from=yesterday", headers=auth_headers()
    )
    assert bad.status_code == 400 and error_of(bad)["details"][0]["field"] == "from"
    missing = client.http.get("/v1/models/nope/feedback/summary", headers=auth_headers())
    assert missing.status_code == 404
    assert client.http.get("/v1/models/legacy-stored/feedback/summary").status_code == 401


def test_cors_for_configured_origins_only(client: Any) -> None:
    inv = invocation(client, "echo-converse", "x")
    body = {"invocation_id": inv["invocation_id"], "feedback_token": inv["feedback_token"]}
    allowed = feedback(client, {**body, "rating": 3}, origin="http://widget.test")
    assert allowed.headers["Access-Control-Allow-Origin"] == "http://widget.test"
    other = feedback(client, {**body, "rating": 3}, origin="http://evil.test")
    assert "Access-Control-Allow-Origin" not in other.headers
    preflight = client.http.request(
        "OPTIONS", "/v1/feedback", headers={"origin": "http://widget.test"}
    )
    assert preflight.status_code == 204
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    refused = client.http.request("OPTIONS", "/v1/feedback", headers={"origin": "http://evil.test"})
    assert refused.status_code == 204
    assert "Access-Control-Allow-Origin" not in refused.headers
    forged = feedback(
        client, {**body, "feedback_token": "v1.1.m.x", "rating": 1}, origin="http://widget.test"
    )
    assert forged.status_code == 403 and forged.headers["Access-Control-Allow-Origin"]


def emf_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith('{"_aws"')]


def test_emf_metrics_names_units_dimensions(
    client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    inv = invocation(client)
    body = {"invocation_id": inv["invocation_id"], "feedback_token": inv["feedback_token"]}
    feedback(client, {**body, "rating": 4, "thumbs": "down"})
    docs = emf_lines(capsys.readouterr().out)
    assert len(docs) == 2
    units: dict[str, str] = {}
    for doc in docs:
        (directive,) = doc["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "Tunegate"
        assert directive["Dimensions"] == [["model"]]
        assert doc["model"] == "sentiment-converse"
        units |= {m["Name"]: m["Unit"] for m in directive["Metrics"]}
    assert units == {
        "Invocations": "Count",
        "InvocationLatency": "Milliseconds",
        "ModelLatency": "Milliseconds",
        "InputTokens": "Count",
        "OutputTokens": "Count",
        "FeedbackRating": "Count",
        "FeedbackThumbsDown": "Count",
    }
    assert docs[1]["FeedbackRating"] == [4.0]
    # no prompt or output text in any log line by default
    invocation(client, text="UNIQUE-PAYLOAD-MARKER " + POSITIVE)
    assert "UNIQUE-PAYLOAD-MARKER" not in capsys.readouterr().out


def test_invoke_and_its_feedback_log_the_same_correlation_id(
    client: Any, log_stream: io.StringIO
) -> None:
    inv = invocation(client)
    body = {"invocation_id": inv["invocation_id"], "feedback_token": inv["feedback_token"]}
    response = feedback(client, {**body, "rating": 2, "comment": "UNIQUE-COMMENT-MARKER"})
    assert response.status_code == 201
    text = log_stream.getvalue()
    logs = {line["message"]: line for line in log_lines(log_stream)}
    for message in ("invocation", "feedback"):
        assert logs[message]["correlation_id"] == inv["invocation_id"], message
        assert logs[message]["model"] == "sentiment-converse"
    assert logs["feedback"]["rating"] == 2 and logs["feedback"]["has_comment"] is True
    assert "UNIQUE-COMMENT-MARKER" not in text
    # The next request starts clean: no correlation id carried over.
    client.http.get("/v1/models", headers={"x-api-key": API_KEY})
    second = invocation(client)
    [later] = [line for line in log_lines(log_stream) if line["message"] == "invocation"]
    assert later["correlation_id"] == second["invocation_id"] != inv["invocation_id"]


def run_validate(path: Path, fmt: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chalicelib.cli", "validate", str(path), "--format", fmt],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("model", "fmt"), [("legacy-stored", "openai"), ("sentiment-converse", "bedrock")]
)
def test_export_round_trips_through_validate(
    client: Any, tmp_path: Path, model: str, fmt: str
) -> None:
    before = client.http.get(
        f"/v1/feedback/export?model={model}&format={fmt}", headers=auth_headers()
    )
    already = len(before.body.decode().splitlines())
    expected = []
    for i in range(51):
        text = (POSITIVE if i % 2 else NEGATIVE) + f" ({i})"
        inv = invocation(client, model, text)
        body: dict[str, Any] = {
            "invocation_id": inv["invocation_id"],
            "feedback_token": inv["feedback_token"],
        }
        if i % 3 == 0:
            body |= {"rating": 2, "correction": "neutral"}  # a correction always counts
            expected.append("neutral")
        elif i % 3 == 1:
            body["rating"] = 5
            expected.append(inv["output"].strip())
        else:
            body["rating"] = 1  # a poor answer is not training data
        assert feedback(client, body).status_code == 201
    response = client.http.get(
        f"/v1/feedback/export?model={model}&format={fmt}", headers=auth_headers()
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/x-ndjson"
    lines = response.body.decode().splitlines()
    assert len(lines) - already == len(expected) == 34
    records = [json.loads(line) for line in lines]
    answers = [
        r["completion"].strip() if fmt == "openai" else r["messages"][-1]["content"]
        for r in records
    ]
    assert answers.count("neutral") >= 17
    if fmt == "openai":
        assert all(
            r["prompt"].endswith("\n\n###\n\n") and r["completion"].startswith(" ") for r in records
        )
    out = tmp_path / "export.jsonl"
    out.write_text(response.body.decode())
    result = run_validate(out, fmt)
    assert result.returncode == 0, result.stdout + result.stderr
    strict = client.http.get(
        f"/v1/feedback/export?model={model}&format={fmt}&min_rating=5", headers=auth_headers()
    )
    assert len(strict.body.decode().splitlines()) < len(lines)
    bad = client.http.get(f"/v1/feedback/export?model={model}&format=csv", headers=auth_headers())
    assert bad.status_code == 400 and error_of(bad)["details"][0]["field"] == "format"
