"""Tunegate HTTP API: routes only. Each parses the request, calls one service, shapes the reply."""

from __future__ import annotations

import gc

# Cold start: no garbage collection while the imports below build their long-lived objects
# (pydantic models, botocore's loaders); re-enabled at the end of this module, after freezing.
gc.disable()

from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from functools import partial
from types import ModuleType
from typing import TYPE_CHECKING, Any

from chalice.app import AuthRequest, Chalice, CloudWatchEvent, Request, Response, SQSEvent

from chalicelib import __version__
from chalicelib.api.edge import (
    api_routes,
    caller,
    cors_headers,
    current_request,
    error_response,
    finish_response,
    json_response,
    parse_body,
    parse_query,
)
from chalicelib.api.health import dependency_checks
from chalicelib.api.models import InvokeRequest
from chalicelib.auth.authorizer import AUTHORIZER_HEADER, authorize
from chalicelib.auth.keys import api_key_hashes
from chalicelib.errors import TunegateError
from chalicelib.observability import clear_version_dimensions, logger, metrics
from chalicelib.openai_api.edge import bearer_token, openai_routes
from chalicelib.openai_api.responses import model_list
from chalicelib.runtime import get_runtime
from chalicelib.serving.invoke import invoke
from chalicelib.tracing import annotate, traced

if TYPE_CHECKING:
    from chalicelib.jobs.context import JobContext

# Everything off the invoke path is imported inside its routes (evaluation jobs, the worker, the
# report, the OpenAPI document, deployments, feedback, the OpenAI-compatible routes, tuning,
# provisioning): the invoke path's cold start does not build their models.
# tests/test_coldstart_imports.py keeps it so.

app = Chalice(app_name="tunegate")
runtime = get_runtime()  # a bad registry or configuration (EVALUATION_* too) stops the app here

# Deployed stages (API_KEY_AUTHORIZER=true): API Gateway checks the key too and throttles per key
# through the usage plan; the app's own check below stays, so every stage behaves the same.
gateway_key_check: dict[str, Any] = {}
gateway_bearer_check: dict[str, Any] = {}
if runtime.settings.api_key_authorizer:

    @app.authorizer(
        header=AUTHORIZER_HEADER, ttl_seconds=runtime.settings.api_key_authorizer_ttl_seconds
    )
    def api_key_authorizer(auth_request: AuthRequest) -> dict[str, Any]:
        known = api_key_hashes(runtime.settings)
        return authorize(auth_request.token, auth_request.method_arn, known)

    gateway_key_check = {"authorizer": api_key_authorizer, "api_key_required": True}

    # A token authorizer reads one header: OpenAI clients send the key as `Authorization:
    # Bearer`, so the completion routes get their own authorizer on that header (README).
    @app.authorizer(
        header="Authorization", ttl_seconds=runtime.settings.api_key_authorizer_ttl_seconds
    )
    def bearer_key_authorizer(auth_request: AuthRequest) -> dict[str, Any]:
        known = api_key_hashes(runtime.settings)
        return authorize(bearer_token(auth_request.token), auth_request.method_arn, known)

    gateway_bearer_check = {"authorizer": bearer_key_authorizer, "api_key_required": True}

route = api_routes(app, gateway_key_check)
openai_route = openai_routes(app, gateway_bearer_check)


@app.middleware("http")
def edge(event: Request, get_response: Callable[[Request], Response]) -> Response:
    """Contract envelope and headers on every response, an unhandled error counted, metrics
    flushed on every request (errors too), one X-Ray subsegment per request where tracing is on."""
    logger.clear_state()
    try:
        with traced(f"## {event.method} {event.context.get('resourcePath', event.path)}"):
            response = finish_response(get_response(event))
            annotate("status", str(response.status_code))
    finally:
        if metrics.metric_set:
            metrics.flush_metrics()
        else:
            metrics.clear_metrics()
        clear_version_dimensions()
    return response


@route("/health", public=True)
def health() -> Response:
    checks = dependency_checks(runtime.registry)
    ok = all(check == "ok" for check in checks.values())
    body = {"status": "ok" if ok else "degraded", "version": __version__}
    return json_response(
        {**body, "stage": runtime.settings.stage, "checks": checks}, 200 if ok else 503
    )


@openai_routes(app, gateway_key_check)("/v1/models")
def list_models() -> Response:
    """Both shapes at once (OpenAI's `data`, Tunegate's `models`), either key header."""
    deployments = runtime.deployments.view().deployments
    return json_response(model_list(deployments, runtime.settings.models_file))


@route(
    "/v1/models/{name}/invoke", scope="invoke", methods=["POST"], content_types=["application/json"]
)
def invoke_model(name: str) -> Response:
    """`name` is routed (sticky by `routing_key`); `name@N` calls version N."""
    registry = runtime.deployments.view()
    registry.get(name)  # an unknown name is a 404 whatever the body
    request = parse_body(current_request(app), InvokeRequest, runtime.settings.max_body_bytes)
    chosen = registry.resolve(name, request.routing_key)
    context = runtime.invocation_context
    result = invoke(chosen.deployment, request, context, chosen.version, chosen.copies)
    return json_response(result.model_dump(mode="json"))


@openai_route("/v1/chat/completions", methods=["POST"], content_types=["application/json"])
def chat_completions() -> Response:
    from chalicelib.openai_api.models import ChatCompletionRequest
    from chalicelib.openai_api.service import chat_completion

    request = parse_body(
        current_request(app), ChatCompletionRequest, runtime.settings.max_body_bytes
    )
    registry = runtime.deployments.view()
    return json_response(chat_completion(registry, request, runtime.invocation_context))


@openai_route("/v1/completions", methods=["POST"], content_types=["application/json"])
def completions() -> Response:
    from chalicelib.openai_api.models import CompletionRequest
    from chalicelib.openai_api.service import completion

    request = parse_body(current_request(app), CompletionRequest, runtime.settings.max_body_bytes)
    registry = runtime.deployments.view()
    return json_response(completion(registry, request, runtime.invocation_context))


@route("/v1/feedback", public=True, methods=["POST"], content_types=["application/json"])
def post_feedback() -> Response:
    from chalicelib.feedback.service import FeedbackRequest, submit_feedback

    request = current_request(app)
    cors = cors_headers(request, runtime.settings.cors_allow_origins)
    try:
        body = parse_body(request, FeedbackRequest, runtime.settings.max_body_bytes)
        result = submit_feedback(body, runtime.feedback, runtime.token_secret, datetime.now(UTC))
    except TunegateError as exc:
        return error_response(exc, cors)
    record = {k: v for k, v in asdict(result.record).items() if v is not None}
    return json_response(record, 201 if result.created else 200, cors)


@route("/v1/feedback", public=True, methods=["OPTIONS"])
def feedback_preflight() -> Response:
    """204 either way; without CORS headers for an unlisted origin, the browser refuses."""
    cors = cors_headers(current_request(app), runtime.settings.cors_allow_origins)
    return Response(body="", status_code=204, headers={**cors})


@route("/v1/models/{name}/feedback/summary", scope="evaluate")
def feedback_summary(name: str) -> Response:
    from chalicelib.feedback.service import SummaryQuery, parse_time, summarize

    deployment = runtime.deployments.view().get(name)
    query = parse_query(current_request(app), SummaryQuery)
    start, end = parse_time(query.start, "from"), parse_time(query.end, "to")
    return json_response(summarize(runtime.feedback, deployment.name, start, end))


# `evaluate`, not `admin` (CONTRACT section 3): `admin` guards what changes which model answers
# or spends money, and an export does neither; the data only becomes a model through tuning and
# promotion, which are `admin`. Whoever evaluates the next round prepares its data.
@route("/v1/feedback/export", scope="evaluate")
def feedback_export() -> Response:
    from chalicelib.feedback.service import ExportQuery, export_training_data

    query = parse_query(current_request(app), ExportQuery)
    deployment = runtime.deployments.view().get(query.model)
    lines = export_training_data(
        runtime.feedback,
        runtime.invocations,
        deployment.name,
        query.min_rating,
        query.format,
        query.public_corrections,
    )
    return Response(
        body="".join(lines),
        status_code=200,
        headers={"Content-Type": "application/x-ndjson"},
    )


# Deployments (CONTRACT section 7), all `admin`: they change which model answers.
@route("/v1/deployments", scope="admin")
def list_deployments() -> Response:
    from chalicelib.deployments import service as deployments

    return json_response(deployments.list_deployments(runtime.registry_store))


@route("/v1/deployments/{name}", scope="admin")
def get_deployment(name: str) -> Response:
    from chalicelib.deployments import service as deployments

    return json_response(deployments.get_deployment(runtime.registry_store, name))


@route(
    "/v1/deployments/{name}/versions",
    scope="admin",
    methods=["POST"],
    content_types=["application/json"],
)
def create_version(name: str) -> Response:
    from chalicelib.deployments import service as deployments
    from chalicelib.deployments.models import VersionRequest

    body = parse_body(current_request(app), VersionRequest, runtime.settings.max_body_bytes)
    store, cache = runtime.registry_store, runtime.deployments
    version = deployments.create_version(store, cache, name, body, caller().owner, runtime.registry)
    return json_response(version, 201)


@route("/v1/deployments/{name}/versions/{version}", scope="admin")
def get_version(name: str, version: str) -> Response:
    from chalicelib.deployments import service as deployments

    number = deployments.version_number(name, version)
    return json_response(deployments.get_version(runtime.registry_store, name, number))


@route(
    "/v1/deployments/{name}/routing",
    scope="admin",
    methods=["PUT"],
    content_types=["application/json"],
)
def set_routing(name: str) -> Response:
    from chalicelib.deployments import service as deployments
    from chalicelib.deployments.models import RoutingRequest

    body = parse_body(current_request(app), RoutingRequest, runtime.settings.max_body_bytes)
    store, cache = runtime.registry_store, runtime.deployments
    return json_response(deployments.set_routing(store, cache, name, body, caller().owner))


@route("/v1/deployments/{name}/rollback", scope="admin", methods=["POST"])
def rollback_deployment(name: str) -> Response:
    from chalicelib.deployments import service as deployments

    store, cache = runtime.registry_store, runtime.deployments
    return json_response(deployments.rollback(store, cache, name, caller().owner))


@route(
    "/v1/deployments/{name}/promote",
    scope="admin",
    methods=["POST"],
    content_types=["application/json"],
)
def promote_deployment(name: str) -> Response:
    from chalicelib.deployments.models import PromoteRequest
    from chalicelib.deployments.promotion import job_evidence, promote

    body = parse_body(current_request(app), PromoteRequest, runtime.settings.max_body_bytes)
    _, jobs = evaluation_jobs()
    key = caller()
    store, cache = runtime.registry_store, runtime.deployments
    max_drop = runtime.settings.promotion_max_drop
    evidence = partial(job_evidence, jobs, caller=key)
    return json_response(promote(store, cache, name, body, evidence, key.owner, max_drop))


# `evaluate`, not `admin`: CONTRACT section 3 lists comparisons under `evaluate`, and compare
# only reads aggregates (like the feedback summary); what it informs, a promotion, is `admin`.
@route("/v1/deployments/{name}/compare", scope="evaluate")
def compare_deployment(name: str) -> Response:
    from chalicelib.deployments.promotion import compare
    from chalicelib.feedback.service import SummaryQuery, parse_time

    query = parse_query(current_request(app), SummaryQuery)
    start, end = parse_time(query.start, "from"), parse_time(query.end, "to")
    stores = runtime.registry_store, runtime.invocations, runtime.feedback
    return json_response(compare(*stores, name, start, end))


@route("/v1/deployments/{name}/history", scope="admin")
def deployment_history(name: str) -> Response:
    from chalicelib.deployments import service as deployments

    return json_response(deployments.history(runtime.registry_store, name))


# Provisioned models (CONTRACT section 8), all `admin`: they spend money and change what answers.
# Imported inside the routes: the invoke path's cold start does not pay for them.
def provisioning() -> Any:
    from chalicelib.provisioning import service
    from chalicelib.storage.provisioned import DynamoProvisionedStore

    context = service.ProvisioningContext(
        settings=runtime.settings,
        store=DynamoProvisionedStore(runtime.settings.provisioned_table),
        registry_store=runtime.registry_store,
        registry=runtime.registry,
        cache=runtime.deployments,
    )
    return service, context


@route(
    "/v1/provisioned-models", scope="admin", methods=["POST"], content_types=["application/json"]
)
def provision_model() -> Response:
    from chalicelib.provisioning.models import ProvisionRequest

    service, context = provisioning()
    body = parse_body(current_request(app), ProvisionRequest, runtime.settings.max_body_bytes)
    return json_response(service.create(context, body, caller().owner), 202)


@route("/v1/provisioned-models/{name}", scope="admin", methods=["GET"])
def get_provisioned_model(name: str) -> Response:
    service, context = provisioning()
    return json_response(service.get(context, name))


@route("/v1/provisioned-models/{name}", scope="admin", methods=["DELETE"])
def deprovision_model(name: str) -> Response:
    service, context = provisioning()
    return json_response(service.delete(context, name), 202)


@route(
    "/v1/provisioned-models/{name}/register",
    scope="admin",
    methods=["POST"],
    content_types=["application/json"],
)
def register_provisioned_model(name: str) -> Response:
    from chalicelib.provisioning.models import RegisterRequest

    service, context = provisioning()
    body = parse_body(current_request(app), RegisterRequest, runtime.settings.max_body_bytes)
    return json_response(service.register(context, name, body, caller().owner), 201)


@route("/openapi.json", public=True)
def openapi_document() -> Response:
    from chalicelib.api.openapi import document

    return json_response(document())


@route("/widget/feedback.js", public=True)
def feedback_widget() -> Response:
    from chalicelib.feedback.widget import widget_script

    return Response(
        body=widget_script(),
        status_code=200,
        headers={"Content-Type": "application/javascript", "Cache-Control": "max-age=300"},
    )


def evaluation_jobs() -> tuple[ModuleType, JobContext]:
    """The jobs service module and its context, imported on the first jobs request: the invoke
    path's cold start does not pay for the evaluation engine."""
    from chalicelib.jobs import service
    from chalicelib.jobs.context import get_job_context

    return service, get_job_context()


def accepted(evaluation_id: str, status: str) -> Response:
    """202 + Location: the answer to create, retry and cancel."""
    from chalicelib.jobs.service import location

    body = {"evaluation_id": evaluation_id, "status": status}
    return json_response(body, 202, {"Location": location(evaluation_id)})


@route("/v1/evaluations", scope="evaluate", methods=["POST"], content_types=["application/json"])
def create_evaluation() -> Response:
    from chalicelib.jobs.models import EvaluationRequest

    evaluations, jobs = evaluation_jobs()
    request = parse_body(current_request(app), EvaluationRequest, jobs.settings.max_body_bytes)
    job = evaluations.submit(jobs, request, owner=caller().owner)
    return accepted(job.evaluation_id, job.status)


@route("/v1/evaluations/{evaluation_id}", scope="evaluate")
def get_evaluation(evaluation_id: str) -> Response:

    evaluations, jobs = evaluation_jobs()
    return json_response(evaluations.view(jobs, evaluations.get_job(jobs, evaluation_id, caller())))


@route("/v1/evaluations/{evaluation_id}/items", scope="evaluate")
def evaluation_items(evaluation_id: str) -> Response:
    from chalicelib.jobs.models import ItemsQuery

    evaluations, jobs = evaluation_jobs()
    query = parse_query(current_request(app), ItemsQuery)
    job = evaluations.get_job(jobs, evaluation_id, caller())
    return json_response(evaluations.items_page(jobs, job, query))


@route("/v1/evaluations/{evaluation_id}/report", scope="evaluate")
def evaluation_report(evaluation_id: str) -> Response:
    from chalicelib.evaluation.report import CSP

    evaluations, jobs = evaluation_jobs()
    page = evaluations.report(jobs, evaluations.get_job(jobs, evaluation_id, caller()))
    return Response(
        body=page,
        status_code=200,
        headers={
            "Content-Type": "text/html; charset=utf-8",
            "Content-Security-Policy": CSP,
            "X-Content-Type-Options": "nosniff",
        },
    )


@route("/v1/evaluations/{evaluation_id}/results.json", scope="evaluate")
def evaluation_results(evaluation_id: str) -> Response:
    from chalicelib.jobs.models import ResultsQuery

    evaluations, jobs = evaluation_jobs()
    query = parse_query(current_request(app), ResultsQuery)
    job = evaluations.get_job(jobs, evaluation_id, caller())
    return json_response(evaluations.results_document(jobs, job, query.format == "lm-eval"))


# Public: a browser cannot send x-api-key on a navigation. The page is the same static shell for
# every id (no data); it asks for the key and calls the `evaluate` routes below with it.
@route("/v1/evaluations/{evaluation_id}/review", public=True)
def evaluation_review_page(evaluation_id: str) -> Response:
    from chalicelib.evaluation.review_page import review_page

    page, csp = review_page()
    headers = {"Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": csp}
    return Response(body=page, status_code=200, headers={**headers, "Cache-Control": "no-store"})


@route("/v1/evaluations/{evaluation_id}/reviews", scope="evaluate")
def list_evaluation_reviews(evaluation_id: str) -> Response:
    from chalicelib.jobs.reviews import list_reviews

    evaluations, jobs = evaluation_jobs()
    job = evaluations.get_job(jobs, evaluation_id, caller())
    return json_response(list_reviews(job, caller()))


@route(
    "/v1/evaluations/{evaluation_id}/reviews",
    scope="evaluate",
    methods=["POST"],
    content_types=["application/json"],
)
def post_evaluation_review(evaluation_id: str) -> Response:
    from chalicelib.jobs.reviews import ReviewRequest, submit_review

    evaluations, jobs = evaluation_jobs()
    job = evaluations.get_job(jobs, evaluation_id, caller())
    body = parse_body(current_request(app), ReviewRequest, jobs.settings.max_body_bytes)
    created, record = submit_review(jobs, job, body, caller())
    return json_response(record, 201 if created else 200)


@route("/v1/evaluations/{evaluation_id}/retry", scope="evaluate", methods=["POST"])
def retry_evaluation(evaluation_id: str) -> Response:

    evaluations, jobs = evaluation_jobs()
    job = evaluations.retry(jobs, evaluations.get_job(jobs, evaluation_id, caller()))
    return accepted(job.evaluation_id, job.status)


@route("/v1/evaluations/{evaluation_id}/cancel", scope="evaluate", methods=["POST"])
def cancel_evaluation(evaluation_id: str) -> Response:

    evaluations, jobs = evaluation_jobs()
    job = evaluations.cancel(jobs, evaluations.get_job(jobs, evaluation_id, caller()))
    return accepted(job.evaluation_id, job.status)


# --- tuning jobs (CONTRACT section 8; chalicelib/tuning/service.py, imported on first use) ----


@route("/v1/tuning-jobs", scope="admin", methods=["POST"], content_types=["application/json"])
def create_tuning_job() -> Response:
    from chalicelib.tuning import service as tuning
    from chalicelib.tuning.models import TuningJobRequest

    max_bytes = runtime.settings.jobs.max_body_bytes  # inline records, as evaluations take them
    request = parse_body(current_request(app), TuningJobRequest, max_bytes)
    job = tuning.submit(request, owner=caller().owner)
    body = {
        "tuning_job_id": job["tuning_job_id"],
        "status": job["status"],
        "estimated_cost_usd": job["estimated_cost_usd"],
    }
    return json_response(body, 202, {"Location": tuning.location(job["tuning_job_id"])})


@route("/v1/tuning-jobs", scope="admin")
def list_tuning_jobs() -> Response:
    from chalicelib.tuning import service as tuning
    from chalicelib.tuning.models import TuningJobsQuery

    query = parse_query(current_request(app), TuningJobsQuery)
    return json_response({"tuning_jobs": [tuning.view(j) for j in tuning.list_jobs(query.limit)]})


@route("/v1/tuning-jobs/{tuning_job_id}", scope="admin")
def get_tuning_job(tuning_job_id: str) -> Response:
    from chalicelib.tuning import service as tuning

    return json_response(tuning.view(tuning.get_job(tuning_job_id)))


@route("/v1/tuning-jobs/{tuning_job_id}/report", scope="admin")
def tuning_job_report(tuning_job_id: str) -> Response:
    from chalicelib.evaluation.report import CSP
    from chalicelib.tuning import service as tuning

    return Response(
        body=tuning.report(tuning_job_id),
        status_code=200,
        headers={
            "Content-Type": "text/html; charset=utf-8",
            "Content-Security-Policy": CSP,
            "X-Content-Type-Options": "nosniff",
        },
    )


@route("/v1/tuning-jobs/{tuning_job_id}/stop", scope="admin", methods=["POST"])
def stop_tuning_job(tuning_job_id: str) -> Response:
    from chalicelib.tuning import service as tuning

    job = tuning.stop(tuning_job_id)
    body = {
        "tuning_job_id": job["tuning_job_id"],
        "status": job["status"],
        "estimated_cost_usd": job["estimated_cost_usd"],
    }
    return json_response(body, 202, {"Location": tuning.location(tuning_job_id)})


#: Bedrock's EventBridge event when a customization job changes state (the rule is in the
#: packaged template); reads refresh a job too, so a lost event only delays the cached status.
TUNING_JOB_EVENTS = {
    "source": ["aws.bedrock"],
    "detail-type": ["Model Customization Job State Change"],
}


@app.on_cw_event(TUNING_JOB_EVENTS, name="tuning_job_events")
def tuning_job_events(event: CloudWatchEvent) -> dict[str, Any]:
    from chalicelib.tuning.service import on_state_change

    with traced("## tuning_job_events"):
        return {"tuning_job_id": on_state_change(event.to_dict())}


@app.on_sqs_message(queue=runtime.settings.evaluation_queue, batch_size=1)
def evaluation_worker(event: SQSEvent) -> dict[str, Any]:
    """Chunks take seconds to minutes each: one per invocation, so they run in parallel."""
    from chalicelib.jobs.worker import handle_event

    with traced("## evaluation_worker"):
        return handle_event(event.to_dict(), event.context)


# Everything imported so far lives as long as the process: moved out of the collector's reach,
# later collections (the first botocore client allocates a lot) do not scan it again.
gc.freeze()
gc.enable()
