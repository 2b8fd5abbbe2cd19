"""The per-item work a chunk does, made cheaper without changing a byte: chunk results are the
records `dataclasses.asdict` gave, answer-cache keys the hashes earlier runs stored."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict

from chalicelib.config.registry import Registry
from chalicelib.evaluation.answers import Answer
from chalicelib.evaluation.cache import cache_key
from chalicelib.evaluation.scoring import Reference
from chalicelib.formats import InferenceParams, Prompt, get_format
from chalicelib.serving.prompting import render_prompt


def test_answer_records_are_what_asdict_gave() -> None:
    answers = [
        Answer("m", "error", Reference(None, None), error_code="throttled", attempts=3),
        Answer(
            "m",
            "ok",
            Reference("positive", 1.5),
            output=" positive",
            prediction="positive",
            key="positive",
            value=None,
            latency_ms=51.25,
            input_tokens=12,
            output_tokens=1,
            attempts=1,
            cached=True,
        ),
    ]
    for answer in answers:
        assert answer.to_record() == asdict(answer)
        assert json.dumps(answer.to_record()) == json.dumps(asdict(answer))
        assert Answer.from_record(answer.to_record()) == answer


def test_cache_keys_are_the_hashes_earlier_runs_stored() -> None:
    deployment = Registry.model_validate(
        {
            "deployments": [
                {
                    "name": "d",
                    "provider": "bedrock",
                    "model_id": "anthropic.claude-3-haiku-20240307-v1:0",
                    "request_format": "converse",
                    "inference": {"max_tokens": 5},
                }
            ]
        }
    ).get("d")
    for params in (
        InferenceParams(5, 0.0, 1.0),
        InferenceParams(7, 0.0, 0.9, stop=("\n", "###"), seed=3),
    ):
        prompt: Prompt = render_prompt(deployment.prompt, input_text="great drug", system=None)
        body = get_format("bedrock", "converse").build_request(prompt, params)
        material = {
            "deployment": "d",
            "provider": "bedrock",
            "model_id": deployment.model_id,
            "base_url": deployment.base_url,
            "request_format": "converse",
            "request": body,
            "parameters": asdict(params),
        }
        raw = json.dumps(material, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        expected = hashlib.sha256(raw.encode()).hexdigest()
        assert cache_key(deployment, prompt, params) == expected
        assert cache_key(deployment, prompt, params) == expected  # the memoised parameters
