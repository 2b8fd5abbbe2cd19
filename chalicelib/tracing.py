"""X-Ray tracing through Powertools' Tracer, paid for only where it can work: inside Lambda.

Building a Tracer imports `aws_xray_sdk` even when tracing is disabled (its cold-start cost: the
"X-Ray on" rows of docs/BENCHMARKS.md). So the Tracer is created on the first traced event, and
only when the process runs in Lambda (not under `chalice local` or SAM) and
`POWERTOOLS_TRACE_DISABLED` is not set: local runs, tests and the cold start of an untraced
stage never import the SDK. A stage turns tracing on with
`"xray": true` in `.chalice/config.json` (Lambda `Tracing: Active`, API Gateway tracing).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING

from chalicelib.observability import SERVICE

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

# botocore: Bedrock, DynamoDB, SQS, S3 calls; httplib: OpenAI-compatible endpoints (urllib).
PATCHED_MODULES = ("botocore", "httplib")
_TRUTHY = {"1", "true", "yes", "on", "y", "t"}


def tracing_enabled(environ: Mapping[str, str] = os.environ) -> bool:
    """The same rule as Powertools' Tracer, decided without importing the X-Ray SDK."""
    if environ.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower() in _TRUTHY:
        return False
    in_lambda = bool(environ.get("LAMBDA_TASK_ROOT"))
    emulated = bool(environ.get("AWS_SAM_LOCAL") or environ.get("AWS_CHALICE_CLI_MODE"))
    return in_lambda and not emulated


@lru_cache(maxsize=1)
def get_tracer() -> Tracer | None:
    """The process's Tracer, or None where tracing is off (checked once per process)."""
    if not tracing_enabled():
        return None
    from aws_lambda_powertools import Tracer

    tracer = Tracer(service=SERVICE, auto_patch=False)
    tracer.patch(modules=PATCHED_MODULES)
    return tracer


@contextmanager
def traced(name: str, annotations: Mapping[str, str | bool] | None = None) -> Iterator[None]:
    """Run the block in an X-Ray subsegment `name` carrying `annotations` (a no-op when off).

    An exception leaving the block is recorded on the subsegment by the SDK and re-raised.
    """
    tracer = get_tracer()
    if tracer is None:
        yield
        return
    with tracer.provider.in_subsegment(name=name) as subsegment:
        for key, value in (annotations or {}).items():
            subsegment.put_annotation(key=key, value=value)
        yield


def annotate(key: str, value: str | bool) -> None:
    """Add an indexed annotation (e.g. the model) to the current subsegment, when tracing."""
    tracer = get_tracer()
    if tracer is not None:
        tracer.put_annotation(key=key, value=value)
