"""Gateway overhead: the same requests against the emulator (zero model latency), sent
(a) straight through boto3 and (b) through the app in-process (chalice.test -> app -> boto3,
plus the invocation record written to DynamoDB on the moto server). The record write is timed
twice: (e) the app's own put, inside (b), and (d) a bare boto3 put of the same item.
Names resolve through the versioned registry's per-process cache (warm in (b) and (c)); (f) is
(c) with the cache read again on every request, and one refresh is timed on its own (the scan
of the registry table on moto, and the view built from a snapshot). (h) is (c) as Lambda runs
it: the API Gateway proxy event handed to the app's handler, without chalice.test's local
gateway (which turns an HTTP request into that event and copies os.environ twice per request).

Run: .venv/bin/python bench/bench_gateway.py [--requests 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    ECHO_ARN,
    KEY,
    REGISTRY,
    direct_bedrock,
    interleaved,
    percentile,
    print_table,
    start_quiet,
    timed,
)


class TimedStore:
    """The app's invocation store, with each put's wall time kept (the record write alone)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.samples: list[float] = []
        self.last: Any = None

    def put(self, record: Any) -> None:
        start = time.perf_counter()
        self.store.put(record)
        self.samples.append((time.perf_counter() - start) * 1000)
        self.last = record

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    stack, out = start_quiet(REGISTRY)
    import uuid

    import boto3
    from chalice.test import Client

    import app as app_module
    from bench.coldstart_child import event as proxy_event
    from chalicelib.config.registry import load_registry
    from chalicelib.formats import converse
    from chalicelib.serving.prompting import render_prompt, resolve_params
    from chalicelib.storage.codec import to_item
    from chalicelib.storage.invocations import MemoryInvocationStore

    deployment = load_registry(stack.models_file).get("bench")
    prompt = render_prompt(deployment.prompt, input_text="positive")
    request = converse.build_request(prompt, resolve_params(deployment.inference))
    direct_client = direct_bedrock()
    dynamodb = boto3.client("dynamodb")

    def direct() -> None:
        direct_client.converse(modelId=ECHO_ARN, **request)

    body = json.dumps({"input": "positive"}).encode()
    headers = {"x-api-key": KEY, "content-type": "application/json"}
    runtime = app_module.runtime
    timed_store = TimedStore(runtime.invocation_context.store)
    dynamo_context = replace(runtime.invocation_context, store=timed_store)
    runtime.__dict__["invocation_context"] = dynamo_context
    memory_context = replace(dynamo_context, store=MemoryInvocationStore())

    def bare_put() -> None:
        """The item the app wrote last (same attributes and sizes), under a fresh id."""
        record = replace(timed_store.last, invocation_id=str(uuid.uuid4()))
        dynamodb.put_item(
            TableName=os.environ["INVOCATIONS_TABLE"],
            Item=to_item(asdict(record)),
            ConditionExpression="attribute_not_exists(invocation_id)",
        )

    with Client(app_module.app, stage_name="bench", project_dir=str(ROOT)) as client:

        def through_app() -> None:
            response = client.http.post("/v1/models/bench/invoke", headers=headers, body=body)
            assert response.status_code == 200, response.body

        @contextmanager
        def record_in_memory() -> Iterator[None]:
            runtime.__dict__["invocation_context"] = memory_context
            try:
                yield
            finally:
                runtime.__dict__["invocation_context"] = dynamo_context

        def through_app_memory() -> None:
            with record_in_memory():
                through_app()

        invoke_event = proxy_event("tunegate", KEY)

        def through_handler_memory() -> None:
            with record_in_memory():
                response = app_module.app(invoke_event, None)
            assert response["statusCode"] == 200, response

        cache = runtime.deployments
        file_registry = FileRegistry(load_registry(stack.models_file))

        def through_app_cold_cache() -> None:
            cache.invalidate()
            through_app_memory()

        def through_app_file_registry() -> None:
            """As before versions: the name looked up in the registry file, no version."""
            runtime.deployments = file_registry
            try:
                through_app_memory()
            finally:
                runtime.deployments = cache

        paths = {
            "(a) boto3 -> emulator": direct,
            "(b) app in-process -> emulator": through_app,
            "(c) as (b), record kept in memory": through_app_memory,
            "(d) bare put of the same item (moto)": bare_put,
            "(f) as (c), registry read every request": through_app_cold_cache,
            "(g) as (c), the registry file (before)": through_app_file_registry,
            "(h) as (c), proxy event to the handler": through_handler_memory,
        }
        for fn in paths.values():  # warm every path (connections, caches)
            timed(fn, 50)
        timed_store.samples.clear()
        samples = interleaved(paths, args.requests, block=100, warm=0)
        refresh = refresh_costs(cache, args.requests // 4)
    stack.stop()
    sys.stdout = out
    samples["(e) the app's put, inside (b)"] = timed_store.samples
    n = len(samples["(a) boto3 -> emulator"])
    print(f"gateway overhead, {n} requests per path, emulator latency 0 ms")
    print_table("path", samples, width=36)
    p50 = {name[:3]: percentile(values, 50) for name, values in samples.items()}
    a = p50["(a)"]
    notes = (
        ("(b)", ""),
        ("(c)", "  (our code without the DynamoDB round trip)"),
        ("(h)", "  (as (c), as Lambda runs it: no chalice.test harness)"),
    )
    for path, note in notes:
        overhead, ratio = p50[path] - a, p50[path] / a
        print(f"p50 overhead {path} - (a): {overhead:.3f} ms, ratio {ratio:.2f}{note}")
    print(
        f"versioned registry, cache warm, against the file: (c)/(a) = {p50['(c)'] / a:.2f}, "
        f"(g)/(a) = {p50['(g)'] / a:.2f}; (c) - (g) = {p50['(c)'] - p50['(g)']:.3f} ms"
    )
    print(
        f"record write, p50: the app's put (e) / bare put of the same item (d) = "
        f"{p50['(e)'] / p50['(d)']:.2f}; (b) - (c) = {p50['(b)'] - p50['(c)']:.3f} ms"
    )
    print_table("one registry cache refresh", refresh, width=36)
    print(f"load average (1/5/15 min): {os.getloadavg()}")


class FileRegistry:
    """Stands in for the registry cache with the registry file, as names resolved before
    versions (a view of itself: `get`, and `resolve` without a version)."""

    def __init__(self, registry: Any) -> None:
        self.registry = registry

    def view(self) -> FileRegistry:
        return self

    def get(self, name: str) -> Any:
        return self.registry.get(name)

    def resolve(self, name: str, routing_key: str | None = None) -> Any:
        from chalicelib.deployments.resolve import Resolved

        return Resolved(self.registry.get(name), None)  # type: ignore[arg-type]


def refresh_costs(cache: Any, n: int) -> dict[str, list[float]]:
    """One refresh of the registry cache, and its parts: the scan, the view from a snapshot
    (versions already validated: reused; cold: every version validated again)."""
    from chalicelib.deployments.resolve import RegistryView

    snapshot = cache.store.snapshot()
    warm_view = cache.view()
    print(f"registry: {len(snapshot.aliases)} aliases, {len(snapshot.versions)} versions")
    return {
        "refresh (scan + view)": timed(cache.refresh, n),
        "scan of the registry table (moto)": timed(cache.store.snapshot, n),
        "view from a snapshot, warm": timed(lambda: RegistryView(snapshot, warm_view), n),
        "view from a snapshot, cold": timed(lambda: RegistryView(snapshot), n),
    }


if __name__ == "__main__":
    main()
