"""Every route of the HTTP API with its request and response models: the source of the OpenAPI
document (`GET /openapi.json`, `docs/openapi.json`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from chalicelib.api.models import (
    EvaluationAccepted,
    EvaluationStatus,
    FeedbackResponse,
    FeedbackSummaryResponse,
    HealthResponse,
    InvokeRequest,
    InvokeResponse,
    ItemsPage,
    ModelsResponse,
)
from chalicelib.api.openapi import JSON, Operation
from chalicelib.deployments.models import (
    AliasView,
    CompareView,
    DeploymentList,
    DeploymentView,
    HistoryView,
    PromoteRequest,
    RoutingRequest,
    VersionRequest,
    VersionView,
)
from chalicelib.feedback.service import ExportQuery, FeedbackRequest, SummaryQuery
from chalicelib.jobs.models import EvaluationRequest, ItemsQuery, ResultsQuery
from chalicelib.jobs.reviews import ReviewList, ReviewRequest, ReviewView
from chalicelib.openai_api.models import (
    ChatCompletionRequest,
    ChatCompletionResponse,
    CompletionRequest,
    CompletionResponse,
)
from chalicelib.provisioning.models import ProvisionedView, ProvisionRequest, RegisterRequest
from chalicelib.tuning.models import (
    TuningJobAccepted,
    TuningJobList,
    TuningJobRequest,
    TuningJobsQuery,
    TuningJobView,
)

TEXT = {"type": "string"}
ANY_OBJECT: dict[str, Any] = {"type": "object"}
MODEL_ERRORS = (429, 502, 503, 504)


def openai_compatible(
    path: str, summary: str, body: type[BaseModel], response: type[BaseModel]
) -> Operation:
    """A POST route in OpenAI's shape: a bearer key with the invoke scope, the model errors."""
    return Operation(
        "post",
        path,
        summary,
        {200: response},
        body=body,
        errors=MODEL_ERRORS,
        bearer=True,
        scope="invoke",
    )


def admin(
    method: str,
    path: str,
    summary: str,
    responses: dict[int, Any],
    body: type[BaseModel] | None = None,
    errors: tuple[int, ...] = (),
) -> Operation:
    """A deployment route (CONTRACT section 7): `admin`, it changes which model answers."""
    return Operation(method, path, summary, responses, body=body, errors=errors, scope="admin")


OPERATIONS = [
    Operation(
        "get",
        "/health",
        "Liveness, version and reachable dependencies",
        {200: HealthResponse, 503: HealthResponse},
        public=True,
    ),
    Operation(
        "get",
        "/v1/models",
        "Deployments (no ARNs, no keys), in Tunegate's and OpenAI's shapes",
        {200: ModelsResponse},
        bearer=True,
        scope="invoke",
    ),
    openai_compatible(
        "/v1/chat/completions",
        "OpenAI-compatible chat completion of a deployment (its trained format applied)",
        ChatCompletionRequest,
        ChatCompletionResponse,
    ),
    openai_compatible(
        "/v1/completions",
        "OpenAI-compatible completion: one choice per prompt (its trained format applied)",
        CompletionRequest,
        CompletionResponse,
    ),
    Operation(
        "post",
        "/v1/models/{name}/invoke",
        "Invoke a deployment in its trained format",
        {200: InvokeResponse},
        body=InvokeRequest,
        errors=MODEL_ERRORS,
        scope="invoke",
    ),
    Operation(
        "post",
        "/v1/feedback",
        "Rate one answer (authorised by its feedback token)",
        {200: FeedbackResponse, 201: FeedbackResponse},
        body=FeedbackRequest,
        public=True,
        errors=(403, 503),
    ),
    Operation("options", "/v1/feedback", "CORS preflight", {204: None}, public=True, errors=(403,)),
    Operation(
        "get",
        "/v1/models/{name}/feedback/summary",
        "Feedback of a deployment in a time window",
        {200: FeedbackSummaryResponse},
        query=SummaryQuery,
        scope="evaluate",
    ),
    Operation(
        "get",
        "/v1/feedback/export",
        "Rated answers as fine-tuning JSON Lines",
        {200: ("application/x-ndjson", TEXT)},
        query=ExportQuery,
        scope="evaluate",
    ),
    Operation(
        "get",
        "/widget/feedback.js",
        "The feedback widget",
        {200: ("application/javascript", TEXT)},
        public=True,
    ),
    Operation(
        "get",
        "/openapi.json",
        "This document",
        {200: ("application/json", ANY_OBJECT)},
        public=True,
    ),
    Operation(
        "post",
        "/v1/evaluations",
        "Start an evaluation job",
        {202: EvaluationAccepted},
        body=EvaluationRequest,
        scope="evaluate",
    ),
    Operation(
        "get",
        "/v1/evaluations/{evaluation_id}",
        "An evaluation",
        {200: EvaluationStatus},
        scope="evaluate",
    ),
    Operation(
        "get",
        "/v1/evaluations/{evaluation_id}/items",
        "Per-item results, paginated",
        {200: ItemsPage},
        query=ItemsQuery,
        errors=(409,),
        scope="evaluate",
    ),
    Operation(
        "get",
        "/v1/evaluations/{evaluation_id}/report",
        "Self-contained HTML report",
        {200: ("text/html", TEXT)},
        errors=(409,),
        scope="evaluate",
    ),
    Operation(
        "get",
        "/v1/evaluations/{evaluation_id}/results.json",
        "Results (contract or lm-evaluation-harness shape)",
        {200: (JSON, ANY_OBJECT)},
        query=ResultsQuery,
        errors=(409,),
        scope="evaluate",
    ),
    Operation(
        "get",
        "/v1/evaluations/{evaluation_id}/review",
        "Human review page: a static shell that asks for an `evaluate` key, then calls the "
        "reviews and items routes with it (a navigation cannot send x-api-key)",
        {200: ("text/html", TEXT)},
        public=True,
    ),
    Operation(
        "get",
        "/v1/evaluations/{evaluation_id}/reviews",
        "Human reviews of an evaluation and the judge's agreement with them",
        {200: ReviewList},
        scope="evaluate",
    ),
    Operation(
        "post",
        "/v1/evaluations/{evaluation_id}/reviews",
        "Rate an answer (rubric) or pick the better of a pair; a re-rating replaces it",
        {200: ReviewView, 201: ReviewView},
        body=ReviewRequest,
        errors=(409,),
        scope="evaluate",
    ),
    Operation(
        "post",
        "/v1/evaluations/{evaluation_id}/retry",
        "Re-run the items that errored",
        {202: EvaluationAccepted},
        errors=(409,),
        scope="evaluate",
    ),
    Operation(
        "post",
        "/v1/evaluations/{evaluation_id}/cancel",
        "Stop a running evaluation",
        {202: EvaluationAccepted},
        errors=(409,),
        scope="evaluate",
    ),
    admin("get", "/v1/deployments", "Aliases with their routing", {200: DeploymentList}),
    admin(
        "get",
        "/v1/deployments/{name}",
        "An alias, its routing, revision and versions",
        {200: DeploymentView},
    ),
    admin(
        "post",
        "/v1/deployments/{name}/versions",
        "Create the next version (and the alias, routed 100% to it, if new)",
        {201: VersionView},
        body=VersionRequest,
    ),
    admin(
        "get",
        "/v1/deployments/{name}/versions/{version}",
        "One version (no secrets)",
        {200: VersionView},
    ),
    admin(
        "put",
        "/v1/deployments/{name}/routing",
        "Change the routing if `expected_revision` is current (409 conflict otherwise)",
        {200: AliasView},
        body=RoutingRequest,
        errors=(409,),
    ),
    admin(
        "post",
        "/v1/deployments/{name}/rollback",
        "Back to the routing before the last change",
        {200: AliasView},
        errors=(409,),
    ),
    admin(
        "post",
        "/v1/deployments/{name}/promote",
        "Route 100% to a version when the evaluation gate passes (or forced with a reason)",
        {200: AliasView},
        body=PromoteRequest,
        errors=(409,),
    ),
    Operation(
        "get",
        "/v1/deployments/{name}/compare",
        "The alias's versions in production over a time window, against the champion",
        {200: CompareView},
        query=SummaryQuery,
        scope="evaluate",
    ),
    admin(
        "get",
        "/v1/deployments/{name}/history",
        "Every routing change: when, from, to, reason, caller",
        {200: HistoryView},
    ),
    admin(
        "post",
        "/v1/provisioned-models",
        "Serve a custom model: Provisioned Throughput (a commitment needs confirm_commitment) "
        "or an on-demand deployment; the same body again answers the same model",
        {202: ProvisionedView},
        body=ProvisionRequest,
        errors=(409, 429, 502, 503),
    ),
    admin(
        "get",
        "/v1/provisioned-models/{name}",
        "A provisioned model, its status refreshed from the provider, and its hourly cost",
        {200: ProvisionedView},
        errors=(429, 502, 503),
    ),
    admin(
        "delete",
        "/v1/provisioned-models/{name}",
        "Deprovision: the provider stops serving (and billing) the model",
        {202: ProvisionedView},
        errors=(429, 502, 503),
    ),
    admin(
        "post",
        "/v1/provisioned-models/{name}/register",
        "A new deployment version calling the in-service model, in the prompt format recovered "
        "from its training data unless given",
        {201: VersionView},
        body=RegisterRequest,
        errors=(409, 429, 502, 503),
    ),
    Operation(
        "post",
        "/v1/tuning-jobs",
        "Start a fine-tuning job (checked in full before the provider is called)",
        {202: TuningJobAccepted},
        body=TuningJobRequest,
        errors=(429, 502, 503),
        scope="admin",
    ),
    Operation(
        "get",
        "/v1/tuning-jobs",
        "Tuning jobs, newest first (as last refreshed)",
        {200: TuningJobList},
        query=TuningJobsQuery,
        errors=(503,),
        scope="admin",
    ),
    Operation(
        "get",
        "/v1/tuning-jobs/{tuning_job_id}",
        "A tuning job, refreshed from its provider while it runs",
        {200: TuningJobView},
        errors=(503,),
        scope="admin",
    ),
    Operation(
        "get",
        "/v1/tuning-jobs/{tuning_job_id}/report",
        "Self-contained HTML tuning report (loss curves, hyperparameters, data, cost)",
        {200: ("text/html", TEXT)},
        errors=(503,),
        scope="admin",
    ),
    Operation(
        "post",
        "/v1/tuning-jobs/{tuning_job_id}/stop",
        "Stop a running tuning job",
        {202: TuningJobAccepted},
        errors=(409, 429, 502, 503),
        scope="admin",
    ),
]
