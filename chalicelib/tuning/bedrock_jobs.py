"""Bedrock model customization jobs (fine-tuning) through the control-plane client.

The job's name is `tunegate-<stage>-<tuning job id>` (so a state-change event names our
record), its client request token the tuning job id (a retried create never starts a second
job), its output under the stage's bucket at `tuning/<id>/output/`, where Bedrock writes the
step-wise metrics files loss.py reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import aws
from chalicelib.config.settings import get_settings
from chalicelib.errors import (
    InvalidRequest,
    ModelError,
    NotFound,
    ServiceUnavailable,
    Throttled,
    TunegateError,
)
from chalicelib.tuning import objects
from chalicelib.tuning.loss import (
    BEDROCK_TRAINING_FILE,
    BEDROCK_VALIDATION_FILE,
    LossFileError,
    LossPoint,
    parse_bedrock,
)
from chalicelib.tuning.providers import ProviderState, Submission

STATUSES = {
    "InProgress": "running",
    "Stopping": "running",
    "Completed": "succeeded",
    "Failed": "failed",
    "Stopped": "stopped",
}
JOB_NAME_PREFIX = "tunegate-"


def job_name(stage: str, tuning_job_id: str) -> str:
    return f"{JOB_NAME_PREFIX}{stage}-{tuning_job_id}"


def tuning_job_id_of(name: str, stage: str) -> str | None:
    """Our id from a Bedrock job name of this stage (None: another stage's or not ours)."""
    prefix = job_name(stage, "")
    return name[len(prefix) :] if name.startswith(prefix) else None


def provider_error(exc: ClientError | BotoCoreError) -> TunegateError:
    """The contract's error for a refused or failed control-plane call, with Bedrock's message."""
    if isinstance(exc, BotoCoreError):
        return ServiceUnavailable("Bedrock's control plane could not be reached.", retry_after=5)
    error = exc.response.get("Error", {})
    code, message = str(error.get("Code", "")), str(error.get("Message", ""))
    if code in ("ThrottlingException", "ServiceQuotaExceededException"):
        return Throttled(f"Bedrock is throttling: {message}", retry_after=5)
    if code == "ResourceNotFoundException":
        return NotFound(f"Bedrock: {message}")
    if code in ("ValidationException", "ConflictException", "AccessDeniedException"):
        return InvalidRequest(f"Bedrock refused the job: {message}", details=[{"code": code}])
    return ModelError(f"Bedrock failed ({code}): {message}")


class BedrockTuning:
    def submit(self, submission: Submission) -> ProviderState:
        settings = get_settings()
        if not settings.tuning_role_arn:
            raise ServiceUnavailable(
                "Bedrock tuning is not configured on this stage (TUNING_ROLE_ARN is not set)."
            )
        job = submission.job
        model_name = f"tunegate-{settings.stage}-{job['name']}-{job['tuning_job_id'][:8]}"
        request: dict[str, Any] = {
            "jobName": job_name(settings.stage, job["tuning_job_id"]),
            "customModelName": model_name,
            "roleArn": settings.tuning_role_arn,
            "clientRequestToken": job["tuning_job_id"],
            "baseModelIdentifier": job["base_model"],
            "customizationType": "FINE_TUNING",
            "trainingDataConfig": {"s3Uri": submission.training_s3_uri},
            "outputDataConfig": {"s3Uri": submission.output_s3_uri},
            "hyperParameters": dict(submission.hyperparameters),
            "jobTags": [{"key": "tunegate:tuning-job", "value": job["tuning_job_id"]}],
        }
        if submission.validation_s3_uri:
            request["validationDataConfig"] = {
                "validators": [{"s3Uri": submission.validation_s3_uri}]
            }
        if submission.kms_key_id:
            request["customModelKmsKeyId"] = submission.kms_key_id
        if submission.vpc_config:
            request["vpcConfig"] = {
                "subnetIds": list(submission.vpc_config["subnet_ids"]),
                "securityGroupIds": list(submission.vpc_config["security_group_ids"]),
            }
        try:
            arn = aws.control_client().create_model_customization_job(**request)["jobArn"]
        except (ClientError, BotoCoreError) as exc:
            raise provider_error(exc) from exc
        return ProviderState(
            "running",
            ids={"provider_job_arn": arn, "provider_job_name": request["jobName"]},
        )

    def read(self, job: Mapping[str, Any]) -> ProviderState:
        try:
            found = aws.control_client().get_model_customization_job(
                jobIdentifier=job["provider_job_arn"]
            )
        except (ClientError, BotoCoreError) as exc:
            raise provider_error(exc) from exc
        return ProviderState(
            STATUSES.get(str(found.get("status")), "running"),
            custom_model=found.get("outputModelArn"),
            failure_message=found.get("failureMessage"),
        )

    def stop(self, job: Mapping[str, Any]) -> None:
        try:
            aws.control_client().stop_model_customization_job(jobIdentifier=job["provider_job_arn"])
        except (ClientError, BotoCoreError) as exc:
            raise provider_error(exc) from exc

    def metrics(self, job: Mapping[str, Any]) -> list[LossPoint]:
        """The step-wise files under `<output>/model-customization-job-<job id>/` (none yet: [])."""
        job_id = str(job["provider_job_arn"]).rsplit("/", 1)[-1]
        root = f"{job['output_s3_uri'].rstrip('/')}/model-customization-job-{job_id}/"
        training = objects.read_text(root + BEDROCK_TRAINING_FILE)
        if training is None:
            return []
        validation = objects.read_text(root + BEDROCK_VALIDATION_FILE)
        try:
            return parse_bedrock(training, validation)
        except LossFileError:
            return []
