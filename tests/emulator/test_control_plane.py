"""The local control plane through real clients: boto3's `bedrock` client and the `openai` SDK
against the emulator, with training data and metrics in the moto server's S3."""

from __future__ import annotations

import base64
import csv
import io
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from scipy.stats import binomtest

from emulator import BASE_MODEL_ID, Emulator, start_emulator
from emulator.base_model import base_answer
from emulator.trainer import parse_examples

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "examples" / "drugreview"
BUCKET = "tunegate-control-plane-tests"
ROLE = "arn:aws:iam::000000000000:role/tunegate-customization"
NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"})


@pytest.fixture(scope="module")
def s3(local_stack: Any) -> Any:
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    for split in ("train", "validation"):
        for provider in ("bedrock", "openai"):
            body = (DATA / provider / f"{split}.jsonl").read_bytes()
            client.put_object(Bucket=BUCKET, Key=f"{provider}/{split}.jsonl", Body=body)
    bad = (DATA / "bedrock" / "train.jsonl").read_text().splitlines()
    bad.insert(2, '{"messages": "not a list"}')
    client.put_object(Bucket=BUCKET, Key="bedrock/bad.jsonl", Body="\n".join(bad).encode())
    return client


@pytest.fixture(scope="module")
def bedrock(local_stack: Any) -> Any:
    return boto3.client("bedrock", endpoint_url=local_stack.emulator.url, config=NO_RETRY)


@pytest.fixture(scope="module")
def runtime(local_stack: Any) -> Any:
    return boto3.client("bedrock-runtime", endpoint_url=local_stack.emulator.url)


def wait_for(read: Callable[[], dict[str, Any]], key: str, done: set[str]) -> dict[str, Any]:
    """Poll until `key` reaches a terminal value (a deadline guards a hang, not a timing)."""
    deadline = time.monotonic() + 120
    while True:
        state = read()
        if state[key] in done:
            return state
        assert time.monotonic() < deadline, f"still {state[key]} after 120 s"
        time.sleep(0.05)


def create_job(
    bedrock: Any, base: str = BASE_MODEL_ID, train: str = "bedrock/train.jsonl", **hyper: str
) -> str:
    name = f"job-{uuid.uuid4().hex[:10]}"
    arn: str = bedrock.create_model_customization_job(
        jobName=name,
        customModelName=f"model-{name}",
        roleArn=ROLE,
        baseModelIdentifier=base,
        customizationType="FINE_TUNING",
        trainingDataConfig={"s3Uri": f"s3://{BUCKET}/{train}"},
        validationDataConfig={"validators": [{"s3Uri": f"s3://{BUCKET}/bedrock/validation.jsonl"}]},
        outputDataConfig={"s3Uri": f"s3://{BUCKET}/output/"},
        hyperParameters={"epochCount": "2", "batchSize": "8", **hyper},
    )["jobArn"]
    return arn


def finished(bedrock: Any, arn: str) -> dict[str, Any]:
    return wait_for(
        lambda: bedrock.get_model_customization_job(jobIdentifier=arn),
        "status",
        {"Completed", "Failed", "Stopped"},
    )


def read_csv(s3: Any, key: str) -> list[dict[str, str]]:
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
    return list(csv.DictReader(io.StringIO(body)))


@pytest.fixture(scope="module")
def trained(bedrock: Any, s3: Any) -> dict[str, Any]:
    return finished(bedrock, create_job(bedrock))


def test_job_trains_and_writes_bedrock_metrics(trained: dict[str, Any], s3: Any) -> None:
    job_id = trained["jobArn"].rsplit("/", 1)[-1]
    assert trained["status"] == "Completed", trained.get("failureMessage")
    assert trained["statusDetails"]["trainingDetails"]["status"] == "Completed"
    root = f"output/model-customization-job-{job_id}"
    steps = read_csv(s3, f"{root}/training_artifacts/step_wise_training_metrics.csv")
    assert list(steps[0]) == ["step_number", "epoch_number", "training_loss", "perplexity"]
    assert [int(r["step_number"]) for r in steps] == list(range(len(steps)))
    assert {r["epoch_number"] for r in steps} == {"1", "2"}  # 782 records / 8 = 98 steps each
    assert len(steps) == 2 * 98
    key = f"{root}/validation_artifacts/post_fine_tuning_validation/validation_metrics.csv"
    validation = read_csv(s3, key)
    assert [r["epoch_number"] for r in validation] == ["1", "2"]
    # The validation loss is the trained model's log loss on the validation file, recomputed here.
    model = bedrock_model(trained)
    examples = parse_examples((DATA / "bedrock" / "validation.jsonl").read_bytes(), "v")
    assert float(validation[-1]["validation_loss"]) == pytest.approx(model.loss(examples), 1e-5)
    assert trained["validationMetrics"][0]["validationLoss"] == pytest.approx(
        model.loss(examples), 1e-5
    )
    from sklearn.metrics import log_loss

    probabilities = model.classifier.predict_proba(_features([e.text for e in examples]))
    expected = log_loss([e.label for e in examples], probabilities, labels=model.labels)
    assert float(validation[-1]["validation_loss"]) == pytest.approx(expected, 1e-5)


def _features(texts: list[str]) -> Any:
    from emulator.reference_model import strip_separator
    from emulator.trainer import _features as features

    return features([strip_separator(t) for t in texts])


def bedrock_model(job: dict[str, Any]) -> Any:
    """The trained classifier behind a job's custom model, from the running emulator."""
    emulation = _EMULATOR["emu"]._server.emulation
    return emulation.control_plane.models[job["outputModelArn"]].model


_EMULATOR: dict[str, Emulator] = {}


@pytest.fixture(scope="module", autouse=True)
def _remember_emulator(local_stack: Any) -> None:
    _EMULATOR["emu"] = local_stack.emulator


def test_custom_model_is_listed_and_described(trained: dict[str, Any], bedrock: Any) -> None:
    model = bedrock.get_custom_model(modelIdentifier=trained["outputModelArn"])
    assert model["modelName"] == trained["outputModelName"]
    assert model["baseModelArn"].endswith(f"foundation-model/{BASE_MODEL_ID}")
    assert model["hyperParameters"] == {"epochCount": "2", "batchSize": "8"}
    listed = bedrock.list_custom_models(nameContains=trained["outputModelName"])
    assert [m["modelArn"] for m in listed["modelSummaries"]] == [trained["outputModelArn"]]
    jobs = bedrock.list_model_customization_jobs(nameContains=trained["jobName"])
    assert [j["status"] for j in jobs["modelCustomizationJobSummaries"]] == ["Completed"]


def test_hyperparameters_change_the_model(trained: dict[str, Any], bedrock: Any) -> None:
    more_epochs = finished(bedrock, create_job(bedrock, epochCount="4", earlyStoppingPatience="0"))
    slower = finished(bedrock, create_job(bedrock, learningRateMultiplier="0.2"))
    losses = {
        name: job["validationMetrics"][0]["validationLoss"]
        for name, job in (("base", trained), ("epochs", more_epochs), ("lr", slower))
    }
    assert len(set(losses.values())) == 3, losses
    assert losses["lr"] > losses["base"]  # smaller steps, same passes: fitted less


def test_early_stopping_stops_on_validation_loss(bedrock: Any, s3: Any) -> None:
    # A threshold no epoch can beat: every epoch after the first is "no improvement".
    job = finished(
        bedrock,
        create_job(
            bedrock, epochCount="10", earlyStoppingThreshold="0.1", earlyStoppingPatience="1"
        ),
    )
    job_id = job["jobArn"].rsplit("/", 1)[-1]
    steps = read_csv(
        s3,
        f"output/model-customization-job-{job_id}/training_artifacts/"
        "step_wise_training_metrics.csv",
    )
    assert {r["epoch_number"] for r in steps} == {"1", "2"}


def test_bad_line_fails_the_job_with_its_line(bedrock: Any, s3: Any) -> None:
    job = finished(bedrock, create_job(bedrock, train="bedrock/bad.jsonl"))
    assert job["status"] == "Failed"
    assert "line 3" in job["failureMessage"]
    assert "bad.jsonl" in job["failureMessage"]
    assert "outputModelArn" not in job


def test_missing_training_object_fails_the_job(bedrock: Any, s3: Any) -> None:
    job = finished(bedrock, create_job(bedrock, train="bedrock/missing.jsonl"))
    assert job["status"] == "Failed"
    assert "NoSuchKey" in job["failureMessage"]


def test_validation_errors_are_botocore_exceptions(bedrock: Any) -> None:
    with pytest.raises(bedrock.exceptions.ValidationException, match="notAKnob"):
        create_job(bedrock, notAKnob="1")
    with pytest.raises(bedrock.exceptions.ValidationException, match="epochCount"):
        create_job(bedrock, epochCount="0")
    with pytest.raises(bedrock.exceptions.ResourceNotFoundException):
        bedrock.get_model_customization_job(jobIdentifier="nope")
    missing = "arn:aws:bedrock:us-east-1:000000000000:custom-model/x.y/abcdefabcdef"
    with pytest.raises(bedrock.exceptions.ResourceNotFoundException):
        create_job(bedrock, base=missing)


def test_same_name_conflicts_and_token_is_idempotent(bedrock: Any, s3: Any) -> None:
    args = {
        "jobName": f"idem-{uuid.uuid4().hex[:8]}",
        "customModelName": "idem",
        "roleArn": ROLE,
        "baseModelIdentifier": BASE_MODEL_ID,
        "clientRequestToken": uuid.uuid4().hex,
        "trainingDataConfig": {"s3Uri": f"s3://{BUCKET}/bedrock/train.jsonl"},
        "outputDataConfig": {"s3Uri": f"s3://{BUCKET}/output"},
    }
    first = bedrock.create_model_customization_job(**args)["jobArn"]
    assert bedrock.create_model_customization_job(**args)["jobArn"] == first
    with pytest.raises(bedrock.exceptions.ConflictException):
        bedrock.create_model_customization_job(**{**args, "clientRequestToken": "other"})
    finished(bedrock, first)


def test_scripted_throttling_reaches_boto3(bedrock: Any, local_stack: Any) -> None:
    local_stack.emulator.script(
        [{"model_id": "control:GetCustomModel", "error": "ThrottlingException"}]
    )
    with pytest.raises(bedrock.exceptions.ThrottlingException):
        bedrock.get_custom_model(modelIdentifier="anything")
    with pytest.raises(bedrock.exceptions.ResourceNotFoundException):
        bedrock.get_custom_model(modelIdentifier="anything")  # the script entry is used up


def provisioned(bedrock: Any, arn: str) -> dict[str, Any]:
    return wait_for(
        lambda: bedrock.get_provisioned_model_throughput(provisionedModelId=arn),
        "status",
        {"InService", "Failed"},
    )


def test_provisioned_model_answers_and_beats_the_base(
    trained: dict[str, Any], bedrock: Any, runtime: Any
) -> None:
    arn = bedrock.create_provisioned_model_throughput(
        modelUnits=1,
        provisionedModelName=f"pt-{uuid.uuid4().hex[:8]}",
        modelId=trained["outputModelArn"],
    )["provisionedModelArn"]
    assert provisioned(bedrock, arn)["status"] == "InService"
    listed = bedrock.list_provisioned_model_throughputs(statusEquals="InService")
    assert arn in [p["provisionedModelArn"] for p in listed["provisionedModelSummaries"]]
    tuned = base = 0
    tests = [
        json.loads(line) for line in (DATA / "bedrock" / "test.jsonl").read_text().splitlines()
    ]
    for record in tests:
        review, label = record["messages"][0]["content"], record["messages"][1]["content"]
        answer = runtime.converse(
            modelId=arn,
            system=[{"text": record["system"]}],
            messages=[{"role": "user", "content": [{"text": review}]}],
            inferenceConfig={"maxTokens": 5},
        )["output"]["message"]["content"][0]["text"]
        tuned += answer.strip() == label
        base += base_answer(review).strip() == label
    # Exact one-sided binomial test of the tuned accuracy against the base's accuracy.
    assert binomtest(tuned, len(tests), base / len(tests), alternative="greater").pvalue < 0.01
    bedrock.delete_provisioned_model_throughput(provisionedModelId=arn)
    with pytest.raises(bedrock.exceptions.ResourceNotFoundException):
        bedrock.get_provisioned_model_throughput(provisionedModelId=arn)
    with pytest.raises(runtime.exceptions.ResourceNotFoundException):
        runtime.converse(modelId=arn, messages=[{"role": "user", "content": [{"text": "x"}]}])


def test_provisioning_failure_fault(
    trained: dict[str, Any], bedrock: Any, local_stack: Any
) -> None:
    local_stack.emulator.set_faults(provisioning_failure="Insufficient capacity for 1 MU.")
    try:
        arn = bedrock.create_provisioned_model_throughput(
            modelUnits=1, provisionedModelName="failing", modelId=trained["outputModelArn"]
        )["provisionedModelArn"]
        state = provisioned(bedrock, arn)
    finally:
        local_stack.emulator.set_faults()
    assert (state["status"], state["failureMessage"]) == (
        "Failed",
        "Insufficient capacity for 1 MU.",
    )


def test_on_demand_deployment_answers(trained: dict[str, Any], bedrock: Any, runtime: Any) -> None:
    arn = bedrock.create_custom_model_deployment(
        modelDeploymentName=f"dep-{uuid.uuid4().hex[:8]}", modelArn=trained["outputModelArn"]
    )["customModelDeploymentArn"]
    state = wait_for(
        lambda: bedrock.get_custom_model_deployment(customModelDeploymentIdentifier=arn),
        "status",
        {"Active", "Failed"},
    )
    assert state["status"] == "Active"
    body = {"prompt": "This drug was wonderful, it works great"}
    out = json.loads(runtime.invoke_model(modelId=arn, body=json.dumps(body))["body"].read())
    assert out["generation"].strip() in ("positive", "neutral", "negative")
    bedrock.delete_custom_model_deployment(customModelDeploymentIdentifier=arn)


def test_incremental_job_starts_from_the_custom_model(
    trained: dict[str, Any], bedrock: Any
) -> None:
    child = finished(bedrock, create_job(bedrock, base=trained["outputModelArn"], epochCount="1"))
    assert child["status"] == "Completed"
    assert child["baseModelArn"] == trained["baseModelArn"]
    # One more epoch from the parent's weights fits the data better than the parent did.
    assert child["trainingMetrics"]["trainingLoss"] != trained["trainingMetrics"]["trainingLoss"]
    parent_model, child_model = bedrock_model(trained), bedrock_model(child)
    assert parent_model.classifier is not child_model.classifier


@pytest.fixture()
def slow_emulator(local_stack: Any) -> Iterator[Emulator]:
    """Its own emulator whose jobs stay a minute in each status (stop wakes them)."""
    with start_emulator(train_file=None, control_plane_step_seconds=60) as emulator:
        yield emulator


def test_job_in_progress_then_stopped(slow_emulator: Emulator, s3: Any) -> None:
    client = boto3.client("bedrock", endpoint_url=slow_emulator.url, config=NO_RETRY)
    arn = create_job(client)
    job = client.get_model_customization_job(jobIdentifier=arn)
    assert job["status"] == "InProgress"
    assert "endTime" not in job
    client.stop_model_customization_job(jobIdentifier=arn)
    assert client.get_model_customization_job(jobIdentifier=arn)["status"] in (
        "Stopping",
        "Stopped",
    )
    job = finished(client, arn)
    assert job["status"] == "Stopped"
    assert "outputModelArn" not in job
    with pytest.raises(client.exceptions.ValidationException, match="Stopped"):
        client.stop_model_customization_job(jobIdentifier=arn)


# --- OpenAI ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def openai_client(local_stack: Any) -> Any:
    from openai import OpenAI

    return OpenAI(
        base_url=f"{local_stack.emulator.url}/openai/v1", api_key="sk-test", max_retries=0
    )


def upload(client: Any, path: Path) -> str:
    with path.open("rb") as handle:
        return str(client.files.create(file=handle, purpose="fine-tune").id)


def openai_finished(client: Any, job_id: str) -> Any:
    deadline = time.monotonic() + 120
    while True:
        job = client.fine_tuning.jobs.retrieve(job_id)
        if job.status in ("succeeded", "failed", "cancelled"):
            return job
        assert time.monotonic() < deadline
        time.sleep(0.05)


@pytest.fixture(scope="module")
def openai_job(openai_client: Any) -> Any:
    training = upload(openai_client, DATA / "openai" / "train.jsonl")
    validation = upload(openai_client, DATA / "openai" / "validation.jsonl")
    job = openai_client.fine_tuning.jobs.create(
        model="babbage-002",
        training_file=training,
        validation_file=validation,
        hyperparameters={"n_epochs": 2, "batch_size": 8, "learning_rate_multiplier": 1.0},
    )
    assert job.status == "validating_files"
    return openai_finished(openai_client, job.id)


def test_openai_job_succeeds_with_events_and_result_file(
    openai_job: Any, openai_client: Any
) -> None:
    assert openai_job.status == "succeeded", openai_job.error
    assert openai_job.fine_tuned_model.startswith("ft:babbage-002:tunegate::")
    events = openai_client.fine_tuning.jobs.list_events(openai_job.id, limit=1000).data
    metrics = [e for e in events if e.type == "metrics"]
    assert len(metrics) == 2 * 98
    assert "validation loss" in metrics[0].message  # newest first: the last step ends epoch 2
    raw = openai_client.files.content(openai_job.result_files[0]).read()
    rows = list(csv.DictReader(io.StringIO(base64.b64decode(raw).decode())))
    assert list(rows[0]) == [
        "step",
        "train_loss",
        "train_accuracy",
        "valid_loss",
        "valid_mean_token_accuracy",
    ]
    assert [r["valid_loss"] != "" for r in rows].count(True) == 2
    assert openai_job.id in [j.id for j in openai_client.fine_tuning.jobs.list().data]


def test_openai_fine_tuned_model_answers_and_continues(openai_job: Any, openai_client: Any) -> None:
    answer = openai_client.completions.create(
        model=openai_job.fine_tuned_model,
        prompt="Terrible side effects, worst drug ever\n\n###\n\n",
        max_tokens=3,
    )
    assert answer.choices[0].text.strip() in ("positive", "neutral", "negative")
    assert answer.choices[0].text.startswith(" ")  # completion style, as trained
    training = upload(openai_client, DATA / "openai" / "validation.jsonl")
    child = openai_client.fine_tuning.jobs.create(
        model=openai_job.fine_tuned_model, training_file=training, suffix="more"
    )
    child = openai_finished(openai_client, child.id)
    assert child.status == "succeeded"
    assert child.fine_tuned_model.startswith("ft:babbage-002:tunegate:more:")


def test_openai_bad_line_fails_with_its_line(openai_client: Any, tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    lines = (DATA / "openai" / "train.jsonl").read_text().splitlines()[:5]
    path.write_text("\n".join([*lines[:3], "{not json", *lines[3:]]))
    job = openai_client.fine_tuning.jobs.create(
        model="babbage-002", training_file=upload(openai_client, path)
    )
    job = openai_finished(openai_client, job.id)
    assert job.status == "failed"
    assert job.error.code == "invalid_training_file"
    assert "line 4" in job.error.message


def test_openai_errors_and_cancel(openai_client: Any, local_stack: Any) -> None:
    from openai import NotFoundError, RateLimitError

    with pytest.raises(NotFoundError):
        openai_client.fine_tuning.jobs.retrieve("ftjob-missing")
    local_stack.emulator.script([{"model_id": "control:openai", "error": "ThrottlingException"}])
    with pytest.raises(RateLimitError):
        openai_client.fine_tuning.jobs.list()


def test_openai_cancel_on_a_slow_emulator(slow_emulator: Emulator) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=f"{slow_emulator.url}/openai/v1", api_key="sk-test", max_retries=0)
    job = client.fine_tuning.jobs.create(
        model="babbage-002", training_file=upload(client, DATA / "openai" / "train.jsonl")
    )
    assert client.fine_tuning.jobs.retrieve(job.id).status == "validating_files"
    assert client.fine_tuning.jobs.cancel(job.id).status == "cancelled"
    assert openai_finished(client, job.id).fine_tuned_model is None


def test_per_model_latency_fault_reaches_one_model_only(local_stack: Any) -> None:
    from botocore.exceptions import ReadTimeoutError

    emulator = local_stack.emulator
    emulator.set_faults(model_latency_ms={"slow-echo": 30_000})
    config = Config(read_timeout=1, retries={"total_max_attempts": 1, "mode": "standard"})
    runtime = boto3.client("bedrock-runtime", endpoint_url=emulator.url, config=config)
    body = json.dumps({"inputText": "hi"})
    try:
        reply = json.loads(runtime.invoke_model(modelId="fast-echo", body=body)["body"].read())
        assert reply["results"][0]["outputText"] == "hi"
        with pytest.raises(ReadTimeoutError):
            runtime.invoke_model(modelId="slow-echo", body=body)
    finally:
        emulator.set_faults()
    with pytest.raises(ValueError, match="non-negative"):
        emulator.set_faults(model_latency_ms={"x": -1})


def test_cli_flag_paces_the_control_plane(s3: Any) -> None:
    """`python -m emulator --control-plane-step-seconds 60`: a new job is still InProgress."""
    import os
    import subprocess
    import sys

    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "emulator",
            "--port",
            "0",
            "--train-file",
            "",
            "--control-plane-step-seconds",
            "60",
        ],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip().rsplit(" ", 1)[-1]
        client = boto3.client("bedrock", endpoint_url=url, config=NO_RETRY)
        arn = create_job(client)
        assert client.get_model_customization_job(jobIdentifier=arn)["status"] == "InProgress"
        client.stop_model_customization_job(jobIdentifier=arn)
        assert finished(client, arn)["status"] == "Stopped"
    finally:
        process.terminate()
        process.wait(timeout=30)
