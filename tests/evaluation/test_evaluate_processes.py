"""`evaluate --processes N`: the same files as one process, one shared answer cache, and no worker
left behind when a worker fails or the run is killed. The CLI in a subprocess, real local stack."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from chalicelib.evaluation.processes import plan_processes, shards, shares
from tests.evaluation.test_evaluate_cli import (
    cached_answers,
    command,
    evaluate,
    evaluate_args,
    read_items,
    wait_for_cache,
)

MODELS = ("sentiment-converse", "sentiment-legacy")
SAME = ("results", "comparison", "samples")  # results.json apart from the run's meta


@pytest.fixture()
def fresh_emulator(local_stack: Any) -> Any:
    local_stack.emulator.reset()
    yield local_stack.emulator
    local_stack.emulator.reset()


def test_shards_are_contiguous_and_cover_the_items_once() -> None:
    assert shards(7, 3) == [(0, 3), (3, 5), (5, 7)]
    assert shards(2, 2) == [(0, 1), (1, 2)]
    assert shares(8, 3) == [3, 3, 2] and sum(shares(33, 2)) == 33


def test_auto_uses_several_processes_only_for_large_runs_on_several_cpus() -> None:
    def plan(requested: int | str, items: int, cpus: int | None, concurrency: int = 8) -> int:
        return plan_processes(
            requested, n_items=items, n_models=2, concurrency=concurrency, cpus=cpus
        )

    assert plan("auto", 999, 8) == 1  # 1,998 calls: not worth a second process
    assert plan("auto", 1000, 8) == 4  # one per CPU, at most 4
    assert plan("auto", 1000, 2) == 2
    assert plan("auto", 10_000, 1) == plan("auto", 10_000, None) == 1
    assert plan(3, 2, 8) == 2  # never more processes than items
    assert plan(4, 100, 8, concurrency=2) == 2  # nor than calls in flight


def test_two_processes_write_the_files_of_one(fresh_emulator: Any, tmp_path: Path) -> None:
    """Two fresh runs agree on everything that does not depend on timing; a run from the answers
    the first cached (each keeps its first latency) gives byte-identical items.jsonl, with one
    process or two."""
    extra = ("--seed", "5", "--samples", "7", "--concurrency", "6")
    two, one = tmp_path / "two", tmp_path / "one"
    done = evaluate(two, *MODELS, extra=(*extra, "--processes", "2"))
    assert done.returncode == 0, done.stderr
    assert fresh_emulator.stats()["total"] == 2 * 98  # each call once, over both workers
    assert cached_answers(two) == 2 * 98  # both workers wrote the one cache
    assert [(i["index"], i["model"]) for i in read_items(two)] == [
        (index, model) for index in range(98) for model in MODELS
    ]  # item order, as a job writes them
    assert evaluate(one, *MODELS, extra=(*extra, "--processes", "1")).returncode == 0
    strip = ("latency_ms",)
    assert _without(read_items(one), strip) == _without(read_items(two), strip)
    assert _timeless(one) == _timeless(two)

    for n in ("1", "2"):
        again = tmp_path / f"cached-{n}"
        again.mkdir()
        shutil.copy(two / ".cache.sqlite", again / ".cache.sqlite")
        fresh_emulator.reset()
        rerun = evaluate(again, *MODELS, extra=(*extra, "--processes", n))
        assert rerun.returncode == 0, rerun.stderr
        assert fresh_emulator.stats()["total"] == 0  # every answer from the shared cache
        assert (again / "items.jsonl").read_bytes() == (two / "items.jsonl").read_bytes()
        mine, theirs = _results(again), _results(two)
        assert {k: mine[k] for k in SAME} == {k: theirs[k] for k in SAME}
        assert mine["meta"]["n_answers_cached"] == 2 * 98 and mine["meta"]["model_calls"] == 0
        assert _lm_eval(again) == _lm_eval(two)
        assert _report(again) == _report(two)
        assert not [p for p in again.iterdir() if p.name.endswith(".partial")]


def test_a_killed_worker_fails_the_run_and_leaves_no_process(
    fresh_emulator: Any, tmp_path: Path
) -> None:
    out = tmp_path / "crash"
    fresh_emulator.set_faults(latency_ms=100)
    process = _start(out, "--processes", "2", "--concurrency", "2")
    wait_for_cache(out, 4, process)
    workers = _children(process.pid)
    assert len(workers) == 2
    os.kill(workers[0], signal.SIGKILL)  # as the OOM killer would
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "worker 1 of 2 stopped (killed by signal 9)" in stderr
    assert "run the same command again to resume" in stderr
    _wait_gone(workers)
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".cache")) == []


def test_workers_exit_when_the_run_is_killed_or_interrupted(
    fresh_emulator: Any, tmp_path: Path
) -> None:
    fresh_emulator.set_faults(latency_ms=100)
    killed = _start(tmp_path / "killed", "--processes", "2", "--concurrency", "2")
    wait_for_cache(tmp_path / "killed", 4, killed)
    workers = _children(killed.pid)
    killed.kill()  # the parent cannot clean up: the workers see their pipe close
    killed.communicate()
    _wait_gone(workers)

    interrupted = _start(tmp_path / "ctrl-c", "--processes", "2", "--concurrency", "2")
    wait_for_cache(tmp_path / "ctrl-c", 4, interrupted)
    workers = _children(interrupted.pid)
    for pid in workers:  # a terminal's Ctrl-C goes to the whole group: only the parent acts
        blocked = re.search(r"^SigBlk:\s*(\w+)$", Path(f"/proc/{pid}/status").read_text(), re.M)
        assert blocked and int(blocked[1], 16) & 1 << (signal.SIGINT - 1)
    interrupted.send_signal(signal.SIGINT)
    _, stderr = interrupted.communicate(timeout=30)
    assert interrupted.returncode == 130 and "run the same command again" in stderr
    _wait_gone(workers)


def _start(out: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command(*evaluate_args(out, "sentiment-converse", extra=extra)),
        cwd=Path(__file__).resolve().parents[2],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _children(pid: int) -> list[int]:
    """The evaluate workers: `pid`'s child processes (forked: the same command line)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid and b"chalicelib.cli" in cmdline:
            found.append(int(entry.name))
    return sorted(found)


def _wait_gone(pids: list[int]) -> None:
    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{pid}").exists() and not _zombie(pid) for pid in pids):
        assert time.monotonic() < deadline, f"workers still running: {pids}"
        time.sleep(0.05)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def _results(out: Path) -> dict[str, Any]:
    return dict(json.loads((out / "results.json").read_text()))


def _timeless(out: Path) -> dict[str, Any]:
    """results.json's metrics, comparison and samples without the latency figures."""
    results = _results(out)
    return {
        "results": {
            m: {k: v for k, v in r.items() if k not in ("latency_ms", "cost")}
            for m, r in results["results"].items()
        },
        "comparison": results["comparison"],
        "samples": results["samples"],
    }


def _report(out: Path) -> str:
    """report.html without the run's times (its meta: started, finished, run time)."""
    page = (out / "report.html").read_text()
    page = re.sub(r"\d{4}-\d\d-\d\dT[\d:.]+\+00:00", "TIME", page)
    return re.sub(r"<dd>[\d.]+ s</dd>", "<dd>SECONDS</dd>", page)


def _lm_eval(out: Path) -> dict[str, Any]:
    document = json.loads((out / "lm_eval_results.json").read_text())
    for key in ("date", "total_evaluation_time_seconds"):
        document.pop(key)
    return dict(document)


def _without(items: list[dict[str, Any]], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{k: v for k, v in item.items() if k not in keys} for item in items]


def test_the_progress_bar_and_an_s3_dataset_with_two_processes(
    fresh_emulator: Any, tmp_path: Path
) -> None:
    """The bar counts both workers' items; each worker streams the S3 object itself (with its
    own client: a forked parent's pooled connection is not reused)."""
    from chalicelib import aws
    from tests.evaluation.test_evaluate_cli import BEDROCK_SET

    s3 = aws.client("s3")
    s3.create_bucket(Bucket="tunegate-eval-processes")
    s3.put_object(Bucket="tunegate-eval-processes", Key="test.jsonl", Body=BEDROCK_SET.read_bytes())
    out = tmp_path / "s3"
    args = evaluate_args(
        out,
        "sentiment-converse",
        dataset="s3://tunegate-eval-processes/test.jsonl",
        extra=("--processes", "2", "--limit", "40"),
    )
    done = subprocess.run(
        command(*args),
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "TUNEGATE_PROGRESS": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "40/40 items 100%" in done.stderr.split("\r")[-1]
    assert [i["index"] for i in read_items(out)] == list(range(40))
    assert fresh_emulator.stats()["total"] == 40
