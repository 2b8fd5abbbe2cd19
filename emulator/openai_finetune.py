"""OpenAI's files and fine-tuning API under `/openai/v1/` as the `openai` SDK calls it: upload a
JSON Lines file, create a job (n_epochs, batch_size, learning_rate_multiplier, suffix), watch
its status and events, cancel it. A job trains the same local classifier as Bedrock's jobs; its
`fine_tuned_model` ("ft:<base>:tunegate:<suffix>:<id>") then answers the completions and chat
routes. Like OpenAI, a finished job has one result file, `step_metrics.csv` (columns step,
train_loss, train_accuracy, valid_loss, valid_mean_token_accuracy), whose content is
base64-encoded."""

from __future__ import annotations

import base64
import email.parser
import email.policy
import io
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from emulator.faults import FaultPlan
from emulator.models import ModelTable
from emulator.pacing import Pace
from emulator.trainer import (
    DataError,
    TrainedClassifier,
    TrainingPlan,
    TrainingResult,
    parse_examples,
    train,
)
from emulator.wire import Reply, json_reply, openai_error

_FILE = re.compile(r"^/openai/v1/files/([^/]+)$")
_FILE_CONTENT = re.compile(r"^/openai/v1/files/([^/]+)/content$")
_JOB = re.compile(r"^/openai/v1/fine_tuning/jobs/([^/]+)$")
_JOB_ACTION = re.compile(r"^/openai/v1/fine_tuning/jobs/([^/]+)/(events|cancel)$")
ORGANIZATION = "org-tunegate"


def _oid(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(12)}"


class _Problem(Exception):
    def __init__(
        self, status: int, message: str, param: str | None = None, code: str | None = None
    ):
        self.status, self.message, self.param, self.code = status, message, param, code
        super().__init__(message)


@dataclass
class StoredFile:
    id: str
    filename: str
    purpose: str
    content: bytes
    created_at: int = field(default_factory=lambda: int(time.time()))

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.content),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "status_details": None,
        }


@dataclass
class FineTuningJob:
    id: str
    model: str
    training_file: str
    validation_file: str | None
    plan: TrainingPlan
    suffix: str | None
    seed: int
    parent: TrainedClassifier | None
    status: str = "validating_files"
    created_at: int = field(default_factory=lambda: int(time.time()))
    finished_at: int | None = None
    fine_tuned_model: str | None = None
    result_files: list[str] = field(default_factory=list)
    trained_tokens: int | None = None
    error: dict[str, Any] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    cancel: threading.Event = field(default_factory=threading.Event)

    def describe(self) -> dict[str, Any]:
        hyper = {
            "n_epochs": self.plan.epochs,
            "batch_size": self.plan.batch_size,
            "learning_rate_multiplier": self.plan.learning_rate_multiplier,
        }
        return {
            "id": self.id,
            "object": "fine_tuning.job",
            "model": self.model,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "fine_tuned_model": self.fine_tuned_model,
            "organization_id": ORGANIZATION,
            "result_files": list(self.result_files),
            "status": self.status,
            "training_file": self.training_file,
            "validation_file": self.validation_file,
            "hyperparameters": hyper,
            "trained_tokens": self.trained_tokens,
            "error": self.error,
            "seed": self.seed,
            "estimated_finish": None,
            "integrations": [],
            "metadata": None,
            "user_provided_suffix": self.suffix,
            "method": {"type": "supervised", "supervised": {"hyperparameters": hyper}},
        }

    def event(
        self, message: str, level: str = "info", data: Any = None, kind: str = "message"
    ) -> None:
        self.events.append(
            {
                "object": "fine_tuning.job.event",
                "id": _oid("ftevent"),
                "created_at": int(time.time()),
                "level": level,
                "message": message,
                "data": data,
                "type": kind,
            }
        )


class OpenAIFineTuning:
    def __init__(self, table: ModelTable, plan: FaultPlan, pace: Pace):
        self.table = table
        self.plan = plan
        self.pace = pace
        self._lock = threading.Lock()
        self.files: dict[str, StoredFile] = {}
        self.jobs: dict[str, FineTuningJob] = {}
        self.models: dict[str, TrainedClassifier] = {}

    def route(
        self, method: str, path: str, query: str, raw: bytes, content_type: str | None
    ) -> Reply | None:
        operation = f"{method} {path}"
        entry = self.plan.next_exact("control:openai")
        if entry is not None and entry.error is not None:
            self.plan.record("openai-fine-tuning", operation, entry.error)
            status = 429 if entry.error == "ThrottlingException" else 500
            kind = "requests" if status == 429 else "server_error"
            return openai_error(
                status,
                entry.message or "Rate limit reached.",
                kind,
                "rate_limit_exceeded" if status == 429 else None,
            )
        try:
            reply = self._dispatch(method, path, parse_qs(query), raw, content_type)
        except _Problem as problem:
            kind = "invalid_request_error" if problem.status < 500 else "server_error"
            return openai_error(problem.status, problem.message, kind, problem.code, problem.param)
        if reply is not None:
            self.plan.record("openai-fine-tuning", operation, "ok")
        return reply

    def _dispatch(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        raw: bytes,
        content_type: str | None,
    ) -> Reply | None:
        if path == "/openai/v1/files":
            if method == "POST":
                return json_reply(200, self._upload(raw, content_type).describe())
            if method == "GET":
                with self._lock:
                    data = [f.describe() for f in self.files.values()]
                return json_reply(200, {"object": "list", "data": data, "has_more": False})
        if (match := _FILE_CONTENT.match(path)) and method == "GET":
            stored = self._file(match.group(1))
            return Reply(200, stored.content, {"Content-Type": "application/octet-stream"})
        if (match := _FILE.match(path)) and method == "GET":
            return json_reply(200, self._file(match.group(1)).describe())
        if path == "/openai/v1/fine_tuning/jobs":
            if method == "POST":
                return json_reply(200, self._create(raw))
            if method == "GET":
                with self._lock:
                    jobs = sorted(self.jobs.values(), key=lambda j: j.created_at, reverse=True)
                    data = [j.describe() for j in jobs]
                return json_reply(200, {"object": "list", "data": data, "has_more": False})
        if (match := _JOB.match(path)) and method == "GET":
            job = self._job(match.group(1))
            with self._lock:
                return json_reply(200, job.describe())
        if (match := _JOB_ACTION.match(path)) and match.group(2) == "events" and method == "GET":
            return json_reply(200, self._events(self._job(match.group(1)), query))
        if (match := _JOB_ACTION.match(path)) and match.group(2) == "cancel" and method == "POST":
            return json_reply(200, self._cancel(self._job(match.group(1))))
        return None

    # --- files ----------------------------------------------------------------------------

    def _upload(self, raw: bytes, content_type: str | None) -> StoredFile:
        if not content_type or not content_type.startswith("multipart/form-data"):
            raise _Problem(400, "Expected a multipart/form-data upload with file and purpose.")
        head = f"Content-Type: {content_type}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
        fields: dict[str, Any] = {}
        filename = "upload.jsonl"
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
            if name == "file":
                filename = part.get_filename() or filename
                fields["file"] = data
            elif isinstance(name, str):
                fields[name] = data.decode(errors="replace")
        if "file" not in fields:
            raise _Problem(400, "Missing required parameter: 'file'.", "file")
        purpose = fields.get("purpose")
        if purpose not in ("fine-tune", "batch", "assistants", "user_data", "evals"):
            raise _Problem(400, f"Invalid purpose {purpose!r}.", "purpose")
        stored = StoredFile(_oid("file"), filename, purpose, fields["file"])
        with self._lock:
            self.files[stored.id] = stored
        return stored

    def _file(self, file_id: str) -> StoredFile:
        with self._lock:
            stored = self.files.get(file_id)
        if stored is None:
            raise _Problem(404, f"No such File object: {file_id}", "id")
        return stored

    # --- jobs -----------------------------------------------------------------------------

    def _create(self, raw: bytes) -> dict[str, Any]:
        import json

        try:
            body = json.loads(raw or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise _Problem(400, "The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise _Problem(400, "The request body must be a JSON object.")
        model, training = body.get("model"), body.get("training_file")
        if not isinstance(model, str) or not model:
            raise _Problem(400, "Missing required parameter: 'model'.", "model")
        if not isinstance(training, str):
            raise _Problem(400, "Missing required parameter: 'training_file'.", "training_file")
        self._file(training)
        validation = body.get("validation_file")
        if validation is not None:
            self._file(validation)
        hyper = body.get("hyperparameters") or {}
        method = body.get("method") or {}
        if isinstance(method, dict) and isinstance(method.get("supervised"), dict):
            hyper = method["supervised"].get("hyperparameters") or hyper
        plan = _plan(hyper)
        parent = None
        if model.startswith("ft:"):
            with self._lock:
                parent = self.models.get(model)
            if parent is None:
                raise _Problem(
                    404, f"The model '{model}' does not exist", "model", "model_not_found"
                )
        suffix = body.get("suffix")
        job = FineTuningJob(
            _oid("ftjob"),
            model,
            training,
            validation,
            plan,
            suffix if isinstance(suffix, str) else None,
            int(body.get("seed") or 0),
            parent,
        )
        job.event(f"Validating training file: {training}")
        with self._lock:
            self.jobs[job.id] = job
            described = job.describe()
        self.pace.start(lambda: self._run(job), f"openai-job:{job.id}")
        return described

    def _job(self, job_id: str) -> FineTuningJob:
        with self._lock:
            job = self.jobs.get(job_id)
        if job is None:
            raise _Problem(
                404,
                f"Could not find fine tune job: {job_id}",
                "fine_tuning_job_id",
                "fine_tune_not_found",
            )
        return job

    def _events(self, job: FineTuningJob, query: dict[str, list[str]]) -> dict[str, Any]:
        try:
            limit = int((query.get("limit") or ["20"])[0])
        except ValueError:
            raise _Problem(400, "limit must be an integer.", "limit") from None
        with self._lock:
            events = list(reversed(job.events))
        after = (query.get("after") or [""])[0]
        if after:
            ids = [e["id"] for e in events]
            events = events[ids.index(after) + 1 :] if after in ids else []
        return {"object": "list", "data": events[:limit], "has_more": len(events) > limit}

    def _cancel(self, job: FineTuningJob) -> dict[str, Any]:
        with self._lock:
            if job.status in ("succeeded", "failed", "cancelled"):
                raise _Problem(400, f"Job {job.id} has already {job.status}.")
            job.cancel.set()
            job.status = "cancelled"
            job.finished_at = int(time.time())
            job.event("Fine-tuning job cancelled")
            return job.describe()

    def _set(self, job: FineTuningJob, status: str, message: str) -> bool:
        """Move on unless the job was cancelled meanwhile (False then)."""
        with self._lock:
            if job.status == "cancelled":
                return False
            job.status = status
            job.event(message)
            return True

    def _run(self, job: FineTuningJob) -> None:
        try:
            examples = parse_examples(self._file(job.training_file).content, "training file")
            validation = []
            if job.validation_file:
                validation = parse_examples(
                    self._file(job.validation_file).content, "validation file"
                )
            if self.pace.wait(job.cancel) or not self._set(
                job, "queued", "Files validated, moving job to queued state"
            ):
                return
            if self.pace.wait(job.cancel) or not self._set(
                job, "running", "Fine-tuning job started"
            ):
                return
            result = train(examples, validation, job.plan, job.parent, job.cancel.is_set)
            if result.cancelled or self.pace.wait(job.cancel):
                return
            self._succeed(job, result, sum(len(e.text.split()) + 1 for e in examples))
        except DataError as problem:
            self._fail(
                job,
                "invalid_training_file"
                if problem.source == "training file"
                else "invalid_validation_file",
                f"The job failed due to an invalid {problem.source}: line "
                f"{problem.line}: {problem.problem}",
            )
        except ValueError as problem:
            self._fail(job, "invalid_training_file", str(problem))

    def _succeed(self, job: FineTuningJob, result: TrainingResult, tokens: int) -> None:
        name = f"ft:{job.model.removeprefix('ft:').split(':')[0]}:tunegate:{job.suffix or ''}:"
        name += job.id.removeprefix("ftjob-")[:8]
        csv = base64.b64encode(step_metrics_csv(result))
        stored = StoredFile(_oid("file"), "step_metrics.csv", "fine-tune-results", csv)
        with self._lock:
            if job.status == "cancelled":
                return
            total = len(result.steps)
            for row in result.steps:
                valid = next((v for v in result.validation if v.step == row.step), None)
                data = {
                    "step": row.step + 1,
                    "train_loss": row.loss,
                    "train_mean_token_accuracy": row.accuracy,
                }
                message = f"Step {row.step + 1}/{total}: training loss={row.loss:.2f}"
                if valid is not None:
                    data |= {"valid_loss": valid.loss, "valid_mean_token_accuracy": valid.accuracy}
                    message += f", validation loss={valid.loss:.2f}"
                job.event(message, data=data, kind="metrics")
            self.files[stored.id] = stored
            self.models[name] = result.model
            self.table.register(name, result.model)
            job.result_files = [stored.id]
            job.fine_tuned_model = name
            job.trained_tokens = tokens * result.epochs_run
            job.status = "succeeded"
            job.finished_at = int(time.time())
            job.event(f"New fine-tuned model created: {name}")
            job.event("The job has successfully completed")

    def _fail(self, job: FineTuningJob, code: str, message: str) -> None:
        with self._lock:
            if job.status == "cancelled":
                return
            param = "validation_file" if "validation" in code else "training_file"
            job.error = {"code": code, "message": message, "param": param}
            job.status = "failed"
            job.finished_at = int(time.time())
            job.event(message, level="error")


def step_metrics_csv(result: TrainingResult) -> bytes:
    """OpenAI's result file: one row per step; validation columns filled at each epoch's end."""
    valid = {row.step: row for row in result.validation}
    out = io.StringIO()
    out.write("step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy\n")
    for row in result.steps:
        v = valid.get(row.step)
        tail = f"{v.loss:.6f},{v.accuracy:.6f}" if v else ","
        out.write(f"{row.step + 1},{row.loss:.6f},{row.accuracy:.6f},{tail}\n")
    return out.getvalue().encode()


def _plan(hyper: Any) -> TrainingPlan:
    """n_epochs / batch_size / learning_rate_multiplier, each a number or "auto"."""
    if not isinstance(hyper, dict):
        raise _Problem(400, "hyperparameters must be an object.", "hyperparameters")
    defaults = TrainingPlan()
    values: dict[str, float] = {}
    for name, low, integral in (
        ("n_epochs", 1, True),
        ("batch_size", 1, True),
        ("learning_rate_multiplier", 0, False),
    ):
        value = hyper.get(name, "auto")
        if value == "auto" or value is None:
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or value <= low - (1 if integral else 0)
            or (integral and int(value) != value)
        ):
            raise _Problem(
                400,
                f"Invalid value for hyperparameters.{name}: {value!r}.",
                f"hyperparameters.{name}",
            )
        values[name] = value
    return TrainingPlan(
        epochs=int(values.get("n_epochs", defaults.epochs)),
        batch_size=int(values.get("batch_size", defaults.batch_size)),
        learning_rate_multiplier=float(values.get("learning_rate_multiplier", 1.0)),
        early_stopping_patience=0,  # OpenAI runs every epoch asked for
    )
