"""Every answer about a job fits in a Lambda response (6 MB), however long its texts: the job of
issue 11 (50 records of 33,000 CJK characters, 3 models, 200 samples) made the status view and
results.json 9.9 MB and one items page 29.7 MB, so deployed it could not even be read."""

from __future__ import annotations

import json
from typing import Any

from tests.jobs.conftest import Harness

LAMBDA_LIMIT = 6 * 1024 * 1024
MODELS = ["echo-converse", "echo-anthropic", "echo-llama3"]
TEXT_CHARS = 33_000


def lambda_payload(response: Any) -> int:
    """The proxy response as the python3.11 Lambda runtime serialises it (non-ASCII escaped)."""
    envelope = {
        "statusCode": response.status_code,
        "headers": dict(response.headers),
        "body": response.body.decode("utf-8"),
    }
    return len(json.dumps(envelope))


def long_records() -> list[dict[str, Any]]:
    cjk = [chr(0x4E00 + (i * 7919) % 20000) for i in range(TEXT_CHARS)]
    return [
        {"input": f"{i}:" + "".join(cjk[i:] + cjk[:i]), "target": "好" if i % 2 else "差"}
        for i in range(50)
    ]


def test_every_answer_about_a_job_of_long_texts_fits_in_a_lambda_response(jobs: Harness) -> None:
    records = long_records()
    body = {"models": MODELS, "dataset": {"records": records}, "samples": 200}
    response = jobs.post("/v1/evaluations", json.dumps(body, ensure_ascii=False).encode())
    assert response.status_code == 202, response.body
    evaluation_id = json.loads(response.body)["evaluation_id"]
    jobs.created.append(evaluation_id)
    assert jobs.run(evaluation_id, timeout=180, slots=2)["status"] == "succeeded"

    base = f"/v1/evaluations/{evaluation_id}"
    sizes: dict[str, int] = {}

    def fetch(path: str) -> Any:
        answer = jobs.get(path)
        assert answer.status_code == 200, answer.body[:500]
        sizes[path] = lambda_payload(answer)
        assert sizes[path] < LAMBDA_LIMIT, (path, sizes[path])
        return answer

    status = json.loads(fetch(base).body)
    assert len(status["samples"]) == 50  # every sample kept, its texts clipped
    for sample in status["samples"]:
        assert len(sample["input"]) < TEXT_CHARS and sample["input"].endswith("more characters]")
        assert set(sample["outputs"]) == set(MODELS)
    raw = fetch(f"{base}/results.json").body.decode("utf-8")
    assert "\\u" not in raw and records[0]["input"][2:100] in raw  # UTF-8, not \uXXXX
    results = json.loads(raw)
    assert set(results) >= {"results", "comparison", "samples"}
    assert len(results["samples"]) == 50
    assert json.loads(fetch(f"{base}/results.json?format=lm-eval").body)["results"].keys() == set(
        MODELS
    )
    report = fetch(f"{base}/report").body.decode("utf-8")
    assert report.count('<article class="sample">') == 50

    items: list[dict[str, Any]] = []
    cursor = None
    pages = 0
    while True:
        path = f"{base}/items?limit=1000" + (f"&cursor={cursor}" if cursor else "")
        page = json.loads(fetch(path).body)
        items.extend(page["items"])
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages > 1  # bounded by bytes, not by the 1000 asked for
    assert sorted((i["index"], i["model"]) for i in items) == sorted(
        (n, m) for n in range(50) for m in MODELS
    )
    inputs = {i["index"]: i["input"] for i in items}
    assert all(inputs[n] == records[n]["input"] for n in range(50))  # whole, not clipped
