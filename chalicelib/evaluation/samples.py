"""Qualitative samples: a seeded choice of N items shown side by side, errors and disagreements
between models first, then wrong answers, then right ones. Each item's priority depends only on
the seed and its index, so chunks selected apart and merged choose what one pass chooses."""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Mapping, Sequence
from typing import Any

from chalicelib.evaluation.answers import Answer, ItemResult
from chalicelib.evaluation.metrics import item_key

DEFAULT_SAMPLES = 20
_TIERS = {"error": 0, "disagreement": 0, "incorrect": 1, "correct": 2}


def kind(answers: Sequence[Answer]) -> str:
    """error > disagreement (models answered differently) > incorrect (some model wrong)."""
    if any(a.status == "error" for a in answers):
        return "error"
    predicted = {item_key(a.key, a.value) if a.status == "ok" else None for a in answers}
    if len(predicted) > 1:
        return "disagreement"
    return "correct" if all(_correct(a) for a in answers) else "incorrect"


def _rank(seed: int, index: int) -> int:
    digest = hashlib.blake2b(f"{seed}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _correct(answer: Answer) -> bool | None:
    if answer.status == "error":
        return None
    wanted = item_key(answer.reference.key, answer.reference.value)
    return answer.status == "ok" and item_key(answer.key, answer.value) == wanted


def sample_record(result: ItemResult, sample_kind: str) -> dict[str, Any]:
    """The item with every model's raw output, prediction and verdict; a conversation with a
    system prompt is shown as {"system", "messages"}."""
    item = result.item
    shown: Any = item.input_json()
    if item.system is not None:
        shown = {"system": item.system, "messages": shown}
    record = {
        "index": item.index,
        "category": item.category,
        "kind": sample_kind,
        "input": shown,
        "reference": item.reference,
        "outputs": {
            a.model: {
                "output": a.output,
                "prediction": a.prediction,
                "status": a.status,
                "error_code": a.error_code,
                "correct": _correct(a),
            }
            for a in result.answers
        },
    }
    if result.judgements:  # the judge's verdicts and reasons, shown beside the answers
        record["judge"] = [j.to_record() for j in result.judgements]
    return record


class SampleSelector:
    """Keeps the `size` items with the smallest (tier, seeded rank): O(size) memory."""

    def __init__(self, size: int = DEFAULT_SAMPLES, seed: int = 0) -> None:
        if size < 0:
            raise ValueError("size must not be negative")
        self.size = size
        self.seed = seed
        # max-heap by priority through negation: the root is the first to give way
        self._heap: list[tuple[int, int, int, dict[str, Any]]] = []

    def offer(self, result: ItemResult) -> None:
        if self.size == 0:
            return
        sample_kind = kind(result.answers)
        tier, rank = _TIERS[sample_kind], _rank(self.seed, result.item.index)
        self._push((tier, rank, result.item.index), lambda: sample_record(result, sample_kind))

    def _push(self, priority: tuple[int, int, int], make: Any) -> None:
        entry = (-priority[0], -priority[1], -priority[2])
        if len(self._heap) < self.size:
            heapq.heappush(self._heap, (*entry, make()))
        elif entry > self._heap[0][:3]:
            heapq.heapreplace(self._heap, (*entry, make()))

    def merge(self, other: SampleSelector) -> SampleSelector:
        if (other.size, other.seed) != (self.size, self.seed):
            raise ValueError("cannot merge sample selections of different size or seed")
        for tier, rank, index, record in other._heap:
            self._push((-tier, -rank, -index), lambda r=record: r)
        return self

    def samples(self) -> list[dict[str, Any]]:
        """Errors and disagreements first, then incorrect, then correct; by index within each."""
        ordered = sorted(self._heap, key=lambda e: (-e[0], -e[2]))
        return [record for *_, record in ordered]

    def to_state(self) -> dict[str, Any]:
        entries = sorted(([-t, str(-r), -i, rec] for t, r, i, rec in self._heap), key=str)
        return {"size": self.size, "seed": self.seed, "entries": entries}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> SampleSelector:
        selector = cls(int(state["size"]), int(state["seed"]))
        for tier, rank, index, record in state["entries"]:
            selector._push((int(tier), int(rank), int(index)), lambda r=record: r)
        return selector
