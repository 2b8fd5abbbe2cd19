"""Request and answer bodies of the provisioning routes (CONTRACT section 8)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.api.models import RequestBody
from chalicelib.config.registry import DEPLOYMENT_NAME, OutputSpec, PromptSpec

#: Bedrock's model units per Provisioned Throughput are bounded by the account's quota; above
#: this a request is surely a typo (each unit costs tens of dollars an hour).
MAX_MODEL_UNITS = 50
Commitment = Literal["none", "OneMonth", "SixMonths"]


class ProvisionRequest(RequestBody):
    name: str = Field(pattern=rf"^{DEPLOYMENT_NAME}$")
    #: A Bedrock custom-model ARN or an OpenAI fine-tuned model (`ft:…`).
    custom_model: str = Field(min_length=1, max_length=2048)
    model_units: int | None = Field(default=None, ge=1, le=MAX_MODEL_UNITS)
    commitment: Commitment = "none"
    #: A commitment bills for one or six months whatever happens: it must be asked twice.
    confirm_commitment: bool = False
    #: A custom model deployment (billed per token) instead of Provisioned Throughput.
    on_demand: bool = False


class RegisterRequest(RequestBody):
    deployment: str = Field(pattern=rf"^{DEPLOYMENT_NAME}$")
    #: Given: used as is; left out: recovered from the model's training data.
    prompt: PromptSpec | None = None
    output: OutputSpec | None = None


class ProvisionedView(BaseModel):
    model_config = ConfigDict(defer_build=True)

    name: str
    provider: Literal["bedrock", "openai"]
    custom_model: str
    on_demand: bool
    model_units: int | None
    commitment: Commitment
    status: Literal["creating", "in_service", "failed", "deleting"]
    #: What a registered version calls: the provisioned-model or custom-model-deployment ARN,
    #: or the fine-tuned OpenAI model; null until the provider answered.
    arn: str | None
    hourly_cost_usd: float | None
    tuning_job: str | None
    failure_message: str | None
    created_at: str
    updated_at: str
