"""Base-model families for fine-tuning: hyperparameter names, ranges and defaults, data limits,
whether a tuned model may be tuned again, each row with the page it was read from and when.

Numbers the stored documentation does not give are None and say so in the row's `note`: a
guessed range would refuse good jobs or pass bad ones with false authority.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from chalicelib.dataprep import rules
from chalicelib.errors import InvalidRequest

Provider = Literal["bedrock", "openai"]
#: "bedrock": {"system"?, "messages": [...]}; "openai": {"prompt", "completion"} with OpenAI's
#: legacy rules (separator, leading space); "prompt_completion": Bedrock's non-conversational
#: {"prompt", "completion"}; "openai_chat" and "nova": message shapes dataprep does not check
#: record by record (only parsed and counted).
DataFormat = Literal["bedrock", "openai", "prompt_completion", "openai_chat", "nova"]
Value = int | float | str
AUTO = "auto"


@dataclass(frozen=True)
class Hyperparameter:
    name: str
    type: Literal["int", "float"]
    minimum: float | None  # None: the documentation gives no bound
    maximum: float | None
    default: Value | None  # None: must be given; AUTO: the provider decides
    exclusive_minimum: bool = False  # "> minimum", as OpenAI's "positive" multiplier

    def allowed(self) -> str:
        """The allowed range in words, as `details` and the CLI show it."""
        low = (
            ""
            if self.minimum is None
            else f"{'>' if self.exclusive_minimum else '>='} {self.minimum:g}"
        )
        high = "" if self.maximum is None else f"<= {self.maximum:g}"
        span = (
            f"{self.minimum:g}-{self.maximum:g}"
            if self.minimum is not None and self.maximum is not None and not self.exclusive_minimum
            else " and ".join(part for part in (low, high) if part) or "any"
        )
        kind = "an integer" if self.type == "int" else "a number"
        auto = f" or {AUTO!r}" if self.default == AUTO else ""
        return f"{kind} {span}{auto}"


@dataclass(frozen=True)
class DataLimits:
    format: DataFormat
    min_records: int | None
    max_records: int | None
    max_validation_records: int | None
    max_record_tokens: int | None  # estimated tokens (dataprep/tokens.py) per record


@dataclass(frozen=True)
class Family:
    name: str
    provider: Provider
    base_models: tuple[str, ...]  # ids as the provider names them; a prefix match counts
    hyperparameters: tuple[Hyperparameter, ...]
    limits: DataLimits
    incremental: bool | None  # may a model tuned from this family be tuned again (None: unstated)
    source: str
    checked: str  # ISO date the source was read
    note: str = ""
    names: Mapping[str, Hyperparameter] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", {h.name: h for h in self.hyperparameters})

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "provider": self.provider,
            "base_models": list(self.base_models),
            "hyperparameters": [
                {
                    "name": h.name,
                    "type": h.type,
                    "minimum": h.minimum,
                    "maximum": h.maximum,
                    "default": h.default,
                    "allowed": h.allowed(),
                }
                for h in self.hyperparameters
            ],
            "limits": vars(self.limits).copy(),
            "incremental": self.incremental,
            "source": self.source,
            "checked": self.checked,
            "note": self.note,
        }


_BEDROCK_HP = "https://docs.aws.amazon.com/bedrock/latest/userguide/"
_UNSTATED_LIMITS = (
    "record counts and lengths are not in the stored documentation (Bedrock lists them under "
    "'Sum of training and validation records' quotas); only the format is checked"
)

FAMILIES: tuple[Family, ...] = (
    Family(
        name="claude-3-haiku",
        provider="bedrock",
        base_models=("anthropic.claude-3-haiku-20240307-v1:0",),
        hyperparameters=(
            Hyperparameter("epochCount", "int", 1, 10, 2),
            Hyperparameter("batchSize", "int", 4, 256, 32),
            Hyperparameter("learningRateMultiplier", "float", 0.1, 2, 1),
            Hyperparameter("earlyStoppingThreshold", "float", 0, 0.1, 0.001),
            Hyperparameter("earlyStoppingPatience", "int", 1, 10, 2),
        ),
        limits=DataLimits(
            "bedrock",
            rules.BEDROCK_RECORD_LIMITS["training"][0],
            rules.BEDROCK_RECORD_LIMITS["training"][1],
            rules.BEDROCK_RECORD_LIMITS["validation"][1],
            rules.BEDROCK_MAX_RECORD_TOKENS,
        ),
        incremental=None,
        source=_BEDROCK_HP + "cm-hp-anth-claude-3.html",
        checked="2026-12-02",
        note="data limits: dataprep/rules.py (Bedrock user guide, 'Prepare the datasets'); "
        "tuning a custom Claude 3 Haiku again is not stated in the stored documentation",
    ),
    Family(
        name="nova",
        provider="bedrock",
        base_models=("amazon.nova-micro-v1:0", "amazon.nova-lite-v1:0", "amazon.nova-pro-v1:0"),
        hyperparameters=(
            Hyperparameter("epochCount", "int", 1, 5, 2),
            Hyperparameter("learningRate", "float", 1e-6, 1e-4, 1e-5),
            Hyperparameter("learningRateWarmupSteps", "int", 0, 100, 10),
        ),
        limits=DataLimits("nova", None, None, None, None),
        incremental=None,
        source=_BEDROCK_HP + "cm-hp-nova-mm.html",
        checked="2026-12-02",
        note="Nova's own guide (customize-fine-tune-hyperparameters) gives warmup steps 0-20 "
        "where the Bedrock page gives 0-100; the Bedrock page is used. Nova records are "
        "{schemaVersion, system: [{text}], messages: [{role, content: [{text}]}]}, which the "
        "dataprep record check does not read. " + _UNSTATED_LIMITS,
    ),
    Family(
        name="llama-3",
        provider="bedrock",
        base_models=(
            "meta.llama3-1-8b-instruct-v1:0",
            "meta.llama3-1-70b-instruct-v1:0",
            "meta.llama3-2-1b-instruct-v1:0",
            "meta.llama3-2-3b-instruct-v1:0",
            "meta.llama3-2-11b-instruct-v1:0",
            "meta.llama3-2-90b-instruct-v1:0",
        ),
        hyperparameters=(
            Hyperparameter("epochCount", "int", 1, 10, 5),
            Hyperparameter("batchSize", "int", 1, 1, 1),
            Hyperparameter("learningRate", "float", 5e-6, 0.1, 1e-4),
        ),
        limits=DataLimits("prompt_completion", None, None, None, None),
        incremental=None,
        source=_BEDROCK_HP + "cm-hp-meta-llama31.html (and cm-hp-meta-llama32.html)",
        checked="2026-12-02",
        note="Llama 3.1 is listed among Bedrock's non-conversational text models "
        "(prompt/completion records); the epochCount quota is adjustable. " + _UNSTATED_LIMITS,
    ),
    Family(
        name="titan-text",
        provider="bedrock",
        base_models=("amazon.titan-text-lite-v1", "amazon.titan-text-express-v1"),
        hyperparameters=(
            Hyperparameter("epochCount", "int", 1, 10, 5),
            Hyperparameter("batchSize", "int", 1, 64, 1),
            Hyperparameter("learningRate", "float", 0.0, 1, 1e-5),
            Hyperparameter("learningRateWarmupSteps", "int", 0, 250, 5),
        ),
        limits=DataLimits("prompt_completion", None, None, None, None),
        incremental=None,
        source=_BEDROCK_HP + "cm-hp-titan-text.html",
        checked="2026-12-02",
        note="Titan Text Lite/Express; prompt/completion records. " + _UNSTATED_LIMITS,
    ),
    Family(
        name="titan-text-premier",
        provider="bedrock",
        base_models=("amazon.titan-text-premier-v1:0",),
        hyperparameters=(
            Hyperparameter("epochCount", "int", 1, 5, 2),
            Hyperparameter("batchSize", "int", 1, 1, 1),
            Hyperparameter("learningRate", "float", 1e-7, 1e-5, 1e-6),
            Hyperparameter("learningRateWarmupSteps", "int", 0, 20, 5),
        ),
        limits=DataLimits("prompt_completion", None, None, None, None),
        incremental=None,
        source=_BEDROCK_HP + "cm-hp-titan-text.html",
        checked="2026-12-02",
        note=_UNSTATED_LIMITS,
    ),
    Family(
        name="openai-completion",
        provider="openai",
        base_models=("babbage-002", "davinci-002"),
        hyperparameters=(
            Hyperparameter("n_epochs", "int", 1, 50, AUTO),
            Hyperparameter("batch_size", "int", 1, None, AUTO),
            Hyperparameter("learning_rate_multiplier", "float", 0, None, AUTO, True),
        ),
        limits=DataLimits("openai", 10, None, None, rules.OPENAI_MAX_RECORD_TOKENS),
        incremental=True,
        source="https://platform.openai.com/docs/guides/fine-tuning; "
        "https://platform.openai.com/docs/api-reference/fine-tuning/create",
        checked="2026-12-02",
        note="n_epochs 1-50 from the API reference; the stored material gives no upper bound "
        "for batch_size or learning_rate_multiplier (only positive); 10 examples minimum "
        "from the guide; 2,048 tokens a record from dataprep/rules.py",
    ),
    Family(
        name="openai-chat",
        provider="openai",
        base_models=(
            "gpt-4o-mini-2024-07-18",
            "gpt-4o-2024-08-06",
            "gpt-4-0613",
            "gpt-3.5-turbo-0125",
            "gpt-3.5-turbo-1106",
            "gpt-3.5-turbo-0613",
        ),
        hyperparameters=(
            Hyperparameter("n_epochs", "int", 1, 50, AUTO),
            Hyperparameter("batch_size", "int", 1, None, AUTO),
            Hyperparameter("learning_rate_multiplier", "float", 0, None, AUTO, True),
        ),
        limits=DataLimits("openai_chat", 10, None, None, None),
        incremental=True,
        source="https://platform.openai.com/docs/guides/fine-tuning",
        checked="2026-12-02",
        note="'You can also fine-tune a fine-tuned model' (the guide); chat-format records, "
        "whose per-record check is not in dataprep; token limit per record not in the "
        "stored material",
    ),
)

_BY_NAME = {family.name: family for family in FAMILIES}


def base_model_id(model: str) -> str:
    """The base model id a model name or ARN derives from.

    Bedrock foundation-model ARNs end in the id; custom-model ARNs embed the base id before
    the job's suffix (`custom-model/<base id>/<suffix>`); OpenAI fine-tunes are
    `ft:<base>:<org>:<suffix>:<id>`.
    """
    if model.startswith("ft:"):
        return model.split(":")[1]
    if model.startswith("arn:"):
        resource = model.split(":", 5)[-1]
        kind, _, rest = resource.partition("/")
        if kind == "custom-model" and "/" in rest:
            return rest.rsplit("/", 1)[0]
        return rest
    return model


def is_tuned(model: str) -> bool:
    """A custom / fine-tuned model rather than a provider's base model."""
    return model.startswith("ft:") or ":custom-model/" in model


def family_for(model: str) -> Family:
    """The family of a family name, base model id, ARN or fine-tuned model; 400 if unknown."""
    if model in _BY_NAME:
        return _BY_NAME[model]
    base = base_model_id(model)
    for family in FAMILIES:
        if any(base == known or base.startswith(known) for known in family.base_models):
            return family
    known = sorted(m for family in FAMILIES for m in family.base_models)
    raise InvalidRequest(
        f"No tuning family is known for base model {model!r}.",
        details=[
            {
                "field": "base_model",
                "reason": f"unknown base model {base!r}; known: {', '.join(known)}",
            }
        ],
    )


def check_incremental(model: str) -> Family:
    """The family of `model`, refusing a tuned model whose family cannot be tuned again."""
    family = family_for(model)
    if is_tuned(model) and family.incremental is False:
        raise InvalidRequest(
            f"{family.name} models cannot be tuned again.",
            details=[{"field": "base_model", "reason": "incremental tuning is not allowed"}],
        )
    return family


@dataclass(frozen=True)
class Hyperparameters:
    """Checked values with every default filled in; `defaulted` names those not given."""

    family: str
    values: dict[str, Value]
    defaulted: frozenset[str]

    def as_json(self) -> dict[str, Any]:
        return {
            name: {"value": value, "default": name in self.defaulted}
            for name, value in self.values.items()
        }

    def as_provider(self) -> dict[str, str]:
        """Bedrock's `hyperParameters` map: every value as a string."""
        return {
            name: f"{value:g}" if isinstance(value, float) else str(value)
            for name, value in self.values.items()
        }


def _problem(spec: Hyperparameter, value: object) -> str | None:
    if spec.default == AUTO and value == AUTO:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"must be {spec.allowed()}, found {type(value).__name__}"
    if spec.type == "int" and not float(value).is_integer():
        return f"must be {spec.allowed()}, found {value!r}"
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")):
        return f"must be {spec.allowed()}, found {value!r}"
    low, high = spec.minimum, spec.maximum
    if low is not None and (number <= low if spec.exclusive_minimum else number < low):
        return f"must be {spec.allowed()}, found {value!r}"
    if high is not None and number > high:
        return f"must be {spec.allowed()}, found {value!r}"
    return None


def check_hyperparameters(
    family_or_base_model: str | Family, given: Mapping[str, Any]
) -> Hyperparameters:
    """`given` checked against the family's documented names and ranges, defaults filled in.

    Every problem is reported at once (`details`: one entry per bad or unknown field with its
    allowed range) so a user fixes the request in one go.
    """
    family = (
        family_or_base_model
        if isinstance(family_or_base_model, Family)
        else family_for(family_or_base_model)
    )
    details = [
        {
            "field": f"hyperparameters.{name}",
            "reason": f"unknown for {family.name}; allowed: {', '.join(family.names)}",
        }
        for name in given
        if name not in family.names
    ]
    values: dict[str, Value] = {}
    defaulted: set[str] = set()
    for spec in family.hyperparameters:
        if spec.name not in given or given[spec.name] is None:
            if spec.default is not None:
                values[spec.name] = spec.default
                defaulted.add(spec.name)
            continue
        value = given[spec.name]
        if problem := _problem(spec, value):
            details.append({"field": f"hyperparameters.{spec.name}", "reason": problem})
            continue
        values[spec.name] = (
            value if value == AUTO else (int(value) if spec.type == "int" else float(value))
        )
    if details:
        raise InvalidRequest(
            f"Hyperparameters do not fit {family.name} (source: {family.source}).",
            details=details,
        )
    return Hyperparameters(family.name, values, frozenset(defaulted))
