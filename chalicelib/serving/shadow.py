"""Shadow traffic (CONTRACT section 7): an alias's `shadow` versions get a copy of each served
request, off the answer's path. The API sends one queue message per shadow version once the
served answer is recorded (a queue outage drops the copy, logs it and counts `ShadowDropped`;
it never fails the answer); the evaluation worker calls the version with the same request in
that version's own trained format (`in_shadow_format`) and stores its answer as an invocation
with `shadow_of` set.

The shadow record's id is derived from (served invocation, version): a redelivered message finds
it and writes nothing, and two deliveries racing both lose to the first put. A failed shadow call
is recorded as an `error` record, so nothing is retried forever.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

from chalicelib.config.registry import Deployment
from chalicelib.deployments.resolve import RegistryView
from chalicelib.errors import NotFound, TunegateError
from chalicelib.formats import InferenceParams, Message, Prompt
from chalicelib.observability import MetricUnit, logger, metrics, single_metric
from chalicelib.providers import complete
from chalicelib.providers.retries import RetryPolicy
from chalicelib.serving.invoke import _prompt_sha256, _stored_input
from chalicelib.serving.parsing import parse_output
from chalicelib.serving.prompting import reformat
from chalicelib.storage.dynamo import AlreadyExists
from chalicelib.storage.invocations import InvocationRecord, InvocationStore

KIND = "shadow"
#: SQS takes 256 KiB a message; a copy bigger than this is dropped (and counted), not split.
MAX_MESSAGE_BYTES = 240_000
_NAMESPACE = uuid.UUID("5d0f5a1e-7c1b-4d8e-9a43-1f2b6a8c0e11")


def shadow_id(served_id: str, version: int) -> str:
    """The shadow record's id: the same for every delivery of one copy."""
    return str(uuid.uuid5(_NAMESPACE, f"{served_id}/{version}"))


def count_dropped(reason: str, **extra: Any) -> None:
    logger.warning("shadow copy dropped", extra={"reason": reason, **extra})
    with single_metric(
        name="ShadowDropped", unit=MetricUnit.Count, value=1, namespace=metrics.namespace
    ):
        pass


@dataclass(frozen=True)
class ShadowMessage:
    """One copy of a served request for one shadow version."""

    model: str
    version: int
    shadow_of: str
    prompt: Prompt
    params: InferenceParams

    def body(self) -> str:
        data = {
            "type": KIND,
            "model": self.model,
            "version": self.version,
            "shadow_of": self.shadow_of,
            "system": self.prompt.system,
            "messages": [[m.role, m.content] for m in self.prompt.messages],
            "params": {**asdict(self.params), "stop": list(self.params.stop)},
        }
        return json.dumps(data, separators=(",", ":"))

    @staticmethod
    def matches(body: str) -> bool:
        """Whether `body` is a shadow message (cheap: no full parse of other kinds)."""
        return body.startswith('{"type":"shadow"')

    @classmethod
    def parse(cls, body: str) -> ShadowMessage:
        """Raises ValueError (or KeyError/TypeError) for a message this code did not write."""
        data = json.loads(body)
        if not isinstance(data, dict) or data.get("type") != KIND:
            raise ValueError("not a shadow message")
        params = dict(data["params"])
        params["stop"] = tuple(params.get("stop") or ())
        return cls(
            model=str(data["model"]),
            version=int(data["version"]),
            shadow_of=str(data["shadow_of"]),
            prompt=Prompt(
                tuple(Message(role, content) for role, content in data["messages"]),
                data.get("system"),
            ),
            params=InferenceParams(**params),
        )


class QueueShadowSink:
    """What invoke calls with each served request that has shadow versions: one message per
    version to the evaluation queue (its client made on first use)."""

    def __init__(self, queue_name: str) -> None:
        self.queue_name = queue_name
        self._queue: Any = None

    def __call__(
        self,
        model: str,
        versions: tuple[int, ...],
        served_id: str,
        prompt: Prompt,
        params: InferenceParams,
    ) -> None:
        messages = [ShadowMessage(model, v, served_id, prompt, params) for v in versions]
        if any(len(m.body().encode()) > MAX_MESSAGE_BYTES for m in messages):
            count_dropped("too large", model=model, shadow_of=served_id)
            return
        try:
            if self._queue is None:
                from chalicelib.jobs.queue import JobQueue  # not on a cold start's path

                self._queue = JobQueue(self.queue_name)
            self._queue.send(messages)
        except Exception:  # a queue outage never fails the served answer
            count_dropped("queue unreachable", model=model, shadow_of=served_id)


def run_shadow(
    message: ShadowMessage,
    deployment: Deployment,
    store: InvocationStore,
    retry: RetryPolicy,
    ttl_days: int,
) -> str:
    """Call the shadow version and record its answer once: "stored", "duplicate" (a
    redelivery) or "error" (the call failed; an error record is stored instead)."""
    record_id = shadow_id(message.shadow_of, message.version)
    if store.get_many([record_id]):
        return "duplicate"
    now = time.time()
    record = InvocationRecord(
        invocation_id=record_id,
        model=message.model,
        version=message.version,
        shadow_of=message.shadow_of,
        created_at=datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds"),
        latency_ms=0.0,
        model_latency_ms=0.0,
        status="error",
        input_sha256=_prompt_sha256(message.prompt),
        expires_at=int(now) + ttl_days * 86400,
    )
    started = time.perf_counter()
    outcome = "stored"
    try:
        completion = complete(deployment, message.prompt, message.params, retry)
    except TunegateError as exc:
        elapsed = round((time.perf_counter() - started) * 1000, 3)
        record = replace(record, latency_ms=elapsed, model_latency_ms=elapsed, error_code=exc.code)
        outcome = "error"
    else:
        elapsed = round((time.perf_counter() - started) * 1000, 3)
        parsed = parse_output(deployment.output, completion.text)
        stored = deployment.store_inputs
        record = replace(
            record,
            latency_ms=elapsed,
            model_latency_ms=elapsed,
            status="ok" if parsed.valid else "invalid",
            prediction=parsed.prediction,
            input_tokens=completion.input_tokens,
            output_tokens=completion.output_tokens,
            input=_stored_input(message.prompt) if stored else None,
            output=completion.text if stored else None,
        )
    try:
        store.put(record)
    except AlreadyExists:
        return "duplicate"
    return outcome


def in_shadow_format(
    message: ShadowMessage, shadow: Deployment, store: InvocationStore, view: RegistryView
) -> ShadowMessage:
    """The copy in the shadow version's own trained format: the served record names the version
    that rendered it, whose format comes off first (serving/prompting.py `reformat`). Without
    that record or version (expired, or from before versions) the copy goes as it came."""
    served = store.get_many([message.shadow_of]).get(message.shadow_of)
    if served is None or served.version is None:
        return message
    try:
        _, source = view.version(message.model, served.version)
    except NotFound:
        return message
    prompt, params = reformat(message.prompt, message.params, source, shadow)
    return replace(message, prompt=prompt, params=params)


def handle_shadow_body(body: str, receives: int) -> None:
    """The worker's handling of one shadow message: a message it cannot use, a version that no
    longer exists, or the last delivery of one whose record cannot be written is dropped (and
    counted); an earlier failed delivery raises, so the queue delivers it again."""
    from chalicelib.config.settings import MAX_RECEIVES
    from chalicelib.runtime import get_runtime

    try:
        message = ShadowMessage.parse(body)
    except (ValueError, KeyError, TypeError):
        count_dropped("unreadable message")
        return
    logger.set_correlation_id(message.shadow_of)  # the served invocation's id
    runtime = get_runtime()
    extra = {"model": message.model, "version": message.version, "shadow_of": message.shadow_of}
    view = runtime.deployments.view()
    try:
        _, deployment = view.version(message.model, message.version)
    except NotFound:
        count_dropped("unknown version", **extra)
        return
    message = in_shadow_format(message, deployment, runtime.invocations, view)
    try:
        outcome = run_shadow(
            message,
            deployment,
            runtime.invocations,
            runtime.invocation_context.retry,
            runtime.settings.invocation_ttl_days,
        )
    except Exception:
        if receives >= MAX_RECEIVES:
            count_dropped("not recorded after every attempt", **extra)
            return
        raise
    logger.info("shadow invocation " + outcome, extra=extra)
