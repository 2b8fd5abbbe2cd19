"""A shadow copy re-rendered in the shadow version's own trained format (serving/prompting.py
`reformat`): what the served version added comes off, what the request set stays."""

from __future__ import annotations

from typing import Any

from chalicelib.config.registry import Deployment
from chalicelib.formats import Message
from chalicelib.serving.prompting import reformat, render_prompt, resolve_params


def deployment(prompt: dict[str, Any], inference: dict[str, Any]) -> Deployment:
    return Deployment.model_validate(
        {
            "name": "d",
            "provider": "bedrock",
            "model_id": "amazon.nova-lite-v1:0",
            "request_format": "converse",
            "prompt": prompt,
            "inference": inference,
        }
    )


TUNED = deployment(
    {"system": "Classify.", "template": "Review: {input}", "separator": "\n\n###\n\n"},
    {"max_tokens": 5, "temperature": 0.0, "stop": ["\n"]},
)
BASE = deployment(
    {"system": "You are a careful rater.", "template": "{input}\nAnswer:"},
    {"max_tokens": 20, "temperature": 0.5, "top_p": 0.9},
)


def test_defaults_and_format_follow_the_shadow_version() -> None:
    text = "It worked.\n\n###\n\n has a separator inside"
    prompt = render_prompt(
        TUNED.prompt,
        messages=(Message("user", "hi"), Message("assistant", "yes"), Message("user", text)),
    )
    params = resolve_params(TUNED.inference)
    shadow_prompt, shadow_params = reformat(prompt, params, TUNED, BASE)
    assert shadow_prompt == render_prompt(
        BASE.prompt,
        messages=(Message("user", "hi"), Message("assistant", "yes"), Message("user", text)),
    )
    assert shadow_params == resolve_params(BASE.inference)


def test_what_the_request_set_is_kept_within_the_shadow_bounds() -> None:
    prompt = render_prompt(TUNED.prompt, input_text="Fine.", system="Be terse.")
    params = resolve_params(TUNED.inference, max_tokens=3, temperature=0.2, stop=["END"])
    shadow_prompt, shadow_params = reformat(prompt, params, TUNED, BASE)
    assert shadow_prompt.system == "Be terse."
    assert shadow_prompt.messages[-1].content == "Fine.\nAnswer:"
    assert (shadow_params.max_tokens, shadow_params.temperature) == (3, 0.2)
    assert shadow_params.stop == ("END",) and shadow_params.top_p == 0.9
    # the other way round, a request max_tokens above the shadow's bound is clamped to it
    wide = resolve_params(BASE.inference, max_tokens=12)
    assert (
        reformat(render_prompt(BASE.prompt, input_text="x"), wide, BASE, TUNED)[1].max_tokens == 5
    )


def test_the_same_format_is_unchanged() -> None:
    prompt = render_prompt(TUNED.prompt, input_text="Fine.")
    params = resolve_params(TUNED.inference, temperature=0.7)
    assert reformat(prompt, params, TUNED, TUNED) == (prompt, params)
