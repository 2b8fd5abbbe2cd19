"""The process-wide wiring: settings, registry and stores, built once at start.

`registry` is the registry file (MODELS_FILE): the seed `bootstrap` loads as version 1 of each
name, and what health and IAM derive from. Serving resolves names through `deployments`, the
per-process cache of the versioned registry (chalicelib/deployments/cache.py).

Loading happens at import so a bad registry or configuration stops the app before it serves;
no network I/O happens here (clients are created on first use).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from chalicelib.auth.keys import feedback_token_secret
from chalicelib.config.registry import Registry, load_registry
from chalicelib.config.settings import Settings, get_settings
from chalicelib.deployments.cache import RegistryCache
from chalicelib.providers.retries import invoke_policy
from chalicelib.serving.invoke import InvocationContext
from chalicelib.serving.shadow import QueueShadowSink
from chalicelib.storage.feedback import DynamoFeedbackStore, FeedbackStore
from chalicelib.storage.invocations import DynamoInvocationStore, InvocationStore
from chalicelib.storage.registry import DynamoRegistryStore, RegistryStore


@dataclass
class Runtime:
    settings: Settings
    registry: Registry
    invocations: InvocationStore
    feedback: FeedbackStore
    registry_store: RegistryStore
    deployments: RegistryCache

    @cached_property
    def token_secret(self) -> bytes:
        return feedback_token_secret(self.settings)

    @cached_property
    def invocation_context(self) -> InvocationContext:
        return InvocationContext(
            store=self.invocations,
            token_secret=self.token_secret,
            token_ttl_seconds=self.settings.feedback_token_ttl_seconds,
            max_input_chars=self.settings.max_input_chars,
            record_ttl_days=self.settings.invocation_ttl_days,
            retry=invoke_policy(self.settings.model_max_attempts),
            log_payloads=self.settings.log_payloads,
            shadow=QueueShadowSink(self.settings.evaluation_queue),
        )


_runtime: Runtime | None = None


def get_runtime() -> Runtime:
    """The process's runtime, built on first use (app.py calls it at import, so a bad
    configuration stops the app at start)."""
    global _runtime
    if _runtime is None:
        _runtime = build_runtime()
    return _runtime


def build_runtime(settings: Settings | None = None) -> Runtime:
    settings = settings or get_settings()
    registry_store = DynamoRegistryStore(settings.registry_table)
    return Runtime(
        settings=settings,
        registry=load_registry(settings.models_file),
        invocations=DynamoInvocationStore(settings.invocations_table),
        feedback=DynamoFeedbackStore(settings.feedback_table),
        registry_store=registry_store,
        deployments=RegistryCache(registry_store, settings.registry_cache_seconds),
    )
