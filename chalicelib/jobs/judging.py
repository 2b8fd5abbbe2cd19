"""A job's judge: the request's `judge` checked at submission, and rebuilt from the job record by
every chunk and the finaliser (the registry read at that time, as for the models)."""

from __future__ import annotations

from collections.abc import Sequence

from chalicelib.config.registry import Deployment
from chalicelib.evaluation.judge import JudgePlan, JudgeSpec, resolve_judge, stored_spec
from chalicelib.jobs.context import JobContext
from chalicelib.jobs.models import JobRecord


def check_judge(
    ctx: JobContext, spec: JudgeSpec | None, models: Sequence[Deployment]
) -> JudgePlan | None:
    """InvalidRequest (naming the `judge.*` field) before anything is stored or called."""
    if spec is None:
        return None
    return resolve_judge(spec, lambda name: ctx.deployments([name])[0], models)


def job_judge(ctx: JobContext, job: JobRecord, models: Sequence[Deployment]) -> JudgePlan | None:
    if job.judge is None:
        return None
    return check_judge(ctx, stored_spec(job.judge), models)
