"""Every IAM grant is used, and every AWS call is granted (issue 11, item 9).

Each function (the API, the evaluation worker, the key authorizer) runs its real code paths
against the local stack while every botocore call is recorded and attributed to the function
running it. The recorded calls, mapped to IAM actions and to the stack's resources, must equal
what that function's role grants: its inline policy (`.chalice/policy-<stage>[-fn].json`, from
chalicelib/deploy/iam.py) and its managed policy in `infra/resources.json`. A grant no code path
uses, or a call no grant allows, fails the test.
"""

from __future__ import annotations

import fnmatch
import json
import os
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient

from chalicelib import aws
from chalicelib.config.registry import load_registry
from chalicelib.config.settings import get_settings, settings_from_env
from chalicelib.config.stages import stage_environment
from chalicelib.deploy.iam import RESOURCELESS_ACTIONS, function_policies
from emulator import REFERENCE_MODEL_ARN
from tests.conftest import API_KEY, ROOT, auth_headers
from tests.jobs.conftest import MODELS, Harness, drug_review_records

Grant = tuple[str, str]  # (IAM action, logical resource pattern; "" = checked by test_iam.py)
STACK_POLICIES = {
    "api": "ApiResourcesPolicy",
    "worker": "WorkerResourcesPolicy",
    "tuning_events": "TuningEventsResourcesPolicy",
}
ROLES = {
    "api": "ApiHandlerRole",
    "worker": "EvaluationWorkerRole",
    "tuning_events": "TuningJobEventsRole",
}
DEAD_ENDPOINT = "http://127.0.0.1:9"
#: What the Lambda service does with a function's role, never the function's code: write its
#: logs, send its X-Ray segments (active tracing), and, for the worker, the SQS event source
#: mapping's polling (AWS: "Lambda execution role permissions" for Amazon SQS).
LOGS = {("logs:CreateLogGroup", ""), ("logs:CreateLogStream", ""), ("logs:PutLogEvents", "")}
PLATFORM: dict[str, set[Grant]] = {
    "api": LOGS | {(a, "") for a in RESOURCELESS_ACTIONS},
    "authorizer": LOGS | {(a, "") for a in RESOURCELESS_ACTIONS},
    "bearer_authorizer": LOGS | {(a, "") for a in RESOURCELESS_ACTIONS},
    "tuning_events": LOGS | {(a, "") for a in RESOURCELESS_ACTIONS},
    "worker": LOGS
    | {(a, "") for a in RESOURCELESS_ACTIONS}
    | {
        ("sqs:ReceiveMessage", "EvaluationQueue"),
        ("sqs:DeleteMessage", "EvaluationQueue"),
        ("sqs:GetQueueAttributes", "EvaluationQueue"),
    },
}
#: API operations whose IAM action has another name.
RENAMED = {
    "bedrock:Converse": "bedrock:InvokeModel",
    "bedrock:ConverseStream": "bedrock:InvokeModelWithResponseStream",
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
    "s3:HeadObject": "s3:GetObject",
}
TRANSACTION_PARTS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}


class CallRecorder:
    """Every botocore call made while `function` is set, as (IAM action, logical resource).

    The label is process-wide, not per thread: a function's own worker threads (the runner's
    model calls) count as that function; the scenarios below run one function at a time."""

    def __init__(self) -> None:
        self.function: str | None = None
        self.grants: dict[str, set[Grant]] = defaultdict(set)
        self._lock = threading.Lock()

    @contextmanager
    def running(self, function: str) -> Iterator[None]:
        self.function = function
        try:
            yield
        finally:
            self.function = None

    def record(self, client: BaseClient, operation: str, params: dict[str, Any]) -> None:
        function = self.function
        if function is None:
            return
        found = used_grants(client.meta.service_model.signing_name, operation, params)
        with self._lock:
            self.grants[function] |= found


def logical(service: str, params: dict[str, Any]) -> str:
    """The stack resource a call touches, named as infra/resources.json names it."""
    settings = get_settings()
    if service == "dynamodb":
        tables = {
            settings.invocations_table: "InvocationsTable",
            settings.feedback_table: "FeedbackTable",
            settings.evaluations_table: "EvaluationsTable",
            settings.registry_table: "RegistryTable",
            settings.provisioned_table: "ProvisionedTable",
            settings.tuning_table: "TuningTable",
        }
        name = tables[params["TableName"]]
        return f"{name}/index/{params['IndexName']}" if "IndexName" in params else name
    if service == "s3":
        assert params["Bucket"] == settings.results_bucket, params["Bucket"]
        return f"ResultsBucket/{params['Key']}" if "Key" in params else "ResultsBucket"
    if service == "sqs":
        queue = params.get("QueueName") or params["QueueUrl"].rsplit("/", 1)[-1]
        assert queue == settings.evaluation_queue, queue
        return "EvaluationQueue"
    return ""  # models, parameters and secrets: their ARNs are checked by tests/test_iam.py


def used_grants(service: str, operation: str, params: dict[str, Any]) -> set[Grant]:
    if service == "dynamodb" and operation in ("BatchGetItem", "BatchWriteItem"):
        return {
            (f"dynamodb:{operation}", logical(service, {"TableName": t}))
            for t in params["RequestItems"]
        }
    if service == "dynamodb" and operation == "TransactWriteItems":
        # No IAM action of its own: each part needs the action of its kind.
        return {
            (TRANSACTION_PARTS[kind], logical(service, part))
            for item in params["TransactItems"]
            for kind, part in item.items()
        }
    action = RENAMED.get(f"{service}:{operation}", f"{service}:{operation}")
    found = {(action, logical(service, params))}
    if action == "bedrock:CreateModelCustomizationJob":
        # Bedrock checks that the caller may pass the job's role (iam:PassRole) on create.
        found.add(("iam:PassRole", "CustomizationRole"))
    if action == "s3:GetObject":
        # Without ListBucket, S3 answers a missing key with 403 AccessDenied instead of 404
        # NoSuchKey, which the code tells apart (jobs/objects.py MissingObject).
        found.add(("s3:ListBucket", "ResultsBucket"))
    return found


def stack_grants(function: str) -> set[Grant]:
    """The managed policy infra/resources.json attaches to the function's role."""
    template = json.loads((ROOT / "infra" / "resources.json").read_text())
    resources = template["Resources"]
    if function not in ROLES:
        return set()
    attached = resources[ROLES[function]]["Properties"]["ManagedPolicyArns"]
    assert attached == [{"Ref": STACK_POLICIES[function]}]
    document = resources[STACK_POLICIES[function]]["Properties"]["PolicyDocument"]
    found: set[Grant] = set()
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow"
        for resource in statement["Resource"]:
            for action in statement["Action"]:
                found.add((action, resource_pattern(resource)))
    return found


def resource_pattern(resource: dict[str, Any]) -> str:
    if "Fn::GetAtt" in resource:
        name, attribute = resource["Fn::GetAtt"]
        assert attribute == "Arn"
        return str(name)
    text = str(resource["Fn::Sub"])
    assert text.startswith("${") and ".Arn}" in text, text
    name, rest = text[2:].split(".Arn}", 1)
    return name + rest


def inline_grants(function: str, stage: str) -> set[Grant]:
    settings = settings_from_env(stage_environment(stage))
    registry = load_registry(settings.models_file)
    policies = function_policies(registry, settings, account_id="123456789012", region="us-east-1")
    committed = json.loads((ROOT / ".chalice" / policy_file(function, stage)).read_text())
    assert committed == policies[function], f"regenerate: cli --stage {stage} policy"
    return {(a, "") for s in committed["Statement"] for a in s["Action"]}


def policy_file(function: str, stage: str) -> str:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())["stages"][stage]
    chalice_name = {
        "api": "api_handler",
        "worker": "evaluation_worker",
        "authorizer": "api_key_authorizer",
        "bearer_authorizer": "bearer_key_authorizer",
        "tuning_events": "tuning_job_events",
    }[function]
    per_function = config.get("lambda_functions", {}).get(chalice_name, {})
    return str(per_function.get("iam_policy_file", config["iam_policy_file"]))


def unmatched(wanted: set[Grant], offered: set[Grant]) -> set[Grant]:
    """The (action, resource) pairs of `wanted` no pair of `offered` covers (patterns on the
    offered side, as IAM matches resources)."""
    return {
        (action, resource)
        for action, resource in wanted
        if not any(a == action and fnmatch.fnmatchcase(resource, r) for a, r in offered)
    }


def unused(granted: set[Grant], used: set[Grant]) -> set[Grant]:
    return {
        (action, pattern)
        for action, pattern in granted
        if not any(a == action and fnmatch.fnmatchcase(r, pattern) for a, r in used)
    }


# --- the scenarios --------------------------------------------------------------------------


def upload_tuning_source() -> None:
    """The client's data set in the stage's `datasets/` (not the API's call)."""
    source = ROOT / "examples" / "drugreview" / "bedrock" / "train.jsonl"
    boto3.client("s3").put_object(
        Bucket=get_settings().results_bucket,
        Key="datasets/iam/train.jsonl",
        Body=source.read_bytes(),
    )


def run_tuning(jobs: Harness) -> str:
    """Every tuning route that reaches AWS: a job from an S3 source (read, checked, copied),
    read until done (metrics files), listed, reported; a stop reaching Bedrock (its refresh
    throttled, so the record still says running)."""
    import time

    bucket = get_settings().results_bucket
    body = {
        "name": "iam",
        "provider": "bedrock",
        "base_model": "anthropic.claude-3-haiku-20240307-v1:0",
        "training": {"s3_uri": f"s3://{bucket}/datasets/iam/train.jsonl"},
        "hyperparameters": {"epochCount": 1},
    }
    first = jobs.post("/v1/tuning-jobs", body)
    assert first.status_code == 202, first.body
    second = json.loads(jobs.post("/v1/tuning-jobs", body).body)["tuning_job_id"]
    tuning_job_id = json.loads(first.body)["tuning_job_id"]
    deadline = time.monotonic() + 120
    while json.loads(jobs.get(f"/v1/tuning-jobs/{tuning_job_id}").body)["status"] != "succeeded":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert jobs.get(f"/v1/tuning-jobs/{tuning_job_id}/report").status_code == 200
    assert jobs.get("/v1/tuning-jobs").status_code == 200
    events = json.loads(jobs.post("/v1/tuning-jobs", body).body)["tuning_job_id"]
    throttled = {"model_id": "control:GetModelCustomizationJob", "error": "ThrottlingException"}
    jobs.emulator.script([throttled] * 3)  # every attempt of the stop's refresh
    stopped = jobs.post(f"/v1/tuning-jobs/{second}/stop")
    assert stopped.status_code in (202, 400), stopped.body  # 400: it had finished meanwhile
    return events


def bedrock_event(tuning_job_id: str) -> dict[str, Any]:
    """Bedrock's state-change event for a job of ours, once the job has finished (read from
    the emulator directly: not a call of any function)."""
    import time

    from chalicelib.tuning.bedrock_jobs import job_name

    name = job_name(get_settings().stage, tuning_job_id)
    bedrock = boto3.client("bedrock")
    deadline = time.monotonic() + 120
    while bedrock.get_model_customization_job(jobIdentifier=name)["status"] != "Completed":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return {
        "version": "0",
        "id": "event-1",
        "detail-type": "Model Customization Job State Change",
        "source": "aws.bedrock",
        "account": "123456789012",
        "time": "2026-12-02T20:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {"jobName": name, "status": "Completed"},
    }


@pytest.fixture()
def recorder(monkeypatch: pytest.MonkeyPatch) -> CallRecorder:
    calls = CallRecorder()
    original: Callable[..., Any] = BaseClient._make_api_call

    def recording(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        calls.record(client, operation, params)
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    return calls


@pytest.fixture()
def deployed_settings(jobs: Harness) -> Any:
    """The stage settings a deployed function reads: key entries in an SSM parameter, the
    feedback-token key in a Secrets Manager secret (both in moto)."""
    from aws_lambda_powertools.utilities import parameters

    parameter = "/tunegate/test/usage-hashes"
    boto3.client("ssm").put_parameter(
        Name=parameter, Value=os.environ["API_KEY_HASHES"], Type="SecureString", Overwrite=True
    )
    secrets = boto3.client("secretsmanager")
    try:
        arn = secrets.create_secret(Name="tunegate/test/usage-token", SecretString="k")["ARN"]
    except secrets.exceptions.ResourceExistsException:
        arn = secrets.describe_secret(SecretId="tunegate/test/usage-token")["ARN"]
    parameters.clear_caches()
    env = {k: v for k, v in os.environ.items() if k.isupper()}
    env.pop("API_KEY_HASHES")
    env.pop("FEEDBACK_TOKEN_SECRET")
    return settings_from_env(
        {**env, "API_KEY_HASHES_PARAMETER": parameter, "FEEDBACK_TOKEN_SECRET_ARN": arn}
    )


def run_api(jobs: Harness, settings: Any, custom_model: str) -> dict[str, str]:
    """Every API route that reaches AWS, plus the deployed key check and token secret."""
    from chalicelib.auth.keys import feedback_token_secret, require_api_key

    require_api_key(API_KEY, settings, "invoke")
    feedback_token_secret(settings)
    invoked = jobs.client.http.post(
        "/v1/models/sentiment-converse/invoke",
        headers=auth_headers(),
        body=json.dumps({"input": "Worked well, no side effects."}),
    )
    answer = json.loads(invoked.body)
    assert invoked.status_code == 200, answer
    for rating in (5, 4):  # created, then replaced
        feedback = {
            "invocation_id": answer["invocation_id"],
            "feedback_token": answer["feedback_token"],
            "rating": rating,
        }
        posted = jobs.client.http.post(
            "/v1/feedback",
            headers={"content-type": "application/json"},
            body=json.dumps(feedback),
        )
        assert posted.status_code in (200, 201), posted.body
    for path in (
        "/v1/models",
        "/v1/models/sentiment-converse/feedback/summary",
        "/v1/feedback/export?model=sentiment-converse",
        "/v1/deployments/sentiment-converse/compare",  # invocations and feedback by time
    ):
        assert jobs.get(path).status_code == 200, path
    usage_alias = run_deployment_routes(jobs)
    run_provisioning_routes(jobs, custom_model)
    # A job record that cannot be written: the API takes its inline dataset back (item 3).
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = DEAD_ENDPOINT
    aws.reset_clients()
    try:
        refused = jobs.client.http.post(
            "/v1/evaluations",
            headers=auth_headers(),
            body=json.dumps({"models": MODELS, "dataset": {"records": drug_review_records()[:2]}}),
        )
        assert refused.status_code == 503, refused.body
    finally:
        del os.environ["AWS_ENDPOINT_URL_DYNAMODB"]
        aws.reset_clients()
    return {
        "with_errors": jobs.submit(
            {"models": MODELS, "dataset": {"records": drug_review_records()[:12]}}
        ),
        "cancelled": jobs.submit(
            {"models": MODELS, "dataset": {"records": drug_review_records()[:3]}}
        ),
        "alias": usage_alias,
    }


def run_deployment_routes(jobs: Harness) -> str:
    """Every deployment route, on a fresh alias (CONTRACT section 7)."""
    from chalicelib.runtime import get_runtime

    name = f"usage-{uuid.uuid4().hex[:8]}"
    base = f"/v1/deployments/{name}"
    spec = json.loads(json.dumps(get_runtime().registry.get("sentiment-converse").model_dump()))
    del spec["name"]
    for _ in range(2):
        created = jobs.client.http.post(
            f"{base}/versions", headers=auth_headers(), body=json.dumps(spec)
        )
        assert created.status_code == 201, created.body
    routing = {"routes": [{"version": 2, "weight": 100}], "expected_revision": 1}
    routed = jobs.client.http.put(
        f"{base}/routing", headers=auth_headers(), body=json.dumps(routing)
    )
    assert routed.status_code == 200, routed.body
    assert jobs.post(f"{base}/rollback").status_code == 200
    # promote: the forced way, then the gate reading a (finished) evaluation job
    forced = jobs.post(f"{base}/promote", {"version": 2, "force_reason": "usage"})
    assert forced.status_code == 200, forced.body
    # shadow traffic: the API queues a copy (the worker answers it, see the test below)
    routing = {"routes": [{"version": 1, "weight": 100}], "shadow": [2], "expected_revision": 4}
    routed = jobs.client.http.put(
        f"{base}/routing", headers=auth_headers(), body=json.dumps(routing)
    )
    assert routed.status_code == 200, routed.body
    for path in ("/v1/deployments", base, f"{base}/versions/1", f"{base}/history"):
        assert jobs.get(path).status_code == 200, path
    get_runtime().deployments.invalidate()  # the next invoke reads the registry again
    invoked = jobs.client.http.post(
        f"/v1/models/{name}/invoke",
        headers=auth_headers(),
        body=json.dumps({"input": "Worked well."}),
    )
    assert invoked.status_code == 200, invoked.body
    return name


@pytest.fixture()
def custom_model(local_stack: Any) -> str:
    """A custom model trained by the emulator, its data under the results bucket's tuning/
    (made before any call is recorded: a tuning job's calls, not the API's)."""
    from tests.test_provisioning import train_custom_model

    return train_custom_model(local_stack)


def run_provisioning_routes(jobs: Harness, custom_model: str) -> None:
    """Every provisioning route (CONTRACT section 8): Provisioned Throughput and on demand,
    each provisioned, read, registered, invoked and deprovisioned."""
    from chalicelib.runtime import get_runtime

    for extra in ({"model_units": 1}, {"on_demand": True}):
        name = f"usage-{uuid.uuid4().hex[:8]}"
        body = {"name": name, "custom_model": custom_model, **extra}
        created = jobs.client.http.post(
            "/v1/provisioned-models", headers=auth_headers(), body=json.dumps(body)
        )
        assert created.status_code == 202, created.body
        deadline = time.monotonic() + 60
        while json.loads(jobs.get(f"/v1/provisioned-models/{name}").body)["status"] != (
            "in_service"
        ):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        registered = jobs.client.http.post(
            f"/v1/provisioned-models/{name}/register",
            headers=auth_headers(),
            body=json.dumps({"deployment": name}),
        )
        assert registered.status_code == 201, registered.body
        get_runtime().deployments.invalidate()
        invoked = jobs.client.http.post(
            f"/v1/models/{name}/invoke",
            headers=auth_headers(),
            body=json.dumps({"input": "Worked well."}),
        )
        assert invoked.status_code == 200, invoked.body
        deleted = jobs.client.http.delete(f"/v1/provisioned-models/{name}", headers=auth_headers())
        assert deleted.status_code == 202, deleted.body


def losing_chunk_attempt(evaluation_id: str) -> None:
    """A late second delivery of a committed chunk (two attempts can both run before either
    commits): the loser deletes its own results object."""
    from chalicelib.evaluation.runner import ChunkOutcome
    from chalicelib.jobs.context import get_job_context
    from chalicelib.jobs.worker import store_chunk

    ctx = get_job_context()
    job = ctx.store.get(evaluation_id)
    winner = ctx.store.get_chunk(evaluation_id, 0)
    assert job is not None and winner is not None
    results, totals = ctx.objects.get_chunk(winner.object_key)
    assert store_chunk(ctx, job, 0, ChunkOutcome(results, totals)) == "duplicate"


def test_every_grant_is_used_and_every_call_granted(
    jobs: Harness, stack: Any, recorder: CallRecorder, deployed_settings: Any, custom_model: str
) -> None:
    from aws_lambda_powertools.utilities import parameters

    from chalicelib.auth.authorizer import authorize
    from chalicelib.auth.keys import api_key_hashes
    from chalicelib.jobs.context import reset_job_context
    from chalicelib.openai_api.edge import bearer_token
    from scripts.worker import LocalWorker

    def worker_handler(event: dict[str, Any], context: Any) -> Any:
        # Its own Lambda: nothing cached by the API in this process (the queue's URL, the
        # registry) carries over.
        reset_job_context()
        stack.runtime.deployments.invalidate()
        with recorder.running("worker"):
            return stack.evaluation_worker(event, context)

    # Every message handled twice (SQS delivers at least once): a repeated chunk discards
    # its results object.
    jobs.worker = LocalWorker(worker_handler, get_settings().evaluation_queue, redeliver=True)

    upload_tuning_source()
    with recorder.running("api"):
        events_job = run_tuning(jobs)
    event = bedrock_event(events_job)
    with recorder.running("tuning_events"):
        assert stack.tuning_job_events(event, None) == {"tuning_job_id": events_job}
    with recorder.running("api"):
        ids = run_api(jobs, deployed_settings, custom_model)
        cancelled = jobs.post(f"/v1/evaluations/{ids['cancelled']}/cancel")
        assert cancelled.status_code == 202, cancelled.body
    # One model call is refused for good: the job completes with errors, so it can be retried.
    jobs.emulator.script([{"model_id": REFERENCE_MODEL_ARN, "error": "AccessDeniedException"}])

    # One step fails (DynamoDB unreachable): the worker makes its message visible again sooner.
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = DEAD_ENDPOINT
    aws.reset_clients()
    try:
        assert jobs.worker.poll_once(wait_seconds=5) == 1
    finally:
        del os.environ["AWS_ENDPOINT_URL_DYNAMODB"]
        aws.reset_clients()
    job = jobs.run(ids["with_errors"], timeout=90)
    assert job["status"] == "completed_with_errors"
    with recorder.running("worker"):
        losing_chunk_attempt(ids["with_errors"])
    jobs.worker.run_until(lambda: jobs.finished(ids["cancelled"]), timeout=60)

    evaluation = f"/v1/evaluations/{ids['with_errors']}"
    with recorder.running("api"):
        # A human review, created then replaced (CONTRACT section 10), read back: the reads
        # below then add its agreement.
        answered = next(
            r["index"]
            for r in jobs.items(ids["with_errors"])
            if r["model"] == MODELS[0] and r["status"] != "error"
        )
        review = {"index": answered, "models": MODELS[:1], "rating": 4}
        assert jobs.post(evaluation + "/reviews", review).status_code == 201
        assert jobs.post(evaluation + "/reviews", {**review, "rating": 2}).status_code == 200
        for leaf in ("", "/items", "/report", "/results.json", "/reviews"):
            assert jobs.get(evaluation + leaf).status_code == 200, leaf
        # the promotion gate reads the finished job (it ran neither version: rejected)
        gate = {"version": 2, "evaluation_id": ids["with_errors"]}
        gated = jobs.post(f"/v1/deployments/{ids['alias']}/promote", gate)
        assert gated.status_code == 409, gated.body
        assert json.loads(gated.body)["error"]["code"] == "promotion_rejected"
        assert jobs.post(evaluation + "/retry").status_code == 202
    assert jobs.run(ids["with_errors"], timeout=60)["status"] == "succeeded"
    jobs.drain()  # repeated deliveries left behind are handled too, as SQS would
    # the shadow copy of the usage alias's invoke: answered and recorded by the worker (its
    # message may be the one the DynamoDB outage above sent back for later)
    from chalicelib.runtime import get_runtime

    def shadow_recorded() -> bool:
        records = get_runtime().invocations.for_model(ids["alias"])
        return any(r.shadow_of is not None for r in records)

    jobs.worker.run_until(shadow_recorded, timeout=60)

    parameters.clear_caches()
    with recorder.running("authorizer"):
        arn = "arn:aws:execute-api:us-east-1:123456789012:api/dev/GET/v1/models"
        assert authorize(API_KEY, arn, api_key_hashes(deployed_settings))["usageIdentifierKey"]
    parameters.clear_caches()
    with recorder.running("bearer_authorizer"):  # app.py's bearer_key_authorizer
        arn = "arn:aws:execute-api:us-east-1:123456789012:api/dev/POST/v1/completions"
        key = bearer_token(f"Bearer {API_KEY}")
        assert authorize(key, arn, api_key_hashes(deployed_settings))["usageIdentifierKey"]

    for stage in ("dev", "prod"):
        for function in ("api", "worker", "tuning_events", "authorizer", "bearer_authorizer"):
            used = recorder.grants[function] | PLATFORM[function]
            granted = stack_grants(function) | inline_grants(function, stage)
            assert unused(granted, used) == set(), f"{stage} {function}: granted, never used"
            assert unmatched(used, granted) == set(), f"{stage} {function}: used, not granted"
