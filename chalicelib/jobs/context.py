"""What every job step works with (records, objects, queue, registry, tuning), built once per
process from the runtime; nothing touches the network until first used."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chalicelib.config.registry import Deployment
from chalicelib.config.settings import JobSettings, get_settings
from chalicelib.deployments.cache import RegistryCache
from chalicelib.jobs.objects import JobObjects
from chalicelib.jobs.queue import JobQueue
from chalicelib.storage.jobs import ChunkAnswerCache, DynamoJobStore, JobStore


@dataclass
class JobContext:
    store: JobStore
    objects: JobObjects
    queue: JobQueue
    registry: RegistryCache
    settings: JobSettings

    def deployments(
        self, names: Sequence[str], versions: dict[str, int] | None = None
    ) -> list[Deployment]:
        """The named deployments in order, each named as given (`name` or `name@N`), `versions`
        pinning what each name resolved to at submission; NotFound names the first unknown one
        and its field."""
        return self.registry.view().select(names, versions=versions)

    def versions(self, names: Sequence[str]) -> dict[str, int]:
        """Each name's version now (`name@N` is N, a bare alias its champion)."""
        return self.registry.view().pinned(names)

    def dataset_prefixes(self) -> tuple[str, ...]:
        """Where a job's `dataset.s3_uri` may point (EVALUATION_DATASET_PREFIXES, by default
        the results bucket's `datasets/`)."""
        return self.settings.dataset_prefixes or (f"s3://{self.objects.bucket}/datasets/",)

    def cache(self, evaluation_id: str) -> ChunkAnswerCache:
        return self.store.answer_cache(evaluation_id, self.settings.cache_ttl_days * 86400)


_context: JobContext | None = None


def get_job_context() -> JobContext:
    global _context
    if _context is None:
        from chalicelib.runtime import get_runtime

        runtime = get_runtime()
        settings = runtime.settings
        _context = JobContext(
            store=DynamoJobStore(settings.evaluations_table),
            objects=JobObjects(settings.results_bucket),
            queue=JobQueue(settings.evaluation_queue),
            registry=runtime.deployments,
            settings=get_settings().jobs,
        )
    return _context


def reset_job_context() -> None:
    """Forget the cached context (tests that change EVALUATION_* settings between cases)."""
    global _context
    _context = None
    get_settings.cache_clear()
