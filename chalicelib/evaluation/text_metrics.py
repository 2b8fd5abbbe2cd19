"""Reference metrics for free-text answers (CONTRACT section 10): exact match, SQuAD token F1,
ROUGE-L and chrF per item, and a mergeable accumulator of the per-item scores with percentile
bootstrap intervals. Standard library only, so the Lambda bundle stays lean; the values equal
`rouge-score` and `sacrebleu` (checked in tests/evaluation/test_text_metrics.py)."""

from __future__ import annotations

import math
import random
import re
import string
from collections import Counter
from collections.abc import Mapping, Sequence
from operator import add
from typing import Any

from chalicelib.evaluation.stats import multinomial, percentile
from chalicelib.serving.parsing import normalise_label

TEXT_METRICS = ("exact_match", "token_f1", "rouge_l", "chrf")
CHRF_ORDER = 6  # sacrebleu's CHRF defaults: char n-grams 1..6, no word n-grams, beta 2
CHRF_BETA = 2

_ROUGE_DROP = re.compile(r"[^a-z0-9]+")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def exact_match(prediction: str, reference: str) -> float:
    """1.0 when both sides normalise alike, as labels are compared."""
    return float(normalise_label(prediction) == normalise_label(reference))


def _squad_tokens(text: str) -> list[str]:
    """SQuAD's normalize_answer: lower case, no punctuation, no articles, split on spaces."""
    return _ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION)).split()


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD v2 bag-of-tokens F1 (two empty answers agree)."""
    pred, gold = _squad_tokens(prediction), _squad_tokens(reference)
    if not pred or not gold:
        return float(pred == gold)
    same = sum((Counter(pred) & Counter(gold)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def _rouge_tokens(text: str) -> list[str]:
    """rouge-score's default tokenizer: lower case, runs of [a-z0-9], no stemming."""
    return _ROUGE_DROP.sub(" ", text.lower()).split()


def _lcs(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence, bit-parallel (Hyyrö 2004): one big-integer
    step per token of `b` instead of a row of the dynamic-programming table."""
    masks: dict[str, int] = {}
    for i, x in enumerate(a):
        masks[x] = masks.get(x, 0) | (1 << i)
    full = (1 << len(a)) - 1
    v = full
    for y in b:
        u = v & masks.get(y, 0)
        v = ((v + u) | (v - u)) & full
    return len(a) - v.bit_count()


def rouge_l(prediction: str, reference: str) -> float:
    """rougeL F-measure: the longest common token subsequence's precision and recall."""
    pred, ref = _rouge_tokens(prediction), _rouge_tokens(reference)
    if not pred or not ref:
        return 0.0
    common = _lcs(ref, pred)
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def _char_ngrams(text: str) -> list[Counter[str]]:
    """Character 1..6-grams of the text without whitespace (sacrebleu's chrF). Each order is
    built from the one below by a C-level `map(add, …)`: no Python-level slicing loop, which
    was two thirds of chrF's time."""
    line = "".join(text.split())
    grams: list[str] = list(line)
    counts = [Counter(grams)]
    for n in range(2, CHRF_ORDER + 1):
        grams = list(map(add, grams, line[n - 1 :]))
        counts.append(Counter(grams))
    return counts


def _chrf_stats(hyp: list[Counter[str]], ref: list[Counter[str]]) -> list[tuple[int, int, int]]:
    """(hypothesis n-grams, reference n-grams, matched) per order; matched = the clipped
    overlap (what `sum((h & r).values())` gives, without building the intersection)."""
    stats = []
    for h, r in zip(hyp, ref, strict=True):
        small, big = (r, h) if len(h) > len(r) else (h, r)
        matched = 0
        other = big.get
        for gram, count in small.items():
            found = other(gram)
            if found:
                matched += count if count < found else found
        stats.append((h.total(), r.total(), matched))
    return stats


def _chrf_score(stats: Sequence[tuple[int, int, int]]) -> float:
    """sacrebleu's chrF (effective-order averaging of precision and recall), on 0..1."""
    factor = CHRF_BETA**2
    avg_prec = avg_rec = 0.0
    effective = 0
    for n_hyp, n_ref, n_match in stats:
        if n_hyp > 0 and n_ref > 0:
            avg_prec += n_match / n_hyp
            avg_rec += n_match / n_ref
            effective += 1
    if effective:
        avg_prec /= effective
        avg_rec /= effective
    if avg_prec + avg_rec:
        score = (1 + factor) * avg_prec * avg_rec / (factor * avg_prec + avg_rec)
        return 100 * score / 100  # sacrebleu's rounding: its percentage, back on 0..1
    return 0.0


def chrf(prediction: str, references: str | Sequence[str]) -> float:
    """chrF with sacrebleu's defaults on 0..1 (sacrebleu's score / 100); with several
    references, the one whose chrF is best, as sacrebleu picks."""
    refs = [references] if isinstance(references, str) else list(references)
    hyp = _char_ngrams(prediction)
    return max(_chrf_score(_chrf_stats(hyp, _char_ngrams(r))) for r in refs)


def text_scores(prediction: str, references: str | Sequence[str]) -> tuple[float, ...]:
    """(exact_match, token_f1, rouge_l, chrf), each the best over the references."""
    refs = [references] if isinstance(references, str) else list(references)
    if not refs:
        raise ValueError("text metrics need at least one reference")
    return (
        max(exact_match(prediction, r) for r in refs),
        max(token_f1(prediction, r) for r in refs),
        max(rouge_l(prediction, r) for r in refs),
        chrf(prediction, refs),
    )


class TextScores:
    """Per-item text scores of one scope, kept as value -> count per metric: merging adds
    counts, so chunks in any order give one pass's state, and the bootstrap resamples the
    items (a multinomial over distinct values, O(distinct) per resample)."""

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts: list[dict[float, int]] = [{} for _ in TEXT_METRICS]

    @property
    def n(self) -> int:
        return sum(self.counts[0].values())

    def add(self, scores: Sequence[float], count: int = 1) -> None:
        for table, value in zip(self.counts, scores, strict=True):
            table[value] = table.get(value, 0) + count

    def merge(self, other: TextScores) -> None:
        for mine, theirs in zip(self.counts, other.counts, strict=True):
            for value, c in theirs.items():
                mine[value] = mine.get(value, 0) + c

    def to_state(self) -> dict[str, list[list[float | int]]]:
        return {
            name: [[v, table[v]] for v in sorted(table)]
            for name, table in zip(TEXT_METRICS, self.counts, strict=True)
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> TextScores:
        scores = cls()
        scores.counts = [{float(v): int(c) for v, c in state[name]} for name in TEXT_METRICS]
        return scores

    def result(self, seed: int, resamples: int) -> dict[str, Any]:
        """Each metric's mean, `<name>_ci95` (percentile bootstrap, seeded) and `<name>_stderr`
        (sample standard deviation / sqrt(n), as lm-eval's `mean_stderr`; None below 2 items)."""
        out: dict[str, Any] = {}
        n = self.n
        for name, table in zip(TEXT_METRICS, self.counts, strict=True):
            values = sorted(table)
            weights = [table[v] for v in values]
            out[name] = _mean(values, weights, n) if n else None
            out[f"{name}_ci95"] = _bootstrap(values, weights, n, seed, resamples) if n else None
            out[f"{name}_stderr"] = _stderr(values, weights, n) if n > 1 else None
        return out


def _mean(values: Sequence[float], weights: Sequence[int], n: int) -> float:
    return math.fsum(v * w for v, w in zip(values, weights, strict=True)) / n


def _stderr(values: Sequence[float], weights: Sequence[int], n: int) -> float:
    mean = _mean(values, weights, n)
    squares = math.fsum(w * (v - mean) ** 2 for v, w in zip(values, weights, strict=True))
    return math.sqrt(squares / (n - 1)) / math.sqrt(n)


def _bootstrap(
    values: Sequence[float], weights: Sequence[int], n: int, seed: int, resamples: int
) -> list[float]:
    rng = random.Random(seed)
    means = sorted(_mean(values, multinomial(rng, n, weights), n) for _ in range(resamples))
    return [percentile(means, 0.025), percentile(means, 0.975)]


__all__ = [
    "TEXT_METRICS",
    "TextScores",
    "chrf",
    "exact_match",
    "rouge_l",
    "text_scores",
    "token_f1",
]
