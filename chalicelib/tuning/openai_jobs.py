"""OpenAI-compatible fine-tuning: upload the files, create the job, read it, cancel it, read
its loss from the result file (or the job's metrics events).

HTTP through `openai_api` (the one client for this API). The
create is sent once, never retried: OpenAI's fine-tuning API takes no idempotency token, so a
retry after a lost answer could start a second (billed) job.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chalicelib.tuning import openai_api
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


def upload_file(path: Path) -> str:
    """POST /files (multipart, purpose fine-tune); the file's id."""
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nfine-tune\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"'
        "\r\nContent-Type: application/jsonl\r\n\r\n"
    ).encode()
    body = head + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    raw = openai_api.request("POST", "/files", body, f"multipart/form-data; boundary={boundary}")
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
        created = openai_api.request_json("POST", "/fine_tuning/jobs", body)
        return ProviderState(
            STATUSES.get(str(created.get("status")), "queued"),
            ids={
                "provider_job_id": created["id"],
                "provider_files": {"training": training, "validation": validation},
            },
        )

    def read(self, job: Mapping[str, Any]) -> ProviderState:
        found = openai_api.request_json("GET", f"/fine_tuning/jobs/{job['provider_job_id']}")
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
        openai_api.request_json("POST", f"/fine_tuning/jobs/{job['provider_job_id']}/cancel")

    def metrics(self, job: Mapping[str, Any]) -> list[LossPoint]:
        per_epoch = _steps_per_epoch(job)
        for file_id in job.get("provider_result_files") or []:
            raw = openai_api.request("GET", f"/files/{file_id}/content")
            try:  # OpenAI serves the result file base64-encoded
                text = base64.b64decode(raw, validate=True).decode("utf-8", "replace")
            except (binascii.Error, ValueError):
                text = raw.decode("utf-8", "replace")
            try:
                return parse_openai_results(text, per_epoch)
            except LossFileError:
                continue
        events = openai_api.request_json(
            "GET", f"/fine_tuning/jobs/{job['provider_job_id']}/events?limit=1000"
        )
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
