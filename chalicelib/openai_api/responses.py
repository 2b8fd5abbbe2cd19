"""OpenAI's answer shapes, with Tunegate's own fields in a `tunegate` object clients ignore."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from chalicelib.api.models import ModelSummary
from chalicelib.config.registry import Deployment
from chalicelib.serving.invoke import Invocation

# Every family's word for "stopped at max_tokens" (Anthropic/Converse, Llama/OpenAI, Titan).
_LENGTH_REASONS = frozenset({"max_tokens", "length", "LENGTH"})


def finish_reason(answer: Invocation) -> Literal["stop", "length"]:
    return "length" if answer.stop_reason in _LENGTH_REASONS else "stop"


def tunegate_fields(answer: Invocation) -> dict[str, Any]:
    response = answer.response
    return {
        "invocation_id": response.invocation_id,
        "version": response.version,
        "feedback_token": response.feedback_token,
        "prediction": response.prediction,
        "valid": response.valid,
    }


def _usage(answers: Sequence[Invocation]) -> dict[str, int]:
    prompt = sum(a.response.usage.input_tokens or 0 for a in answers)
    completion = sum(a.response.usage.output_tokens or 0 for a in answers)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _envelope(kind: str, model: str, answers: Sequence[Invocation]) -> dict[str, Any]:
    prefix = "chatcmpl" if kind == "chat.completion" else "cmpl"
    return {
        "id": f"{prefix}-{answers[0].response.invocation_id}",
        "object": kind,
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": None,
    }


def chat_completion_body(model: str, answer: Invocation) -> dict[str, Any]:
    choice = {
        "index": 0,
        "message": {"role": "assistant", "content": answer.response.output, "refusal": None},
        "logprobs": None,
        "finish_reason": finish_reason(answer),
    }
    return {
        **_envelope("chat.completion", model, [answer]),
        "choices": [choice],
        "usage": _usage([answer]),
        "tunegate": tunegate_fields(answer),
    }


def completion_body(model: str, answers: Sequence[Invocation]) -> dict[str, Any]:
    """One choice per prompt, in the prompts' order; each carries its own `tunegate` object
    and the top-level one is the first choice's (the whole answer for a single prompt)."""
    choices = [
        {
            "index": index,
            "text": answer.response.output,
            "logprobs": None,
            "finish_reason": finish_reason(answer),
            "tunegate": tunegate_fields(answer),
        }
        for index, answer in enumerate(answers)
    ]
    return {
        **_envelope("text_completion", model, answers),
        "choices": choices,
        "usage": _usage(answers),
        "tunegate": tunegate_fields(answers[0]),
    }


def model_list(deployments: Sequence[Deployment], registry_file: Path) -> dict[str, Any]:
    """`GET /v1/models` in both shapes at once: OpenAI's `data` list and Tunegate's `models`."""
    try:
        created = int(os.stat(registry_file).st_mtime)
    except OSError:
        created = 0
    return {
        "object": "list",
        "data": [
            {"id": d.name, "object": "model", "created": created, "owned_by": "tunegate"}
            for d in deployments
        ],
        "models": [
            ModelSummary.model_validate(d, from_attributes=True).model_dump(mode="json")
            for d in deployments
        ],
    }
