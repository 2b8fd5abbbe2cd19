"""Apply a deployment's trained prompt format (template, separator, system) to a request."""

from __future__ import annotations

from collections.abc import Sequence

from chalicelib.config.registry import InferenceSpec, PromptSpec
from chalicelib.errors import InvalidRequest
from chalicelib.formats import InferenceParams, Message, Prompt


def with_separator(text: str, separator: str) -> str:
    """Append the separator exactly once: held-out files made for fine-tuning already carry it."""
    if not separator or text.endswith(separator):
        return text
    return text + separator


def format_user_text(spec: PromptSpec, text: str) -> str:
    return with_separator(spec.template.replace("{input}", text), spec.separator)


def render_prompt(
    spec: PromptSpec,
    *,
    input_text: str | None = None,
    messages: Sequence[Message] = (),
    system: str | None = None,
) -> Prompt:
    """Build the conversation the model was tuned on; the last user turn gets the template."""
    if input_text is not None:
        messages = (Message("user", input_text),)
    if not messages or messages[-1].role != "user":
        raise InvalidRequest(
            "The conversation must end with a user message.",
            details=[{"field": "messages", "reason": "last message must have role 'user'"}],
        )
    last = messages[-1]
    turns = (*messages[:-1], Message("user", format_user_text(spec, last.content)))
    return Prompt(messages=turns, system=system if system is not None else spec.system)


def resolve_params(
    spec: InferenceSpec,
    *,
    max_tokens: int | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    stop: Sequence[str] | None = None,
) -> InferenceParams:
    """Per-request parameters within the registry's bounds: max_tokens may only go down."""
    if max_tokens is not None and max_tokens > spec.max_tokens:
        raise InvalidRequest(
            f"max_tokens may not exceed this deployment's limit of {spec.max_tokens}.",
            details=[{"field": "parameters.max_tokens", "reason": f"must be <= {spec.max_tokens}"}],
        )
    return InferenceParams(
        max_tokens=max_tokens if max_tokens is not None else spec.max_tokens,
        temperature=temperature if temperature is not None else spec.temperature,
        top_p=top_p if top_p is not None else spec.top_p,
        stop=tuple(stop) if stop is not None else tuple(spec.stop),
    )
