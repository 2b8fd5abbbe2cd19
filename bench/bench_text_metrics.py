"""Text reference metrics (chalicelib/evaluation/text_metrics.py) against rouge-score and
sacrebleu on the same pairs, same run (issue 17): ROUGE-L F and chrF per pair, values compared.

Run: .venv/bin/python bench/bench_text_metrics.py [--pairs N] [--words W]
Pairs: a reference of ~W words from a small vocabulary, a prediction sharing about half of it
(words dropped, swapped and replaced), as a tuned model's answer to a held-out item would.
Each side is timed on the whole list once after one warm-up pass on 1,000 pairs.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rouge_score import rouge_scorer  # noqa: E402
from sacrebleu.metrics import CHRF  # noqa: E402

from chalicelib.evaluation.text_metrics import chrf, rouge_l  # noqa: E402

VOCABULARY = [
    "the",
    "drug",
    "helped",
    "my",
    "pain",
    "but",
    "nausea",
    "and",
    "headaches",
    "came",
    "back",
    "after",
    "two",
    "weeks",
    "of",
    "daily",
    "use",
    "side",
    "effects",
    "were",
    "mild",
    "overall",
    "I",
    "would",
    "recommend",
    "it",
    "to",
    "anyone",
    "with",
    "anxiety",
    "sleep",
    "problems",
    "or",
    "migraines",
    "doctor",
    "said",
    "dose",
    "should",
    "be",
    "lowered",
]


def make_pairs(n: int, words: int, seed: int = 7) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        reference = [rng.choice(VOCABULARY) for _ in range(words)]
        prediction = [w if rng.random() < 0.6 else rng.choice(VOCABULARY) for w in reference]
        del prediction[rng.randrange(len(prediction)) :][: rng.randrange(5)]
        pairs.append((" ".join(prediction), " ".join(reference)))
    return pairs


def timed(fn, pairs):  # type: ignore[no-untyped-def]
    fn(pairs[:1000])
    started = time.perf_counter()
    values = fn(pairs)
    return time.perf_counter() - started, values


def ours(pairs: list[tuple[str, str]]) -> list[tuple[float, float]]:
    return [(rouge_l(p, r), chrf(p, r)) for p, r in pairs]


def theirs(pairs: list[tuple[str, str]]) -> list[tuple[float, float]]:
    scorer, metric = rouge_scorer.RougeScorer(["rougeL"]), CHRF()
    return [
        (scorer.score(r, p)["rougeL"].fmeasure, metric.sentence_score(p, [r]).score / 100)
        for p, r in pairs
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=50_000)
    parser.add_argument("--words", type=int, default=50)
    args = parser.parse_args()
    pairs = make_pairs(args.pairs, args.words)
    base_s, expected = timed(theirs, pairs)
    our_s, got = timed(ours, pairs)
    identical = sum(a == b for a, b in zip(got, expected, strict=True))
    print(f"{args.pairs} pairs of ~{args.words} words; ROUGE-L F + chrF per pair")
    print(f"rouge-score + sacrebleu  {base_s:8.2f} s  {base_s / args.pairs * 1e6:7.1f} us/pair")
    print(f"tunegate text_metrics    {our_s:8.2f} s  {our_s / args.pairs * 1e6:7.1f} us/pair")
    print(
        f"ratio (ours / theirs)    {our_s / base_s:8.2f}x   identical values: "
        f"{identical}/{args.pairs}"
    )
    return 0 if identical == args.pairs else 1


if __name__ == "__main__":
    sys.exit(main())
