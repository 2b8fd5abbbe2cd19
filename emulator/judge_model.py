"""The local judge model: a deterministic stand-in for an LLM judge, so the local stack runs the
whole judge path (prompt, call, strict parsing, statistics) for real.

It reads Tunegate's judge prompts (chalicelib/evaluation/judge.py: `rubric-v1`, `pairwise-v1`)
by their sections and answers in the judge's JSON shape:
- rubric: per criterion 1-5 from the answer's word overlap with the reference (F1 for
  correctness and most criteria, recall for completeness, sentence length for clarity), plus
  a bonus for the rubric's own keywords found in the answer;
- pairwise: the answer with more overlap wins; the answer shown first gets a small fixed bonus
  (a position bias, as real judges have), so near-equal answers win whichever comes first and
  the caller's two-order cancellation is exercised.
A prompt that is not a judge prompt gets an answer a strict parser rejects.
"""

from __future__ import annotations

import json
import re
from collections import Counter

MODEL_ID = "tunegate.judge-v1:0"
POSITION_BONUS = 0.05
TIE_MARGIN = 0.01
_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    [
        "a", "an", "the", "and", "or", "of", "to", "in", "on", "for", "with", "is",
        "are", "was", "were", "be", "it", "this", "that", "as", "at", "by", "from",
        "not", "no", "but", "its", "answer", "reference",
    ]
)  # fmt: skip


def _section(prompt: str, name: str) -> str | None:
    match = re.search(rf"<{name}>\n?(.*?)\n?</{name}>", prompt, re.DOTALL)
    return match.group(1) if match else None


def _words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOP]


def overlap(answer: str, reference: str) -> tuple[float, float]:
    """(F1, recall) of the answer's words against the reference's (stop words dropped)."""
    got, want = Counter(_words(answer)), Counter(_words(reference))
    same = sum((got & want).values())
    if not same:
        return 0.0, 0.0
    precision, recall = same / sum(got.values()), same / sum(want.values())
    return 2 * precision * recall / (precision + recall), recall


def _keywords(rubric: str) -> set[str]:
    return {w for w in _words(rubric) if len(w) >= 6}


def _grade(value: float) -> int:
    return max(1, min(5, 1 + round(4 * value)))


def rubric_answer(prompt: str) -> str:
    answer = _section(prompt, "answer") or ""
    reference = _section(prompt, "reference") or ""
    criteria = [c.strip() for c in (_section(prompt, "criteria") or "").split(",") if c.strip()]
    f1, recall = overlap(answer, reference)
    found = sorted(_keywords(_section(prompt, "rubric") or "") & set(_words(answer)))
    bonus = min(0.2, 0.05 * len(found))
    n_words = len(answer.split())
    scores = {}
    for criterion in criteria:
        if criterion == "completeness":
            scores[criterion] = _grade(recall + bonus)
        elif criterion == "clarity":
            scores[criterion] = 5 if 3 <= n_words <= 40 else 3 if n_words else 1
        else:
            scores[criterion] = _grade(f1 + bonus)
    reason = f"Word overlap with the reference {f1:.2f} (recall {recall:.2f})"
    reason += f"; rubric words used: {', '.join(found[:3])}." if found else "."
    return json.dumps({"scores": scores, "reason": reason})


def pairwise_answer(prompt: str) -> str:
    reference = _section(prompt, "reference") or ""
    a, _ = overlap(_section(prompt, "answer_a") or "", reference)
    b, _ = overlap(_section(prompt, "answer_b") or "", reference)
    shown_a = a + POSITION_BONUS
    if shown_a > b + TIE_MARGIN:
        winner = "A"
    elif b > shown_a + TIE_MARGIN:
        winner = "B"
    else:
        winner = "tie"
    reason = f"Overlap with the reference: A {a:.2f}, B {b:.2f}."
    return json.dumps({"winner": winner, "reason": reason})


def judge_answer(prompt: str) -> str:
    """The judge's answer to a Tunegate judge prompt (the text of the request)."""
    if "Prompt version: pairwise-" in prompt:
        return pairwise_answer(prompt)
    if "Prompt version: rubric-" in prompt:
        return rubric_answer(prompt)
    return "I can only judge Tunegate judge prompts (rubric-v1, pairwise-v1)."
