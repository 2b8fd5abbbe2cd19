"""Promotion (CONTRACT section 7): route 100% to a version when an evaluation shows it is not
worse than the champion (deployments/gate.py), or when an admin forces it with a reason. Either
way the change goes through the same conditional routing change as `PUT routing` (a history
entry naming the evaluation or the reason, and the caller).

And `compare`: an alias's versions in production over a time window (deployments/compare.py over
the invocation and feedback stores).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from chalicelib.deployments.cache import RegistryCache
from chalicelib.deployments.compare import WindowComparison
from chalicelib.deployments.gate import promotion_gate
from chalicelib.deployments.models import PromoteRequest
from chalicelib.deployments.routing import champion
from chalicelib.deployments.service import alias_view
from chalicelib.errors import InvalidRequest, InvalidState, NotFound, PromotionRejected
from chalicelib.evaluation.results import EvaluationResults, RunMeta
from chalicelib.observability import logger
from chalicelib.storage.codec import now_iso
from chalicelib.storage.feedback import FeedbackStore
from chalicelib.storage.invocations import InvocationStore
from chalicelib.storage.registry import RegistryStore

if TYPE_CHECKING:
    from chalicelib.auth.scopes import KeyEntry
    from chalicelib.jobs.context import JobContext

#: An evaluation's statuses that a promotion may rest on.
FINISHED = frozenset({"succeeded", "completed_with_errors"})


@dataclass(frozen=True)
class Evidence:
    """What the gate needs of an evaluation: its status, the version each model name ran
    (recorded at submission), and its results once finished."""

    status: str
    versions: dict[str, int]
    results: EvaluationResults | None


EvidenceLoader = Callable[[str], Evidence]


def job_evidence(ctx: JobContext, evaluation_id: str, caller: KeyEntry) -> Evidence:
    """The evaluation job `evaluation_id` as the gate reads it (404 when unknown)."""
    from chalicelib.jobs import service as jobs

    job = jobs.get_job(ctx, evaluation_id, caller)
    results = None
    if job.status in FINISHED:
        results = results_from_document(jobs.results_document(ctx, job, lm_eval=False))
    return Evidence(job.status, dict(job.versions or {}), results)


def results_from_document(document: dict[str, Any]) -> EvaluationResults:
    """results.json read back (a job's own meta fields are not needed by the gate)."""
    known = {f.name for f in fields(RunMeta)} - {"job"}
    meta = RunMeta(**{k: v for k, v in document["meta"].items() if k in known})
    return EvaluationResults(
        results=document["results"],
        comparison=document["comparison"],
        samples=document.get("samples") or [],
        meta=meta,
    )


def promote(
    store: RegistryStore,
    cache: RegistryCache | None,
    name: str,
    request: PromoteRequest,
    evidence: EvidenceLoader,
    caller: str | None = None,
    max_drop: float = 0.0,
) -> dict[str, Any]:
    """Route `name` 100% to `request.version` (shadow versions kept, the promoted one left
    out). 404 for an unknown alias or version, 400 for a retired one, 409 invalid_state when
    it is already the champion or the evaluation has not finished, 409 promotion_rejected
    (details: the gate's decision and comparison) when the gate fails."""
    alias = store.get_alias(name)
    if alias is None:
        raise NotFound(f"No deployment named {name!r}.")
    version = request.version
    record = store.get_version(name, version)
    where = [{"field": "version", "reason": ""}]
    if record is None:
        where[0]["reason"] = "unknown version"
        raise NotFound(f"Deployment {name!r} has no version {version}.", details=where)
    if record.status != "active":
        where[0]["reason"] = f"version {version} is retired"
        raise InvalidRequest(f"Version {version} of {name!r} is retired.", details=where)
    current = champion(alias.routes)
    if version == current:
        raise InvalidState(f"Version {version} is already the champion of {name!r}.")
    if request.force_reason is not None:
        reason = f"promote {version} (forced): {request.force_reason}"
    else:
        _gate(name, request.evaluation_id, evidence, version, current, record.spec, max_drop)
        reason = f"promote {version}: evaluation {request.evaluation_id}"
    routing = {
        "routes": [{"version": version, "weight": 100}],
        "shadow": [v for v in alias.shadow if v != version],
    }
    changed = store.set_routing(name, routing, alias.revision, reason, caller, now_iso())
    logger.info(
        "deployment promoted",
        extra={"model": name, "version": version, "revision": changed.revision, "reason": reason},
    )
    if cache is not None:
        cache.invalidate()
    return alias_view(changed)


def _gate(
    name: str,
    evaluation_id: str | None,
    evidence: EvidenceLoader,
    candidate: int,
    current: int,
    spec: dict[str, Any],
    max_drop: float,
) -> None:
    found = Evidence("missing", {}, None) if evaluation_id is None else evidence(evaluation_id)
    if evaluation_id is not None and found.status not in FINISHED:
        raise InvalidState(
            f"Evaluation {evaluation_id!r} is {found.status}; a promotion needs a finished one.",
            details=[{"field": "evaluation_id", "reason": found.status}],
        )
    output = (spec.get("output") or {}).get("type", "text")
    decision = promotion_gate(
        found.results,
        versions=found.versions,
        candidate=candidate,
        champion=current,
        output=output,
        max_drop=max_drop,
    )
    if not decision.passed:
        raise PromotionRejected(
            f"Version {candidate} of {name!r} did not pass the promotion gate: "
            + "; ".join(decision.reasons)
            + ".",
            details=[{"evaluation_id": evaluation_id, **decision.details()}],
        )
    logger.info(
        "promotion gate passed",
        extra={"model": name, "version": candidate, "reasons": decision.reasons},
    )


def compare(
    registry: RegistryStore,
    invocations: InvocationStore,
    feedback: FeedbackStore,
    name: str,
    start: str | None,
    end: str | None,
) -> dict[str, Any]:
    """Each version of `name` served (and shadowed) within [start, end], against the champion."""
    alias = registry.get_alias(name)
    if alias is None:
        raise NotFound(f"No deployment named {name!r}.")
    if start and end and start > end:
        raise InvalidRequest(
            "'from' is after 'to'.", details=[{"field": "from", "reason": "must be <= to"}]
        )
    window = WindowComparison()
    window.add_feedbacks(feedback.for_model(name, start, end))
    window.add_invocations(invocations.for_model(name, start, end))
    window.finish(lookup=invocations.get_many)
    return {"name": name, "from": start, "to": end, **window.result(champion(alias.routes))}
