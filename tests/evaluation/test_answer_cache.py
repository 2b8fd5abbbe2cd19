"""The answer cache's record: every field written, read back unchanged (to_json lists the fields
by hand for speed, so a field added later must be added there too)."""

from __future__ import annotations

import dataclasses
import json
import random

from chalicelib.evaluation.cache import CachedAnswer


def test_every_field_round_trips() -> None:
    rng = random.Random(16)
    for _ in range(200):
        answer = CachedAnswer(
            text="".join(rng.choice("ab é\n\"\\☃") for _ in range(rng.randint(0, 20))),
            input_tokens=rng.randint(0, 10_000),
            output_tokens=rng.randint(0, 10_000),
            latency_ms=rng.choice([None, rng.uniform(0, 5000)]),
        )
        raw = answer.to_json()
        assert json.loads(raw) == dataclasses.asdict(answer)
        assert CachedAnswer.from_json(raw) == answer
