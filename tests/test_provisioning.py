"""Provisioning and register through the API on the local stack (CONTRACT section 8): a custom
model trained by the emulator's control plane (boto3 directly, as a tuning job would), served,
registered in its trained format, invoked, compared with the base stand-in, deprovisioned."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from scipy.stats import binomtest

from chalicelib.config.settings import get_settings
from emulator import BASE_MODEL_ID
from emulator.base_model import base_answer
from tests.conftest import SCOPED_KEYS, auth_headers

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "examples" / "drugreview"
ROLE = "arn:aws:iam::000000000000:role/tunegate-test-customization"
NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"})


def until(read: Callable[[], dict[str, Any]], done: Callable[[dict[str, Any]], bool]) -> Any:
    """Poll until `done` (a deadline guards a hang, not a timing)."""
    deadline = time.monotonic() + 120
    while True:
        state = read()
        if done(state):
            return state
        assert time.monotonic() < deadline, state
        time.sleep(0.05)


@pytest.fixture(scope="module")
def custom_model(local_stack: Any) -> str:
    return train_custom_model(local_stack)


def train_custom_model(local_stack: Any) -> str:
    """A custom model trained on the drug-review training split, its data in the stage's
    results bucket under tuning/ (where `tune` puts it)."""
    bucket, prefix = get_settings().results_bucket, f"tuning/{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3")
    for split in ("train", "validation"):
        body = (DATA / "bedrock" / f"{split}.jsonl").read_bytes()
        s3.put_object(Bucket=bucket, Key=f"{prefix}/{split}.jsonl", Body=body)
    bedrock = boto3.client("bedrock", endpoint_url=local_stack.emulator.url, config=NO_RETRY)
    name = f"job-{uuid.uuid4().hex[:8]}"
    arn = bedrock.create_model_customization_job(
        jobName=name,
        customModelName=f"model-{name}",
        roleArn=ROLE,
        baseModelIdentifier=BASE_MODEL_ID,
        trainingDataConfig={"s3Uri": f"s3://{bucket}/{prefix}/train.jsonl"},
        validationDataConfig={
            "validators": [{"s3Uri": f"s3://{bucket}/{prefix}/validation.jsonl"}]
        },
        outputDataConfig={"s3Uri": f"s3://{bucket}/{prefix}/output/"},
        hyperParameters={"epochCount": "2", "batchSize": "8"},
    )["jobArn"]
    job = until(
        lambda: bedrock.get_model_customization_job(jobIdentifier=arn),
        lambda j: j["status"] in ("Completed", "Failed"),
    )
    assert job["status"] == "Completed", job.get("failureMessage")
    return str(job["outputModelArn"])


def call(client: Any, method: str, path: str, body: Any = None, key: str | None = None) -> Any:
    headers = auth_headers(key) if key else auth_headers()
    raw = b"" if body is None else json.dumps(body)
    response = client.http.request(method, path, headers=headers, body=raw)
    return response.status_code, json.loads(response.body) if response.body else None


def in_service(client: Any, name: str) -> dict[str, Any]:
    return until(
        lambda: call(client, "GET", f"/v1/provisioned-models/{name}")[1],
        lambda s: s["status"] not in ("creating", "deleting"),
    )


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_a_commitment_needs_confirmation_before_any_provider_call(
    client: Any, custom_model: str, emulator: Any
) -> None:
    before = emulator.stats()["total"]
    body = {"name": unique("pm"), "custom_model": custom_model, "commitment": "OneMonth"}
    status, answer = call(client, "POST", "/v1/provisioned-models", body)
    assert status == 400, answer
    assert [d["field"] for d in answer["error"]["details"]] == ["confirm_commitment"]
    for units in (0, 51):
        status, answer = call(
            client, "POST", "/v1/provisioned-models", {**body, "model_units": units}
        )
        assert status == 400 and answer["error"]["details"][0]["field"] == "model_units"
    assert emulator.stats()["total"] == before  # no provider call at all
    missing = custom_model.rsplit("/", 1)[0] + "/nosuchmodel1"
    status, answer = call(
        client,
        "POST",
        "/v1/provisioned-models",
        {**body, "custom_model": missing, "commitment": "none"},
    )
    assert status == 400 and answer["error"]["details"][0]["field"] == "custom_model"


def test_provision_register_invoke_beat_the_base_and_deprovision(
    client: Any, custom_model: str
) -> None:
    name, deployment = unique("pm"), unique("tuned")
    body = {"name": name, "custom_model": custom_model, "model_units": 1}
    status, created = call(client, "POST", "/v1/provisioned-models", body)
    assert status == 202, created
    assert created["hourly_cost_usd"] == 40.0  # Claude 3 Haiku's row x 1 unit
    # A retry answers the same model; other settings under the name are a conflict.
    status, again = call(client, "POST", "/v1/provisioned-models", body)
    assert status == 202 and again["arn"] == created["arn"]
    status, conflict = call(client, "POST", "/v1/provisioned-models", {**body, "model_units": 2})
    assert status == 409 and conflict["error"]["code"] == "conflict"
    state = in_service(client, name)
    assert state["status"] == "in_service" and ":provisioned-model/" in state["arn"]
    assert state["tuning_job"].startswith("arn:aws:bedrock:")

    status, version = call(
        client, "POST", f"/v1/provisioned-models/{name}/register", {"deployment": deployment}
    )
    assert status == 201, version
    assert (version["version"], version["model_id"]) == (1, state["arn"])
    assert version["source"] == {
        "provisioned_model": name,
        "custom_model": custom_model,
        "tuning_job": state["tuning_job"],
    }
    first = json.loads((DATA / "bedrock" / "train.jsonl").read_text().splitlines()[0])
    assert version["prompt"]["system"] == first["system"]  # the trained format, recovered
    assert sorted(version["output"]["labels"]) == ["negative", "neutral", "positive"]
    assert version["store_inputs"] is False  # a new deployment: nothing to inherit

    tuned = base = 0  # exact McNemar test on the items the two disagree on
    tests = [
        json.loads(line) for line in (DATA / "bedrock" / "test.jsonl").read_text().splitlines()
    ]
    for record in tests:
        review, label = record["messages"][0]["content"], record["messages"][1]["content"]
        status, answer = call(client, "POST", f"/v1/models/{deployment}/invoke", {"input": review})
        assert status == 200, answer
        assert answer["version"] == 1
        tuned_right = answer["prediction"] == label
        base_right = base_answer(review).strip().rstrip(".").lower() == label
        tuned += tuned_right and not base_right
        base += base_right and not tuned_right
    assert binomtest(tuned, tuned + base, 0.5, alternative="greater").pvalue < 0.01

    status, gone = call(client, "DELETE", f"/v1/provisioned-models/{name}")
    assert status == 202 and gone["status"] == "deleting"
    assert call(client, "GET", f"/v1/provisioned-models/{name}")[0] == 404
    assert call(client, "DELETE", f"/v1/provisioned-models/{name}")[0] == 404
    status, _ = call(client, "POST", f"/v1/models/{deployment}/invoke", {"input": "Fine."})
    assert status != 200


def test_a_provisioning_failure_surfaces_the_providers_message(
    client: Any, custom_model: str, emulator: Any
) -> None:
    name = unique("pm")
    emulator.set_faults(provisioning_failure="Insufficient capacity for 1 MU.")
    try:
        status, _ = call(
            client, "POST", "/v1/provisioned-models", {"name": name, "custom_model": custom_model}
        )
        assert status == 202
        state = in_service(client, name)
    finally:
        emulator.set_faults()
    assert (state["status"], state["failure_message"]) == (
        "failed",
        "Insufficient capacity for 1 MU.",
    )
    status, refused = call(
        client, "POST", f"/v1/provisioned-models/{name}/register", {"deployment": unique("d")}
    )
    assert status == 409 and "Insufficient capacity" in refused["error"]["message"]
    assert call(client, "DELETE", f"/v1/provisioned-models/{name}")[0] == 202


def test_on_demand_deployment_registers_and_answers(client: Any, custom_model: str) -> None:
    name, deployment = unique("od"), unique("od")
    body = {"name": name, "custom_model": custom_model, "on_demand": True}
    status, created = call(client, "POST", "/v1/provisioned-models", body)
    assert status == 202 and created["model_units"] is None
    assert created["hourly_cost_usd"] == 0.0
    state = in_service(client, name)
    assert ":custom-model-deployment/" in state["arn"]
    status, version = call(
        client, "POST", f"/v1/provisioned-models/{name}/register", {"deployment": deployment}
    )
    assert status == 201 and version["model_id"] == state["arn"]
    status, answer = call(client, "POST", f"/v1/models/{deployment}/invoke", {"input": "Great!"})
    assert status == 200 and answer["prediction"] in ("negative", "neutral", "positive")
    assert call(client, "DELETE", f"/v1/provisioned-models/{name}")[0] == 202


def test_the_openai_path(client: Any, local_stack: Any) -> None:
    from openai import OpenAI

    settings = get_settings()
    sdk = OpenAI(base_url=settings.tuning_openai_base_url, api_key="sk-test", max_retries=0)
    with (DATA / "openai" / "train.jsonl").open("rb") as handle:
        training = sdk.files.create(file=handle, purpose="fine-tune").id
    job = sdk.fine_tuning.jobs.create(model="babbage-002", training_file=training)
    job = until(
        lambda: sdk.fine_tuning.jobs.retrieve(job.id).model_dump(),
        lambda j: j["status"] in ("succeeded", "failed"),
    )
    assert job["status"] == "succeeded", job["error"]
    name, deployment = unique("oa"), unique("oa")
    body = {"name": name, "custom_model": job["fine_tuned_model"]}
    status, created = call(client, "POST", "/v1/provisioned-models", body)
    assert status == 202, created
    assert (created["status"], created["arn"], created["tuning_job"]) == (
        "in_service",
        job["fine_tuned_model"],
        job["id"],
    )
    status, refused = call(client, "POST", "/v1/provisioned-models", {**body, "model_units": 1})
    assert status == 400 or status == 409
    status, version = call(
        client, "POST", f"/v1/provisioned-models/{name}/register", {"deployment": deployment}
    )
    assert status == 201, version
    assert (version["provider"], version["request_format"]) == ("openai", "completions")
    assert version["base_url"] == settings.tuning_openai_base_url
    assert version["prompt"]["separator"] == "\n\n###\n\n"
    status, answer = call(
        client, "POST", f"/v1/models/{deployment}/invoke", {"input": "Worst drug ever, awful."}
    )
    assert status == 200 and answer["prediction"] in ("negative", "neutral", "positive")
    assert call(client, "DELETE", f"/v1/provisioned-models/{name}")[0] == 202


def test_version_creation_refuses_a_model_the_roles_cannot_invoke(client: Any) -> None:
    name = unique("deny")
    for model_id in (
        "arn:aws:bedrock:eu-west-1:000000000000:provisioned-model/abc",
        "amazon.nova-lite-v1:0",
    ):
        spec = {"provider": "bedrock", "model_id": model_id, "request_format": "converse"}
        status, answer = call(client, "POST", f"/v1/deployments/{name}/versions", spec)
        assert status == 400 and answer["error"]["details"][0]["field"] == "model_id", answer
    assert call(client, "GET", f"/v1/deployments/{name}")[0] == 404  # nothing stored


def test_an_invoke_key_cannot_provision(client: Any, custom_model: str) -> None:
    invoke_key = next(k for k, s in SCOPED_KEYS.items() if s == "invoke")
    body = {"name": unique("pm"), "custom_model": custom_model}
    status, answer = call(client, "POST", "/v1/provisioned-models", body, key=invoke_key)
    assert status == 403 and answer["error"]["code"] == "forbidden"


def test_cli_provision_wait_register_and_deprovision(
    client: Any, custom_model: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from chalicelib.cli import main

    name, deployment = unique("cli"), unique("cli")
    # An existing deployment storing inputs with label values: the new version inherits both
    # (the training data cannot say them), so the feedback loop keeps its inputs.
    from chalicelib.runtime import get_runtime

    spec = get_runtime().registry.get("sentiment-converse").model_dump(mode="json")
    del spec["name"]
    assert call(client, "POST", f"/v1/deployments/{deployment}/versions", spec)[0] == 201
    common = ["provision", "--name", name, "--custom-model", custom_model]
    assert main([*common, "--commitment", "SixMonths"]) == 1
    assert "confirm_commitment" in capsys.readouterr().out
    args = [*common, "--wait", "--register", deployment, "--poll-seconds", "0.05"]
    assert main(args) == 0
    captured = capsys.readouterr()
    done = json.loads(captured.out)
    assert done["provisioned_model"]["status"] == "in_service"
    assert f"{name}: in_service, $40.00/hour" in captured.err
    assert (done["version"]["name"], done["version"]["version"]) == (deployment, 2)
    assert done["version"]["store_inputs"] is True
    assert done["version"]["output"]["values"] == spec["output"]["values"]
    assert main(["register", name, "--deployment", deployment]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["version"] == 3
    assert main(["provisioned", name]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "in_service"
    assert main(["deprovision", name]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "deleting"
    assert main(["provisioned", name]) == 1
    assert "not_found" in capsys.readouterr().out
