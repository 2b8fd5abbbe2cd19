"""`evaluate --judge` end to end: the CLI in a subprocess against the local stack's judge."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.evaluation.test_evaluate_cli import evaluate, fresh_emulator, read_items

__all__ = ["fresh_emulator"]  # the fixture, used by name

ROOT = Path(__file__).resolve().parents[2]
EXPLAIN = ROOT / "examples" / "explain" / "explain.jsonl"
JUDGE_ID = "tunegate.judge-v1:0"


def test_a_rubric_judge_with_a_custom_rubric_through_the_cli(
    fresh_emulator: Any, tmp_path: Path
) -> None:
    rubric = tmp_path / "rubric.txt"
    rubric.write_text("faithful: the answer repeats what the reviewer says about the medicine.\n")
    out = tmp_path / "eval"
    extra = (
        "--limit", "12", "--judge", "judge", "--judge-rubric", str(rubric),
        "--judge-criteria", "faithful,clarity",
    )  # fmt: skip
    done = evaluate(out, "echo-converse", dataset=EXPLAIN, extra=extra)
    assert done.returncode == 0, done.stderr
    assert "judge judge (rubric, prompt rubric-v1)" in done.stdout
    assert "echo-converse: faithful" in done.stdout

    results = json.loads((out / "results.json").read_text())
    verdict = results["judge"]
    assert verdict["custom_rubric"] and verdict["rubric"] == rubric.read_text().strip()
    assert verdict["criteria"] == ["faithful", "clarity"] and verdict["calls"] == 12
    assert fresh_emulator.stats()["models"][JUDGE_ID]["total"] == 12
    items = read_items(out)
    assert all(set(i["judge"][0]["scores"]) == {"faithful", "clarity"} for i in items)
    report = (out / "report.html").read_text()
    assert 'id="judge-rubric-table"' in report and "faithful: the answer repeats" in report
    # the judge's text is escaped like every other text
    assert "<script" not in report.split("<style>")[0]

    again = evaluate(out, "echo-converse", dataset=EXPLAIN, extra=extra)
    assert again.returncode == 0, again.stderr
    assert json.loads((out / "results.json").read_text())["judge"]["n_cached"] == 12
    assert fresh_emulator.stats()["models"][JUDGE_ID]["total"] == 12  # answered from the cache


def test_bad_judge_options_stop_the_cli_before_any_model_call(
    fresh_emulator: Any, tmp_path: Path
) -> None:
    cases = [
        (("--judge", "nope"), "judge.model"),
        (("--judge", "judge", "--judge-mode", "pairwise"), "judge.mode"),
        (("--judge", "judge", "--judge-criteria", "Bad"), "judge.criteria"),
        (("--judge-mode", "rubric"), "need --judge"),
    ]
    for extra, needle in cases:
        done = evaluate(tmp_path / "x", "echo-converse", dataset=EXPLAIN, extra=extra)
        assert done.returncode == 2 and needle in done.stderr, (extra, done.stderr)
    assert fresh_emulator.stats()["total"] == 0


def test_lm_eval_results_name_text_metrics_as_lm_eval_does(
    fresh_emulator: Any, tmp_path: Path
) -> None:
    from lm_eval import utils as lm_utils

    out = tmp_path / "eval"
    done = evaluate(out, "echo-converse", dataset=EXPLAIN, extra=("--limit", "15"))
    assert done.returncode == 0, done.stderr
    document = json.loads((out / "lm_eval_results.json").read_text())
    task = document["results"]["echo-converse"]
    results = json.loads((out / "results.json").read_text())["results"]["echo-converse"]
    for ours, theirs in (
        ("exact_match", "exact_match"),
        ("token_f1", "f1"),
        ("rouge_l", "rougeL"),
        ("chrf", "chrf"),
    ):
        assert task[f"{theirs},none"] == results[ours]
        assert task[f"{theirs}_stderr,none"] == results[f"{ours}_stderr"]
    assert "rougeL" in lm_utils.make_table(document)


def test_text_stderr_is_the_sample_standard_error() -> None:
    import random

    from scipy.stats import sem

    from chalicelib.evaluation.text_metrics import TEXT_METRICS, TextScores

    rng = random.Random(5)
    rows = [tuple(rng.choice([0.0, 0.25, 0.5, 1.0]) for _ in TEXT_METRICS) for _ in range(50)]
    scores = TextScores()
    for row in rows:
        scores.add(row)
    result = scores.result(seed=0, resamples=10)
    for k, name in enumerate(TEXT_METRICS):
        assert result[f"{name}_stderr"] == pytest.approx(sem([r[k] for r in rows]), rel=1e-12)
