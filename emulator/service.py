"""Turns one HTTP request into one reply: routing, scripts, faults and the models. No sockets."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from emulator import bedrock, openai_api
from emulator.bedrock_control import BedrockControlPlane
from emulator.faults import FaultConfig, FaultPlan, ScriptEntry
from emulator.models import Generation, ModelRequest, ModelTable, finish
from emulator.openai_finetune import OpenAIFineTuning
from emulator.pacing import Pace
from emulator.wire import (
    ApiError,
    Reply,
    bedrock_error,
    json_reply,
    openai_error,
    openai_error_from,
)

_MODEL_ROUTE = re.compile(r"^/model/([^/]+)/(invoke|converse)$")
_OPENAI_ROUTES = {"/openai/v1/completions": "completions", "/openai/v1/chat/completions": "chat"}


@dataclass(frozen=True, slots=True)
class Front:
    """How one API family renders answers, errors and deliberately broken bodies."""

    answer: Callable[[ModelRequest, Generation, int], Reply]
    error: Callable[[ApiError], Reply]
    malformed: Callable[[ModelRequest, bool], Reply]


def _unknown_operation(method: str, path: str) -> Reply:
    return json_reply(
        404,
        {"message": f"No operation matches {method} {path}"},
        {"x-amzn-ErrorType": "UnknownOperationException"},
    )


class Emulation:
    """Bedrock routes `POST /model/{id}/invoke|converse`, OpenAI-compatible routes under
    `/openai/v1/`, and control routes under `/_emulator/` (health, faults, script, stats,
    reset), which faults never touch."""

    def __init__(
        self,
        table: ModelTable,
        plan: FaultPlan,
        stopping: threading.Event,
        control_plane_step_seconds: float = 0.0,
    ):
        self.table = table
        self.plan = plan
        self._stopping = stopping
        pace = Pace(control_plane_step_seconds, stopping)
        self.control_plane = BedrockControlPlane(table, plan, pace)
        self.fine_tuning = OpenAIFineTuning(table, plan, pace)
        self._connections_lock = threading.Lock()
        self.connections = 0

    def connection_opened(self) -> None:
        with self._connections_lock:
            self.connections += 1

    def route(
        self,
        method: str,
        target: str,
        raw: bytes,
        authorization: str | None = None,
        content_type: str | None = None,
    ) -> Reply:
        parts = urlsplit(target)
        path = parts.path
        model_route = _MODEL_ROUTE.match(path)
        if model_route and method == "POST":
            return self.bedrock(model_route.group(2), unquote(model_route.group(1)), raw)
        if path in _OPENAI_ROUTES and method == "POST":
            return self.openai(_OPENAI_ROUTES[path], authorization, raw)
        if path.startswith("/_emulator/"):
            return self.control(method, path.removeprefix("/_emulator/"), raw)
        if path.startswith(("/openai/v1/files", "/openai/v1/fine_tuning/")):
            if not _bearer(authorization):
                return _missing_key()
            reply = self.fine_tuning.route(method, path, parts.query, raw, content_type)
            if reply is not None:
                return reply
        else:
            reply = self.control_plane.route(method, path, parts.query, raw)
            if reply is not None:
                return reply
        return _unknown_operation(method, path)

    # --- model routes ----------------------------------------------------------------------

    def bedrock(self, operation: str, model_id: str, raw: bytes) -> Reply:
        try:
            kind = self.table.kind(model_id)
            parse = bedrock.parse_invoke if operation == "invoke" else bedrock.parse_converse
            request = parse(raw)
        except ApiError as error:
            self.plan.record(model_id, operation, error.error_type)
            return bedrock_error(error)
        front = Front(
            answer=lambda req, out, ms: bedrock.answer(req, out, model_id, ms),
            error=bedrock_error,
            malformed=bedrock.malformed,
        )
        return self._call(model_id, operation, kind, request, front)

    def openai(self, endpoint: str, authorization: str | None, raw: bytes) -> Reply:
        model = openai_api.model_name(raw) or "<unknown>"
        api = f"openai_{endpoint}"
        if not _bearer(authorization):
            self.plan.record(model, api, "Unauthorized")
            return _missing_key()
        try:
            request = openai_api.parse(endpoint, raw)
            kind = self.table.kind(model)
        except ApiError as error:
            self.plan.record(model, api, error.error_type)
            if error.error_type == "ResourceNotFoundException":
                error.message = f"The model `{model}` does not exist or you do not have access."
            return openai_error_from(error)
        front = Front(
            answer=lambda req, out, _ms: openai_api.answer(req, out, model),
            error=openai_error_from,
            malformed=openai_api.malformed,
        )
        return self._call(model, api, kind, request, front)

    def _call(
        self, model_id: str, api: str, kind: str, request: ModelRequest, front: Front
    ) -> Reply:
        started = time.perf_counter()
        entry = self.plan.next_script(model_id)
        config = self.plan.config
        delay_ms = config.latency_ms + config.model_latency_ms.get(model_id, 0)
        delay_ms += entry.delay_ms if entry else 0
        if delay_ms:
            self._stopping.wait(delay_ms / 1000)
        outcome, result = self._decide(model_id, kind, request, entry, front)
        # Recorded before a timeout's wait, so stats never change after the client gave up.
        self.plan.record(model_id, api, outcome)
        if outcome == "timeout":
            self._stopping.wait(self.plan.config.timeout_seconds)
        if isinstance(result, ApiError):
            return front.error(result)
        if isinstance(result, Reply):
            return result
        return front.answer(request, result, round((time.perf_counter() - started) * 1000))

    def _decide(
        self,
        model_id: str,
        kind: str,
        request: ModelRequest,
        entry: ScriptEntry | None,
        front: Front,
    ) -> tuple[str, Generation | Reply | ApiError]:
        """The outcome name for stats and what to answer: script first, then faults, then model."""
        if entry is not None and not entry.only_delay:
            if entry.raw_body is not None:
                return "raw", Reply(entry.status, entry.raw_body.encode())
            if entry.error is not None:
                return entry.error, ApiError(entry.error, entry.message)
            return "ok", finish(request, entry.text or "")
        fault = self.plan.draw()
        if fault is None:
            try:
                return "ok", self.table.generate(kind, request, model_id)
            except ApiError as error:
                return error.error_type, error
        if fault.outcome == "timeout":
            return "timeout", ApiError("ModelTimeoutException")
        if fault.outcome == "malformed":
            return "malformed", front.malformed(request, fault.invalid_json)
        return fault.outcome, ApiError(fault.outcome)

    # --- control routes --------------------------------------------------------------------

    def control(self, method: str, action: str, raw: bytes) -> Reply:
        try:
            if (method, action) == ("GET", "health"):
                return json_reply(200, self.health())
            if (method, action) == ("GET", "stats"):
                return json_reply(200, self.plan.stats())
            if (method, action) == ("GET", "faults"):
                return json_reply(200, self.plan.describe())
            if (method, action) == ("POST", "faults"):
                self.plan.configure(FaultConfig.from_mapping(_json_object(raw)))
                return json_reply(200, self.plan.describe())
            if (method, action) == ("POST", "script"):
                entries = _json(raw)
                if not isinstance(entries, list):
                    raise ValueError("the script must be a JSON list of entries")
                self.plan.add_script([ScriptEntry.from_mapping(e) for e in entries])
                return json_reply(200, {"pending": self.plan.stats()["script_pending"]})
            if (method, action) == ("POST", "reset"):
                self.plan.reset()
                return json_reply(200, {"status": "reset"})
        except (ValueError, TypeError) as problem:
            return json_reply(400, {"message": str(problem)})
        return json_reply(404, {"message": f"no control route {method} /_emulator/{action}"})

    def health(self) -> dict[str, Any]:
        classifier = self.table.classifier
        return {
            "status": "ok",
            "models": self.table.models,
            "connections": self.connections,
            "reference_model": {
                "loaded": classifier is not None,
                "labels": list(classifier.labels) if classifier else [],
                "train_examples": classifier.train_size if classifier else 0,
            },
        }


def _bearer(authorization: str | None) -> bool:
    scheme, _, token = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and bool(token.strip())


def _missing_key() -> Reply:
    return openai_error(
        401,
        "You didn't provide an API key. You need to provide your API key in an "
        "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        "invalid_request_error",
        "invalid_api_key",
    )


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise ValueError("the body is not valid JSON") from None


def _json_object(raw: bytes) -> dict[str, Any]:
    body = _json(raw) if raw.strip() else {}
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object")
    return body
