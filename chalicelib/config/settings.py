"""The one settings model of the app, the evaluation worker and the CLI, parsed from an
environment mapping; a missing or bad variable fails at start with its name.

Each process builds its settings once: the app and the deployed worker from the process
environment (`get_settings`), the CLI and the local worker from their stage's variables under
the process environment (`chalicelib.config.stages.stage_process_environment`), installed
with `install_settings`. The evaluation-job tuning (`EVALUATION_*`) is the nested `jobs` part.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from chalicelib.auth.scopes import parse_key_entry
from chalicelib.config.stages import PROJECT_DIR
from chalicelib.errors import ConfigurationError


def split_key_hashes(text: str) -> list[str]:
    """The comma-separated API key entries (`HASH` or `HASH:scope+scope`, see
    chalicelib/auth/scopes.py) of API_KEY_HASHES or its SSM parameter, in order."""
    return [part.strip().lower() for part in text.split(",") if part.strip()]


#: SQS receives before a message goes to the dead-letter queue (bootstrap and template: 5).
MAX_RECEIVES = 5
#: A failed message comes back after this many seconds, doubling per delivery.
RETRY_DELAY_SECONDS = 10
#: The worker's Lambda timeout: a finaliser's claim older than this belongs to a dead worker.
WORKER_TIMEOUT_SECONDS = 900


class JobSettings(BaseModel):
    """Evaluation-job tuning (`EVALUATION_<FIELD>`). The per-job cap on concurrent model calls
    is `chunks_in_flight` x `chunk_concurrency`: only that many chunks of one job are queued or
    running at a time, each with that many calls in flight."""

    chunk_size: int = Field(default=100, ge=1, le=1000)
    chunks_in_flight: int = Field(default=4, ge=1, le=100)
    chunk_concurrency: int = Field(default=8, ge=1, le=50)
    #: Inline datasets (up to 1000 records) need more room than other bodies.
    max_body_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, le=6 * 1024 * 1024)
    #: Answer-cache records only serve resumption; they expire after this many days.
    cache_ttl_days: int = Field(default=7, ge=1)
    #: A job's objects (inline dataset, chunks, outputs) expire this many days after they are
    #: written: the results bucket's lifecycle rule (bootstrap; the template's
    #: EvaluationRetentionDays parameter, same default, for deployed stages).
    retention_days: int = Field(default=90, ge=1, le=36500)
    #: Where `dataset.s3_uri` may point (comma-separated s3:// prefixes). Empty: the results
    #: bucket's `datasets/` folder. Without it a job could read any object the worker can,
    #: other jobs' results included.
    dataset_prefixes: tuple[str, ...] = ()

    @field_validator("dataset_prefixes", mode="before")
    @classmethod
    def _split_prefixes(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("dataset_prefixes")
    @classmethod
    def _s3_prefixes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        prefixes = []
        for prefix in value:
            bucket, slash, _ = prefix.removeprefix("s3://").partition("/")
            if not prefix.startswith("s3://") or not bucket:
                raise ValueError(f"{prefix!r} is not an s3://bucket/prefix")
            prefixes.append(prefix if slash else prefix + "/")  # a bare bucket: all of it
        return tuple(prefixes)

    #: The queue's visibility timeout when `bootstrap` creates it: at least the worker's Lambda
    #: timeout on AWS (deployed stages get theirs from infra/resources.json); the local stage
    #: sets a short one, so a killed worker's chunk comes back in seconds, not 15 minutes
    #: (scripts/worker.py extends it while a chunk runs).
    queue_visibility_seconds: int = Field(default=WORKER_TIMEOUT_SECONDS, ge=1, le=43200)

    @property
    def max_concurrent_calls(self) -> int:
        return self.chunks_in_flight * self.chunk_concurrency


class Settings(BaseModel):
    stage: str = "local"
    models_file: Path
    api_key_hashes: frozenset[str] = frozenset()
    api_key_hashes_parameter: str | None = None
    #: Deployed stages: API Gateway also checks keys (Lambda authorizer) and applies the usage
    #: plan per key; see chalicelib/auth/authorizer.py. Its answers are cached this long per key.
    api_key_authorizer: bool = False
    api_key_authorizer_ttl_seconds: int = Field(default=300, ge=0, le=3600)
    feedback_token_secret: str | None = None
    feedback_token_secret_arn: str | None = None
    feedback_token_ttl_seconds: int = Field(default=604800, ge=60)
    invocations_table: str = "tunegate-local-invocations"
    feedback_table: str = "tunegate-local-feedback"
    evaluations_table: str = "tunegate-local-evaluations"
    #: Versions, aliases and routing history (chalicelib/storage/registry.py).
    registry_table: str = "tunegate-local-registry"
    #: How old the process's copy of the registry may get before it is read again (a routing
    #: change reaches every warm Lambda within this bound).
    registry_cache_seconds: float = Field(default=10.0, ge=0, le=3600)
    #: The promotion gate's tolerated drop (accuracy for labels, MAE for numbers; CONTRACT 7).
    promotion_max_drop: float = Field(default=0.0, ge=0, le=1000)
    #: SQS queue name (not URL) of evaluation chunks; its dead-letter queue is `<name>-dlq`.
    evaluation_queue: str = "tunegate-local-evaluation-chunks"
    results_bucket: str = "tunegate-local-results"
    #: Provisioned models (chalicelib/storage/provisioned.py; CONTRACT section 8).
    provisioned_table: str = "tunegate-local-provisioned"
    #: Tuning jobs (CONTRACT section 8; provisioned models have their own table); their data
    #: and outputs live in the results bucket under `tuning/`.
    tuning_table: str = "tunegate-local-tuning"
    #: The customization service role Bedrock assumes to read training data and write outputs
    #: (the template's CustomizationRole); unset: Bedrock tuning answers 503 on this stage.
    tuning_role_arn: str | None = None
    #: The OpenAI-compatible fine-tuning API, and where its key comes from (an environment
    #: variable's name or a Secrets Manager ARN, as OpenAI-compatible deployments do).
    tuning_openai_base_url: str = "https://api.openai.com/v1"
    tuning_openai_api_key_env: str | None = None
    tuning_openai_api_key_secret_arn: str | None = None
    #: Origins allowed to post feedback from a browser (comma-separated; "*" for any).
    cors_allow_origins: frozenset[str] = frozenset()
    max_body_bytes: int = Field(default=262144, ge=1024)
    max_input_chars: int = Field(default=100000, ge=1)
    invocation_ttl_days: int = Field(default=90, ge=1)
    log_payloads: bool = False
    # Model-call budget: attempts x (connect + read) + back-off stays inside API Gateway's 29 s.
    model_connect_timeout_seconds: float = Field(default=2.0, gt=0)
    model_read_timeout_seconds: float = Field(default=6.0, gt=0)
    model_max_attempts: int = Field(default=3, ge=1, le=5)
    #: EVALUATION_* variables.
    jobs: JobSettings = Field(default_factory=JobSettings)

    @field_validator("cors_allow_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(part.strip().rstrip("/") for part in value.split(",") if part.strip())
        return value

    @field_validator("api_key_hashes", mode="before")
    @classmethod
    def _split_hashes(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(split_key_hashes(value))
        return value

    @field_validator("api_key_hashes")
    @classmethod
    def _key_entries(cls, value: frozenset[str]) -> frozenset[str]:
        for entry in value:
            try:
                parse_key_entry(entry)
            except ValueError as exc:
                raise ValueError(
                    f"API_KEY_HASHES must hold hex SHA-256 digests, each optionally followed by "
                    f":scope+scope ({exc})"
                ) from None
        return value

    @model_validator(mode="after")
    def _secrets_configured(self) -> Settings:
        if not (self.api_key_hashes or self.api_key_hashes_parameter):
            raise ValueError("set API_KEY_HASHES or API_KEY_HASHES_PARAMETER")
        if not (self.feedback_token_secret or self.feedback_token_secret_arn):
            raise ValueError("set FEEDBACK_TOKEN_SECRET or FEEDBACK_TOKEN_SECRET_ARN")
        return self

    @field_validator("models_file")
    @classmethod
    def _resolve(cls, value: Path) -> Path:
        return value if value.is_absolute() else PROJECT_DIR / value


#: The nested parts: field -> (variable prefix, model). Other fields: their name in upper case.
_NESTED: dict[str, tuple[str, type[BaseModel]]] = {"jobs": ("EVALUATION_", JobSettings)}


def _variable(loc: tuple[int | str, ...]) -> str:
    """The environment variable behind a validation error's location."""
    if not loc:
        return "settings"
    head = str(loc[0])
    if head in _NESTED and len(loc) > 1:
        return _NESTED[head][0] + str(loc[1]).upper()
    return head.upper()


def settings_from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """The settings named by `environ` (default: the process environment)."""
    env = os.environ if environ is None else environ
    values: dict[str, object] = {
        name: env[name.upper()]
        for name in Settings.model_fields
        if name not in _NESTED and name.upper() in env
    }
    for name, (prefix, model) in _NESTED.items():
        values[name] = {
            field: env[prefix + field.upper()]
            for field in model.model_fields
            if prefix + field.upper() in env
        }
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(f"{_variable(err['loc'])}: {err['msg']}" for err in exc.errors())
        raise ConfigurationError(f"bad configuration: {problems}") from exc


class _ProcessSettings:
    """The process's settings: those installed with `install_settings` (CLI, local worker), else
    parsed once from the process environment (the app and the deployed worker)."""

    def __init__(self) -> None:
        self._settings: Settings | None = None

    def __call__(self) -> Settings:
        if self._settings is None:
            self._settings = settings_from_env()
        return self._settings

    def use(self, settings: Settings) -> None:
        self._settings = settings

    def cache_clear(self) -> None:
        """Forget them: the next call parses the process environment again (tests)."""
        self._settings = None


get_settings = _ProcessSettings()


def install_settings(environ: Mapping[str, str]) -> Settings:
    """Parse `environ` and make the result the process's settings (the CLI and the local worker,
    from `chalicelib.config.stages.stage_process_environment`)."""
    settings = settings_from_env(environ)
    get_settings.use(settings)
    return settings
