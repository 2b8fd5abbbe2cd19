"""Provisioned models behind the `admin` routes and the CLI (CONTRACT section 8).

`create` checks everything it can before any provider call (a commitment must be confirmed,
units within bounds, the custom model must exist), stores the record under its name with a
fresh client request token, then asks the provider: a retried create (same name, same body)
answers the same record and, if the first attempt died before the provider answered, repeats
the provider call with the same token, so it is still one resource. Another body under a
taken name is a 409. `get` refreshes the status from the provider; `register` turns an
in-service model into a deployment version in the format it was trained on.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.config.registry import InferenceSpec, OutputSpec, Registry
from chalicelib.config.settings import Settings
from chalicelib.deployments import service as deployments
from chalicelib.deployments.cache import RegistryCache
from chalicelib.deployments.models import VersionRequest
from chalicelib.deployments.routing import champion
from chalicelib.errors import Conflict, InvalidRequest, InvalidState, NotFound
from chalicelib.observability import logger
from chalicelib.provisioning.models import ProvisionRequest, RegisterRequest
from chalicelib.provisioning.providers import CustomModel, provider_for
from chalicelib.storage.codec import now_iso
from chalicelib.storage.provisioned import ProvisionedRecord, ProvisionedStore
from chalicelib.storage.registry import RegistryStore
from chalicelib.tuning.cost import hourly_usd
from chalicelib.tuning.families import base_model_id
from chalicelib.tuning.prompt_format import RecoveredFormat, recover_format

CUSTOM_MODEL_ARN = re.compile(
    r"^arn:aws(-[a-z]+)*:bedrock:[a-z0-9-]{1,20}:\d{12}:custom-model/[A-Za-z0-9._:/-]{1,1011}$"
)
FINE_TUNED = re.compile(r"^ft:[A-Za-z0-9._-]+(:[A-Za-z0-9._-]*){1,4}$")
#: Statuses a provider may still change by itself.
SETTLING = ("creating", "deleting")
#: OpenAI's completion-style base models; every other fine-tuned model is a chat model.
COMPLETION_MODELS = ("babbage-002", "davinci-002")


@dataclass
class ProvisioningContext:
    settings: Settings
    store: ProvisionedStore
    registry_store: RegistryStore
    #: The registry file (what the invoke grant lists besides served models).
    registry: Registry
    #: The process's registry cache, refreshed after a register (None from the CLI).
    cache: RegistryCache | None = None


def view(record: ProvisionedRecord) -> dict[str, Any]:
    return {
        "name": record.name,
        "provider": record.provider,
        "custom_model": record.custom_model,
        "on_demand": record.on_demand,
        "model_units": record.model_units,
        "commitment": record.commitment,
        "status": record.status,
        "arn": record.arn,
        "hourly_cost_usd": record.hourly_cost_usd,
        "tuning_job": record.tuning_job,
        "failure_message": record.failure_message,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }


# --- create -----------------------------------------------------------------------------------


def check_request(request: ProvisionRequest) -> None:
    """Everything decidable without the provider; a 400 naming each field."""
    problems: list[dict[str, str]] = []
    if request.commitment != "none" and not request.confirm_commitment:
        problems.append(
            {
                "field": "confirm_commitment",
                "reason": f"a {request.commitment} commitment bills for the whole term: "
                "send confirm_commitment: true to buy it",
            }
        )
    openai = request.custom_model.startswith("ft:")
    if openai or request.on_demand:
        why = "OpenAI serves fine-tuned models as they are" if openai else "on demand"
        if request.model_units is not None:
            problems.append({"field": "model_units", "reason": f"not used: {why}"})
        if request.commitment != "none":
            problems.append({"field": "commitment", "reason": f"must be none: {why}"})
    if openai and request.on_demand:
        problems.append({"field": "on_demand", "reason": "OpenAI models are served on demand"})
    if not (CUSTOM_MODEL_ARN.match(request.custom_model) or FINE_TUNED.match(request.custom_model)):
        problems.append(
            {"field": "custom_model", "reason": "a Bedrock custom-model ARN or an ft: model"}
        )
    if problems:
        raise InvalidRequest("The provisioning request is not valid.", details=problems)


def _hourly(request: ProvisionRequest, units: int | None) -> float | None:
    if units is None:
        return 0.0  # on demand / OpenAI: billed per token, nothing per hour
    try:
        return hourly_usd(request.custom_model, units)
    except InvalidRequest:  # no price known for this base model
        return None


def _same(record: ProvisionedRecord, request: ProvisionRequest) -> bool:
    return (record.custom_model, record.model_units, record.commitment, record.on_demand) == (
        request.custom_model,
        _units(request),
        request.commitment,
        request.on_demand,
    )


def _units(request: ProvisionRequest) -> int | None:
    if request.on_demand or request.custom_model.startswith("ft:"):
        return None
    return request.model_units or 1


def _taken(record: ProvisionedRecord) -> Conflict:
    return Conflict(
        f"A provisioned model named {record.name!r} exists with other settings; deprovision it "
        "or pick another name.",
        details=[{"field": "name", "reason": "taken"}],
    )


def create(
    ctx: ProvisioningContext, request: ProvisionRequest, owner: str | None = None
) -> dict[str, Any]:
    check_request(request)
    existing = ctx.store.get(request.name)
    if existing is not None:
        return _resume(ctx, existing, request)
    provider = provider_for(request.custom_model)
    model = provider.custom_model(request.custom_model)
    at = now_iso()
    units = _units(request)
    kind = "openai" if request.custom_model.startswith("ft:") else "provisioned"
    record = ProvisionedRecord(
        name=request.name,
        provider="openai" if kind == "openai" else "bedrock",
        custom_model=request.custom_model,
        kind="on_demand" if request.on_demand else kind,
        commitment=request.commitment,
        status="creating",
        created_at=at,
        updated_at=at,
        client_token=uuid.uuid4().hex,
        owner=owner,
        model_units=units,
        hourly_cost_usd=_hourly(request, units),
        tuning_job=model.job,
    )
    created, stored = ctx.store.create(record)
    if not created:
        return _resume(ctx, stored, request)
    return view(_start(ctx, stored))


def _resume(
    ctx: ProvisioningContext, record: ProvisionedRecord, request: ProvisionRequest
) -> dict[str, Any]:
    """A create under a taken name: the same answer when identical (and the provider call
    again, same token, if the first attempt never got its answer), else 409."""
    if not _same(record, request):
        raise _taken(record)
    if record.arn is None and record.status == "creating":
        return view(_start(ctx, record))
    return get(ctx, record.name)


def _start(ctx: ProvisioningContext, record: ProvisionedRecord) -> ProvisionedRecord:
    try:
        arn, status = provider_for(record.custom_model).create(record, ctx.settings.stage)
    except Exception:
        if record.arn is None:  # the provider made nothing: free the name again
            ctx.store.delete(record.name)
        raise
    updated = ctx.store.update(record.name, arn=arn, status=status, updated_at=now_iso())
    logger.info(
        "model provisioning started",
        extra={"provisioned_model": record.name, "arn": arn, "status": status},
    )
    return updated or record


# --- read, delete, wait ---------------------------------------------------------------------


def _record(ctx: ProvisioningContext, name: str) -> ProvisionedRecord:
    record = ctx.store.get(name)
    if record is None:
        raise NotFound(f"No provisioned model named {name!r}.")
    return record


def refresh(ctx: ProvisioningContext, name: str) -> ProvisionedRecord:
    """The record with its status as the provider reports it now (stored when it changed)."""
    record = _record(ctx, name)
    if record.arn is None:
        return record
    state = provider_for(record.custom_model).read(record)
    message: str | None
    if state is None:  # the provider no longer knows it
        if record.status == "deleting":
            ctx.store.delete(name)
            raise NotFound(f"Provisioned model {name!r} was deprovisioned.")
        state_status, message = "failed", "The provider no longer knows this model."
    else:
        state_status, message = state.status, state.failure_message
    if (state_status, message) == (record.status, record.failure_message):
        return record
    if record.status == "deleting" and state_status != "failed":
        return record  # still going away
    updated = ctx.store.update(
        name, status=state_status, failure_message=message, updated_at=now_iso()
    )
    if updated is None:
        raise NotFound(f"No provisioned model named {name!r}.")
    return updated


def get(ctx: ProvisioningContext, name: str) -> dict[str, Any]:
    return view(refresh(ctx, name))


def delete(ctx: ProvisioningContext, name: str) -> dict[str, Any]:
    """Deprovision: the provider stops serving (and billing) it; the record goes with it."""
    record = _record(ctx, name)
    if record.arn is not None:
        ctx.store.update(name, status="deleting", updated_at=now_iso())
        provider = provider_for(record.custom_model)
        provider.delete(record)
        if provider.read(record) is not None and record.provider == "bedrock":
            logger.info("model deprovisioning", extra={"provisioned_model": name})
            return view(_record(ctx, name))
    ctx.store.delete(name)
    logger.info("model deprovisioned", extra={"provisioned_model": name})
    return {**view(record), "status": "deleting"}


def wait_in_service(
    ctx: ProvisioningContext,
    name: str,
    progress: Callable[[dict[str, Any]], None] | None = None,
    timeout_seconds: float = 3600.0,
    poll_seconds: float = 5.0,
) -> dict[str, Any]:
    """Poll until `name` leaves `creating` (in service or failed); its view. `progress` sees
    every poll. A TimeoutError after `timeout_seconds`."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        current = get(ctx, name)
        if progress is not None:
            progress(current)
        if current["status"] not in SETTLING:
            return current
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{name} is still {current['status']} after {timeout_seconds} s")
        time.sleep(poll_seconds)


# --- register -------------------------------------------------------------------------------


def _records(data: bytes) -> list[Any]:
    found = []
    for line in data.decode("utf-8", "replace").splitlines():
        try:
            found.append(json.loads(line))
        except ValueError:
            continue  # `tune` validated the data; a stray line does not change the format
    return found


def _recovered(record: ProvisionedRecord, request: RegisterRequest) -> RecoveredFormat | None:
    provider = provider_for(record.custom_model)
    try:
        model: CustomModel = provider.custom_model(record.custom_model)
        return recover_format(_records(provider.training_data(model)))
    except InvalidRequest as exc:
        if request.prompt is not None and request.output is not None:
            return None  # given: the defaults serve the rest
        raise InvalidRequest(
            f"The prompt format cannot be recovered from the model's training data: "
            f"{exc.message} Give prompt and output explicitly.",
            details=exc.details,
        ) from None


def version_request(
    ctx: ProvisioningContext, record: ProvisionedRecord, request: RegisterRequest
) -> VersionRequest:
    """The version that calls `record`'s model in the format it was trained on."""
    recovered = _recovered(record, request)
    prompt = request.prompt or (recovered.prompt if recovered else None)
    output = request.output or (recovered.output if recovered else None)
    inference = recovered.inference if recovered else InferenceSpec()
    source = {"provisioned_model": record.name, "custom_model": record.custom_model}
    if record.tuning_job:
        source["tuning_job"] = record.tuning_job
    spec: dict[str, Any] = {
        "model_id": record.arn,
        "prompt": prompt,
        "inference": inference,
        "output": output,
        "source": source,
    }
    if record.provider == "openai":
        settings = ctx.settings
        chat = not base_model_id(record.custom_model).startswith(COMPLETION_MODELS)
        spec |= {
            "provider": "openai",
            "request_format": "chat" if chat else "completions",
            "base_url": settings.tuning_openai_base_url,
            "api_key_env": settings.tuning_openai_api_key_env,
            "api_key_secret_arn": settings.tuning_openai_api_key_secret_arn,
        }
    else:
        spec |= {"provider": "bedrock", "request_format": "converse"}
        if record.model_units and record.hourly_cost_usd is not None:
            unit = record.hourly_cost_usd / record.model_units
            spec["pricing"] = {"model_unit_hour_usd": unit, "model_units": record.model_units}
    spec |= _inherited(ctx, request.deployment, output)
    return VersionRequest.model_validate({k: v for k, v in spec.items() if v is not None})


def _inherited(
    ctx: ProvisioningContext, deployment: str, output: OutputSpec | None
) -> dict[str, Any]:
    """What the deployment's champion decided and the training data cannot say: whether
    inputs are stored (the feedback export needs them for the next round) and, for the same
    labels, their numeric values."""
    alias = ctx.registry_store.get_alias(deployment)
    if alias is None:
        return {}
    current = ctx.registry_store.get_version(deployment, champion(alias.routes))
    if current is None:
        return {}
    found: dict[str, Any] = {"store_inputs": bool(current.spec.get("store_inputs", False))}
    values = current.spec.get("output", {}).get("values")
    labels = current.spec.get("output", {}).get("labels") or []
    if output is not None and values and sorted(labels) == sorted(output.labels):
        found["output"] = output.model_copy(update={"values": values})
    return found


def register(
    ctx: ProvisioningContext, name: str, request: RegisterRequest, caller: str | None = None
) -> dict[str, Any]:
    """A new version of `request.deployment` calling the in-service model `name`."""
    record = refresh(ctx, name)
    if record.status != "in_service":
        why = f": {record.failure_message}" if record.failure_message else ""
        raise InvalidState(f"Provisioned model {name!r} is {record.status}{why}.")
    version = version_request(ctx, record, request)
    return deployments.create_version(
        ctx.registry_store, ctx.cache, request.deployment, version, caller, ctx.registry
    )


def provision_and_register(
    ctx: ProvisioningContext,
    request: ProvisionRequest,
    deployment: str | None,
    *,
    owner: str | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
    timeout_seconds: float = 3600.0,
    poll_seconds: float = 5.0,
) -> dict[str, Any]:
    """Provision, wait until in service, then (given a deployment) register: what
    `tune --wait --provision --register NAME` runs after its job succeeded.
    {"provisioned_model": view, "version": the new version or None}. A failed provisioning is
    a 409 invalid_state carrying the provider's message."""
    create(ctx, request, owner)
    state = wait_in_service(ctx, request.name, progress, timeout_seconds, poll_seconds)
    if state["status"] != "in_service":
        raise InvalidState(
            f"Provisioning {request.name!r} failed: {state['failure_message']}",
            details=[{"field": "custom_model", "reason": str(state["failure_message"])}],
        )
    version = None
    if deployment:
        version = register(ctx, request.name, RegisterRequest(deployment=deployment), owner)
    return {"provisioned_model": state, "version": version}
