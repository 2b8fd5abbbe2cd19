"""The deployable template: `chalice package --merge-template infra/resources.json` passes cfn-lint,
points every function at the stack's resources, and its dashboard and alarms only name metrics the
code emits (a renamed metric would otherwise leave a silently empty graph or a never-firing alarm).
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib.auth.keys import INVALID_API_KEY, MISSING_API_KEY
from chalicelib.deploy.iam import FUNCTION_LOGICAL_IDS, policy_file
from chalicelib.errors import ServiceUnavailable, Throttled, Unauthorized
from chalicelib.evaluation.metric_table import METRICS as EVALUATION_METRICS
from devstack.lambda_vendor import vendor_lambda_dependencies

ROOT = Path(__file__).resolve().parent.parent
MERGE_TEMPLATE = ROOT / "infra" / "resources.json"
STAGE = "dev"
NAMESPACE_SENTINEL = "NS-under-test"
# CONTRACT.md section 6: what the dashboard must show (the contract, not the code's output).
CONTRACT_METRICS = {
    "Invocations",
    "InvocationLatency",
    "ModelLatency",
    "Errors",
    "Throttles",
    "InvalidOutputs",
    "InputTokens",
    "OutputTokens",
    "FeedbackRating",
    "FeedbackThumbsUp",
    "FeedbackThumbsDown",
    "EvaluationAccuracy",
    "EvaluationF1Macro",
    "EvaluationMAE",
}
# Environment variable -> the merge template's resource it must name.
RESOURCE_VARIABLES = {
    "INVOCATIONS_TABLE": {"Ref": "InvocationsTable"},
    "FEEDBACK_TABLE": {"Ref": "FeedbackTable"},
    "EVALUATIONS_TABLE": {"Ref": "EvaluationsTable"},
    "REGISTRY_TABLE": {"Ref": "RegistryTable"},
    "PROVISIONED_TABLE": {"Ref": "ProvisionedTable"},
    "EVALUATION_QUEUE": {"Fn::GetAtt": ["EvaluationQueue", "QueueName"]},
    "RESULTS_BUCKET": {"Ref": "ResultsBucket"},
    "TUNING_TABLE": {"Ref": "TuningTable"},
    "TUNING_ROLE_ARN": {"Fn::GetAtt": ["CustomizationRole", "Arn"]},
    "POWERTOOLS_METRICS_NAMESPACE": {"Ref": "MetricsNamespace"},
}


def _tool(name: str) -> str:
    """The console script installed next to this interpreter (the project's venv)."""
    candidate = Path(sys.executable).parent / name
    found = str(candidate) if candidate.exists() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed; run `pip install -r requirements-dev.txt`")
    return found


def _offline_env() -> dict[str, str]:
    """Packaging needs a region and credentials to exist, never to be used: no AWS lookups."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    return env


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    vendor_lambda_dependencies()  # as `make package` does
    out = tmp_path_factory.mktemp("package") / "out"
    cmd = [
        _tool("chalice"),
        "package",
        "--stage",
        STAGE,
        "--merge-template",
        str(MERGE_TEMPLATE),
        str(out),
    ]
    done = subprocess.run(
        cmd, cwd=ROOT, env=_offline_env(), capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, f"chalice package failed:\n{done.stdout}\n{done.stderr}"
    return out / "sam.json"


@pytest.fixture(scope="module")
def sam(packaged: Path) -> dict[str, Any]:
    return dict(json.loads(packaged.read_text()))


@pytest.fixture(scope="module")
def merge_template() -> dict[str, Any]:
    return dict(json.loads(MERGE_TEMPLATE.read_text()))


def test_packaged_template_passes_cfn_lint(packaged: Path) -> None:
    # Errors and warnings both fail; no rule is ignored. Informational checks (-i I) are off.
    done = subprocess.run(
        [_tool("cfn-lint"), "--format", "parseable", "--", str(packaged)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"cfn-lint findings:\n{done.stdout}{done.stderr}"


def test_every_patched_resource_is_generated_by_chalice(
    merge_template: dict[str, Any], sam: dict[str, Any]
) -> None:
    """A patch (no Type) of a resource Chalice did not generate would deploy a broken stub."""
    patches = [name for name, r in merge_template["Resources"].items() if "Type" not in r]
    orphans = [name for name in patches if "Type" not in sam["Resources"][name]]
    assert not orphans, (
        f"infra/resources.json patches {orphans}, which `chalice package` did not generate "
        "(EvaluationWorker comes from the `@app.on_sqs_message` handler `evaluation_worker`)"
    )


def _functions(sam: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: r
        for name, r in sam["Resources"].items()
        if r.get("Type") == "AWS::Serverless::Function"
    }


def test_functions_point_at_the_stacks_resources_and_keep_stage_variables(
    sam: dict[str, Any],
) -> None:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    stage_vars = {
        **config["environment_variables"],
        **config["stages"][STAGE]["environment_variables"],
    }
    functions = _functions(sam)
    assert "APIHandler" in functions
    for name, function in functions.items():
        variables = function["Properties"]["Environment"]["Variables"]
        for var, ref in RESOURCE_VARIABLES.items():
            assert variables.get(var) == ref, f"{name}: {var} is {variables.get(var)!r}"
        for var, value in stage_vars.items():
            if var not in RESOURCE_VARIABLES:
                assert variables.get(var) == value, f"{name}: stage variable {var} lost"


def _parameter_default(sam: dict[str, Any], value: Any) -> Any:
    if isinstance(value, dict) and "Ref" in value:
        return sam["Parameters"][value["Ref"]]["Default"]
    return value


def test_sqs_workers_report_partial_failures_and_outlive_no_visibility_timeout(
    sam: dict[str, Any],
) -> None:
    queues = {n: r for n, r in sam["Resources"].items() if r.get("Type") == "AWS::SQS::Queue"}
    for name, function in _functions(sam).items():
        for event_name, event in function["Properties"].get("Events", {}).items():
            if event["Type"] != "SQS":
                continue
            props = event["Properties"]
            assert props.get("FunctionResponseTypes") == ["ReportBatchItemFailures"], event_name
            queue_ref = props["Queue"]
            assert queue_ref == {"Fn::Sub": "${EvaluationQueue.Arn}"}, (name, queue_ref)
            queue = queues["EvaluationQueue"]["Properties"]
            visibility = _parameter_default(sam, queue["VisibilityTimeout"])
            assert int(visibility) >= int(function["Properties"]["Timeout"])
            redrive = queue["RedrivePolicy"]
            assert redrive["maxReceiveCount"] == 5
            assert redrive["deadLetterTargetArn"] == {
                "Fn::GetAtt": ["EvaluationDeadLetterQueue", "Arn"]
            }


def test_data_stores_are_encrypted_recoverable_and_private(sam: dict[str, Any]) -> None:
    resources = sam["Resources"]
    named = {k for k, r in resources.items() if r.get("Type") == "AWS::DynamoDB::Table"}
    assert named == {
        "InvocationsTable", "FeedbackTable", "EvaluationsTable", "RegistryTable",
        "ProvisionedTable", "TuningTable",
    }
    tables = [resources[k] for k in named]
    for table in tables:
        props = table["Properties"]
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
        assert props["SSESpecification"]["SSEEnabled"] is True
    for queue in (r for r in resources.values() if r.get("Type") == "AWS::SQS::Queue"):
        assert queue["Properties"]["SqsManagedSseEnabled"] is True
    bucket = resources["ResultsBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    policy = resources["ResultsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in policy
    )


# --- metric names: template vs code ---------------------------------------------------------


def emitted_metric_names() -> tuple[set[str], list[str]]:
    """Constant `add_metric(name=...)` names under chalicelib/ and app.py, plus METRIC_NAMES and
    the metric table's EMF names (the finaliser emits those by name from the table).

    Returns the names and the places where a name is not a constant (so cannot be checked)."""
    names: set[str] = {m.emf for m in EVALUATION_METRICS if m.emf}
    dynamic: list[str] = []
    for path in [ROOT / "app.py", *sorted((ROOT / "chalicelib").rglob("*.py"))]:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(t, ast.Name) and t.id == "METRIC_NAMES" for t in targets):
                    value = node.value
                    if isinstance(value, ast.Tuple | ast.List | ast.Set):
                        names.update(
                            e.value
                            for e in value.elts
                            if isinstance(e, ast.Constant) and isinstance(e.value, str)
                        )
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if called != "add_metric":
                continue
            arg = next((k.value for k in node.keywords if k.arg == "name"), None)
            if arg is None and node.args:
                arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                names.add(arg.value)
            else:
                dynamic.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return names, dynamic


def resolve(value: Any, refs: dict[str, str]) -> Any:
    """Evaluate the intrinsics a dashboard body uses (Fn::Join, Fn::Sub, Ref) with fake values."""

    def sub(text: str, extra: dict[str, Any]) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in extra:
                return str(resolve(extra[name], refs))
            return refs.get(name, f"<{name}>")

        return re.sub(r"\$\{([^}]+)\}", one, text)

    if isinstance(value, dict) and len(value) == 1:
        ((fn, arg),) = value.items()
        if fn == "Fn::Join":
            return arg[0].join(str(resolve(part, refs)) for part in arg[1])
        if fn == "Fn::Sub":
            return sub(arg, {}) if isinstance(arg, str) else sub(arg[0], arg[1])
        if fn == "Ref":
            return refs.get(arg, f"<{arg}>")
    if isinstance(value, dict):
        return {k: resolve(v, refs) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, refs) for v in value]
    return value


SEARCH_RE = re.compile(
    r"SEARCH\('\{\"?([^\",}]+)\"?,\s*model(?:,\s*version)?\}\s+MetricName=\"([^\"]+)\"'"
)


def dashboard_metric_names(template: dict[str, Any]) -> set[str]:
    refs = {"MetricsNamespace": NAMESPACE_SENTINEL, "AWS::Region": "us-east-1"}
    names: set[str] = set()
    dashboards = [
        r for r in template["Resources"].values() if r.get("Type") == "AWS::CloudWatch::Dashboard"
    ]
    assert dashboards, "the template has no dashboard"
    for dashboard in dashboards:
        body = json.loads(resolve(dashboard["Properties"]["DashboardBody"], refs))
        for widget in body["widgets"]:
            for series in widget["properties"].get("metrics", []):
                first = series[0]
                if isinstance(first, dict):  # an expression
                    expression = first["expression"]
                    found = SEARCH_RE.findall(expression)
                    assert found, f"unrecognised expression {expression!r}"
                    for namespace, metric in found:
                        assert namespace == NAMESPACE_SENTINEL, expression  # parameterised
                        names.add(metric)
                elif first == NAMESPACE_SENTINEL:
                    names.add(series[1])
                else:
                    assert first.startswith("AWS/"), f"hard-coded namespace in {series}"
    return names


def alarm_metric_names(template: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    ours = {"Ref": "MetricsNamespace"}
    for resource in template["Resources"].values():
        if resource.get("Type") != "AWS::CloudWatch::Alarm":
            continue
        props = resource["Properties"]
        metrics = [props] + [
            m["MetricStat"]["Metric"] for m in props.get("Metrics", []) if "MetricStat" in m
        ]
        for metric in metrics:
            if metric.get("Namespace") == ours:
                names.add(metric["MetricName"])
                dims = metric.get("Dimensions", [])
                # `model`, or none: the internal-errors alarm counts 500s of every route.
                assert [d["Name"] for d in dims] in (["model"], []), metric
            elif "MetricName" in metric:
                assert str(metric.get("Namespace", "")).startswith("AWS/"), metric
    return names


def test_dashboard_shows_every_contract_metric(merge_template: dict[str, Any]) -> None:
    missing = CONTRACT_METRICS - dashboard_metric_names(merge_template)
    assert not missing, f"dashboard lacks {sorted(missing)}"


def test_alarms_cover_latency_error_rate_and_rating(merge_template: dict[str, Any]) -> None:
    assert {"InvocationLatency", "Errors", "Invocations", "FeedbackRating"} <= alarm_metric_names(
        merge_template
    )


def test_dashboard_and_alarms_name_only_metrics_the_code_emits(
    merge_template: dict[str, Any],
) -> None:
    emitted, dynamic = emitted_metric_names()
    if dynamic:
        print(f"add_metric calls with a non-constant name (not checked): {dynamic}")
    named = dashboard_metric_names(merge_template) | alarm_metric_names(merge_template)
    missing = sorted(named - emitted)
    print(f"template names {len(named)} metrics; code emits {sorted(emitted)}")
    assert not missing, f"the dashboard or alarms name metrics the code never emits: {missing}"


def test_resolver_sees_a_renamed_metric(merge_template: dict[str, Any]) -> None:
    """Guard the guard: a typo in the dashboard is reported as a name the code does not emit."""
    broken = json.loads(json.dumps(merge_template).replace("InvalidOutputs", "InvalidOutput"))
    emitted, _ = emitted_metric_names()
    assert "InvalidOutput" in dashboard_metric_names(broken) - emitted


def _walk(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for v in value.values():
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)


def test_nothing_in_the_template_hard_codes_an_account_or_region(
    merge_template: dict[str, Any],
) -> None:
    strings = [v for v in _walk(merge_template) if isinstance(v, str)]
    assert not [s for s in strings if re.search(r"\b\d{12}\b|us-east-1", s)]


def test_the_stage_is_throttled(sam: dict[str, Any]) -> None:
    settings = sam["Resources"]["RestAPI"]["Properties"]["MethodSettings"]
    everything = [s for s in settings if s["HttpMethod"] == "*" and s["ResourcePath"] == "/*"]
    assert everything and {"ThrottlingRateLimit", "ThrottlingBurstLimit"} <= set(everything[0])


def test_deployed_stages_trace_functions_and_the_api(sam: dict[str, Any]) -> None:
    """`"xray": true` in the stage config; the app's Tracer turns itself on inside Lambda."""
    for name, function in _functions(sam).items():
        assert function["Properties"]["Tracing"] == "Active", name
    assert sam["Resources"]["RestAPI"]["Properties"]["TracingEnabled"] is True


def test_the_gateway_checks_keys_on_exactly_the_contracts_routes(sam: dict[str, Any]) -> None:
    body = sam["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    assert body["x-amazon-apigateway-api-key-source"] == "AUTHORIZER"
    authorizer = body["securityDefinitions"]["api_key_authorizer"]
    assert authorizer["name"] == "x-api-key"
    assert authorizer["x-amazon-apigateway-authorizer"]["type"] == "token"
    for path, methods in body["paths"].items():
        for method, operation in methods.items():
            # public: feedback (token-authorised) and the review page (a static shell whose data
            # calls carry the key: a browser's navigation cannot)
            public = ("/v1/feedback", "/v1/evaluations/{evaluation_id}/review")
            secured = path.startswith("/v1/") and path not in public
            names = {name for requirement in operation.get("security", []) for name in requirement}
            # OpenAI clients send `Authorization: Bearer KEY`: their routes' authorizer reads it
            bearer = path in ("/v1/chat/completions", "/v1/completions")
            authorizer = "bearer_key_authorizer" if bearer else "api_key_authorizer"
            expected = {"api_key", authorizer} if secured else set()
            assert names == expected, f"{method.upper()} {path}"


def test_each_key_is_throttled_by_the_usage_plan(sam: dict[str, Any]) -> None:
    plan = sam["Resources"]["ApiKeyUsagePlan"]["Properties"]
    assert plan["ApiStages"] == [{"ApiId": {"Ref": "RestAPI"}, "Stage": {"Ref": "RestAPI.Stage"}}]
    assert plan["Throttle"] == {
        "RateLimit": {"Ref": "KeyRateLimit"},
        "BurstLimit": {"Ref": "KeyBurstLimit"},
    }
    assert sam["Outputs"]["ApiKeyUsagePlanId"]["Value"] == {"Ref": "ApiKeyUsagePlan"}
    # The authorizer reads only the key hashes: its own policy file, none of the stack's data.
    # The Bearer authorizer of the OpenAI-compatible routes is the same check on another header.
    for name, function in (
        ("ApiKeyAuthorizer", "authorizer"),
        ("BearerKeyAuthorizer", "bearer_authorizer"),
    ):
        role = sam["Resources"][f"{name}Role"]["Properties"]
        assert not role.get("ManagedPolicyArns")
        authorizer_file = ROOT / ".chalice" / policy_file(STAGE, function)
        [inline] = role["Policies"]
        assert inline["PolicyDocument"] == json.loads(authorizer_file.read_text())
        assert _functions(sam)[name]["Properties"]["Timeout"] <= 10


NOSNIFF = "gatewayresponse.header.X-Content-Type-Options"


def test_gateway_responses_are_nosniff(sam: dict[str, Any]) -> None:
    """The gateway's own answers too (the defaults cover the types not listed)."""
    body = sam["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    responses = body["x-amazon-apigateway-gateway-responses"]
    assert {"DEFAULT_4XX", "DEFAULT_5XX"} <= set(responses)
    for kind, response in responses.items():
        assert response["responseParameters"][NOSNIFF] == "'nosniff'", kind


def test_an_alarm_sees_every_internal_error(merge_template: dict[str, Any]) -> None:
    """The edge counts each 500 in `Errors` without dimensions, whatever the route."""
    alarms = [
        r["Properties"]
        for r in merge_template["Resources"].values()
        if r.get("Type") == "AWS::CloudWatch::Alarm"
    ]
    assert any(
        a.get("MetricName") == "Errors" and a.get("Dimensions") == [] and a["Threshold"] == 0
        for a in alarms
    )


def test_each_function_has_its_own_role_and_only_its_own_policies(sam: dict[str, Any]) -> None:
    """One role per function: its inline policy is its own file (chalicelib/deploy/iam.py), its
    managed policy the stack's grants for it (tests/jobs/test_iam_usage.py checks both)."""
    expected = {
        "APIHandler": ("api", [{"Ref": "ApiResourcesPolicy"}]),
        "EvaluationWorker": ("worker", [{"Ref": "WorkerResourcesPolicy"}]),
        "TuningJobEvents": ("tuning_events", [{"Ref": "TuningEventsResourcesPolicy"}]),
        "ApiKeyAuthorizer": ("authorizer", []),
        "BearerKeyAuthorizer": ("bearer_authorizer", []),
    }
    functions = _functions(sam)
    assert set(functions) == set(expected)
    roles = {}
    for name, (function, managed) in expected.items():
        assert FUNCTION_LOGICAL_IDS[function] == name
        [role_name, attribute] = functions[name]["Properties"]["Role"]["Fn::GetAtt"]
        assert attribute == "Arn"
        roles[name] = role_name
        role = sam["Resources"][role_name]["Properties"]
        [inline] = role["Policies"]
        committed = ROOT / ".chalice" / policy_file(STAGE, function)
        assert inline["PolicyDocument"] == json.loads(committed.read_text()), name
        assert role.get("ManagedPolicyArns", []) == managed, name
    assert len(set(roles.values())) == len(expected)


def _gateway_response(sam: dict[str, Any], kind: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    body = sam["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    response = body["x-amazon-apigateway-gateway-responses"][kind]
    headers = {
        name.removeprefix("gatewayresponse.header."): value
        for name, value in response.get("responseParameters", {}).items()
        if name != NOSNIFF  # on every response: test_gateway_responses_are_nosniff
    }
    template = json.loads(response["responseTemplates"]["application/json"])
    return int(response["statusCode"]), template, headers


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("UNAUTHORIZED", Unauthorized(MISSING_API_KEY)),
        ("ACCESS_DENIED", Unauthorized(INVALID_API_KEY)),
        ("INVALID_API_KEY", Unauthorized(INVALID_API_KEY)),
    ],
)
def test_a_refused_key_gets_the_apps_own_answer(
    sam: dict[str, Any], kind: str, error: Unauthorized
) -> None:
    assert _gateway_response(sam, kind) == (error.status, error.body(), {})


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("THROTTLED", Throttled),
        ("QUOTA_EXCEEDED", Throttled),
        ("AUTHORIZER_FAILURE", ServiceUnavailable),
    ],
)
def test_gateway_refusals_use_the_contracts_codes_and_retry_after(
    sam: dict[str, Any], kind: str, error: type[Throttled | ServiceUnavailable]
) -> None:
    status, body, headers = _gateway_response(sam, kind)
    assert (status, body["error"]["code"]) == (error.status, error.code)
    assert headers == {"Retry-After": "'1'"}


def test_job_objects_expire_after_the_configured_retention(merge_template: dict[str, Any]) -> None:
    """One retention for every job object, deployed (template parameter) and local (bootstrap's
    rule from EVALUATION_RETENTION_DAYS): same prefix, same default."""
    from chalicelib.config.settings import JobSettings
    from chalicelib.jobs.objects import JOBS_PREFIX, retention_rule

    parameter = merge_template["Parameters"]["EvaluationRetentionDays"]
    assert parameter["Default"] == JobSettings().retention_days
    bucket = merge_template["Resources"]["ResultsBucket"]["Properties"]
    rules = [r for r in bucket["LifecycleConfiguration"]["Rules"] if r.get("Prefix")]
    expiring = [r for r in rules if r["Prefix"] == JOBS_PREFIX]
    assert expiring == [
        {
            "Id": "expire-evaluations",
            "Status": "Enabled",
            "Prefix": JOBS_PREFIX,
            "ExpirationInDays": {"Ref": "EvaluationRetentionDays"},
        }
    ]
    local = retention_rule(parameter["Default"])
    assert (local["ID"], local["Filter"]["Prefix"]) == ("expire-evaluations", JOBS_PREFIX)
    assert local["Expiration"]["Days"] == parameter["Default"]
