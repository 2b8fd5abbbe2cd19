"""Runtime settings parsed once from the environment; a missing or bad variable fails at start."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from chalicelib.auth.scopes import parse_key_entry
from chalicelib.config.stages import PROJECT_DIR
from chalicelib.errors import ConfigurationError


def split_key_hashes(text: str) -> list[str]:
    """The comma-separated API key entries (`HASH` or `HASH:scope+scope`, see
    chalicelib/auth/scopes.py) of API_KEY_HASHES or its SSM parameter, in order."""
    return [part.strip().lower() for part in text.split(",") if part.strip()]


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
    #: SQS queue name (not URL) of evaluation chunks; its dead-letter queue is `<name>-dlq`.
    evaluation_queue: str = "tunegate-local-evaluation-chunks"
    results_bucket: str = "tunegate-local-results"
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


_ENV_FIELDS = {name.upper(): name for name in Settings.model_fields}


def settings_from_env(environ: dict[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    values = {field: env[var] for var, field in _ENV_FIELDS.items() if var in env}
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{str(err['loc'][0]).upper() if err['loc'] else 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigurationError(f"bad configuration: {problems}") from exc


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return settings_from_env()
