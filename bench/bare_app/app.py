"""The cold-start baseline: a bare Chalice app that creates one boto3 client and makes the same
Converse call as Tunegate's invoke (packaged into its own bundle by bench_coldstart.py)."""

from __future__ import annotations

import os

import boto3
from chalice import Chalice

app = Chalice(app_name="bare")
clients: dict[str, object] = {}


@app.route("/invoke", methods=["POST"])
def invoke() -> dict:
    runtime = clients.setdefault("bedrock", boto3.client("bedrock-runtime"))
    answer = runtime.converse(  # type: ignore[attr-defined]
        modelId=os.environ["BENCH_MODEL_ID"],
        messages=[{"role": "user", "content": [{"text": app.current_request.json_body["input"]}]}],
        inferenceConfig={"maxTokens": 5},
    )
    return {"output": answer["output"]["message"]["content"][0]["text"]}
