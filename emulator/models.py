"""Which model a request names, and what the echo and reference models answer."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from emulator.base_model import BASE_MODEL_ID, base_answer
from emulator.judge_model import judge_answer
from emulator.reference_model import ReferenceClassifier
from emulator.wire import ApiError

REFERENCE_MODEL_ARN = "arn:aws:bedrock:us-east-1:000000000000:provisioned-model/tgdrugreview1"
OPENAI_REFERENCE_MODEL = "ft:tunegate-drugreview"
MAX_TOKENS_LIMIT = 8192

Kind = Literal["reference", "base", "echo", "judge", "trained"]
Finish = Literal["end", "max_tokens", "stop_sequence"]
DEFAULT_MODELS: dict[str, Kind] = {
    REFERENCE_MODEL_ARN: "reference",
    OPENAI_REFERENCE_MODEL: "reference",
    BASE_MODEL_ID: "base",
}
_WORD = re.compile(r"\S+")


def count_words(text: str) -> int:
    """The emulator's token count: whitespace-separated words."""
    return len(_WORD.findall(text))


@dataclass(frozen=True, slots=True)
class ModelRequest:
    """A validated request in family-neutral terms."""

    family: str
    echo_text: str
    classify_text: str
    input_tokens: int
    max_tokens: int
    stop: tuple[str, ...]
    #: Completion-style families get " label", as models tuned on `" label"` completions answer.
    completion_style: bool


@dataclass(frozen=True, slots=True)
class Generation:
    text: str
    finish: Finish
    stop_sequence: str | None
    input_tokens: int
    output_tokens: int


def finish(request: ModelRequest, text: str) -> Generation:
    """Apply stop sequences then the max-tokens cap, as a model generating left to right would."""
    cut, matched = len(text), None
    for sequence in request.stop:
        position = text.find(sequence) if sequence else -1
        if position != -1 and position < cut:
            cut, matched = position, sequence
    text = text[:cut]
    words = list(_WORD.finditer(text))
    if len(words) > request.max_tokens:
        text = text[: words[request.max_tokens - 1].end()]
        return Generation(text, "max_tokens", None, request.input_tokens, request.max_tokens)
    reason: Finish = "stop_sequence" if matched is not None else "end"
    return Generation(text, reason, matched, request.input_tokens, len(words))


class Predictor(Protocol):
    def predict(self, text: str) -> str: ...


class ModelTable:
    """modelId → kind; ids without an entry that contain "echo" are echo models. The control
    planes add "trained" entries (provisioned models, deployments, fine-tuned OpenAI models)
    that answer with the classifier their job trained. Ids containing "judge" answer as the
    local judge."""

    def __init__(self, models: Mapping[str, str] | None, classifier: ReferenceClassifier | None):
        table: dict[str, str] = {**DEFAULT_MODELS, **(models or {})}
        for model_id, kind in table.items():
            if kind not in ("reference", "base", "echo", "judge"):
                raise ValueError(f"model {model_id!r}: kind must be reference, base, echo or judge")
        self.models = table
        self.classifier = classifier
        self._trained: dict[str, Predictor] = {}

    def register(self, model_id: str, model: Predictor) -> None:
        self._trained[model_id] = model
        self.models[model_id] = "trained"

    def unregister(self, model_id: str) -> None:
        self._trained.pop(model_id, None)
        if self.models.get(model_id) == "trained":
            del self.models[model_id]

    def kind(self, model_id: str) -> str:
        kind = self.models.get(model_id)
        if kind is None and "echo" in model_id.lower():
            kind = "echo"
        if kind is None and "judge" in model_id.lower():  # emulator/judge_model.py
            kind = "judge"
        if kind is None:
            raise ApiError(
                "ResourceNotFoundException",
                f"Could not resolve the foundation model from the provided model identifier "
                f"{model_id!r}. Known models: {sorted(self.models)} or any id containing 'echo'.",
            )
        if kind == "reference" and self.classifier is None:
            raise ApiError(
                "ResourceNotFoundException",
                f"Model {model_id!r} is the local reference model, which is not loaded: start "
                "the emulator with a training file (--train-file / train_file=).",
            )
        return kind

    def generate(self, kind: str, request: ModelRequest, model_id: str = "") -> Generation:
        if kind == "trained":
            trained = self._trained.get(model_id)
            if trained is None:  # deprovisioned between kind() and here
                raise ApiError("ResourceNotFoundException", f"Model {model_id!r} was deleted.")
            label = trained.predict(request.classify_text)
            return finish(request, f" {label}" if request.completion_style else label)
        if kind == "echo":
            return finish(request, request.echo_text)
        if kind == "base":
            return finish(request, base_answer(request.classify_text))
        if kind == "judge":
            return finish(request, judge_answer(request.echo_text))
        assert self.classifier is not None  # kind() refuses the reference model without one
        label = self.classifier.predict(request.classify_text)
        return finish(request, f" {label}" if request.completion_style else label)
