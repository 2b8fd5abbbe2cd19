"""What every prompt format shares: the conversation, inference parameters and the answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from chalicelib.errors import ModelError

Role = Literal["user", "assistant"]
Api = Literal["converse", "invoke", "openai_completions", "openai_chat"]


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class Prompt:
    """A conversation ready to send: the deployment's template and separator already applied."""

    messages: tuple[Message, ...]
    system: str | None = None


@dataclass(frozen=True, slots=True)
class InferenceParams:
    max_tokens: int
    temperature: float
    top_p: float
    stop: tuple[str, ...] = ()
    #: Only the OpenAI-compatible families take a seed; the Bedrock bodies have no field for it.
    seed: int | None = None


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    input_tokens: int | None = None
    output_tokens: int | None = None
    stop_reason: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


class PromptFormat(Protocol):
    """A model family: how to build its request body and read its response body."""

    name: str
    api: Api

    def build_request(self, prompt: Prompt, params: InferenceParams) -> dict[str, Any]: ...

    def read_response(self, body: Any) -> Completion: ...


def unreadable(family: str, problem: str) -> ModelError:
    return ModelError(f"The model answered something unreadable ({family}: {problem}).")


def dig(body: Any, family: str, *path: str | int) -> Any:
    """Walk `path` through a response body, turning any missing step into a ModelError."""
    node = body
    for step in path:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            raise unreadable(family, f"missing {'.'.join(map(str, path))}") from None
    return node


def text_at(body: Any, family: str, *path: str | int) -> str:
    value = dig(body, family, *path)
    if not isinstance(value, str):
        raise unreadable(family, f"{'.'.join(map(str, path))} is not text")
    return value


def _walk(body: Any, path: tuple[str | int, ...]) -> Any:
    """The value at `path`, or None where a step is missing."""
    node = body
    for step in path:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def optional_int(body: Any, *path: str | int) -> int | None:
    node = _walk(body, path)
    return node if isinstance(node, int) and not isinstance(node, bool) else None


def optional_str(body: Any, *path: str | int) -> str | None:
    node = _walk(body, path)
    return node if isinstance(node, str) else None


def truncate_at_stop(text: str, stop: tuple[str, ...]) -> str:
    """Cut the text at the earliest stop sequence: families without a stop parameter (Llama) or
    with restrictions on it (Anthropic: no whitespace-only stops) still honour every stop."""
    cut = len(text)
    for sequence in stop:
        position = text.find(sequence)
        if position != -1:
            cut = min(cut, position)
    return text[:cut]


def native_stops(stop: tuple[str, ...], limit: int) -> list[str]:
    """The stop sequences a family's API accepts (at most `limit`); `complete()` trims the
    answer at every stop afterwards, so the ones left out still apply."""
    return list(stop[:limit])


def transcript(prompt: Prompt, user: str, assistant: str) -> str:
    """Flatten a multi-turn conversation for plain-text families; one user turn stays verbatim,
    so a prompt/completion-tuned model sees exactly its training prompt."""
    parts = [prompt.system] if prompt.system else []
    if len(prompt.messages) == 1 and not parts:
        return prompt.messages[0].content
    for message in prompt.messages:
        speaker = user if message.role == "user" else assistant
        parts.append(f"{speaker}: {message.content}")
    parts.append(f"{assistant}:")
    return "\n".join(parts)
