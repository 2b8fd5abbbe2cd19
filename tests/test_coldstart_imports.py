"""The invoke path's cold start imports only what it uses (issue 16, docs/BENCHMARKS.md "cold
start"): a fresh process that imports the app and serves one invoke, as a Lambda cold start does,
loads none of the modules the other routes import inside their handlers. An eager import added
back to app.py (or to a module on the invoke path) makes this fail, not just the benchmark slower.
"""

from __future__ import annotations

import json
import os
from typing import Any

from tests.conftest import API_KEY, ROOT, run_python_json

#: Imported by their own routes on first use; each builds pydantic models or loads an engine
#: the invoke route never needs.
LAZY = (
    "chalicelib.api.openapi",  # the OpenAPI document
    "chalicelib.api.operations",
    "chalicelib.dataprep",  # feedback export's record formats
    "chalicelib.deployments.commands",
    "chalicelib.deployments.compare",
    "chalicelib.deployments.gate",
    "chalicelib.deployments.models",  # deployment route bodies (VersionRequest rebuilds Deployment)
    "chalicelib.deployments.promotion",
    "chalicelib.deployments.service",
    "chalicelib.evaluation",  # evaluation engine, judge, reports, review page
    "chalicelib.feedback",  # feedback routes' models and widget
    "chalicelib.jobs",  # evaluation jobs, worker, reviews
    "chalicelib.openai_api.models",  # the OpenAI-compatible routes' request models
    "chalicelib.openai_api.service",
    "chalicelib.provisioning",
    "chalicelib.tuning",
)

CHILD = """
import json, sys
import app
event = json.loads(sys.argv[1])
response = app.app(event, None)
print(json.dumps({"status": response["statusCode"], "modules": sorted(sys.modules)}))
"""


def invoke_event(name: str, body: dict[str, Any]) -> dict[str, Any]:
    """An API Gateway proxy event for POST /v1/models/{name}/invoke, as Lambda receives it."""
    resource = "/v1/models/{name}/invoke"
    return {
        "resource": resource,
        "path": f"/v1/models/{name}/invoke",
        "httpMethod": "POST",
        "headers": {"content-type": "application/json", "x-api-key": API_KEY},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"name": name},
        "stageVariables": None,
        "requestContext": {"resourcePath": resource, "httpMethod": "POST", "stage": "test"},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def test_import_and_first_invoke_load_no_module_of_other_routes(emulator: Any) -> None:
    emulator.reset()  # no fault plan left by an earlier test (a scripted 429, say)
    event = invoke_event("sentiment-converse", {"input": "No side effects, I feel great."})
    env = {k: v for k, v in os.environ.items() if k != "LAMBDA_TASK_ROOT"}
    answer = run_python_json(["-c", CHILD, json.dumps(event)], env, cwd=ROOT)
    assert answer["status"] == 200
    loaded = [m for m in answer["modules"] if m.startswith(LAZY)]
    assert loaded == [], f"imported by `import app` + one invoke, though lazy: {loaded}"
    # The invoke path itself is there (the check above would pass on a broken child otherwise).
    assert {"chalicelib.serving.invoke", "chalicelib.deployments.cache"} <= set(answer["modules"])
