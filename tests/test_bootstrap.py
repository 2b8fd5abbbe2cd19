"""`bootstrap` creates every resource the stage needs on the moto server, and is idempotent."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import boto3

from tests.conftest import ROOT


def bootstrap(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`cli --stage local bootstrap` in a child process with `env`."""
    return subprocess.run(
        [sys.executable, "-m", "chalicelib.cli", "--stage", "local", "bootstrap"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_bootstrap_is_idempotent_and_complete(local_stack: Any) -> None:
    # The deployed default (the worker's 15-minute timeout), as the test stack was bootstrapped;
    # the local stage's own short value is the next test's.
    env = {**os.environ, "EVALUATION_QUEUE_VISIBILITY_SECONDS": "900"}
    runs = [bootstrap(env) for _ in range(2)]
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr + runs[1].stderr
    assert "exists" in runs[1].stdout and "created" not in runs[1].stdout
    tables = boto3.client("dynamodb").list_tables()["TableNames"]
    for name in ("invocations", "feedback", "evaluations", "provisioned"):
        assert f"tunegate-test-{name}" in tables
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName="tunegate-test-evaluation-chunks")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert int(attributes["VisibilityTimeout"]) >= 900
    assert "tunegate-test-evaluation-chunks-dlq" in attributes["RedrivePolicy"]
    s3 = boto3.client("s3")
    block = s3.get_public_access_block(Bucket="tunegate-test-results")
    assert all(block["PublicAccessBlockConfiguration"].values())
    rules = s3.get_bucket_lifecycle_configuration(Bucket="tunegate-test-results")["Rules"]
    assert [(r["Filter"]["Prefix"], r["Expiration"]["Days"]) for r in rules] == [
        ("evaluations/", 90)
    ]
    ttl = boto3.client("dynamodb").describe_time_to_live(TableName="tunegate-test-invocations")
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"
    table = boto3.client("dynamodb").describe_table(TableName="tunegate-test-invocations")
    indexes = table["Table"]["GlobalSecondaryIndexes"]  # compare: an alias's invocations by time
    assert [(i["IndexName"], [k["AttributeName"] for k in i["KeySchema"]]) for i in indexes] == [
        ("model-created_at-index", ["model", "created_at"])
    ]


def test_bootstrap_applies_a_changed_retention_to_the_existing_bucket(local_stack: Any) -> None:
    env = {**os.environ, "EVALUATION_RETENTION_DAYS": "12"}
    try:
        run = bootstrap(env)
        assert run.returncode == 0, run.stderr
        s3 = boto3.client("s3")
        rules = s3.get_bucket_lifecycle_configuration(Bucket="tunegate-test-results")["Rules"]
        assert [r["Expiration"]["Days"] for r in rules] == [12]
    finally:
        restored = bootstrap({**os.environ})
        assert restored.returncode == 0, restored.stderr


def test_the_local_stage_queue_hides_a_message_briefly(local_stack: Any) -> None:
    """A worker killed under `make run` hands its chunk back within seconds, not 15 minutes."""
    env = {**os.environ, "EVALUATION_QUEUE": "tunegate-local-visibility"}
    env.pop("EVALUATION_QUEUE_VISIBILITY_SECONDS", None)  # the local stage's config value
    result = bootstrap(env)
    assert result.returncode == 0, result.stderr
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName="tunegate-local-visibility")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])
    assert int(attributes["Attributes"]["VisibilityTimeout"]) <= 60
