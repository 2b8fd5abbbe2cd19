"""Request bodies of the OpenAI-compatible routes.

Unlike the invoke models these ignore unknown fields: OpenAI clients send many sampling and
client fields (`frequency_penalty`, `user`, `stream_options`, lm-eval's `--gen_kwargs`) that have
no meaning for a fine-tuned classifier. What we cannot honour faithfully (`n` > 1, log-
probabilities, `echo`, streaming) is refused with a message that says why."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_PROMPTS = 64  # one choice each, answered by a small thread pool
MAX_STOPS = 64  # four reach the model natively; every one is applied to the answer
Stop = Annotated[str, Field(min_length=1, max_length=1000)]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TextPart(_Lenient):
    type: Literal["text"]
    text: str


class ChatMessageIn(_Lenient):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart]

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class GenerationRequest(_Lenient):
    """What chat and legacy completions share: the deployment and the sampling fields."""

    model: str = Field(min_length=1, max_length=200)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    seed: int | None = None
    stop: Stop | list[Stop] | None = None
    n: int | None = Field(default=None, ge=1)
    stream: bool | None = None
    user: str | None = Field(default=None, max_length=1024)

    @field_validator("stop")
    @classmethod
    def _bounded_stops(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and len(value) > MAX_STOPS:
            raise ValueError(f"at most {MAX_STOPS} stop sequences")
        return value

    def stops(self) -> tuple[str, ...] | None:
        """None keeps the deployment's own stops; a request's stops replace them."""
        if self.stop is None:
            return None
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)

    def requested_max_tokens(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    def unsupported(self) -> tuple[str, str] | None:
        """(field, why) for the first field asking for something Tunegate cannot give."""
        if self.n is not None and self.n > 1:
            return "n", (
                "n > 1 is not supported: a deployment answers one choice per prompt "
                "(greedy decoding would repeat it); send the request n times."
            )
        if self.stream:
            return "stream", "stream is not supported: Tunegate answers whole choices."
        return None


class ChatCompletionRequest(GenerationRequest):
    messages: list[ChatMessageIn] = Field(min_length=1, max_length=200)
    logprobs: bool | None = None
    top_logprobs: int | None = None

    def unsupported(self) -> tuple[str, str] | None:
        if self.logprobs or self.top_logprobs:
            return "logprobs", NO_LOGPROBS
        return super().unsupported()


class CompletionRequest(GenerationRequest):
    prompt: str | list[str] | list[int] | list[list[int]]
    logprobs: int | None = None
    echo: bool | None = None
    suffix: str | None = None

    def unsupported(self) -> tuple[str, str] | None:
        if self.logprobs:
            return "logprobs", NO_LOGPROBS
        if self.echo:
            return "echo", (
                "echo is not supported: it serves loglikelihood scoring, which needs the "
                "prompt's per-token log-probabilities that Bedrock does not return."
            )
        if self.suffix:
            return "suffix", "suffix (insertion) is not supported by fine-tuned deployments."
        if not isinstance(self.prompt, str) and self.prompt and not isinstance(self.prompt[0], str):
            return "prompt", (
                "token-id prompts are not supported: send text (lm-eval: "
                "tokenizer_backend=None,tokenized_requests=False)."
            )
        return super().unsupported()

    def prompts(self) -> list[str]:
        if isinstance(self.prompt, str):
            return [self.prompt]
        return [p for p in self.prompt if isinstance(p, str)]

    @field_validator("prompt")
    @classmethod
    def _bounded_prompts(cls, value: Any) -> Any:
        if isinstance(value, list) and not 1 <= len(value) <= MAX_PROMPTS:
            raise ValueError(f"send 1 to {MAX_PROMPTS} prompts")
        return value


NO_LOGPROBS = (
    "logprobs is not supported: Bedrock models return no token log-probabilities, so "
    "loglikelihood and multiple-choice scoring cannot run; use generate_until tasks."
)


# Answers, as documented in the OpenAPI document (the bodies are built in `responses`).
class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TunegateFields(_Answer):
    invocation_id: str
    version: int | None
    feedback_token: str
    prediction: str | float | None
    valid: bool


class UsageOut(_Answer):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AssistantMessage(_Answer):
    role: Literal["assistant"]
    content: str
    refusal: None = None


class ChatChoice(_Answer):
    index: int
    message: AssistantMessage
    logprobs: None = None
    finish_reason: Literal["stop", "length"]


class TextChoice(_Answer):
    index: int
    text: str
    logprobs: None = None
    finish_reason: Literal["stop", "length"]
    tunegate: TunegateFields


class _Completion(_Answer):
    id: str
    created: int
    model: str
    system_fingerprint: None = None
    usage: UsageOut
    tunegate: TunegateFields


class ChatCompletionResponse(_Completion):
    object: Literal["chat.completion"]
    choices: list[ChatChoice]


class CompletionResponse(_Completion):
    object: Literal["text_completion"]
    choices: list[TextChoice]
