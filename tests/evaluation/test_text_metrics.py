"""Text reference metrics: equal to rouge-score, sacrebleu and a SQuAD reference on random cases,
mergeable in any order, seeded intervals, and shown end to end for an echo text deployment."""

from __future__ import annotations

import json
import random
import re
import string
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from rouge_score import rouge_scorer
from sacrebleu.metrics import CHRF

from chalicelib.evaluation.commands import metrics_table
from chalicelib.evaluation.metrics import ModelMetrics
from chalicelib.evaluation.text_metrics import (
    TEXT_METRICS,
    chrf,
    exact_match,
    rouge_l,
    text_scores,
    token_f1,
)
from chalicelib.serving.parsing import normalise_label
from tests.evaluation.test_evaluate_cli import evaluate, fresh_emulator, read_items

__all__ = ["fresh_emulator"]

_VOCABULARY = "the a an cat Cat sat on mat dog's runs fast, quickly! é naïve 42 x-y Hello hello. "
_VOCABULARY += "café über U.S. (note) don't it's — ok? 3.14 rain, RAIN over the hills"
WORDS = _VOCABULARY.split()


def _sentence(rng: random.Random, lo: int = 0, hi: int = 14) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(lo, hi))]
    return rng.choice([" ", "  ", "\n"]).join(words)


def _pairs(seed: int, n: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        reference = _sentence(rng, 1)
        if rng.random() < 0.2:  # near copies: high overlaps, exact matches after normalising
            prediction = rng.choice([reference, reference.upper(), f" {reference}. ", reference])
        else:
            prediction = _sentence(rng)
        out.append((prediction, reference))
    return out


def _squad_normalize(text: str) -> str:
    """The SQuAD v2.0 evaluation script's normalize_answer, verbatim in spirit."""

    def remove_articles(t: str) -> str:
        return re.sub(r"\b(a|an|the)\b", " ", t, flags=re.UNICODE)

    def remove_punc(t: str) -> str:
        exclude = set(string.punctuation)
        return "".join(ch for ch in t if ch not in exclude)

    return " ".join(remove_articles(remove_punc(text.lower())).split())


def _squad_f1(prediction: str, gold: str) -> float:
    gold_toks = _squad_normalize(gold).split()
    pred_toks = _squad_normalize(prediction).split()
    common = Counter(gold_toks) & Counter(pred_toks)
    num_same = sum(common.values())
    if len(gold_toks) == 0 or len(pred_toks) == 0:
        return float(gold_toks == pred_toks)
    if num_same == 0:
        return 0.0
    precision = num_same / len(pred_toks)
    recall = num_same / len(gold_toks)
    return (2 * precision * recall) / (precision + recall)


def test_rouge_l_equals_rouge_score() -> None:
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    for prediction, reference in _pairs(1, 400) + [("", "a b"), ("a b", ""), ("!!", "?")]:
        expected = scorer.score(reference, prediction)["rougeL"].fmeasure
        assert rouge_l(prediction, reference) == expected, (prediction, reference)


def test_chrf_equals_sacrebleu() -> None:
    metric = CHRF()
    pairs = _pairs(2, 400) + [("", "abc"), ("abc", ""), ("a", "a"), ("ab cd", "abcd")]
    for prediction, reference in pairs:
        expected = metric.sentence_score(prediction, [reference]).score / 100
        assert chrf(prediction, reference) == expected, (prediction, reference)


def test_chrf_with_several_references_equals_sacrebleu() -> None:
    metric = CHRF()
    rng = random.Random(3)
    for _ in range(100):
        prediction = _sentence(rng)
        references = [_sentence(rng, 1) for _ in range(rng.randint(1, 3))]
        expected = metric.sentence_score(prediction, references).score / 100
        assert chrf(prediction, references) == expected


def test_token_f1_equals_squad_and_takes_the_best_reference() -> None:
    for prediction, reference in _pairs(4, 400):
        assert token_f1(prediction, reference) == pytest.approx(
            _squad_f1(prediction, reference), abs=0, rel=1e-15
        )
    rng = random.Random(5)
    for _ in range(100):
        prediction = _sentence(rng)
        references = [_sentence(rng, 1) for _ in range(3)]
        best = max(_squad_f1(prediction, r) for r in references)
        assert text_scores(prediction, references)[1] == pytest.approx(best, abs=0, rel=1e-15)


def test_exact_match_normalises_as_labels_are() -> None:
    for prediction, reference in _pairs(6, 300):
        same = normalise_label(prediction) == normalise_label(reference)
        assert exact_match(prediction, reference) == float(same)
    assert exact_match("  Paris. ", "paris") == 1.0
    assert exact_match("Paris, France", "Paris") == 0.0


def _accumulate(items: list[tuple[str, str, str | None]]) -> ModelMetrics:
    metrics = ModelMetrics()
    for prediction, reference, category in items:
        scores = text_scores(prediction, reference)
        key = "match" if scores[0] else "mismatch"
        metrics.add("match", key, "ok", category=category, text_scores=scores)
    return metrics


def _items(seed: int, n: int) -> list[tuple[str, str, str | None]]:
    rng = random.Random(seed)
    return [(p, r, rng.choice(["chat", "summary", None])) for p, r in _pairs(seed, n)]


def test_chunks_merged_in_any_order_equal_one_pass() -> None:
    items = _items(7, 240)
    whole = _accumulate(items).result(seed=11)
    rng = random.Random(8)
    for _ in range(3):
        cuts = sorted(rng.sample(range(1, len(items)), 4))
        chunks = [items[a:b] for a, b in zip([0, *cuts], [*cuts, len(items)], strict=True)]
        rng.shuffle(chunks)
        merged = ModelMetrics()
        for chunk in chunks:  # each chunk through its JSON state, as jobs store them
            state = json.loads(json.dumps(_accumulate(chunk).to_state()))
            merged.merge(ModelMetrics.from_state(state))
        assert merged.result(seed=11) == whole


def test_means_intervals_and_categories() -> None:
    items = _items(9, 200)
    result = _accumulate(items).result(seed=3)
    for i, name in enumerate(TEXT_METRICS):
        scores = [text_scores(p, r)[i] for p, r, _ in items]
        assert result[name] == pytest.approx(sum(scores) / len(scores), rel=1e-12)
        lo, hi = result[f"{name}_ci95"]
        assert lo <= result[name] <= hi and lo < hi
    assert result["accuracy"] == result["exact_match"]  # the old key is kept, same value
    for category in ("chat", "summary"):
        picked = [(p, r) for p, r, c in items if c == category]
        f1s = [token_f1(p, r) for p, r in picked]
        per = result["per_category"][category]
        assert per["token_f1"] == pytest.approx(sum(f1s) / len(f1s), rel=1e-12)
        assert per["token_f1_ci95"][0] <= per["token_f1"] <= per["token_f1_ci95"][1]


def test_intervals_are_seeded() -> None:
    metrics = _accumulate(_items(10, 150))
    first = metrics.result(seed=5)
    assert metrics.result(seed=5) == first
    other = metrics.result(seed=6)
    assert any(first[f"{n}_ci95"] != other[f"{n}_ci95"] for n in TEXT_METRICS)


def test_classification_results_carry_no_text_keys() -> None:
    metrics = ModelMetrics()
    metrics.add("positive", "positive", "ok")
    metrics.add("negative", "positive", "ok")
    result = metrics.result()
    assert all(result[n] is None and result[f"{n}_ci95"] is None for n in TEXT_METRICS)
    assert "text" not in metrics.to_state()["all"]
    assert "token F1" not in metrics_table({"m": result})


def _conversations(path: Path) -> list[dict[str, Any]]:
    rng = random.Random(12)
    records = []
    for i in range(10):
        history = _sentence(rng, 3)
        last = "ok" if i == 0 else _sentence(rng, 2)
        records.append(
            {
                "messages": [
                    {"role": "user", "content": f"first {history}"},
                    {"role": "assistant", "content": "EARLIER TURN NOT SCORED"},
                    {"role": "user", "content": last},
                    {"role": "assistant", "content": f"Review: {last}" if i % 3 else last},
                ],
                "category": "even" if i % 2 == 0 else "odd",
            }
        )
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return records


def test_cli_reports_text_metrics_for_an_echo_deployment(
    fresh_emulator: Any, tmp_path: Path
) -> None:
    dataset = tmp_path / "chat.jsonl"
    records = _conversations(dataset)
    out = tmp_path / "run"
    done = evaluate(out, "echo-converse", dataset=dataset)
    assert done.returncode == 0, done.stderr
    result = json.loads((out / "results.json").read_text())["results"]["echo-converse"]
    items = sorted(read_items(out), key=lambda i: int(i["index"]))
    assert [i["reference"] for i in items] == [r["messages"][-1]["content"] for r in records]
    per_item = [text_scores(i["output"], i["reference"]) for i in items]
    for k, name in enumerate(TEXT_METRICS):
        mean = sum(s[k] for s in per_item) / len(per_item)
        assert result[name] == pytest.approx(mean, rel=1e-12)
        assert result[f"{name}_ci95"][0] <= result[name] <= result[f"{name}_ci95"][1]
    assert result["accuracy"] == result["exact_match"]
    assert set(result["per_category"]) == {"even", "odd"}
    assert all("chrf_ci95" in v for v in result["per_category"].values())
    lm_eval = json.loads((out / "lm_eval_results.json").read_text())["results"]["echo-converse"]
    assert {"exact_match,none", "f1,none", "rougeL,none", "chrf,none"} <= set(lm_eval)
    assert lm_eval["f1,none"] == result["token_f1"]
    assert "token F1" in done.stdout and "chrF" in done.stdout
    report = (out / "report.html").read_text()
    assert "ROUGE-L F [95% CI]" in report and "Token F1 (SQuAD) [95% CI]" in report
