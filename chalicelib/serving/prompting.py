"""Apply a deployment's trained prompt format (template, separator, system) to a request."""

from __future__ import annotations

from collections.abc import Sequence

from chalicelib.config.registry import Deployment, InferenceSpec, PromptSpec
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


def reformat(
    prompt: Prompt, params: InferenceParams, source: Deployment, target: Deployment
) -> tuple[Prompt, InferenceParams]:
    """A prompt and parameters rendered for `source` (the version that answered), re-rendered for
    `target` (a shadow version, which may have been tuned on another format): the last user
    turn loses `source`'s template and separator and gets `target`'s; a system prompt or a
    parameter equal to `source`'s default takes `target`'s default, one the request set is
    kept (max_tokens within `target`'s bound)."""
    *history, last = prompt.messages
    text = last.content
    spec = source.prompt
    if spec.separator and text.endswith(spec.separator):
        text = text[: -len(spec.separator)]
    before, _, after = spec.template.partition("{input}")
    if text.startswith(before) and text.endswith(after) and len(text) >= len(before) + len(after):
        text = text[len(before) : len(text) - len(after)]
    turn = Message(last.role, format_user_text(target.prompt, text))
    system = target.prompt.system if prompt.system == spec.system else prompt.system
    mine, theirs = source.inference, target.inference

    def pick(value: float, default: float, target_default: float) -> float:
        return target_default if value == default else value

    return Prompt(messages=(*history, turn), system=system), InferenceParams(
        max_tokens=(
            theirs.max_tokens
            if params.max_tokens == mine.max_tokens
            else min(params.max_tokens, theirs.max_tokens)
        ),
        temperature=pick(params.temperature, mine.temperature, theirs.temperature),
        top_p=pick(params.top_p, mine.top_p, theirs.top_p),
        stop=tuple(theirs.stop) if params.stop == tuple(mine.stop) else params.stop,
        seed=params.seed,
    )
