"""One cold start, run in a fresh process by bench_coldstart.py: import an app, serve one invoke
from an API Gateway proxy event, print the milliseconds spent (import + first request)."""

from __future__ import annotations

import json
import sys
import time

STARTED = time.perf_counter()

import os  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def event(resource: str, path: str, params: dict[str, str], body: dict[str, object]) -> dict:
    return {
        "resource": resource,
        "path": path,
        "httpMethod": "POST",
        "headers": {"content-type": "application/json", "x-api-key": os.environ["BENCH_KEY"]},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": params,
        "stageVariables": None,
        "requestContext": {"resourcePath": resource, "httpMethod": "POST", "stage": "bench"},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def bare() -> dict:
    """The baseline: a bare Chalice app that creates one boto3 client and makes the same call."""
    import boto3
    from chalice import Chalice

    app = Chalice(app_name="bare")
    clients: dict[str, object] = {}

    @app.route("/invoke", methods=["POST"])
    def invoke() -> dict:
        runtime = clients.setdefault("bedrock", boto3.client("bedrock-runtime"))
        answer = runtime.converse(  # type: ignore[attr-defined]
            modelId=os.environ["BENCH_MODEL_ID"],
            messages=[
                {"role": "user", "content": [{"text": app.current_request.json_body["input"]}]}
            ],
            inferenceConfig={"maxTokens": 5},
        )
        return {"output": answer["output"]["message"]["content"][0]["text"]}

    return app(event("/invoke", "/invoke", {}, {"input": "positive"}), None)


def tunegate() -> dict:
    from app import app

    resource = "/v1/models/{name}/invoke"
    return app(
        event(resource, "/v1/models/bench/invoke", {"name": "bench"}, {"input": "positive"}), None
    )


if __name__ == "__main__":
    out = sys.stdout
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (the app's logs)
    response = bare() if sys.argv[1] == "bare" else tunegate()
    elapsed = (time.perf_counter() - STARTED) * 1000
    sys.stdout = out
    assert response["statusCode"] == 200, response
    print(f"{elapsed:.3f}")
