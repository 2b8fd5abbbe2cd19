"""What provisioning asks of a provider: find a custom model (and the job and data it was
trained on), start serving it, read its state, stop serving it.

Bedrock serves a custom model through Provisioned Throughput or an on-demand custom model
deployment; each create carries the record's client request token, so a retried create is one
resource. OpenAI serves a fine-tuned model as soon as its job succeeded: there is nothing to
provision or deprovision (deleting the model would destroy it, not stop a bill).
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import aws
from chalicelib.errors import (
    Conflict,
    InvalidRequest,
    ModelError,
    NotFound,
    ServiceUnavailable,
    Throttled,
    TunegateError,
)
from chalicelib.storage.provisioned import ProvisionedRecord
from chalicelib.tuning import openai_api

#: The prompt format is recovered from this much training data at most (whole lines).
MAX_TRAINING_BYTES = 16 * 1024 * 1024
#: Bedrock's names: alphanumerics with single `-` / `_` between, at most 63 characters.
_NAME_LENGTH = 63
_PT_STATUS = {"Creating": "creating", "InService": "in_service", "Updating": "in_service"}
_DEPLOYMENT_STATUS = {"Creating": "creating", "Active": "in_service"}


@dataclass(frozen=True)
class CustomModel:
    id: str
    #: The job that trained it (Bedrock job ARN, OpenAI job id), when the provider says.
    job: str | None
    #: Where its training data is: an s3:// URI (Bedrock) or a file id (OpenAI).
    training: str | None


@dataclass(frozen=True)
class State:
    status: str
    failure_message: str | None = None


class ServingProvider(Protocol):
    def custom_model(self, identifier: str) -> CustomModel:
        """The custom model; 400 naming `custom_model` when the provider has none by that id."""

    def create(self, record: ProvisionedRecord, stage: str) -> tuple[str, str]:
        """Start serving: (the id a version calls, the status)."""

    def read(self, record: ProvisionedRecord) -> State | None:
        """The provider's state; None when it no longer knows the resource."""

    def delete(self, record: ProvisionedRecord) -> None: ...

    def training_data(self, model: CustomModel) -> bytes:
        """The first MAX_TRAINING_BYTES of the training data, cut at a line end."""


def provider_for(custom_model: str) -> ServingProvider:
    return OpenAIServing() if custom_model.startswith("ft:") else BedrockServing()


def _whole_lines(data: bytes) -> bytes:
    if len(data) < MAX_TRAINING_BYTES:
        return data
    return data[: data.rfind(b"\n") + 1]


def _unknown_model(identifier: str, why: str) -> InvalidRequest:
    return InvalidRequest(
        f"No custom model {identifier!r}.",
        details=[{"field": "custom_model", "reason": why}],
    )


# --- Bedrock --------------------------------------------------------------------------------


def _bedrock_error(exc: Exception, what: str) -> TunegateError:
    if isinstance(exc, BotoCoreError):
        return ServiceUnavailable(f"Bedrock cannot be reached to {what}.", retry_after=5)
    assert isinstance(exc, ClientError)
    error = exc.response.get("Error", {})
    code, message = str(error.get("Code", "")), str(error.get("Message", ""))
    if code in ("ThrottlingException", "TooManyRequestsException"):
        return Throttled(f"Bedrock is throttling: {message}", retry_after=5)
    if code in ("ValidationException", "ServiceQuotaExceededException"):
        return InvalidRequest(f"Bedrock refused to {what}: {message}")
    if code == "ConflictException":
        return Conflict(f"Bedrock refused to {what}: {message}")
    if code == "ResourceNotFoundException":
        return NotFound(f"Bedrock: {message}")
    if code == "AccessDeniedException":
        return ModelError(f"The API's role may not {what}: {message}", retryable=False)
    return ModelError(f"Bedrock failed to {what}: {code} {message}".strip())


def _missing(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code")) == "ResourceNotFoundException"


def bedrock_name(stage: str, name: str) -> str:
    """The provider-side name: the stage's prefix keeps stages apart in one account."""
    cleaned = "".join(c if c.isalnum() else "-" for c in f"tunegate-{stage}-{name}")
    while "--" in cleaned:
        cleaned = cleaned.replace("--", "-")
    return cleaned[:_NAME_LENGTH].strip("-")


class BedrockServing:
    def custom_model(self, identifier: str) -> CustomModel:
        try:
            model = aws.control_client().get_custom_model(modelIdentifier=identifier)
        except ClientError as exc:
            if _missing(exc) or str(exc.response.get("Error", {}).get("Code")) == (
                "ValidationException"
            ):
                raise _unknown_model(identifier, "Bedrock has no such custom model") from None
            raise _bedrock_error(exc, "read the custom model") from None
        except BotoCoreError as exc:
            raise _bedrock_error(exc, "read the custom model") from None
        training = model.get("trainingDataConfig", {}).get("s3Uri")
        return CustomModel(str(model["modelArn"]), model.get("jobArn"), training)

    def create(self, record: ProvisionedRecord, stage: str) -> tuple[str, str]:
        client = aws.control_client()
        name = bedrock_name(stage, record.name)
        try:
            if record.on_demand:
                reply = client.create_custom_model_deployment(
                    modelDeploymentName=name,
                    modelArn=record.custom_model,
                    clientRequestToken=record.client_token,
                )
                return str(reply["customModelDeploymentArn"]), "creating"
            request: dict[str, Any] = {
                "modelUnits": record.model_units or 1,
                "provisionedModelName": name,
                "modelId": record.custom_model,
                "clientRequestToken": record.client_token,
            }
            if record.commitment != "none":
                request["commitmentDuration"] = record.commitment
            reply = client.create_provisioned_model_throughput(**request)
            return str(reply["provisionedModelArn"]), "creating"
        except (ClientError, BotoCoreError) as exc:
            raise _bedrock_error(exc, "provision the model") from None

    def read(self, record: ProvisionedRecord) -> State | None:
        client = aws.control_client()
        try:
            if record.on_demand:
                found = client.get_custom_model_deployment(
                    customModelDeploymentIdentifier=record.arn
                )
                statuses = _DEPLOYMENT_STATUS
            else:
                found = client.get_provisioned_model_throughput(provisionedModelId=record.arn)
                statuses = _PT_STATUS
        except ClientError as exc:
            if _missing(exc):
                return None
            raise _bedrock_error(exc, "read the provisioned model") from None
        except BotoCoreError as exc:
            raise _bedrock_error(exc, "read the provisioned model") from None
        status = str(found.get("status", ""))
        if status in statuses:
            return State(statuses[status])
        if status == "Deleting":
            return State("deleting")
        return State("failed", found.get("failureMessage") or f"Bedrock reports {status}.")

    def delete(self, record: ProvisionedRecord) -> None:
        client = aws.control_client()
        try:
            if record.on_demand:
                client.delete_custom_model_deployment(customModelDeploymentIdentifier=record.arn)
            else:
                client.delete_provisioned_model_throughput(provisionedModelId=record.arn)
        except ClientError as exc:
            if not _missing(exc):
                raise _bedrock_error(exc, "deprovision the model") from None
        except BotoCoreError as exc:
            raise _bedrock_error(exc, "deprovision the model") from None

    def training_data(self, model: CustomModel) -> bytes:
        if not model.training or not model.training.startswith("s3://"):
            raise InvalidRequest("Bedrock names no training data for this custom model.")
        bucket, _, key = model.training.removeprefix("s3://").partition("/")
        try:
            reply = aws.client("s3").get_object(
                Bucket=bucket, Key=key, Range=f"bytes=0-{MAX_TRAINING_BYTES - 1}"
            )
            return _whole_lines(reply["Body"].read())
        except (ClientError, BotoCoreError) as exc:
            raise InvalidRequest(
                f"The training data at {model.training} cannot be read ({exc}); give the "
                "prompt and output explicitly."
            ) from None


# --- OpenAI ---------------------------------------------------------------------------------


class OpenAIServing:
    def custom_model(self, identifier: str) -> CustomModel:
        """The job whose `fine_tuned_model` is `identifier` (OpenAI has no model → job call)."""
        after: str | None = None
        while True:
            query = {"limit": "100", **({"after": after} if after else {})}
            page = openai_api.request_json(
                "GET", "/fine_tuning/jobs?" + urllib.parse.urlencode(query)
            )
            jobs = page.get("data") or []
            for job in jobs:
                if job.get("fine_tuned_model") == identifier:
                    return CustomModel(identifier, job.get("id"), job.get("training_file"))
            if not page.get("has_more") or not jobs:
                raise _unknown_model(identifier, "no fine-tuning job produced this model")
            after = str(jobs[-1]["id"])

    def create(self, record: ProvisionedRecord, stage: str) -> tuple[str, str]:
        return record.custom_model, "in_service"

    def read(self, record: ProvisionedRecord) -> State | None:
        return State("in_service")

    def delete(self, record: ProvisionedRecord) -> None:
        return None

    def training_data(self, model: CustomModel) -> bytes:
        if not model.training:
            raise InvalidRequest("OpenAI names no training file for this model.")
        path = f"/files/{urllib.parse.quote(model.training)}/content"
        return _whole_lines(openai_api.request("GET", path, limit=MAX_TRAINING_BYTES))
