"""What the tuning-job routes do: submit (everything checked before any provider call), read
(refreshed from the provider while live, cached in the store), list, stop, report, and the
Bedrock state-change event.

Submission order, so nothing is half-done: checks → data copied to `tuning/<id>/` → record
written `queued` → provider call (idempotent) → record updated. A refused call leaves a
`failed` record holding the provider's message; the caller gets the error.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from chalicelib.config.settings import get_settings
from chalicelib.errors import InvalidRequest, NotFound, TunegateError
from chalicelib.jobs.models import InvalidState
from chalicelib.observability import logger
from chalicelib.storage.codec import now_iso
from chalicelib.storage.tuning import DynamoTuningStore, TuningStore
from chalicelib.tuning import objects
from chalicelib.tuning.bedrock_jobs import BedrockTuning, tuning_job_id_of
from chalicelib.tuning.cost import check_cost_limit, epochs_of, estimate
from chalicelib.tuning.data import DataCheck, check_file, raise_for_violations, write_records
from chalicelib.tuning.families import (
    base_model_id,
    check_hyperparameters,
    check_incremental,
    is_tuned,
)
from chalicelib.tuning.loss import LossPoint, early_stop
from chalicelib.tuning.models import DataSource, TuningJobRequest
from chalicelib.tuning.openai_jobs import OpenAITuning
from chalicelib.tuning.providers import LIVE, Submission, TuningProvider

PROVIDERS: dict[str, TuningProvider] = {"bedrock": BedrockTuning(), "openai": OpenAITuning()}
#: The ids our records give the provider's job, by provider (absent: never submitted).
PROVIDER_ID = {"bedrock": "provider_job_arn", "openai": "provider_job_id"}


@lru_cache(maxsize=1)
def _default_store(table: str) -> TuningStore:
    return DynamoTuningStore(table)


def store() -> TuningStore:
    return _default_store(get_settings().tuning_table)


def location(tuning_job_id: str) -> str:
    return f"/v1/tuning-jobs/{tuning_job_id}"


# --- submit ---------------------------------------------------------------------------------


def _materialise(source: DataSource, directory: Path, field: str) -> tuple[Path, str]:
    """The data as a local file, and where it came from (`inline` or its S3 URI)."""
    if source.records is not None:
        return write_records(source.records, directory), "inline"
    assert source.s3_uri is not None
    objects.check_source(source.s3_uri, f"{field}.s3_uri")
    path = directory / f"{field}.jsonl"
    objects.download(source.s3_uri, path, f"{field}.s3_uri")
    return path, source.s3_uri


def _parent_job(tuning: TuningStore, base_model: str) -> str | None:
    """The tuning job whose custom model `base_model` is (incremental tuning's lineage)."""
    if not is_tuned(base_model):
        return None
    for job in tuning.list("job", limit=1000):
        if job.get("custom_model") == base_model:
            return str(job["tuning_job_id"])
    return None


def _data_json(check: DataCheck) -> dict[str, Any]:
    warnings = [v.detail() for v in check.violations if v.warning][:20]
    return {**check.summary.as_json(), "warnings": warnings}


def submit(
    request: TuningJobRequest, owner: str, tuning: TuningStore | None = None
) -> dict[str, Any]:
    """Check, copy, record, call the provider; the stored record (202's body source)."""
    tuning = tuning or store()
    family = check_incremental(request.base_model)
    if family.provider != request.provider:
        raise InvalidRequest(
            f"{request.base_model!r} is a {family.provider} model, not {request.provider}.",
            details=[
                {"field": "provider", "reason": f"must be {family.provider} for this base model"}
            ],
        )
    hyperparameters = check_hyperparameters(family, request.hyperparameters)
    tuning_job_id = uuid.uuid4().hex
    with tempfile.TemporaryDirectory(prefix="tuning-") as tmp:
        directory = Path(tmp)
        training, training_source = _materialise(request.training, directory, "training")
        checks = [check_file(training, family, "training")]
        validation, validation_source = None, None
        if request.validation is not None:
            validation, validation_source = _materialise(
                request.validation, directory, "validation"
            )
            checks.append(check_file(validation, family, "validation"))
        raise_for_violations(checks)
        summary = checks[0].summary
        epochs = epochs_of(hyperparameters)
        cost = estimate(
            summary.estimated_tokens,
            epochs,
            request.base_model,
            records=summary.records,
            overrides=request.pricing,
        )
        check_cost_limit(cost, request.max_cost_usd)

        prefix = objects.job_prefix(tuning_job_id)
        training_uri = prefix + "training.jsonl"
        validation_uri = prefix + "validation.jsonl" if validation else None
        objects.upload(training, training_uri)
        if validation and validation_uri:
            objects.upload(validation, validation_uri)
        now = now_iso()
        record: dict[str, Any] = {
            "tuning_job_id": tuning_job_id,
            "name": request.name,
            "provider": request.provider,
            "base_model": request.base_model,
            "family": family.name,
            "status": "queued",
            "created_at": now,
            "updated_at": now,
            "owner": owner,
            "lineage": {
                "base_model_id": base_model_id(request.base_model),
                "parent_model": request.base_model if is_tuned(request.base_model) else None,
                "parent_job": _parent_job(tuning, request.base_model),
                "training": training_source,
                "validation": validation_source,
            },
            "training": {"s3_uri": training_uri, "source": training_source},
            "validation": (
                {"s3_uri": validation_uri, "source": validation_source} if validation_uri else None
            ),
            "output_s3_uri": prefix + "output/",
            "hyperparameters": hyperparameters.as_json(),
            "epochs_requested": epochs,
            "data": {"training": _data_json(checks[0])}
            | ({"validation": _data_json(checks[1])} if len(checks) > 1 else {}),
            "estimated_cost": cost.as_json(),
            "estimated_cost_usd": round(cost.training_usd, 6),
            "max_cost_usd": request.max_cost_usd,
            "pricing": request.pricing,
            "prompt": request.prompt,
            "output": request.output,
            "metrics": [],
        }
        tuning.create("job", tuning_job_id, record)
        provider_values: dict[str, Any] = (
            hyperparameters.as_provider()
            if request.provider == "bedrock"
            else dict(hyperparameters.values)
        )
        submission = Submission(
            job=record,
            training=training,
            validation=validation,
            training_s3_uri=training_uri,
            validation_s3_uri=validation_uri,
            output_s3_uri=record["output_s3_uri"],
            hyperparameters=provider_values,
            kms_key_id=request.kms_key_id,
            vpc_config=request.vpc_config.model_dump() if request.vpc_config else None,
        )
        try:
            state = PROVIDERS[request.provider].submit(submission)
        except Exception as exc:
            message = exc.message if isinstance(exc, TunegateError) else "The provider call failed."
            tuning.update(
                "job",
                tuning_job_id,
                {"status": "failed", "failure_message": message, "finished_at": now_iso()},
                expect=("queued",),
            )
            raise
    sets = {**state.ids, "status": state.status, "started_at": now_iso(), "updated_at": now_iso()}
    updated = tuning.update("job", tuning_job_id, sets, expect=("queued",))
    return updated or record


# --- read, watch ----------------------------------------------------------------------------


def get_job(tuning_job_id: str, tuning: TuningStore | None = None) -> dict[str, Any]:
    """The job, refreshed from its provider while it is live."""
    tuning = tuning or store()
    job = tuning.get("job", tuning_job_id) if len(tuning_job_id) <= 64 else None
    if job is None:
        raise NotFound(f"No tuning job with id {tuning_job_id!r}.")
    return refresh(job, tuning)


def list_jobs(limit: int, tuning: TuningStore | None = None) -> list[dict[str, Any]]:
    """Newest first, as cached (reading one job refreshes it)."""
    return (tuning or store()).list("job", limit=limit)


def refresh(job: Mapping[str, Any], tuning: TuningStore) -> dict[str, Any]:
    """Ask the provider about a live job and store what changed; a provider that cannot be
    reached leaves the cached record as it is (the next read asks again)."""
    provider_name = str(job["provider"])
    if job.get("status") not in LIVE or not job.get(PROVIDER_ID[provider_name]):
        return dict(job)
    provider = PROVIDERS[provider_name]
    try:
        state = provider.read(job)
    except TunegateError as exc:
        logger.warning(
            "tuning job refresh failed",
            extra={"tuning_job_id": job["tuning_job_id"], "error": exc.code},
        )
        return dict(job)
    sets: dict[str, Any] = {**state.ids, "status": state.status, "updated_at": now_iso()}
    if state.status not in LIVE:
        sets |= {
            "finished_at": now_iso(),
            "custom_model": state.custom_model,
            "failure_message": state.failure_message,
        }
        sets |= _results({**job, **state.ids}, provider, state.trained_tokens)
    elif state.status == job.get("status") and all(job.get(k) == v for k, v in state.ids.items()):
        return dict(job)  # nothing new: no write per poll
    updated = tuning.update("job", str(job["tuning_job_id"]), sets, expect=LIVE)
    return updated or (tuning.get("job", str(job["tuning_job_id"])) or dict(job))


def _results(
    job: Mapping[str, Any], provider: TuningProvider, trained_tokens: int | None
) -> dict[str, Any]:
    """Metrics, early-stopping point and actual cost of a finished job."""
    try:
        series: list[LossPoint] = provider.metrics(job)
    except TunegateError as exc:
        logger.warning("tuning metrics unreadable", extra={"error": exc.code})
        series = []
    epochs_requested = int(job.get("epochs_requested") or 1)
    stop = early_stop(series, epochs_requested)
    out: dict[str, Any] = {
        "metrics": [p.as_json() for p in series],
        "early_stopping": stop.as_json() if stop else None,
    }
    tokens = int(((job.get("data") or {}).get("training") or {}).get("estimated_tokens") or 0)
    epochs_run = len({p.epoch for p in series if p.epoch is not None})
    if trained_tokens is not None:  # OpenAI reports what it billed for
        out["actual_cost_usd"] = _training_usd(job, trained_tokens, 1)
        out["actual_cost_basis"] = "trained_tokens reported by the provider"
    elif epochs_run:
        out["actual_cost_usd"] = _training_usd(job, tokens, epochs_run)
        out["actual_cost_basis"] = f"estimated tokens x {epochs_run} epochs run"
    return out


def _training_usd(job: Mapping[str, Any], tokens: int, epochs: int) -> float:
    overrides = job.get("pricing")
    cost = estimate(tokens, epochs, str(job["base_model"]), overrides=overrides or None)
    return round(cost.training_usd, 6)


def view(job: Mapping[str, Any]) -> dict[str, Any]:
    """The job as the API shows it: the record without internal fields, with links."""
    hidden = ("owner", "pricing")
    body = {k: v for k, v in job.items() if k not in hidden}
    body.setdefault("custom_model", None)
    body.setdefault("failure_message", None)
    body.setdefault("actual_cost_usd", None)
    base = location(str(job["tuning_job_id"]))
    body["links"] = {"self": base, "report": f"{base}/report", "stop": f"{base}/stop"}
    return body


def stop(tuning_job_id: str, tuning: TuningStore | None = None) -> dict[str, Any]:
    """Stop a running job (409 invalid_state otherwise); the record after the provider took it."""
    tuning = tuning or store()
    job = get_job(tuning_job_id, tuning)
    if job["status"] not in LIVE or not job.get(PROVIDER_ID[str(job["provider"])]):
        raise InvalidState(
            f"The tuning job is {job['status']}; only a running job can be stopped.",
            details=[{"field": "status", "reason": str(job["status"])}],
        )
    PROVIDERS[str(job["provider"])].stop(job)
    return refresh(job, tuning)


def report(tuning_job_id: str, tuning: TuningStore | None = None) -> str:
    from chalicelib.tuning.report import render_report

    return render_report(get_job(tuning_job_id, tuning))


def on_state_change(event: Mapping[str, Any], tuning: TuningStore | None = None) -> str | None:
    """EventBridge's "Model Customization Job State Change": refresh the job it names (this
    stage's only); the id refreshed, or None when the event is not ours."""
    detail = event.get("detail") or {}
    name = detail.get("jobName") if isinstance(detail, Mapping) else None
    tuning_job_id = tuning_job_id_of(str(name or ""), get_settings().stage)
    if not tuning_job_id:
        return None
    tuning = tuning or store()
    job = tuning.get("job", tuning_job_id)
    if job is None:
        return None
    refresh(job, tuning)
    return tuning_job_id
