"""Bedrock control-plane resources as GetModelCustomizationJob, GetCustomModel,
GetProvisionedModelThroughput and GetCustomModelDeployment describe them, plus the request
helpers the control plane shares (hyperparameters, metrics CSV, paging)."""

from __future__ import annotations

import io
import json
import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emulator.pacing import iso_now
from emulator.trainer import (
    REFERENCE_LEARNING_RATE,
    StepLoss,
    TrainedClassifier,
    TrainingPlan,
    TrainingResult,
)
from emulator.wire import ApiError

ACCOUNT = "000000000000"
REGION = "us-east-1"
PREFIX = f"arn:aws:bedrock:{REGION}:{ACCOUNT}"
FOUNDATION_ID = re.compile(r"^[a-z0-9-]{1,63}\.[a-z0-9-]{1,63}([.:][a-z0-9-]{1,63}){0,3}$")
#: Hyperparameter names Bedrock's fine-tuning families use, and how each is read.
_HYPER_INT = {"epochCount": 1, "batchSize": 1, "earlyStoppingPatience": 0}
_HYPER_FLOAT = {"learningRate", "learningRateMultiplier", "earlyStoppingThreshold"}
_HYPER_IGNORED = {"learningRateWarmupSteps"}


@dataclass
class Job:
    job_id: str
    arn: str
    request: dict[str, Any]
    base_arn: str
    plan: TrainingPlan
    parent: CustomModel | None
    status: str = "InProgress"
    phases: dict[str, str] = field(default_factory=dict)
    created: str = field(default_factory=iso_now)
    modified: str = field(default_factory=iso_now)
    ended: str | None = None
    failure: str | None = None
    model_arn: str | None = None
    result: TrainingResult | None = None
    cancel: threading.Event = field(default_factory=threading.Event)

    def describe(self) -> dict[str, Any]:
        request = self.request
        out: dict[str, Any] = {
            "jobArn": self.arn,
            "jobName": request["jobName"],
            "outputModelName": request["customModelName"],
            "roleArn": request["roleArn"],
            "status": self.status,
            "statusDetails": {
                f"{phase}Details": {"status": status, "lastModifiedTime": self.modified}
                for phase, status in self.phases.items()
            },
            "creationTime": self.created,
            "lastModifiedTime": self.modified,
            "baseModelArn": self.base_arn,
            "hyperParameters": request.get("hyperParameters", {}),
            "trainingDataConfig": request["trainingDataConfig"],
            "validationDataConfig": request.get("validationDataConfig", {"validators": []}),
            "outputDataConfig": request["outputDataConfig"],
            "customizationType": request.get("customizationType", "FINE_TUNING"),
        }
        optional = {
            "clientRequestToken": request.get("clientRequestToken"),
            "outputModelArn": self.model_arn,
            "failureMessage": self.failure,
            "endTime": self.ended,
            "outputModelKmsKeyArn": request.get("customModelKmsKeyId"),
            "vpcConfig": request.get("vpcConfig"),
        }
        out.update({key: value for key, value in optional.items() if value is not None})
        if self.result is not None and self.result.training_loss is not None:
            out["trainingMetrics"] = {"trainingLoss": self.result.training_loss}
        if self.result is not None and self.result.validation_loss is not None:
            out["validationMetrics"] = [{"validationLoss": self.result.validation_loss}]
        return out

    def summary(self) -> dict[str, Any]:
        full = self.describe()
        keys = ("jobArn", "baseModelArn", "jobName", "status", "statusDetails", "creationTime")
        out = {key: full[key] for key in keys}
        out |= {"lastModifiedTime": self.modified, "customizationType": "FINE_TUNING"}
        out["customModelName"] = self.request["customModelName"]
        if self.model_arn:
            out["customModelArn"] = self.model_arn
        if self.ended:
            out["endTime"] = self.ended
        return out


@dataclass
class CustomModel:
    arn: str
    name: str
    job: Job
    model: TrainedClassifier
    created: str = field(default_factory=iso_now)

    def describe(self) -> dict[str, Any]:
        job = self.job.describe()
        out = {
            "modelArn": self.arn,
            "modelName": self.name,
            "jobName": job["jobName"],
            "jobArn": job["jobArn"],
            "baseModelArn": job["baseModelArn"],
            "customizationType": "FINE_TUNING",
            "hyperParameters": job["hyperParameters"],
            "trainingDataConfig": job["trainingDataConfig"],
            "validationDataConfig": job["validationDataConfig"],
            "outputDataConfig": job["outputDataConfig"],
            "creationTime": self.created,
            "modelStatus": "Active",
        }
        for key in ("trainingMetrics", "validationMetrics"):
            if key in job:
                out[key] = job[key]
        return out

    def summary(self) -> dict[str, Any]:
        return {
            "modelArn": self.arn,
            "modelName": self.name,
            "creationTime": self.created,
            "baseModelArn": self.job.base_arn,
            "baseModelName": self.job.base_arn.rsplit("/", 1)[-1],
            "customizationType": "FINE_TUNING",
            "ownerAccountId": ACCOUNT,
            "modelStatus": "Active",
        }


@dataclass
class Serving:
    """A Provisioned Throughput or an on-demand custom model deployment of a custom model."""

    arn: str
    name: str
    model: CustomModel
    units: int
    commitment: str | None
    deployment: bool
    status: str = "Creating"
    failure: str | None = None
    token: str | None = None
    created: str = field(default_factory=iso_now)
    modified: str = field(default_factory=iso_now)
    cancel: threading.Event = field(default_factory=threading.Event)

    def describe(self) -> dict[str, Any]:
        if self.deployment:
            out: dict[str, Any] = {
                "customModelDeploymentArn": self.arn,
                "modelDeploymentName": self.name,
                "modelArn": self.model.arn,
                "createdAt": self.created,
                "lastUpdatedAt": self.modified,
                "status": self.status,
            }
        else:
            out = {
                "modelUnits": self.units,
                "desiredModelUnits": self.units,
                "provisionedModelName": self.name,
                "provisionedModelArn": self.arn,
                "modelArn": self.model.arn,
                "desiredModelArn": self.model.arn,
                "foundationModelArn": self.model.job.base_arn,
                "status": self.status,
                "creationTime": self.created,
                "lastModifiedTime": self.modified,
            }
            if self.commitment:
                out["commitmentDuration"] = self.commitment
        if self.failure:
            out["failureMessage"] = self.failure
        return out

    def summary(self) -> dict[str, Any]:
        out = self.describe()
        if self.deployment:
            return {
                key: out[key]
                for key in (
                    "customModelDeploymentArn",
                    "modelDeploymentName",
                    "modelArn",
                    "createdAt",
                    "status",
                )
                if key in out
            }
        out.pop("failureMessage", None)
        return out


def training_plan(hyper: Any) -> TrainingPlan:
    """Bedrock's string hyperparameters → the trainer's plan (ValidationException if bad)."""
    if not isinstance(hyper, dict):
        raise ApiError("ValidationException", "hyperParameters must be a map of strings.")
    values: dict[str, float] = {}
    for name, text in hyper.items():
        if name in _HYPER_IGNORED:
            continue
        if name not in _HYPER_INT and name not in _HYPER_FLOAT:
            known = sorted({*_HYPER_INT, *_HYPER_FLOAT, *_HYPER_IGNORED})
            raise ApiError(
                "ValidationException",
                f"Hyperparameter {name} is not supported; supported: {known}.",
            )
        try:
            number = int(text) if name in _HYPER_INT else float(text)
        except (TypeError, ValueError):
            raise ApiError(
                "ValidationException", f"Hyperparameter {name}={text!r} is not a number."
            ) from None
        if (
            not math.isfinite(number)
            or number < _HYPER_INT.get(name, 0)
            or (name.startswith("learningRate") and number <= 0)
        ):
            raise ApiError("ValidationException", f"Hyperparameter {name}={text} is out of range.")
        values[name] = number
    multiplier = values.get("learningRateMultiplier", 1.0)
    if "learningRate" in values:
        multiplier = values["learningRate"] / REFERENCE_LEARNING_RATE
    defaults = TrainingPlan()
    return TrainingPlan(
        epochs=int(values.get("epochCount", defaults.epochs)),
        batch_size=int(values.get("batchSize", defaults.batch_size)),
        learning_rate_multiplier=multiplier,
        early_stopping_threshold=values.get(
            "earlyStoppingThreshold", defaults.early_stopping_threshold
        ),
        early_stopping_patience=int(
            values.get("earlyStoppingPatience", defaults.early_stopping_patience)
        ),
    )


def metrics_csv(rows: list[StepLoss], loss_column: str) -> bytes:
    """Bedrock's metrics CSV: step_number, epoch_number, <loss>, perplexity (= e^loss)."""
    out = io.StringIO()
    out.write(f"step_number,epoch_number,{loss_column},perplexity\n")
    for row in rows:
        out.write(f"{row.step},{row.epoch},{row.loss:.6f},{math.exp(min(row.loss, 700)):.6f}\n")
    return out.getvalue().encode()


def body_of(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise ApiError("ValidationException", "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ApiError("ValidationException", "The request body must be a JSON object.")
    return body


def require_text(body: dict[str, Any], name: str) -> None:
    if not isinstance(body.get(name), str) or not body[name]:
        raise ApiError("ValidationException", f"{name} is required.")


def query_value(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def paginate(
    items: list[Any], query: dict[str, list[str]], key: Callable[[Any], str]
) -> tuple[list[Any], str | None]:
    """Sorted by creation time (sortOrder, default Descending), maxResults per page; the
    nextToken is the offset of the next page."""
    ordered = sorted(items, key=key, reverse=query_value(query, "sortOrder") != "Ascending")
    try:
        start = int(query_value(query, "nextToken") or 0)
        size = int(query_value(query, "maxResults") or 100)
    except ValueError:
        raise ApiError("ValidationException", "nextToken / maxResults are not valid.") from None
    page = ordered[start : start + size]
    return page, str(start + size) if start + size < len(ordered) else None
