"""Tuning jobs through the API against the local stack: the Bedrock control plane and OpenAI's
fine-tuning API of the emulator really train, moto's S3 holds the data and the metrics files.

Every refusal happens before any provider call (the emulator's control plane saw none); a job
runs to `succeeded` with loss curves whose validation loss is the trained model's loss on the
validation file; hyperparameters change the model; stop; a provider failure's message."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from chalicelib import aws
from emulator import BASE_MODEL_ID, Emulator, start_emulator
from emulator.trainer import parse_examples
from tests.conftest import ROOT, auth_headers

DATA = ROOT / "examples" / "drugreview"
TERMINAL = {"succeeded", "failed", "stopped"}


def records(provider: str, split: str) -> list[dict[str, Any]]:
    text = (DATA / provider / f"{split}.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def post(client: Any, path: str, body: Any = None, key: str | None = None) -> Any:
    headers = auth_headers(key) if key else auth_headers()
    data = "" if body is None else json.dumps(body)
    return client.http.post(
        path, headers={**headers, "content-type": "application/json"}, body=data
    )


def get(client: Any, path: str) -> Any:
    return client.http.get(path, headers=auth_headers())


def job_body(**extra: Any) -> dict[str, Any]:
    return {
        "name": "drugs",
        "provider": "bedrock",
        "base_model": BASE_MODEL_ID,
        "training": {"records": records("bedrock", "train")},
        "validation": {"records": records("bedrock", "validation")},
        "hyperparameters": {"epochCount": 2, "batchSize": 8},
        **extra,
    }


def control_plane(emulator: Emulator) -> Any:
    return emulator._server.emulation.control_plane


def provider_jobs(emulator: Emulator) -> int:
    emulation = emulator._server.emulation
    return len(emulation.control_plane.jobs) + len(emulation.fine_tuning.jobs)


def wait(client: Any, tuning_job_id: str) -> dict[str, Any]:
    """Poll the job (each read refreshes it from the provider) until it finishes; the deadline
    guards a hang, it is not a timing assertion."""
    deadline = time.monotonic() + 180
    while True:
        reply = get(client, f"/v1/tuning-jobs/{tuning_job_id}")
        assert reply.status_code == 200, reply.body
        job: dict[str, Any] = json.loads(reply.body)
        if job["status"] in TERMINAL:
            return job
        assert time.monotonic() < deadline, job["status"]
        time.sleep(0.1)


def start(client: Any, body: dict[str, Any]) -> str:
    reply = post(client, "/v1/tuning-jobs", body)
    assert reply.status_code == 202, reply.body
    accepted = json.loads(reply.body)
    assert accepted["status"] in ("queued", "running")
    assert accepted["estimated_cost_usd"] > 0
    assert reply.headers["Location"] == f"/v1/tuning-jobs/{accepted['tuning_job_id']}"
    return str(accepted["tuning_job_id"])


# --- refused before any provider call -------------------------------------------------------


def test_bad_hyperparameters_name_field_and_range_without_a_provider_call(
    client: Any, emulator: Emulator
) -> None:
    before = provider_jobs(emulator)
    reply = post(client, "/v1/tuning-jobs", job_body(hyperparameters={"epochCount": 11}))
    assert reply.status_code == 400, reply.body
    error = json.loads(reply.body)["error"]
    assert error["code"] == "invalid_request"
    assert error["details"] == [
        {"field": "hyperparameters.epochCount", "reason": "must be an integer 1-10, found 11"}
    ]
    assert provider_jobs(emulator) == before


def test_bad_training_line_names_its_line(client: Any, emulator: Emulator) -> None:
    training = records("bedrock", "train")[:40]
    training[6] = {"messages": "not a list"}
    before = provider_jobs(emulator)
    reply = post(client, "/v1/tuning-jobs", job_body(training={"records": training}))
    assert reply.status_code == 400, reply.body
    error = json.loads(reply.body)["error"]
    assert error["code"] == "invalid_request"
    assert "line 7" in error["message"]
    assert {d["line"] for d in error["details"]} == {7}
    assert error["details"][0]["field"] == "training"
    assert provider_jobs(emulator) == before


def test_cost_over_the_limit_is_refused(client: Any, emulator: Emulator) -> None:
    before = provider_jobs(emulator)
    reply = post(client, "/v1/tuning-jobs", job_body(max_cost_usd=0.01))
    assert reply.status_code == 400, reply.body
    error = json.loads(reply.body)["error"]
    assert error["code"] == "cost_limit_exceeded"
    assert error["details"][0]["field"] == "max_cost_usd"
    assert provider_jobs(emulator) == before


def test_data_outside_the_allowed_prefixes_is_refused(client: Any) -> None:
    body = job_body(training={"s3_uri": "s3://someone-elses-bucket/train.jsonl"})
    reply = post(client, "/v1/tuning-jobs", body)
    assert reply.status_code == 400, reply.body
    assert json.loads(reply.body)["error"]["details"][0]["field"] == "training.s3_uri"


def test_tuning_routes_need_admin(client: Any) -> None:
    reply = post(client, "/v1/tuning-jobs", job_body(), key="test-evaluate-key")
    assert reply.status_code == 403, reply.body


# --- jobs that run --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3_training(local_stack: Any) -> str:
    """The training split in the stage's `datasets/` prefix (an s3_uri source)."""
    bucket = os.environ["RESULTS_BUCKET"]
    boto3.client("s3").put_object(
        Bucket=bucket,
        Key="datasets/drugreview/bedrock-train.jsonl",
        Body=(DATA / "bedrock" / "train.jsonl").read_bytes(),
    )
    return f"s3://{bucket}/datasets/drugreview/bedrock-train.jsonl"


def validation_loss_of(emulator: Emulator, custom_model: str) -> float:
    """The trained model's log loss on the validation file, from the emulator's own model."""
    model = control_plane(emulator).models[custom_model].model
    examples = parse_examples((DATA / "bedrock" / "validation.jsonl").read_bytes(), "v")
    return float(model.loss(examples))


def test_bedrock_job_succeeds_with_loss_curves_and_report(
    client: Any, emulator: Emulator, s3_training: str
) -> None:
    tuning_job_id = start(client, job_body(training={"s3_uri": s3_training}))
    job = wait(client, tuning_job_id)
    assert job["status"] == "succeeded", job.get("failure_message")
    assert job["custom_model"].startswith("arn:aws:bedrock:")
    assert job["lineage"]["training"] == s3_training
    assert job["hyperparameters"]["epochCount"] == {"value": 2, "default": False}
    assert job["hyperparameters"]["learningRateMultiplier"]["default"] is True
    assert job["data"]["training"]["records"] == 782
    assert job["data"]["validation"]["records"] == 98
    steps = [p for p in job["metrics"] if p["training_loss"] is not None]
    assert len(steps) == 2 * 98  # 782 records / batch 8, two epochs
    measured = [p for p in job["metrics"] if p["validation_loss"] is not None]
    assert [p["epoch"] for p in measured] == [1, 2]
    assert measured[-1]["validation_loss"] == pytest.approx(
        validation_loss_of(emulator, job["custom_model"]), rel=1e-5
    )
    assert job["actual_cost_usd"] == pytest.approx(job["estimated_cost_usd"], rel=1e-6)

    report = get(client, f"/v1/tuning-jobs/{tuning_job_id}/report")
    assert report.status_code == 200
    assert report.headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in report.headers["Content-Security-Policy"]
    assert "<svg" in report.body.decode() if isinstance(report.body, bytes) else report.body

    listed = json.loads(get(client, "/v1/tuning-jobs?limit=200").body)["tuning_jobs"]
    assert tuning_job_id in [j["tuning_job_id"] for j in listed]
    # a finished job cannot be stopped
    stopped = post(client, f"/v1/tuning-jobs/{tuning_job_id}/stop")
    assert stopped.status_code == 409, stopped.body
    assert json.loads(stopped.body)["error"]["code"] == "invalid_state"


def test_epochs_and_learning_rate_change_the_model(client: Any, emulator: Emulator) -> None:
    small = {"training": {"records": records("bedrock", "train")[:200]}}
    ids = {
        "base": start(client, job_body(**small)),
        "epochs": start(
            client, job_body(**small, hyperparameters={"epochCount": 4, "batchSize": 8})
        ),
        "lr": start(
            client,
            job_body(
                **small,
                hyperparameters={"epochCount": 2, "batchSize": 8, "learningRateMultiplier": 0.2},
            ),
        ),
    }
    jobs = {name: wait(client, i) for name, i in ids.items()}
    assert all(j["status"] == "succeeded" for j in jobs.values())
    losses = {name: validation_loss_of(emulator, j["custom_model"]) for name, j in jobs.items()}
    assert len(set(losses.values())) == 3, losses
    assert len({j["custom_model"] for j in jobs.values()}) == 3


def test_incremental_job_records_its_lineage(client: Any) -> None:
    parent_id = start(client, job_body(training={"records": records("bedrock", "train")[:200]}))
    parent = wait(client, parent_id)
    assert parent["status"] == "succeeded"
    child_id = start(
        client,
        job_body(
            base_model=parent["custom_model"],
            training={"records": records("bedrock", "validation")},
            validation=None,
            hyperparameters={"epochCount": 1},
        ),
    )
    child = wait(client, child_id)
    assert child["status"] == "succeeded", child.get("failure_message")
    assert child["lineage"]["parent_model"] == parent["custom_model"]
    assert child["lineage"]["parent_job"] == parent_id
    assert child["lineage"]["base_model_id"] == BASE_MODEL_ID


def test_a_failing_job_surfaces_the_providers_message(client: Any) -> None:
    # Valid records the trainer cannot learn from: every answer the same.
    same = [r for r in records("bedrock", "train") if r["messages"][-1]["content"] == "positive"]
    tuning_job_id = start(client, job_body(training={"records": same[:100]}, validation=None))
    job = wait(client, tuning_job_id)
    assert job["status"] == "failed"
    assert job["failure_message"] == "the training data needs at least two distinct answers"
    assert job["custom_model"] is None


@pytest.fixture()
def slow_bedrock(local_stack: Any) -> Iterator[Emulator]:
    """The API's control plane on an emulator whose jobs stay a minute in each status."""
    with start_emulator(train_file=None, control_plane_step_seconds=60) as emulator:
        os.environ["AWS_ENDPOINT_URL_BEDROCK"] = emulator.url
        aws.reset_clients()
        try:
            yield emulator
        finally:
            os.environ["AWS_ENDPOINT_URL_BEDROCK"] = local_stack.emulator.url
            aws.reset_clients()


def test_stop_a_running_job(client: Any, slow_bedrock: Emulator) -> None:
    tuning_job_id = start(client, job_body(validation=None))
    assert json.loads(get(client, f"/v1/tuning-jobs/{tuning_job_id}").body)["status"] == "running"
    reply = post(client, f"/v1/tuning-jobs/{tuning_job_id}/stop")
    assert reply.status_code == 202, reply.body
    job = wait(client, tuning_job_id)
    assert job["status"] == "stopped"
    assert job["custom_model"] is None


def test_a_refused_provider_call_leaves_a_failed_record(client: Any, emulator: Emulator) -> None:
    emulator.script(
        [{"model_id": "control:CreateModelCustomizationJob", "error": "ValidationException"}]
    )
    reply = post(client, "/v1/tuning-jobs", job_body(validation=None))
    assert reply.status_code == 400, reply.body
    listed = json.loads(get(client, "/v1/tuning-jobs?limit=1").body)["tuning_jobs"]
    assert listed[0]["status"] == "failed"
    assert listed[0]["failure_message"].startswith("Bedrock refused the job")


# --- OpenAI ---------------------------------------------------------------------------------


def test_openai_job_succeeds_with_loss_from_the_result_file(
    client: Any, emulator: Emulator
) -> None:
    body = {
        "name": "drugs-openai",
        "provider": "openai",
        "base_model": "babbage-002",
        "training": {"records": records("openai", "train")},
        "validation": {"records": records("openai", "validation")},
        "hyperparameters": {"n_epochs": 2, "learning_rate_multiplier": 1.0},  # batch: auto
    }
    before = provider_jobs(emulator)
    bad = post(client, "/v1/tuning-jobs", {**body, "hyperparameters": {"n_epochs": 0}})
    assert bad.status_code == 400, bad.body
    assert json.loads(bad.body)["error"]["details"][0]["field"] == "hyperparameters.n_epochs"
    assert provider_jobs(emulator) == before
    job = wait(client, start(client, body))
    assert job["status"] == "succeeded", job.get("failure_message")
    assert job["custom_model"].startswith("ft:babbage-002:")
    measured = [p for p in job["metrics"] if p["validation_loss"] is not None]
    assert len(measured) == 2
    assert {p["epoch"] for p in job["metrics"]} == {1, 2}
    assert job["actual_cost_usd"] > 0
    assert job["actual_cost_basis"].startswith("trained_tokens")


def test_unknown_job_is_404(client: Any) -> None:
    reply = get(client, "/v1/tuning-jobs/" + "0" * 32)
    assert reply.status_code == 404
    assert json.loads(reply.body)["error"]["code"] == "not_found"


def state_change(job_name: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "event-1",
        "detail-type": "Model Customization Job State Change",
        "source": "aws.bedrock",
        "account": "000000000000",
        "time": "2026-12-02T20:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {"jobName": job_name, "status": "Completed"},
    }


def test_a_state_change_event_refreshes_the_record(client: Any, stack: Any) -> None:
    from chalicelib.tuning.bedrock_jobs import job_name
    from chalicelib.tuning.service import store

    tuning_job_id = start(client, job_body(training={"records": records("bedrock", "train")[:200]}))
    name = job_name(os.environ["STAGE"], tuning_job_id)
    bedrock = boto3.client("bedrock")
    deadline = time.monotonic() + 120
    while bedrock.get_model_customization_job(jobIdentifier=name)["status"] != "Completed":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert store().get("job", tuning_job_id)["status"] == "running"  # nobody read it yet
    assert stack.tuning_job_events(state_change(name), None) == {"tuning_job_id": tuning_job_id}
    job = store().get("job", tuning_job_id)
    assert job["status"] == "succeeded"
    assert job["metrics"] and job["custom_model"]
    # Another stage's job (or not ours at all) is left alone.
    other = job_name("otherstage", tuning_job_id)
    assert stack.tuning_job_events(state_change(other), None) == {"tuning_job_id": None}


def openai_body(**extra: Any) -> dict[str, Any]:
    return {
        "name": "drugs-openai",
        "provider": "openai",
        "base_model": "babbage-002",
        "training": {"records": records("openai", "train")},
        "hyperparameters": {"n_epochs": 2},
        **extra,
    }


def test_openai_failing_job_surfaces_the_providers_message(client: Any) -> None:
    same = [r for r in records("openai", "train") if r["completion"] == " positive"]
    job = wait(client, start(client, openai_body(training={"records": same[:100]})))
    assert job["status"] == "failed"
    assert "two distinct answers" in job["failure_message"]
    assert job["custom_model"] is None


def test_openai_stop_a_running_job(
    client: Any, local_stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.config.settings import get_settings

    with start_emulator(train_file=None, control_plane_step_seconds=60) as slow:
        monkeypatch.setattr(get_settings(), "tuning_openai_base_url", f"{slow.url}/openai/v1")
        tuning_job_id = start(client, openai_body())
        reply = post(client, f"/v1/tuning-jobs/{tuning_job_id}/stop")
        assert reply.status_code == 202, reply.body
        job = wait(client, tuning_job_id)
    assert job["status"] == "stopped"
    assert job["custom_model"] is None
