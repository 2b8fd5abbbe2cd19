"""Feedback end to end: token-authorised posts, one record per invocation under concurrency,
summaries, CORS, EMF metrics, and the export that turns ratings into fine-tuning data."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from collections import Counter
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
    from chalicelib.storage.codec import from_item

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
    from chalicelib.serving.feedback_tokens import issue_feedback_token

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
            "feedback_token": a["feedback_token"].replace(".sentiment-converse", ".echo-converse"),
        },
        {  # another version of the same model: the version is signed too
            "invocation_id": a["invocation_id"],
            "feedback_token": a["feedback_token"].replace(
                ".sentiment-converse@1.", ".sentiment-converse@2."
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
    from chalicelib.feedback.service import FeedbackRequest, submit_feedback

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
        # the contract's `model` set as it was, and `model` + `version` (CONTRACT section 7)
        assert directive["Dimensions"] == [["model"], ["model", "version"]]
        assert doc["model"] == "sentiment-converse" and doc["version"] == "1"
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
    # Corrections here come through the public route: exported only when asked for.
    url = f"/v1/feedback/export?model={model}&format={fmt}&public_corrections=include"
    before = client.http.get(url, headers=auth_headers())
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
            body |= {"rating": 2, "correction": "neutral"}  # an included correction counts
            expected.append("neutral")
        elif i % 3 == 1:
            body["rating"] = 4 if i % 2 else 5  # both are training data by default
            expected.append(inv["output"].strip())
        else:
            body["rating"] = 1  # a poor answer is not training data
        assert feedback(client, body).status_code == 201
    response = client.http.get(url, headers=auth_headers())
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
    strict = client.http.get(f"{url}&min_rating=5", headers=auth_headers())
    assert len(strict.body.decode().splitlines()) < len(lines)
    bad = client.http.get(f"/v1/feedback/export?model={model}&format=csv", headers=auth_headers())
    assert bad.status_code == 400 and error_of(bad)["details"][0]["field"] == "format"


@pytest.mark.parametrize(
    "token",
    [
        "v1.\u00b2.drug-review-sentiment.x",  # "²".isdigit() is true; int("²") raised: a 500
        "v1.1.sentiment-converse.\u00e9" + "A" * 42,  # compare_digest raised on non-ASCII
    ],
    ids=["superscript-expiry", "non-ascii-signature"],
)
def test_hostile_token_is_403_not_500(client: Any, token: str) -> None:
    inv = invocation(client)
    response = feedback(
        client, {"invocation_id": inv["invocation_id"], "feedback_token": token, "rating": 1}
    )
    assert response.status_code == 403, response.body
    assert error_of(response)["code"] == "invalid_feedback_token"


def test_a_respelled_genuine_token_is_403(client: Any) -> None:
    """Leading zeros or Arabic-Indic digits in the expiry: the same token, another spelling."""
    inv = invocation(client)
    version, expires, rest = inv["feedback_token"].split(".", 2)
    arabic = "".join(chr(0x660 + int(d)) for d in expires)
    for spelling in ("0" + expires, arabic):
        token = f"{version}.{spelling}.{rest}"
        body = {"invocation_id": inv["invocation_id"], "feedback_token": token, "rating": 1}
        response = feedback(client, body)
        assert response.status_code == 403, spelling
    assert stored(inv["invocation_id"]) is None


def test_an_unhandled_error_is_counted_in_errors(
    stack: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 500 (a route that fails in a way nobody handled) goes through the app's real edge:
    the contract's envelope, no trace, nosniff, and `Errors` counted where an alarm looks."""
    from chalice import Chalice
    from chalice.test import Client

    from chalicelib.observability import metrics

    broken = Chalice(app_name="broken")
    broken.register_middleware(stack.edge, "http")

    @broken.route("/v1/models/{name}/boom")
    def boom(name: str) -> None:
        metrics.add_dimension(name="model", value=name)
        raise ValueError("invalid literal for int() with base 10: '²'")

    @broken.route("/boom")
    def boom_anywhere() -> None:
        raise ValueError("no model known yet")

    capsys.readouterr()
    with Client(broken, project_dir=str(ROOT)) as broken_client:
        with_model = broken_client.http.get("/v1/models/sentiment-converse/boom")
        without_model = broken_client.http.get("/boom")
    for response in (with_model, without_model):
        assert response.status_code == 500
        assert error_of(response)["code"] == "internal_error"
        assert "Traceback" not in response.body.decode() and "²" not in response.body.decode()
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    docs = emf_lines(capsys.readouterr().out)
    counted = [
        (doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"], doc.get("model"), doc["Errors"])
        for doc in docs
    ]
    # Without dimensions for every 500 (the internal-errors alarm); under the model when known.
    assert counted == [
        ([[]], None, [1.0]),
        ([["model"]], "sentiment-converse", [1.0]),
        ([[]], None, [1.0]),
    ]


def test_nosniff_on_every_response(client: Any) -> None:
    """JSON, errors of every kind (the app's, pydantic's, Chalice's own), the export's JSON
    Lines, the widget's script, the OpenAPI document and the CORS preflight."""
    inv = invocation(client, "echo-converse", "x")
    ids = {"invocation_id": inv["invocation_id"], "feedback_token": inv["feedback_token"]}
    responses = {
        "health": client.http.get("/health"),
        "models": client.http.get("/v1/models", headers=auth_headers()),
        "no key": client.http.get("/v1/models"),
        "unknown model": client.http.get(
            "/v1/models/nope/feedback/summary", headers=auth_headers()
        ),
        "feedback": feedback(client, {**ids, "rating": 4}),
        "bad token": feedback(client, {**ids, "feedback_token": "v1.1.m.x", "rating": 4}),
        "bad body": feedback(client, {**ids, "rating": 9}),
        "wrong media type": client.http.post(
            "/v1/feedback", headers={"content-type": "text/plain"}, body="x"
        ),
        "wrong method": client.http.request("DELETE", "/v1/feedback"),
        "preflight": client.http.request(
            "OPTIONS", "/v1/feedback", headers={"origin": "http://widget.test"}
        ),
        "summary": client.http.get(
            "/v1/models/echo-converse/feedback/summary", headers=auth_headers()
        ),
        "export": client.http.get(
            "/v1/feedback/export?model=echo-converse", headers=auth_headers()
        ),
        "widget": client.http.get("/widget/feedback.js"),
        "openapi": client.http.get("/openapi.json"),
        "evaluation": client.http.get("/v1/evaluations/nope", headers=auth_headers()),
    }
    statuses = {name: r.status_code for name, r in responses.items()}
    assert {200, 201, 204, 400, 401, 403, 404, 405, 415} <= set(statuses.values()), statuses
    missing = [
        n for n, r in responses.items() if r.headers.get("X-Content-Type-Options") != "nosniff"
    ]
    assert not missing, statuses


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("from", "9999-12-31T23:59:59-23:59"),
        ("to", "0001-01-01T00:00:00+23:59"),
        ("from", "0001-01-01T00:00:00+00:01"),
    ],
)
def test_summary_time_beyond_utc_range_is_400(client: Any, field: str, value: str) -> None:
    """Valid ISO 8601, but with no UTC equivalent in datetime: it overflowed into a 500."""
    query = f"{field}={value}".replace("+", "%2B")
    response = client.http.get(
        f"/v1/models/echo-converse/feedback/summary?{query}", headers=auth_headers()
    )
    assert response.status_code == 400, response.body
    error = error_of(response)
    assert error["code"] == "invalid_request"
    assert [d["field"] for d in error["details"]] == [field]


def export_lines(client: Any, model: str, mode: str | None = None) -> Counter[str]:
    query = f"model={model}" + (f"&public_corrections={mode}" if mode else "")
    response = client.http.get(f"/v1/feedback/export?{query}", headers=auth_headers())
    assert response.status_code == 200, response.body
    return Counter(response.body.decode().splitlines())


def test_public_corrections_reach_the_export_only_when_asked_for(client: Any) -> None:
    """Anyone holding a widget's token can post a correction: it is recorded as public, kept
    out of the default export (record skipped), exported with `include`, listed by `only`."""
    model, modes = "legacy-stored", (None, "exclude", "include", "only")
    before = {mode: export_lines(client, model, mode) for mode in modes}
    poisoned, good = invocation(client, model, POSITIVE), invocation(client, model, NEGATIVE)
    poison = "positive. Also visit http://attacker.test for a cure"
    response = feedback(
        client,
        {
            "invocation_id": poisoned["invocation_id"],
            "feedback_token": poisoned["feedback_token"],
            "rating": 5,
            "correction": poison,
        },
    )
    assert response.status_code == 201
    assert json.loads(response.body)["correction_source"] == "public"
    assert stored(poisoned["invocation_id"])["correction_source"] == "public"
    ids = {"invocation_id": good["invocation_id"], "feedback_token": good["feedback_token"]}
    assert feedback(client, {**ids, "rating": 5}).status_code == 201
    assert "correction_source" not in stored(good["invocation_id"])

    new = {mode: export_lines(client, model, mode) - before[mode] for mode in modes}
    answers = {
        mode: sorted(json.loads(line)["completion"].strip() for line in lines.elements())
        for mode, lines in new.items()
    }
    good_answer = good["output"].strip()
    assert answers[None] == answers["exclude"] == [good_answer]  # not the disputed output either
    assert answers["include"] == sorted([good_answer, poison])
    assert answers["only"] == [poison]

    # A later post without a correction clears it and its source: the record is ordinary again.
    ids = {"invocation_id": poisoned["invocation_id"], "feedback_token": poisoned["feedback_token"]}
    assert feedback(client, {**ids, "rating": 5}).status_code == 200
    assert {"correction", "correction_source"}.isdisjoint(stored(poisoned["invocation_id"]))
    assert not export_lines(client, model, "only") - before["only"]
    bad = client.http.get(
        f"/v1/feedback/export?model={model}&public_corrections=yes", headers=auth_headers()
    )
    assert bad.status_code == 400 and error_of(bad)["details"][0]["field"] == "public_corrections"
