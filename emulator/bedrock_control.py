"""Bedrock's control plane (service `bedrock`, rest-json) as botocore sends it: model
customization jobs that really train (emulator/trainer.py), custom models, Provisioned
Throughput and on-demand custom model deployments, whose ARNs then answer InvokeModel/Converse
with the trained classifier.

A job's artifacts are written where Bedrock writes them (docs: "Analyze the results of a model
customization job"), under `<outputDataConfig.s3Uri>/model-customization-job-<job id>/`:
`training_artifacts/step_wise_training_metrics.csv` and, with validation data,
`validation_artifacts/post_fine_tuning_validation/validation_metrics.csv`
(columns step_number, epoch_number, training_loss|validation_loss, perplexity)."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote

from emulator import s3io
from emulator.bedrock_resources import (
    FOUNDATION_ID,
    PREFIX,
    REGION,
    CustomModel,
    Job,
    Serving,
    body_of,
    metrics_csv,
    paginate,
    query_value,
    require_text,
    training_plan,
)
from emulator.faults import FaultPlan
from emulator.models import ModelTable
from emulator.pacing import Pace, iso_now, short_id
from emulator.trainer import DataError, TrainingResult, parse_examples, train
from emulator.wire import ApiError, Reply, bedrock_error, json_reply

Handler = Callable[[list[str], dict[str, list[str]], bytes], Reply]


class BedrockControlPlane:
    """All state behind one lock; training and provisioning run in daemon threads."""

    def __init__(self, table: ModelTable, plan: FaultPlan, pace: Pace):
        self.table = table
        self.plan = plan
        self.pace = pace
        self._lock = threading.Lock()
        self.jobs: dict[str, Job] = {}
        self.models: dict[str, CustomModel] = {}
        self.serving: dict[str, Serving] = {}
        self._routes: list[tuple[str, re.Pattern[str], str, Handler]] = [
            (
                "POST",
                re.compile(r"^/model-customization-jobs$"),
                "CreateModelCustomizationJob",
                self._create_job,
            ),
            (
                "GET",
                re.compile(r"^/model-customization-jobs$"),
                "ListModelCustomizationJobs",
                self._list_jobs,
            ),
            (
                "GET",
                re.compile(r"^/model-customization-jobs/([^/]+)$"),
                "GetModelCustomizationJob",
                self._get_job,
            ),
            (
                "POST",
                re.compile(r"^/model-customization-jobs/([^/]+)/stop$"),
                "StopModelCustomizationJob",
                self._stop_job,
            ),
            ("GET", re.compile(r"^/custom-models$"), "ListCustomModels", self._list_models),
            ("GET", re.compile(r"^/custom-models/([^/]+)$"), "GetCustomModel", self._get_model),
            (
                "POST",
                re.compile(r"^/provisioned-model-throughput$"),
                "CreateProvisionedModelThroughput",
                self._create_throughput,
            ),
            (
                "GET",
                re.compile(r"^/provisioned-model-throughputs$"),
                "ListProvisionedModelThroughputs",
                self._list_throughputs,
            ),
            (
                "GET",
                re.compile(r"^/provisioned-model-throughput/([^/]+)$"),
                "GetProvisionedModelThroughput",
                lambda ids, _q, _r: self.get_serving(ids[0], False),
            ),
            (
                "DELETE",
                re.compile(r"^/provisioned-model-throughput/([^/]+)$"),
                "DeleteProvisionedModelThroughput",
                lambda ids, _q, _r: self.delete_serving(ids[0], False),
            ),
            (
                "POST",
                re.compile(r"^/model-customization/custom-model-deployments$"),
                "CreateCustomModelDeployment",
                self._create_deployment,
            ),
            (
                "GET",
                re.compile(r"^/model-customization/custom-model-deployments$"),
                "ListCustomModelDeployments",
                self._list_deployments,
            ),
            (
                "GET",
                re.compile(r"^/model-customization/custom-model-deployments/([^/]+)$"),
                "GetCustomModelDeployment",
                lambda ids, _q, _r: self.get_serving(ids[0], True),
            ),
            (
                "DELETE",
                re.compile(r"^/model-customization/custom-model-deployments/([^/]+)$"),
                "DeleteCustomModelDeployment",
                lambda ids, _q, _r: self.delete_serving(ids[0], True),
            ),
        ]

    def route(self, method: str, path: str, query: str, raw: bytes) -> Reply | None:
        """The reply for a control-plane request, or None if no operation matches."""
        for verb, pattern, operation, handler in self._routes:
            match = pattern.match(path)
            if verb != method or match is None:
                continue
            entry = self.plan.next_exact(f"control:{operation}")
            if entry is not None and entry.error is not None:
                self.plan.record("bedrock-control-plane", operation, entry.error)
                return bedrock_error(ApiError(entry.error, entry.message))
            try:
                reply = handler([unquote(g) for g in match.groups()], parse_qs(query), raw)
            except ApiError as error:
                self.plan.record("bedrock-control-plane", operation, error.error_type)
                return bedrock_error(error)
            self.plan.record("bedrock-control-plane", operation, "ok")
            return reply
        return None

    # --- customization jobs ---------------------------------------------------------------

    def _create_job(self, _ids: list[str], _query: dict[str, list[str]], raw: bytes) -> Reply:
        request = body_of(raw)
        for name in ("jobName", "customModelName", "roleArn", "baseModelIdentifier"):
            require_text(request, name)
        for name in ("trainingDataConfig", "outputDataConfig"):
            if not isinstance(request.get(name), dict) or not request[name].get("s3Uri"):
                raise ApiError("ValidationException", f"{name}.s3Uri is required.")
        kind = request.get("customizationType", "FINE_TUNING")
        if kind != "FINE_TUNING":
            raise ApiError(
                "ValidationException",
                f"customizationType {kind} is not supported by the local emulator "
                "(FINE_TUNING only).",
            )
        plan = training_plan(request.get("hyperParameters") or {})
        with self._lock:
            token = request.get("clientRequestToken")
            for job in self.jobs.values():
                if token and job.request.get("clientRequestToken") == token:
                    return json_reply(201, {"jobArn": job.arn})
                if job.request["jobName"] == request["jobName"]:
                    raise ApiError(
                        "ConflictException",
                        f"A model customization job named {request['jobName']} already exists.",
                    )
            base_arn, parent = self._resolve_base(request["baseModelIdentifier"])
            job_id = short_id()
            base_id = base_arn.rsplit("/", 1)[-1]
            arn = f"{PREFIX}:model-customization-job/{base_id}/{job_id}"
            job = Job(job_id, arn, request, base_arn, plan, parent)
            job.phases = {
                "validation": "InProgress",
                "dataProcessing": "NotStarted",
                "training": "NotStarted",
            }
            self.jobs[job_id] = job
        self.pace.start(lambda: self._run(job), f"bedrock-job:{job_id}")
        return json_reply(201, {"jobArn": arn})

    def _resolve_base(self, identifier: str) -> tuple[str, CustomModel | None]:
        """(foundation model ARN, parent custom model for incremental tuning)."""
        if ":custom-model/" in identifier or identifier in {m.name for m in self.models.values()}:
            parent = self._find_model(identifier)
            return parent.job.base_arn, parent
        if identifier.startswith("arn:") and ":foundation-model/" in identifier:
            return identifier, None
        if FOUNDATION_ID.match(identifier):
            return f"arn:aws:bedrock:{REGION}::foundation-model/{identifier}", None
        raise ApiError(
            "ValidationException",
            f"The provided base model identifier {identifier} is not a foundation model id or "
            "a custom model ARN.",
        )

    def _find_job(self, identifier: str) -> Job:
        with self._lock:
            for job in self.jobs.values():
                if identifier in (job.arn, job.job_id, job.request["jobName"]):
                    return job
        raise ApiError("ResourceNotFoundException", f"Job {identifier} not found.")

    def _find_model(self, identifier: str) -> CustomModel:
        for model in list(self.models.values()):
            if identifier in (model.arn, model.name):
                return model
        raise ApiError("ResourceNotFoundException", f"Custom model {identifier} not found.")

    def _get_job(self, ids: list[str], _query: dict[str, list[str]], _raw: bytes) -> Reply:
        job = self._find_job(ids[0])
        with self._lock:
            return json_reply(200, job.describe())

    def _list_jobs(self, _ids: list[str], query: dict[str, list[str]], _raw: bytes) -> Reply:
        with self._lock:
            jobs = list(self.jobs.values())
        status, name = query_value(query, "statusEquals"), query_value(query, "nameContains")
        jobs = [j for j in jobs if (not status or j.status == status)]
        jobs = [j for j in jobs if (not name or name in j.request["jobName"])]
        page, token = paginate(jobs, query, lambda j: j.created)
        out: dict[str, Any] = {"modelCustomizationJobSummaries": [j.summary() for j in page]}
        if token:
            out["nextToken"] = token
        return json_reply(200, out)

    def _stop_job(self, ids: list[str], _query: dict[str, list[str]], _raw: bytes) -> Reply:
        job = self._find_job(ids[0])
        with self._lock:
            if job.status != "InProgress":
                raise ApiError(
                    "ValidationException",
                    f"Job {job.request['jobName']} is {job.status}; only a job in progress "
                    "can be stopped.",
                )
            job.status, job.modified = "Stopping", iso_now()
            job.cancel.set()
        return json_reply(200, {})

    def _set(self, job: Job, status: str | None = None, **phases: str) -> None:
        with self._lock:
            if status:
                job.status = status
            job.phases.update(phases)
            job.modified = iso_now()
            if status in ("Completed", "Failed", "Stopped"):
                job.ended = job.modified

    def _run(self, job: Job) -> None:
        """Validate → process → train → write metrics → register the custom model."""
        try:
            examples = parse_examples(
                s3io.read(job.request["trainingDataConfig"]["s3Uri"]),
                job.request["trainingDataConfig"]["s3Uri"],
            )
            validation = []
            validators = (job.request.get("validationDataConfig") or {}).get("validators", [])
            for validator in validators:
                validation += parse_examples(s3io.read(validator["s3Uri"]), validator["s3Uri"])
            if self.pace.wait(job.cancel):
                return self._stopped(job)
            self._set(job, validation="Completed", dataProcessing="InProgress")
            if self.pace.wait(job.cancel):
                return self._stopped(job)
            self._set(job, dataProcessing="Completed", training="InProgress")
            parent = job.parent.model if job.parent else None
            result = train(examples, validation, job.plan, parent, job.cancel.is_set)
            with self._lock:
                job.result = result
            if result.cancelled or self.pace.wait(job.cancel):
                return self._stopped(job)
            self._write_metrics(job, result)
            name = job.request["customModelName"]
            base_id = job.base_arn.rsplit("/", 1)[-1]
            model = CustomModel(
                f"{PREFIX}:custom-model/{base_id}/{short_id()}", name, job, result.model
            )
            with self._lock:
                self.models[model.arn] = model
                job.model_arn = model.arn
            self._set(job, "Completed", training="Completed")
        except DataError as problem:
            self._fail(
                job,
                f"Data validation failed for {problem.source}: line {problem.line}: "
                f"{problem.problem}",
            )
        except (s3io.S3Problem, ValueError) as problem:
            self._fail(job, str(problem))

    def _stopped(self, job: Job) -> None:
        with self._lock:
            running = [p for p, s in job.phases.items() if s == "InProgress"]
        self._set(job, "Stopped", **dict.fromkeys(running, "Stopped"))

    def _fail(self, job: Job, message: str) -> None:
        with self._lock:
            job.failure = message
            running = [p for p, s in job.phases.items() if s == "InProgress"]
        self._set(job, "Failed", **dict.fromkeys(running, "Failed"))

    def _write_metrics(self, job: Job, result: TrainingResult) -> None:
        root = s3io.join(
            job.request["outputDataConfig"]["s3Uri"], f"model-customization-job-{job.job_id}"
        )
        s3io.write(
            s3io.join(root, "training_artifacts", "step_wise_training_metrics.csv"),
            metrics_csv(result.steps, "training_loss"),
        )
        if result.validation:
            key = "validation_artifacts/post_fine_tuning_validation/validation_metrics.csv"
            s3io.write(s3io.join(root, key), metrics_csv(result.validation, "validation_loss"))

    # --- custom models --------------------------------------------------------------------

    def _get_model(self, ids: list[str], _query: dict[str, list[str]], _raw: bytes) -> Reply:
        with self._lock:
            return json_reply(200, self._find_model(ids[0]).describe())

    def _list_models(self, _ids: list[str], query: dict[str, list[str]], _raw: bytes) -> Reply:
        with self._lock:
            models = list(self.models.values())
        name, base = query_value(query, "nameContains"), query_value(query, "baseModelArnEquals")
        models = [m for m in models if not name or name in m.name]
        models = [m for m in models if not base or m.job.base_arn == base]
        page, token = paginate(models, query, lambda m: m.created)
        out: dict[str, Any] = {"modelSummaries": [m.summary() for m in page]}
        if token:
            out["nextToken"] = token
        return json_reply(200, out)

    # --- serving: Provisioned Throughput and custom model deployments ----------------------

    def _create_throughput(self, _ids: list[str], _q: dict[str, list[str]], raw: bytes) -> Reply:
        request = body_of(raw)
        require_text(request, "provisionedModelName")
        require_text(request, "modelId")
        units = request.get("modelUnits")
        if isinstance(units, bool) or not isinstance(units, int) or units < 1:
            raise ApiError("ValidationException", "modelUnits must be a positive integer.")
        commitment = request.get("commitmentDuration")
        if commitment not in (None, "OneMonth", "SixMonths"):
            raise ApiError(
                "ValidationException", "commitmentDuration must be OneMonth or SixMonths."
            )
        serving = self._new_serving(
            request, "provisionedModelName", "modelId", units, commitment, deployment=False
        )
        return json_reply(201, {"provisionedModelArn": serving.arn})

    def _create_deployment(self, _ids: list[str], _q: dict[str, list[str]], raw: bytes) -> Reply:
        request = body_of(raw)
        require_text(request, "modelDeploymentName")
        require_text(request, "modelArn")
        serving = self._new_serving(
            request, "modelDeploymentName", "modelArn", 1, None, deployment=True
        )
        return json_reply(202, {"customModelDeploymentArn": serving.arn})

    def _new_serving(
        self,
        request: dict[str, Any],
        name_key: str,
        model_key: str,
        units: int,
        commitment: str | None,
        deployment: bool,
    ) -> Serving:
        kind = "custom-model-deployment" if deployment else "provisioned-model"
        with self._lock:
            token = request.get("clientRequestToken")
            for serving in self.serving.values():
                if token and serving.token == token:
                    return serving
            model = self._find_model(request[model_key])
            serving = Serving(
                f"{PREFIX}:{kind}/{short_id()}",
                request[name_key],
                model,
                units,
                commitment,
                deployment,
            )
            serving.token = token
            self.serving[serving.arn] = serving
        self.pace.start(lambda: self._bring_up(serving), f"bedrock-serving:{serving.arn}")
        return serving

    def _bring_up(self, serving: Serving) -> None:
        if self.pace.wait(serving.cancel):
            return
        failure = self.plan.config.provisioning_failure
        with self._lock:
            if serving.arn not in self.serving:
                return
            serving.modified = iso_now()
            if failure:
                serving.status, serving.failure = "Failed", failure
                return
            serving.status = "Active" if serving.deployment else "InService"
            self.table.register(serving.arn, serving.model.model)

    def _find_serving(self, identifier: str, deployment: bool) -> Serving:
        for serving in list(self.serving.values()):
            if serving.deployment == deployment and identifier in (serving.arn, serving.name):
                return serving
        what = "Custom model deployment" if deployment else "Provisioned model"
        raise ApiError("ResourceNotFoundException", f"{what} {identifier} not found.")

    def _list_throughputs(self, _ids: list[str], query: dict[str, list[str]], _r: bytes) -> Reply:
        items = self._listed(query, deployment=False)
        page, token = paginate(items, query, lambda s: s.created)
        out: dict[str, Any] = {"provisionedModelSummaries": [s.summary() for s in page]}
        if token:
            out["nextToken"] = token
        return json_reply(200, out)

    def _list_deployments(self, _ids: list[str], query: dict[str, list[str]], _r: bytes) -> Reply:
        items = self._listed(query, deployment=True)
        page, token = paginate(items, query, lambda s: s.created)
        out: dict[str, Any] = {"modelDeploymentSummaries": [s.summary() for s in page]}
        if token:
            out["nextToken"] = token
        return json_reply(200, out)

    def _listed(self, query: dict[str, list[str]], deployment: bool) -> list[Serving]:
        with self._lock:
            items = [s for s in self.serving.values() if s.deployment == deployment]
        status, name = query_value(query, "statusEquals"), query_value(query, "nameContains")
        items = [s for s in items if not status or s.status == status]
        return [s for s in items if not name or name in s.name]

    def get_serving(self, identifier: str, deployment: bool) -> Reply:
        with self._lock:
            return json_reply(200, self._find_serving(identifier, deployment).describe())

    def delete_serving(self, identifier: str, deployment: bool) -> Reply:
        with self._lock:
            serving = self._find_serving(identifier, deployment)
            del self.serving[serving.arn]
            serving.cancel.set()
            self.table.unregister(serving.arn)
        return json_reply(200, {})
