"""OpenAI-compatible fine-tuning: upload the files, create the job, read it, cancel it, read
its loss from the result file (or the job's metrics events).

Standard library HTTP, as the OpenAI-compatible model provider does (no SDK in the Lambda
bundle); the key comes from the same two sources (an environment variable or a secret). The
create is sent once, never retried: OpenAI's fine-tuning API takes no idempotency token, so a
retry after a lost answer could start a second (billed) job.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chalicelib.config.settings import get_settings
from chalicelib.errors import (
    InvalidRequest,
    ModelError,
    NotFound,
    ServiceUnavailable,
    Throttled,
    TunegateError,
)
from chalicelib.providers.openai_compat import api_key
from chalicelib.tuning.loss import (
    LossFileError,
    LossPoint,
    parse_openai_events,
    parse_openai_results,
)
from chalicelib.tuning.providers import ProviderState, Submission

STATUSES = {
    "validating_files": "queued",
    "queued": "queued",
    "running": "running",
    "succeeded": "succeeded",
    "failed": "failed",
    "cancelled": "stopped",
}
TIMEOUT_SECONDS = 20


def _error(status: int, payload: bytes) -> TunegateError:
    try:
        message = str(json.loads(payload)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        message = payload[:300].decode("utf-8", "replace")
    if status == 429:
        return Throttled(f"OpenAI is throttling: {message}", retry_after=5)
    if status == 404:
        return NotFound(f"OpenAI: {message}")
    if status in (400, 409, 422):
        return InvalidRequest(f"OpenAI refused the job: {message}")
    if status in (401, 403):
        return ModelError("The OpenAI endpoint refused our credentials.", retryable=False)
    return ModelError(f"OpenAI failed (HTTP {status}): {message}")


def _request(
    method: str, path: str, body: bytes | None = None, content_type: str = "application/json"
) -> bytes:
    settings = get_settings()
    url = settings.tuning_openai_base_url.rstrip("/") + path
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = content_type
    key = api_key(settings.tuning_openai_api_key_env, settings.tuning_openai_api_key_secret_arn)
    if key:
        headers["Authorization"] = f"Bearer {key}"
    if not url.startswith(("https://", "http://")):
        raise ServiceUnavailable("TUNING_OPENAI_BASE_URL must be an http(s) URL.")
    request = urllib.request.Request(url, data=body, headers=headers, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            return bytes(response.read())
    except urllib.error.HTTPError as exc:
        raise _error(exc.code, exc.read()) from exc
    except OSError as exc:
        raise ServiceUnavailable("The OpenAI API could not be reached.", retry_after=5) from exc


def _json(method: str, path: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
    raw = _request(method, path, None if body is None else json.dumps(body).encode())
    try:
        found = json.loads(raw)
    except ValueError as exc:
        raise ModelError("The OpenAI API answered something unreadable.") from exc
    if not isinstance(found, dict):
        raise ModelError("The OpenAI API answered something unreadable.")
    return found


def upload_file(path: Path) -> str:
    """POST /files (multipart, purpose fine-tune); the file's id."""
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nfine-tune\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"'
        "\r\nContent-Type: application/jsonl\r\n\r\n"
    ).encode()
    body = head + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    raw = _request("POST", "/files", body, f"multipart/form-data; boundary={boundary}")
    return str(json.loads(raw)["id"])


class OpenAITuning:
    def submit(self, submission: Submission) -> ProviderState:
        job = submission.job
        training = upload_file(submission.training)
        validation = upload_file(submission.validation) if submission.validation else None
        body: dict[str, Any] = {
            "model": job["base_model"],
            "training_file": training,
            "hyperparameters": dict(submission.hyperparameters),
            "suffix": str(job["name"])[:18],
            "metadata": {"tunegate_tuning_job_id": job["tuning_job_id"]},
        }
        if validation:
            body["validation_file"] = validation
        created = _json("POST", "/fine_tuning/jobs", body)
        return ProviderState(
            STATUSES.get(str(created.get("status")), "queued"),
            ids={
                "provider_job_id": created["id"],
                "provider_files": {"training": training, "validation": validation},
            },
        )

    def read(self, job: Mapping[str, Any]) -> ProviderState:
        found = _json("GET", f"/fine_tuning/jobs/{job['provider_job_id']}")
        error = found.get("error") if isinstance(found.get("error"), dict) else None
        tokens = found.get("trained_tokens")
        return ProviderState(
            STATUSES.get(str(found.get("status")), "running"),
            custom_model=found.get("fine_tuned_model"),
            failure_message=str(error.get("message")) if error else None,
            trained_tokens=tokens if isinstance(tokens, int) else None,
            ids={
                "provider_result_files": list(found.get("result_files") or []),
                # "auto" resolved: the batch size the provider chose (epochs of the metrics)
                "provider_hyperparameters": found.get("hyperparameters") or {},
            },
        )

    def stop(self, job: Mapping[str, Any]) -> None:
        _json("POST", f"/fine_tuning/jobs/{job['provider_job_id']}/cancel")

    def metrics(self, job: Mapping[str, Any]) -> list[LossPoint]:
        per_epoch = _steps_per_epoch(job)
        for file_id in job.get("provider_result_files") or []:
            raw = _request("GET", f"/files/{file_id}/content")
            try:  # OpenAI serves the result file base64-encoded
                text = base64.b64decode(raw, validate=True).decode("utf-8", "replace")
            except (binascii.Error, ValueError):
                text = raw.decode("utf-8", "replace")
            try:
                return parse_openai_results(text, per_epoch)
            except LossFileError:
                continue
        events = _json("GET", f"/fine_tuning/jobs/{job['provider_job_id']}/events?limit=1000")
        data = events.get("data")
        return parse_openai_events(data if isinstance(data, list) else [], per_epoch)


def _steps_per_epoch(job: Mapping[str, Any]) -> int | None:
    batch = (job.get("provider_hyperparameters") or {}).get("batch_size")
    if not isinstance(batch, int):
        batch = (job.get("hyperparameters") or {}).get("batch_size", {}).get("value")
    records = ((job.get("data") or {}).get("training") or {}).get("records")
    if isinstance(batch, int) and batch > 0 and isinstance(records, int) and records > 0:
        return math.ceil(records / batch)
    return None
