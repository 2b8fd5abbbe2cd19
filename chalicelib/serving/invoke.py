"""Invoke a deployment: format the request as the model was trained, call it, parse, record."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from chalicelib.api.models import InvokeRequest, InvokeResponse, Usage
from chalicelib.config.registry import Deployment
from chalicelib.errors import PayloadTooLarge, TunegateError
from chalicelib.formats import InferenceParams, Message, Prompt
from chalicelib.observability import MetricUnit, add_version_dimensions, logger, metrics
from chalicelib.providers import complete
from chalicelib.providers.retries import RetryPolicy
from chalicelib.serving.feedback_tokens import issue_feedback_token
from chalicelib.serving.parsing import parse_output
from chalicelib.serving.prompting import render_prompt, resolve_params
from chalicelib.storage.invocations import InvocationRecord, InvocationStore
from chalicelib.tracing import annotate


class ShadowSink(Protocol):
    """Where copies of a served request go for the alias's shadow versions (serving/shadow.py)."""

    def __call__(
        self,
        model: str,
        versions: tuple[int, ...],
        served_id: str,
        prompt: Prompt,
        params: InferenceParams,
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class InvocationContext:
    store: InvocationStore
    token_secret: bytes
    token_ttl_seconds: int
    max_input_chars: int
    record_ttl_days: int
    #: How hard the provider tries within API Gateway's time budget (providers/retries.py).
    retry: RetryPolicy
    log_payloads: bool = False
    shadow: ShadowSink | None = None


def invoke(
    deployment: Deployment,
    request: InvokeRequest,
    ctx: InvocationContext,
    version: int | None = None,
    shadows: tuple[int, ...] = (),
) -> InvokeResponse:
    """Invoke `deployment` (version `version` of its alias, named in the answer, the record,
    the logs and the metrics); `shadows` get a copy once the answer is recorded."""
    started = time.perf_counter()
    if request.text_length() > ctx.max_input_chars:
        raise PayloadTooLarge(
            f"The input is longer than the limit of {ctx.max_input_chars} characters."
        )
    messages = tuple(Message(m.role, m.content) for m in request.messages or ())
    prompt = render_prompt(
        deployment.prompt, input_text=request.input, messages=messages, system=request.system
    )
    params = resolve_params(deployment.inference, **request.parameters.model_dump())
    return invoke_prompt(
        deployment, prompt, params, ctx, request.metadata, started, version=version, shadows=shadows
    ).response


@dataclass(frozen=True, slots=True)
class Invocation:
    """An answer as invoke returns it, plus why generation ended (the OpenAI routes'
    `finish_reason`): the family's stop reason, or "stop_sequence" where a stop cut the text."""

    response: InvokeResponse
    stop_reason: str | None


def invoke_prompt(
    deployment: Deployment,
    prompt: Prompt,
    params: InferenceParams,
    ctx: InvocationContext,
    metadata: Mapping[str, str] | None = None,
    started: float | None = None,
    version: int | None = None,
    shadows: tuple[int, ...] = (),
) -> Invocation:
    """Call, parse and record one prompt already in the deployment's trained format; then send
    a copy to each of `shadows` (never failing the answer)."""
    started = time.perf_counter() if started is None else started
    invocation_id = str(uuid.uuid4())
    logger.set_correlation_id(invocation_id)  # feedback on this answer logs the same id
    logger.append_keys(invocation_id=invocation_id, model=deployment.name, version=version)
    annotate("model", deployment.name)
    annotate("invocation_id", invocation_id)
    metrics.add_dimension(name="model", value=deployment.name)
    if version is not None:
        annotate("version", str(version))
        add_version_dimensions(deployment.name, version)
    metrics.add_metric(name="Invocations", unit=MetricUnit.Count, value=1)
    try:
        answer = _call_and_record(
            deployment, prompt, params, dict(metadata or {}), invocation_id, ctx, started, version
        )
        if shadows and ctx.shadow is not None:
            _copy_to_shadows(ctx.shadow, deployment.name, shadows, invocation_id, prompt, params)
        return answer
    finally:
        elapsed_ms = (time.perf_counter() - started) * 1000
        metrics.add_metric(name="InvocationLatency", unit=MetricUnit.Milliseconds, value=elapsed_ms)


def _call_and_record(
    deployment: Deployment,
    prompt: Prompt,
    params: InferenceParams,
    metadata: dict[str, str],
    invocation_id: str,
    ctx: InvocationContext,
    started: float,
    version: int | None,
) -> Invocation:
    now = time.time()
    record = InvocationRecord(
        invocation_id=invocation_id,
        model=deployment.name,
        version=version,
        created_at=datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds"),
        latency_ms=0.0,
        model_latency_ms=0.0,
        status="error",
        input_sha256=_prompt_sha256(prompt),
        metadata=metadata,
        expires_at=int(now) + ctx.record_ttl_days * 86400,
    )
    model_started = time.perf_counter()
    try:
        completion = complete(deployment, prompt, params, ctx.retry)
    except TunegateError as exc:
        _record_failure(ctx, record, exc, started, model_started)
        raise
    model_ms = (time.perf_counter() - model_started) * 1000
    parsed = parse_output(deployment.output, completion.text)
    status = "ok" if parsed.valid else "invalid"
    latency_ms = round((time.perf_counter() - started) * 1000, 3)
    ctx.store.put(
        replace(
            record,
            latency_ms=latency_ms,
            model_latency_ms=round(model_ms, 3),
            status=status,
            prediction=parsed.prediction,
            input_tokens=completion.input_tokens,
            output_tokens=completion.output_tokens,
            input=_stored_input(prompt) if deployment.store_inputs else None,
            output=completion.text if deployment.store_inputs else None,
        )
    )
    _emit_success_metrics(model_ms, parsed.valid, completion.input_tokens, completion.output_tokens)
    extra: dict[str, object] = {
        "invocation_id": invocation_id,
        "status": status,
        "model_latency_ms": round(model_ms, 3),
    }
    if ctx.log_payloads:
        extra["output"] = completion.text
    logger.info("invocation", extra=extra)
    token = issue_feedback_token(
        ctx.token_secret,
        invocation_id,
        deployment.name,
        now=now,
        ttl_seconds=ctx.token_ttl_seconds,
        version=version,
    )
    response = InvokeResponse(
        invocation_id=invocation_id,
        model=deployment.name,
        version=version,
        output=completion.text,
        prediction=parsed.prediction,
        valid=parsed.valid,
        latency_ms=latency_ms,
        usage=Usage(input_tokens=completion.input_tokens, output_tokens=completion.output_tokens),
        feedback_token=token,
    )
    return Invocation(response, completion.stop_reason)


def _copy_to_shadows(
    sink: ShadowSink,
    model: str,
    shadows: tuple[int, ...],
    invocation_id: str,
    prompt: Prompt,
    params: InferenceParams,
) -> None:
    try:
        sink(model, shadows, invocation_id, prompt, params)
    except Exception:  # the served answer is already recorded: it is returned whatever happens
        logger.warning("shadow copies not sent", exc_info=True)
        metrics.add_metric(name="ShadowDropped", unit=MetricUnit.Count, value=len(shadows))


def _record_failure(
    ctx: InvocationContext,
    record: InvocationRecord,
    exc: TunegateError,
    started: float,
    model_started: float,
) -> None:
    """Count and record a failed model call; the model's error stays the one the client sees."""
    now = time.perf_counter()
    metrics.add_metric(name="Errors", unit=MetricUnit.Count, value=1)
    if exc.code == "throttled":
        metrics.add_metric(name="Throttles", unit=MetricUnit.Count, value=1)
    logger.warning("model call failed", extra={"error_code": exc.code})
    failed = replace(
        record,
        latency_ms=round((now - started) * 1000, 3),
        model_latency_ms=round((now - model_started) * 1000, 3),
        error_code=exc.code,
    )
    try:
        ctx.store.put(failed)
    except TunegateError:
        logger.warning("failed invocation could not be recorded")


def _emit_success_metrics(
    model_ms: float, valid: bool, input_tokens: int | None, output_tokens: int | None
) -> None:
    metrics.add_metric(name="ModelLatency", unit=MetricUnit.Milliseconds, value=model_ms)
    if not valid:
        metrics.add_metric(name="InvalidOutputs", unit=MetricUnit.Count, value=1)
    if input_tokens is not None:
        metrics.add_metric(name="InputTokens", unit=MetricUnit.Count, value=input_tokens)
    if output_tokens is not None:
        metrics.add_metric(name="OutputTokens", unit=MetricUnit.Count, value=output_tokens)


def _prompt_sha256(prompt: Prompt) -> str:
    canonical = json.dumps([prompt.system, [(m.role, m.content) for m in prompt.messages]])
    return hashlib.sha256(canonical.encode()).hexdigest()


def _stored_input(prompt: Prompt) -> dict[str, Any]:
    return {
        "system": prompt.system,
        "messages": [{"role": m.role, "content": m.content} for m in prompt.messages],
    }
