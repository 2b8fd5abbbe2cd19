"""X-Ray tracing: real segments from the real X-Ray SDK, caught on UDP as the daemon would.

The app runs in a child process that looks like Lambda with active tracing (`LAMBDA_TASK_ROOT`,
`_X_AMZN_TRACE_ID`, `AWS_XRAY_DAEMON_ADDRESS`), handles one API Gateway event against the local
stack, and the test reads what reached the daemon's port. Patching botocore is process-wide,
which is one more reason the traced app lives in its own process.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib.tracing import tracing_enabled
from tests.conftest import API_KEY, run_python_json

ROOT = Path(__file__).resolve().parent.parent
TRACE_ID = "1-5759e988-bd862e3fe1be46a994272793"
PROBE = """
import json, sys
import app

event = json.loads(sys.argv[1])

class Context:
    aws_request_id = "req-1"
    function_name = "tunegate-prod"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:tunegate-prod"
    def get_remaining_time_in_millis(self):
        return 30000

if "Records" in event:
    response = app.evaluation_worker(event, Context())
else:
    response = app.app(event, Context())
print(json.dumps({"response": response, "xray_imported": "aws_xray_sdk" in sys.modules}))
"""


def invoke_event(model: str, text: str) -> dict[str, Any]:
    resource = "/v1/models/{name}/invoke"
    path = f"/v1/models/{model}/invoke"
    return {
        "resource": resource,
        "path": path,
        "httpMethod": "POST",
        "headers": {"x-api-key": API_KEY, "content-type": "application/json"},
        "multiValueHeaders": None,
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"name": model},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": "POST",
            "path": f"/prod{path}",
            "requestId": "gw-1",
            "stage": "prod",
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": json.dumps({"input": text}),
        "isBase64Encoded": False,
    }


@pytest.fixture()
def daemon(emulator: Any) -> Iterator[socket.socket]:
    """A UDP socket where the X-Ray daemon would listen (and an emulator without leftovers)."""
    emulator.reset()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.5)
    yield sock
    sock.close()


def run_in_lambda(event: dict[str, Any], daemon: socket.socket, **env: str) -> dict[str, Any]:
    host, port = daemon.getsockname()
    lambda_env = {
        **{k: v for k, v in os.environ.items() if k != "AWS_CHALICE_CLI_MODE"},
        "LAMBDA_TASK_ROOT": str(ROOT),
        "AWS_LAMBDA_FUNCTION_NAME": "tunegate-prod",
        "AWS_XRAY_DAEMON_ADDRESS": f"{host}:{port}",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "_X_AMZN_TRACE_ID": f"Root={TRACE_ID};Parent=53995c3f42cd8ad8;Sampled=1",
        **env,
    }
    return run_python_json(["-c", PROBE, json.dumps(event)], lambda_env)


def received(daemon: socket.socket) -> list[dict[str, Any]]:
    """Every segment document sent to the daemon: a JSON header line, then the document."""
    documents = []
    while True:
        try:
            packet = daemon.recv(65536)
        except TimeoutError:
            return documents
        header, _, body = packet.decode().partition("\n")
        assert json.loads(header) == {"format": "json", "version": 1}
        documents.append(json.loads(body))


def test_an_invoke_in_lambda_is_traced_down_to_the_aws_calls(daemon: socket.socket) -> None:
    out = run_in_lambda(invoke_event("sentiment-converse", "It worked wonders."), daemon)
    assert out["response"]["statusCode"] == 200
    assert out["xray_imported"]
    invocation_id = json.loads(out["response"]["body"])["invocation_id"]

    documents = received(daemon)
    assert {d["trace_id"] for d in documents} == {TRACE_ID}
    by_name = {d["name"]: d for d in documents}
    route = by_name["## POST /v1/models/{name}/invoke"]
    assert route["type"] == "subsegment"
    assert route["annotations"] == {
        "model": "sentiment-converse",
        "version": "1",
        "invocation_id": invocation_id,
        "status": "200",
    }
    children = [d for d in documents if d.get("parent_id") == route["id"]]
    calls = {(d["name"], d["aws"]["operation"]) for d in children if d.get("namespace") == "aws"}
    assert ("bedrock-runtime", "Converse") in calls
    assert ("dynamodb", "PutItem") in calls
    assert all("error" not in d and "fault" not in d for d in documents)
    # No prompt text reaches the trace.
    assert "It worked wonders" not in json.dumps(documents)


def test_an_openai_compatible_call_is_traced_as_http(daemon: socket.socket) -> None:
    out = run_in_lambda(invoke_event("echo-openai-chat", "Hello."), daemon)
    assert out["response"]["statusCode"] == 200
    documents = received(daemon)
    route = next(d for d in documents if d["name"] == "## POST /v1/models/{name}/invoke")
    children = [d for d in documents if d.get("parent_id") == route["id"]]
    # The SDK's httplib patch records the request and the read of its response.
    remote = [d["http"] for d in children if d.get("namespace") == "remote"]
    assert remote and all(h["request"]["url"].endswith("/v1/chat/completions") for h in remote)
    assert any(
        h["request"]["method"] == "POST" and h.get("response", {}).get("status") == 200
        for h in remote
    )
    assert "Hello." not in json.dumps(documents)


def test_a_failed_model_call_is_marked_on_the_trace(emulator: Any, daemon: socket.socket) -> None:
    emulator.script([{"error": "ThrottlingException", "message": "scripted"}] * 3)
    try:
        out = run_in_lambda(invoke_event("sentiment-converse", "Fine."), daemon)
    finally:
        emulator.reset()
    assert out["response"]["statusCode"] == 429
    documents = received(daemon)
    route = next(d for d in documents if d["name"] == "## POST /v1/models/{name}/invoke")
    assert route["annotations"]["status"] == "429"
    bedrock = [d for d in documents if d["name"] == "bedrock-runtime"]
    assert bedrock and all(d.get("throttle") for d in bedrock)


def test_tracing_disabled_sends_nothing_and_never_imports_the_sdk(daemon: socket.socket) -> None:
    event = invoke_event("sentiment-converse", "Fine.")
    out = run_in_lambda(event, daemon, POWERTOOLS_TRACE_DISABLED="true")
    assert out["response"]["statusCode"] == 200
    assert not out["xray_imported"]
    assert received(daemon) == []


def test_a_worker_event_is_traced_with_its_job(daemon: socket.socket) -> None:
    """A chunk message for a job that does not exist: one lookup (the job and its chunk's
    record together), then nothing to do."""
    body = json.dumps({"type": "chunk", "evaluation_id": "ev-traced", "round": 1, "chunk": 0})
    record = {
        "messageId": "m-1",
        "receiptHandle": "r-1",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:tunegate-prod-evaluation-chunks",
        "awsRegion": "us-east-1",
    }
    out = run_in_lambda({"Records": [record]}, daemon)
    assert out["response"] == {"batchItemFailures": []}
    documents = received(daemon)
    worker = next(d for d in documents if d["name"] == "## evaluation_worker")
    assert worker["annotations"] == {"evaluation_id": "ev-traced", "step": "chunk"}
    children = [d for d in documents if d.get("parent_id") == worker["id"]]
    assert [(d["name"], d["aws"]["operation"]) for d in children] == [("dynamodb", "BatchGetItem")]


@pytest.mark.parametrize(
    ("env", "enabled"),
    [
        ({"LAMBDA_TASK_ROOT": "/var/task"}, True),
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "TRUE"}, False),
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "0"}, True),
        ({"LAMBDA_TASK_ROOT": "/var/task", "AWS_CHALICE_CLI_MODE": "true"}, False),
        ({"LAMBDA_TASK_ROOT": "/var/task", "AWS_SAM_LOCAL": "true"}, False),
        ({}, False),
    ],
)
def test_tracing_is_on_only_inside_lambda(env: dict[str, str], enabled: bool) -> None:
    assert tracing_enabled(env) is enabled


def test_outside_lambda_the_app_never_imports_the_xray_sdk() -> None:
    code = "import sys, app; assert 'aws_xray_sdk' not in sys.modules, 'imported'"
    clean = {k: v for k, v in os.environ.items() if k != "LAMBDA_TASK_ROOT"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
