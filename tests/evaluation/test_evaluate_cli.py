"""`evaluate` and `report` end to end: the CLI in a subprocess against the local stack."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib.serving.parsing import normalise_label

ROOT = Path(__file__).resolve().parents[2]
TEST_SET = ROOT / "examples" / "drugreview" / "openai" / "test.jsonl"
BEDROCK_SET = ROOT / "examples" / "drugreview" / "bedrock" / "test.jsonl"
TIMES = ("started_at", "finished_at")
OUTPUTS = {"results.json", "items.jsonl", "lm_eval_results.json", "report.html"}
ITEM_FIELDS = {
    "index",
    "model",
    "input",
    "reference",
    "output",
    "prediction",
    "status",
    "error_code",
    "latency_ms",
    "category",
}


@pytest.fixture()
def fresh_emulator(local_stack: Any) -> Iterator[Any]:
    local_stack.emulator.reset()
    yield local_stack.emulator
    local_stack.emulator.reset()


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "chalicelib.cli", *args]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(*args), cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=120
    )


def evaluate_args(
    out: Path, *models: str, dataset: Path | str = TEST_SET, extra: tuple[str, ...] = ()
) -> list[str]:
    """The `evaluate` command line of these models on `dataset`, writing to `out`."""
    model_args = [arg for m in models for arg in ("--model", m)]
    return ["evaluate", *model_args, "--dataset", str(dataset), "--out", str(out), *extra]


def evaluate(
    out: Path, *models: str, dataset: Path | str = TEST_SET, extra: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    return cli(*evaluate_args(out, *models, dataset=dataset, extra=extra))


def start_evaluate(out: Path, model: str, extra: tuple[str, ...]) -> subprocess.Popen[str]:
    """`evaluate` of `model` on TEST_SET in the background (to kill or interrupt it)."""
    return subprocess.Popen(
        command(*evaluate_args(out, model, extra=extra)),
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_items(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "items.jsonl").read_text().splitlines()]


def cached_answers(out: Path) -> int:
    path = out / ".cache.sqlite"
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            return int(db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])
    except sqlite3.OperationalError:  # created but the table not yet
        return 0


def without_latency(results: dict[str, Any]) -> dict[str, Any]:
    return {m: {k: v for k, v in r.items() if k != "latency_ms"} for m, r in results.items()}


def test_evaluate_writes_every_output_and_prints_the_table(
    fresh_emulator: Any, tmp_path: Path
) -> None:
    out = tmp_path / "eval"
    models = ("sentiment-converse", "sentiment-legacy")
    done = evaluate(out, *models, extra=("--limit", "30", "--samples", "5", "--seed", "3"))
    assert done.returncode == 0, done.stderr
    for model in models:
        assert model in done.stdout
    assert "accuracy" in done.stdout and "McNemar" in done.stdout
    assert fresh_emulator.stats()["total"] == 60
    names = {p.name for p in out.iterdir() if not p.name.startswith(".cache")}
    samples = {n for n in names if n.startswith("samples_")}  # lm-eval's sample logs
    assert names - samples == OUTPUTS
    assert {n.rsplit("_", 1)[0] for n in samples} == {
        "samples_sentiment_converse",
        "samples_sentiment_legacy",
    }

    results = json.loads((out / "results.json").read_text())
    meta = results["meta"]
    assert meta["models"] == list(models) and meta["seed"] == 3 and meta["limit"] == 30
    assert meta["n_items"] == 30 and meta["dataset"] == str(TEST_SET)
    assert meta["started_at"] <= meta["finished_at"]
    # the finaliser's precision (one assemble step): milliseconds
    assert all(re.fullmatch(r".*T\d\d:\d\d:\d\d\.\d{3}\+00:00", meta[k]) for k in TIMES)
    items = read_items(out)
    assert len(items) == 60 and all(set(i) == ITEM_FIELDS for i in items)
    assert sorted({i["index"] for i in items}) == list(range(30))
    for model in models:
        mine = [i for i in items if i["model"] == model]
        scored = [i for i in mine if i["status"] != "error"]
        hits = sum(i["prediction"] == normalise_label(i["reference"]) for i in scored)
        metrics = results["results"][model]
        assert metrics["n"] == len(scored)
        assert metrics["accuracy"] == pytest.approx(hits / len(scored))
        # the printed table shows the same numbers
        assert f"{metrics['accuracy']:.3f} ± {metrics['accuracy_stderr']:.3f}" in done.stdout
        # and the baselines of this model's references, with the verdict
        refs = [normalise_label(i["reference"]) for i in scored]
        most = max(map(refs.count, refs))
        top = min(label for label in refs if refs.count(label) == most)  # ties: first in L
        majority = metrics["baselines"]["majority"]
        assert majority["label"] == top and majority["accuracy"] == pytest.approx(most / len(refs))
        lines = done.stdout.splitlines()
        start = next(i for i, line in enumerate(lines) if line.startswith("baseline "))
        [row] = [line for line in lines[start:] if line.startswith(f"{model} ")][:1]
        verdict = "better" if metrics["baselines"]["beats_majority"]["better"] else "not better"
        assert f"{majority['accuracy']:.3f} ({top})" in row and row.endswith(f", {verdict}")
    [pair] = results["comparison"]
    assert (pair["a"], pair["b"]) == models
    assert len(results["samples"]) == 5

    lm_eval = json.loads((out / "lm_eval_results.json").read_text())
    for model in models:
        entry = lm_eval["results"][model]
        assert entry["alias"] == model
        assert entry["acc,none"] == results["results"][model]["accuracy"]
        assert entry["acc_stderr,none"] == results["results"][model]["accuracy_stderr"]
        assert entry["f1_macro,none"] == results["results"][model]["f1_macro"]
        assert lm_eval["n-samples"][model] == {"original": 98, "effective": 30}
        assert lm_eval["higher_is_better"][model]["acc"] is True
    assert {"config", "configs", "versions", "n-shot"} <= set(lm_eval)
    report = (out / "report.html").read_text()
    assert report.startswith("<!DOCTYPE html>") and "sentiment-legacy" in report


def test_baselines_table_reads_like_a_verdict() -> None:
    """A model that always answers the majority class is exactly at the majority rate."""
    from chalicelib.evaluation.commands import baselines_table
    from chalicelib.evaluation.metrics import ModelMetrics

    refs = ["negative"] * 25 + ["neutral"] * 9 + ["positive"] * 64
    always, good = ModelMetrics(), ModelMetrics()
    always.add_many(refs, ["positive"] * 98, ["ok"] * 98)
    good.add_many(refs, refs[:80] + ["neutral"] * 18, ["ok"] * 98)
    table = baselines_table({"always": always.result(), "good": good.result()}).splitlines()
    assert table[0].split()[:3] == ["baseline", "majority", "(always)"]
    assert " ".join(table[1].split()) == (
        "always 0.653 (positive) 0.263 0.500 0.332 p = 0.546, not better"
    )
    assert table[2].endswith("p = 0.0003, better")
    assert baselines_table({"text": {"baselines": None}}) == ""


def test_report_rebuilds_the_page_from_the_files(fresh_emulator: Any, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    assert evaluate(out, "sentiment-converse", extra=("--limit", "8")).returncode == 0
    original = (out / "report.html").read_text()
    (out / "report.html").unlink()
    rebuilt = cli("report", str(out))
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert (out / "report.html").read_text() == original
    missing = cli("report", str(tmp_path / "nothing-here"))
    assert missing.returncode == 2 and "report: error" in missing.stderr


def test_conversation_dataset_from_s3(fresh_emulator: Any, tmp_path: Path) -> None:
    from chalicelib import aws

    s3 = aws.client("s3")
    s3.create_bucket(Bucket="tunegate-eval-datasets")
    s3.put_object(
        Bucket="tunegate-eval-datasets", Key="sets/test.jsonl", Body=BEDROCK_SET.read_bytes()
    )
    out = tmp_path / "s3"
    uri = "s3://tunegate-eval-datasets/sets/test.jsonl"
    done = evaluate(out, "sentiment-converse", dataset=uri, extra=("--limit", "12"))
    assert done.returncode == 0, done.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["meta"]["n_items"] == 12 and results["meta"]["n_dataset_items"] == 98
    first = read_items(out)[0]
    assert isinstance(first["input"], list) and first["input"][-1]["role"] == "user"
    gone = evaluate(tmp_path / "x", "sentiment-converse", dataset="s3://tunegate-eval-datasets/no")
    assert gone.returncode == 2 and "cannot read" in gone.stderr


def test_runs_that_cannot_start_fail_before_any_model_call(
    fresh_emulator: Any, tmp_path: Path
) -> None:
    unknown = evaluate(tmp_path / "a", "no-such-model")
    assert unknown.returncode == 2 and "unknown model 'no-such-model'" in unknown.stderr
    bad = tmp_path / "bad.jsonl"
    good = json.dumps({"input": "fine", "target": "positive"})
    bad.write_text("\n".join([good, "{not json", good, json.dumps({"text": "x"}), good]) + "\n")
    invalid = evaluate(tmp_path / "b", "sentiment-converse", dataset=bad)
    assert invalid.returncode == 2
    assert "line 2:" in invalid.stderr and "line 4:" in invalid.stderr
    assert "line 1:" not in invalid.stderr
    numbers = evaluate(tmp_path / "c", "echo-number", dataset=TEST_SET)  # labels, not numbers
    assert numbers.returncode == 2 and "has no number" in numbers.stderr
    missing = evaluate(tmp_path / "d", "sentiment-converse", dataset=tmp_path / "nope.jsonl")
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    assert fresh_emulator.stats()["total"] == 0
    assert not (tmp_path / "b").exists()


def wait_for_cache(out: Path, at_least: int, process: subprocess.Popen[str]) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        count = cached_answers(out)
        if count >= at_least:
            return count
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    raise AssertionError("the run made no progress")


def test_a_killed_run_resumes_without_calling_finished_items_again(
    fresh_emulator: Any, tmp_path: Path
) -> None:
    out = tmp_path / "resume"
    args = ("--concurrency", "2", "--limit", "40")
    fresh_emulator.set_faults(latency_ms=100)
    process = start_evaluate(out, "sentiment-converse", args)
    wait_for_cache(out, 8, process)
    process.kill()
    process.communicate()
    finished = cached_answers(out)
    assert 8 <= finished < 40
    assert fresh_emulator.stats()["total"] >= finished
    assert not (out / "results.json").exists()  # a crashed run leaves no half outputs

    time.sleep(0.5)  # calls the killed process left in flight end (and are counted) first
    fresh_emulator.reset()  # zero the call counts (and the latency)
    resumed = evaluate(out, "sentiment-converse", extra=args)
    assert resumed.returncode == 0, resumed.stderr
    assert fresh_emulator.stats()["total"] == 40 - finished
    results = json.loads((out / "results.json").read_text())
    assert results["meta"]["n_answers_cached"] == finished
    assert results["meta"]["model_calls"] == 40 - finished
    assert results["results"]["sentiment-converse"]["n"] == 40

    fresh = evaluate(tmp_path / "fresh", "sentiment-converse", extra=args)
    assert fresh.returncode == 0
    again = json.loads((tmp_path / "fresh" / "results.json").read_text())
    assert without_latency(again["results"]) == without_latency(results["results"])


def test_ctrl_c_stops_cleanly_and_says_how_to_resume(fresh_emulator: Any, tmp_path: Path) -> None:
    out = tmp_path / "interrupted"
    fresh_emulator.set_faults(latency_ms=100)
    process = start_evaluate(out, "sentiment-converse", ("--concurrency", "2"))
    wait_for_cache(out, 4, process)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130
    assert "run the same command again to resume" in stderr
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".cache")) == []
