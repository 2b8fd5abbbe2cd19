"""The process-wide wiring: settings, registry and stores, built once at start.

Loading happens at import so a bad registry or configuration stops the app before it serves;
no network I/O happens here (clients are created on first use).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from chalicelib.auth.keys import feedback_token_secret
from chalicelib.config.registry import Registry, load_registry
from chalicelib.config.settings import Settings, get_settings
from chalicelib.providers.retries import invoke_policy
from chalicelib.serving.invoke import InvocationContext
from chalicelib.storage.feedback import DynamoFeedbackStore, FeedbackStore
from chalicelib.storage.invocations import DynamoInvocationStore, InvocationStore


@dataclass
class Runtime:
    settings: Settings
    registry: Registry
    invocations: InvocationStore
    feedback: FeedbackStore

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
    return Runtime(
        settings=settings,
        registry=load_registry(settings.models_file),
        invocations=DynamoInvocationStore(settings.invocations_table),
        feedback=DynamoFeedbackStore(settings.feedback_table),
    )
