"""Deployments registry: which tuned models exist and exactly how each must be called.

Validated once at start-up; a bad file raises ConfigurationError naming the deployment and field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from chalicelib.errors import ConfigurationError, NotFound
from chalicelib.formats import FORMATS


def request_formats(provider: str) -> tuple[str, ...]:
    """The `request_format`s a provider takes: those `formats.FORMATS` has a family for, so a new
    family is its module and its entry there, nothing here."""
    return tuple(name for (owner, name) in FORMATS if owner == provider)


BEDROCK_FORMATS = request_formats("bedrock")
OPENAI_FORMATS = request_formats("openai")
_BEDROCK_MODEL_ID = re.compile(
    r"^(arn:aws(-[a-z]+)*:bedrock:[a-z0-9-]+:\d{12}:"
    r"(provisioned-model|custom-model-deployment|custom-model|foundation-model|inference-profile|"
    r"application-inference-profile|imported-model)/\S+"
    r"|[a-z0-9-]+\.[A-Za-z0-9.:_-]+)$"
)
MAX_TOKENS_CEILING = 8192
#: A deployment name (without anchors): also the model part of a feedback token.
DEPLOYMENT_NAME = r"[a-z0-9][a-z0-9._-]{0,63}"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PromptSpec(_Strict):
    system: str | None = None
    template: str = "{input}"
    separator: str = ""

    @model_validator(mode="after")
    def _template_has_input(self) -> PromptSpec:
        if "{input}" not in self.template:
            raise ValueError("template must contain {input}")
        return self


StopSequences = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=100)]], Field(max_length=8)
]


class InferenceSpec(_Strict):
    max_tokens: int = Field(default=256, ge=1, le=MAX_TOKENS_CEILING)
    temperature: float = Field(default=0.0, ge=0.0, le=1.0)
    top_p: float = Field(default=1.0, ge=0.0, le=1.0)
    stop: StopSequences = Field(default_factory=list)


class OutputSpec(_Strict):
    type: Literal["text", "label", "number"] = "text"
    labels: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    values: dict[str, float] = Field(default_factory=dict)
    range: tuple[float, float] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> OutputSpec:
        if self.type == "label" and not self.labels:
            raise ValueError("a label output needs a non-empty 'labels' list")
        if self.type != "label" and (self.labels or self.values):
            raise ValueError("'labels' and 'values' only apply to type 'label'")
        unknown = sorted(set(self.values) - set(self.labels))
        if unknown:
            raise ValueError(f"'values' names labels not in 'labels': {unknown}")
        if self.range is not None and (self.type != "number" or self.range[0] > self.range[1]):
            raise ValueError("'range' must be [lo, hi] with lo <= hi on a number output")
        return self


class PricingSpec(_Strict):
    model_unit_hour_usd: float = Field(default=0.0, ge=0)
    model_units: int = Field(default=1, ge=1)
    input_per_1k_tokens_usd: float = Field(default=0.0, ge=0)
    output_per_1k_tokens_usd: float = Field(default=0.0, ge=0)


class Deployment(_Strict):
    name: str = Field(pattern=rf"^{DEPLOYMENT_NAME}$")
    provider: Literal["bedrock", "openai"]
    model_id: str = Field(min_length=1, max_length=2048)
    request_format: str
    prompt: PromptSpec = Field(default_factory=PromptSpec)
    inference: InferenceSpec = Field(default_factory=InferenceSpec)
    output: OutputSpec = Field(default_factory=OutputSpec)
    store_inputs: bool = False
    pricing: PricingSpec = Field(default_factory=PricingSpec)
    # openai provider only
    base_url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]*$")
    api_key_secret_arn: str | None = Field(
        default=None, pattern=r"^arn:aws(-[a-z]+)*:secretsmanager:\S+$"
    )

    @field_validator("request_format")
    @classmethod
    def _known_format(cls, value: str, info: ValidationInfo) -> str:
        formats = BEDROCK_FORMATS if info.data.get("provider") == "bedrock" else OPENAI_FORMATS
        if value not in formats:
            raise ValueError(f"must be one of {formats} for this provider")
        return value

    @field_validator("model_id")
    @classmethod
    def _bedrock_model_id(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("provider") == "bedrock" and not _BEDROCK_MODEL_ID.match(value):
            raise ValueError("must be a Bedrock ARN or model id")
        return value

    @model_validator(mode="after")
    def _provider_fields(self) -> Deployment:
        if self.provider == "bedrock":
            if self.base_url or self.api_key_env or self.api_key_secret_arn:
                raise ValueError("base_url and API-key fields only apply to the openai provider")
        elif not self.base_url:
            raise ValueError("the openai provider needs base_url")
        return self


class Registry(_Strict):
    deployments: list[Deployment]

    @model_validator(mode="after")
    def _unique_names(self) -> Registry:
        seen: set[str] = set()
        for deployment in self.deployments:
            if deployment.name in seen:
                raise ValueError(f"deployment name {deployment.name!r} is used twice")
            seen.add(deployment.name)
        return self

    def get(self, name: str) -> Deployment:
        return self.select([name], field=None)[0]

    def select(self, names: Sequence[str], field: str | None = "models") -> list[Deployment]:
        """The named deployments in order: the one lookup of deployments by name (routes, jobs,
        CLI). NotFound names the first unknown one and, given `field`, its place
        (`{field}.{index}`) in `details`."""
        known = {deployment.name: deployment for deployment in self.deployments}
        for i, name in enumerate(names):
            if name not in known:
                where = (
                    None
                    if field is None
                    else [{"field": f"{field}.{i}", "reason": f"unknown model {name!r}"}]
                )
                raise NotFound(f"No deployment named {name!r}.", details=where)
        return [known[name] for name in names]


def load_registry(path: str | Path) -> Registry:
    """Read and validate the registry file; errors name the deployment and the field."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigurationError(f"MODELS_FILE {path} does not exist") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"MODELS_FILE {path} is not valid JSON: {exc}") from exc
    try:
        return Registry.model_validate(raw)
    except ValidationError as exc:
        raise ConfigurationError(_describe(path, raw, exc)) from exc


def _describe(path: Path, raw: object, exc: ValidationError) -> str:
    lines = [f"MODELS_FILE {path} is invalid:"]
    for err in exc.errors():
        loc = list(err["loc"])
        where = ".".join(str(part) for part in loc) or "(root)"
        if len(loc) >= 2 and loc[0] == "deployments" and isinstance(loc[1], int):
            name = _deployment_name(raw, loc[1])
            field = ".".join(str(part) for part in loc[2:]) or "(deployment)"
            where = f"deployment {name!r} field {field}"
        lines.append(f"  - {where}: {err['msg']}")
    return "\n".join(lines)


def _deployment_name(raw: object, index: int) -> str:
    try:
        name = raw["deployments"][index].get("name")  # type: ignore[index]
    except (TypeError, IndexError, KeyError, AttributeError):
        name = None
    return str(name) if name else f"#{index}"
