"""One cold start, run in a fresh process by bench_coldstart.py: import an app, serve one invoke
from an API Gateway proxy event, print the milliseconds spent: import, import + first request
(both wall clock from the first line) and the process's CPU time up to the response (interpreter
start-up included), which a loaded machine disturbs much less than wall time.

    coldstart_child.py KIND                  the source checkout (KIND: tunegate | bare)
    coldstart_child.py KIND TASK RUNTIME     an unzipped bundle, as Lambda runs it (-I -S -B)
"""

from __future__ import annotations

import json
import sys
import time

STARTED = time.perf_counter()

import os  # noqa: E402
from pathlib import Path  # noqa: E402

BENCH = Path(__file__).resolve().parent
ROUTES = {
    "tunegate": ("/v1/models/{name}/invoke", "/v1/models/bench/invoke", {"name": "bench"}),
    "bare": ("/invoke", "/invoke", {}),
}


def event(kind: str, api_key: str) -> dict:
    resource, path, params = ROUTES[kind]
    return {
        "resource": resource,
        "path": path,
        "httpMethod": "POST",
        "headers": {"content-type": "application/json", "x-api-key": api_key},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": params,
        "stageVariables": None,
        "requestContext": {"resourcePath": resource, "httpMethod": "POST", "stage": "bench"},
        "body": json.dumps({"input": "positive"}),
        "isBase64Encoded": False,
    }


if __name__ == "__main__":
    kind = sys.argv[1]
    if len(sys.argv) > 2:  # the bundle, then what the Lambda runtime provides
        sys.path[:0] = sys.argv[2:4]
    else:
        sys.path.insert(0, str(BENCH.parent if kind == "tunegate" else BENCH / "bare_app"))
    out = sys.stdout
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (the app's logs)
    import app

    imported = (time.perf_counter() - STARTED) * 1000
    response = app.app(event(kind, os.environ["BENCH_KEY"]), None)
    elapsed = (time.perf_counter() - STARTED) * 1000
    cpu = time.process_time() * 1000
    sys.stdout = out
    assert response["statusCode"] == 200, response
    print(f"{imported:.3f} {elapsed:.3f} {cpu:.3f}")
