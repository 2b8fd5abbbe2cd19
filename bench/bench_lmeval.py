"""Tunegate's `evaluate` against lm-evaluation-harness's `local-chat-completions` on one emulator
(own process, 50 ms model latency), the same N items, the same concurrency, the same run.

Each round runs, in turn (order rotated round by round, so drift on the shared machine hits
every path alike):
- lm-eval: `lm_eval run --model local-chat-completions --apply_chat_template` against the
  emulator's OpenAI endpoint (num_concurrent=C), a subprocess as a user runs it, with a task
  defined locally over the items file (offline, nothing from a hub);
- Tunegate CLI: `python -m chalicelib.cli evaluate --concurrency C` on the same file through a
  registry deployment of the same model, once on the Bedrock Converse path and once on the
  OpenAI-compatible path (the emulator's OpenAI endpoint, as lm-eval calls it);
- runner in process: bench_runner.py's target row (`Evaluator.run` + totals + SQLite cache,
  Bedrock Converse, concurrency C) on the same emulator and items, so "runner ≥ 90% of ideal"
  and "≥ 1.0× lm-eval's items/s" come from one run.

Wall time is the whole command (start-up, reading the items, writing every output file); the
request phase is measured alike for every subprocess from the emulator's side (first to last
model call, see CallWatch). CPU and peak RSS of a subprocess are its own rusage (os.wait4). The
answers are compared item by item between every pair of paths on the same model.

Run: .venv/bin/python bench/bench_lmeval.py [--items 2000] [--rounds 2] [--concurrency 32]
     [--latency-ms 50] [--model echo|reference]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_runner import (  # noqa: E402
    DEPLOYMENT,
    ECHO_ARN,
    REFERENCE_ARN,
    cli_env,
    configure,
    cpu_seconds,
    process_cpu_seconds,
    run_runner,
    run_sequential,
    start_emulator,
)

from examples.lm_eval.utils import parse_label  # noqa: E402

# model → (Bedrock model id, the emulator's OpenAI model id): the same model behind both APIs
MODELS = {
    "echo": (ECHO_ARN, "echo-bench"),
    "reference": (REFERENCE_ARN, "ft:tunegate-drugreview"),
}
SEPARATOR = "\n\n###\n\n"
TASK = "tunegate_bench_items"
KEY = "bench-openai-key"
LM_EVAL = "lm-eval local-chat-completions"
CLI_BEDROCK = "Tunegate evaluate CLI, Bedrock Converse"
CLI_OPENAI = "Tunegate evaluate CLI, OpenAI-compatible"
RUNNER = "Tunegate runner in process, Bedrock Converse"


@dataclass(frozen=True)
class Emulator:
    pid: int
    url: str
    latency: float


@dataclass
class Run:
    """One path's timed run: whole-process wall and rusage, the request phase, the answers."""

    name: str
    n: int
    wall: float
    phase: float | None
    cpu: float
    rss_mb: float | None
    emulator_cpu: float
    phase_cpu: float | None = None  # the client's CPU during the request phase
    answers: dict[int, str] = field(default_factory=dict)


def write_items(path: Path, n: int) -> None:
    """The drug-review train, validation and test splits, repeated to n, each prompt made
    distinct (` (#i)` before the separator) so no answer is a cache hit."""
    records = [
        json.loads(line)
        for split in ("train", "validation", "test")
        for line in (ROOT / f"examples/drugreview/openai/{split}.jsonl").read_text().splitlines()
    ]
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(n):
            record = records[i % len(records)]
            text = record["prompt"].removesuffix(SEPARATOR)
            line = {"prompt": f"{text} (#{i}){SEPARATOR}", "completion": record["completion"]}
            handle.write(json.dumps(line) + "\n")


def write_task(folder: Path, items: Path) -> None:
    """examples/lm_eval's task (prompt, stop, max tokens, scoring) over the items file."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "examples/lm_eval/utils.py", folder / "utils.py")
    text = (ROOT / "examples/lm_eval/drug_review_sentiment.yaml").read_text()
    text = text.replace("task: drug_review_sentiment", f"task: {TASK}")
    text = text.replace("examples/drugreview/openai/test.jsonl", str(items))
    (folder / f"{TASK}.yaml").write_text(text)


def write_registry(path: Path, url: str, model: str) -> None:
    """`bench-bedrock` and `bench-openai`: the runner bench's deployment on both providers,
    with the task's max tokens and stop, and no system prompt (lm-eval sends none)."""
    bedrock_id, openai_id = MODELS[model]
    base = {key: value for key, value in DEPLOYMENT.items() if key != "prompt"}
    deployments = [
        {**base, "name": "bench-bedrock", "model_id": bedrock_id},
        {
            **base,
            "name": "bench-openai",
            "provider": "openai",
            "model_id": openai_id,
            "request_format": "chat",
            "base_url": f"{url}/openai/v1",
            "api_key_env": "BENCH_OPENAI_KEY",
        },
    ]
    path.write_text(json.dumps({"deployments": deployments}))


class CallWatch:
    """The request phase as the emulator sees it. Polls `/_emulator/stats` (one kept-alive
    connection, every 20 ms, from this otherwise idle process), sampling the call count and the
    emulator's CPU: phase = last change − first change + the model latency; the emulator's CPU
    is taken from the poll before the first change to the poll after the last answer, so its
    idle polling during the subprocess's start-up is left out. The client's CPU (set
    `client_pid`) is sampled alike: its CPU per item while requesting, without its start-up."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.client_pid = 0
        # (time, calls, emulator CPU s, client CPU s)
        self.samples: list[tuple[float, int, float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _sample(self, connection: http.client.HTTPConnection) -> None:
        connection.request("GET", "/_emulator/stats")
        total = int(json.loads(connection.getresponse().read())["total"])
        now = time.perf_counter()
        client = self.samples[-1][3] if self.samples else 0.0
        if self.client_pid:
            with contextlib.suppress(OSError):  # already reaped
                client = process_cpu_seconds(self.client_pid)
        self.samples.append((now, total, process_cpu_seconds(self.emulator.pid), client))

    def _poll(self) -> None:
        connection = http.client.HTTPConnection(urlsplit(self.emulator.url).netloc, timeout=10)
        self._sample(connection)
        self._ready.set()
        while not self._stop.wait(0.02):
            self._sample(connection)
        connection.close()

    def __enter__(self) -> CallWatch:
        self._ready = threading.Event()
        self._thread.start()
        self._ready.wait()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def phase(self) -> tuple[float, float, float] | None:
        """(seconds, emulator CPU s, client CPU s) of the request phase; None if no call."""
        calls = [sample[1] for sample in self.samples]
        changed = [i for i in range(1, len(calls)) if calls[i] != calls[i - 1]]
        if not changed:
            return None
        first, last = changed[0], changed[-1]
        seconds = self.samples[last][0] - self.samples[first][0] + self.emulator.latency
        done = self.samples[last][0] + self.emulator.latency
        end = next((i for i in range(last, len(calls)) if self.samples[i][0] >= done), -1)
        start, stop = self.samples[first - 1], self.samples[end]
        return seconds, stop[2] - start[2], stop[3] - start[3]


def run_child(command: list[str], env: dict[str, str], emulator: Emulator) -> tuple[Run, str]:
    """Run a command to the end: its wall time, CPU and peak RSS (its own rusage), the request
    phase as the emulator saw it, and its stderr."""
    with CallWatch(emulator) as watch, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err
        )
        watch.client_pid = process.pid
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    process.returncode = os.waitstatus_to_exitcode(status)
    phase = watch.phase()
    if process.returncode != 0:
        raise SystemExit(f"{command[0]} failed ({process.returncode}):\n{stderr[-4000:]}")
    run = Run(
        name="",
        n=0,
        wall=wall,
        phase=phase[0] if phase else None,
        cpu=usage.ru_utime + usage.ru_stime,
        rss_mb=usage.ru_maxrss / 1024,  # KiB on Linux
        emulator_cpu=phase[1] if phase else 0.0,
        phase_cpu=phase[2] if phase else None,
    )
    return run, stderr


def lm_eval(
    workdir: Path, emulator: Emulator, model: str, concurrency: int, env: dict[str, str]
) -> Run:
    out = Path(tempfile.mkdtemp(prefix="lm-eval-", dir=workdir))
    model_args = (
        f"model={MODELS[model][1]},base_url={emulator.url}/openai/v1/chat/completions,"
        f"num_concurrent={concurrency}"
    )
    command = [
        str(Path(sys.executable).parent / "lm_eval"),
        "run",
        "--model",
        "local-chat-completions",
        "--model_args",
        model_args,
        "--apply_chat_template",
        "--tasks",
        TASK,
        "--include_path",
        str(workdir / "task"),
        "--output_path",
        str(out),
        "--log_samples",
    ]
    # a fresh datasets cache each run: every run reads the items as a user's first run does
    run, _ = run_child(command, {**env, "HF_HOME": str(out / "hf")}, emulator)
    [samples] = out.glob(f"*/samples_{TASK}_*.jsonl")
    for line in samples.read_text().splitlines():
        sample = json.loads(line)
        run.answers[sample["doc_id"]] = sample["resps"][0][0]
    run.name, run.n = LM_EVAL, len(run.answers)
    return run


def tunegate_cli(
    name: str,
    deployment: str,
    workdir: Path,
    items: Path,
    concurrency: int,
    env: dict[str, str],
    emulator: Emulator,
) -> Run:
    out = Path(tempfile.mkdtemp(prefix="tunegate-", dir=workdir))
    command = [sys.executable, "-m", "chalicelib.cli", "evaluate", "--model", deployment]
    command += ["--dataset", str(items), "--out", str(out), "--concurrency", str(concurrency)]
    run, _ = run_child(command, env, emulator)
    meta = json.loads((out / "results.json").read_text())["meta"]
    with open(out / "items.jsonl", encoding="utf-8") as handle:
        for line in handle:
            item = json.loads(line)
            run.answers[item["index"]] = item["output"]
    if meta["n_items_with_errors"]:
        raise SystemExit(f"{name}: {meta['n_items_with_errors']} items with errors")
    run.name, run.n = name, meta["n_items"]
    return run


def runner_in_process(
    items: Path, concurrency: int, model: str, workdir: Path, emulator: Emulator
) -> Run:
    """bench_runner.py's target row on this emulator and these items (after 20 warm-up calls
    outside the timing, as there); its own timer (no poller in this process), and CPU is this
    process's during the run, no start-up."""
    from chalicelib.evaluation.datasets import Dataset

    configure(emulator.url, workdir)
    model_id = MODELS[model][0]
    dataset: list[object] = list(Dataset.from_path(items).items())
    run_sequential(dataset[:20], model_id)
    cpu, emulator_cpu = cpu_seconds(), process_cpu_seconds(emulator.pid)
    cache_dir = Path(tempfile.mkdtemp(prefix="runner-", dir=workdir))  # a fresh answer cache
    seconds, errors = run_runner(dataset, concurrency, cache_dir, model_id)
    used = cpu_seconds() - cpu
    if errors:
        raise SystemExit(f"runner: {errors} items with errors")
    return Run(
        name=RUNNER,
        n=len(dataset),
        wall=seconds,
        phase=seconds,
        cpu=used,
        rss_mb=None,
        emulator_cpu=process_cpu_seconds(emulator.pid) - emulator_cpu,
        phase_cpu=used,
    )


def compare(runs: list[Run], n: int) -> list[str]:
    """Item-by-item agreement of the answers (and of the labels lm-eval's task parses from
    them) between each pair of paths that returned answers."""
    lines = []
    with_answers = [run for run in runs if run.answers]
    for i, first in enumerate(with_answers):
        for second in with_answers[i + 1 :]:
            same = sum(first.answers.get(k) == second.answers.get(k) for k in range(n))
            labels = sum(
                parse_label(first.answers.get(k) or "") == parse_label(second.answers.get(k) or "")
                for k in range(n)
            )
            lines.append(
                f"- answers identical item by item, {first.name} vs {second.name}: "
                f"{same}/{n} (parsed labels {labels}/{n})"
            )
    return lines


def median(values: list[float]) -> float:
    return statistics.median(values)


def fmt_range(values: list[float], digits: int) -> str:
    text = f"{median(values):.{digits}f}"
    if len(values) > 1:
        text += f" ({min(values):.{digits}f}–{max(values):.{digits}f})"
    return text


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--model", choices=sorted(MODELS), default="echo")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-lmeval-"))
    items = workdir / "items.jsonl"
    write_items(items, args.items)
    write_task(workdir / "task", items)
    load_before = os.getloadavg()
    process, url = start_emulator(args.latency_ms)
    emulator = Emulator(process.pid, url, args.latency_ms / 1000)
    registry = workdir / "registry.json"  # configure() writes models.json for the runner row
    write_registry(registry, url, args.model)
    env = cli_env(
        url,
        registry,
        BENCH_OPENAI_KEY=KEY,
        OPENAI_API_KEY=KEY,
        HF_DATASETS_OFFLINE="1",
        HF_HUB_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
    )
    c = args.concurrency
    paths: list[tuple[str, Callable[[], Run]]] = [
        (LM_EVAL, lambda: lm_eval(workdir, emulator, args.model, c, env)),
        (
            CLI_BEDROCK,
            lambda: tunegate_cli(CLI_BEDROCK, "bench-bedrock", workdir, items, c, env, emulator),
        ),
        (
            CLI_OPENAI,
            lambda: tunegate_cli(CLI_OPENAI, "bench-openai", workdir, items, c, env, emulator),
        ),
        (RUNNER, lambda: runner_in_process(items, c, args.model, workdir, emulator)),
    ]
    runs: dict[str, list[Run]] = {name: [] for name, _ in paths}
    loads = []
    try:
        for round_ in range(args.rounds):
            shift = round_ % len(paths)
            for name, measure in paths[shift:] + paths[:shift]:
                runs[name].append(measure())
                loads.append(os.getloadavg()[0])
    finally:
        process.terminate()
        process.wait()
    report(args, runs, load_before, loads)


def report(
    args: argparse.Namespace,
    runs: dict[str, list[Run]],
    load_before: tuple[float, ...],
    loads: list[float],
) -> None:
    latency = args.latency_ms / 1000
    ideal_rate = args.concurrency / latency
    print(
        f"\nlm-eval vs Tunegate, {args.items} items, model {args.model}, concurrency "
        f"{args.concurrency}, emulator latency {args.latency_ms} ms (own process), "
        f"{os.cpu_count()} CPUs, {args.rounds} rounds interleaved: median (min–max)\n"
        f"load average before {load_before[0]:.1f}, during {min(loads):.1f}–{max(loads):.1f}\n"
    )
    print(
        "| path | wall s | items/s | % of ideal | request phase s | items/s | % of ideal "
        "| client CPU s | CPU ms/item requesting | peak RSS MB | emulator CPU ms/call |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    rates = {name: [run.n / run.wall for run in done] for name, done in runs.items()}
    phase_rates = {
        name: [run.n / (run.phase or run.wall) for run in done] for name, done in runs.items()
    }
    for name, done in runs.items():
        rss = [run.rss_mb for run in done if run.rss_mb is not None]
        label = f"{name} (run only)" if name == RUNNER else name
        print(
            f"| {label} | {fmt_range([r.wall for r in done], 2)} | "
            f"{fmt_range(rates[name], 0)} | {median(rates[name]) / ideal_rate * 100:.1f}% | "
            f"{fmt_range([r.phase or r.wall for r in done], 2)} | "
            f"{fmt_range(phase_rates[name], 0)} | "
            f"{median(phase_rates[name]) / ideal_rate * 100:.1f}% | "
            f"{fmt_range([r.cpu for r in done], 2)} | "
            f"{median([(r.phase_cpu or 0.0) / r.n * 1000 for r in done]):.2f} | "
            f"{fmt_range(rss, 0) if rss else '—'} | "
            f"{median([r.emulator_cpu / r.n * 1000 for r in done]):.2f} |"
        )
    print(
        f"\nideal: {args.items} items × {args.latency_ms} ms / {args.concurrency} = "
        f"{args.items * latency / args.concurrency:.2f} s, {ideal_rate:.0f} items/s"
    )
    for name in (CLI_BEDROCK, CLI_OPENAI, RUNNER):
        whole = [a / b for a, b in zip(rates[name], rates[LM_EVAL], strict=True)]
        phase = [a / b for a, b in zip(phase_rates[name], phase_rates[LM_EVAL], strict=True)]
        print(
            f"{name} / lm-eval items/s (goal ≥ 1.0), per round: whole run "
            f"{', '.join(f'{r:.2f}' for r in whole)}; request phase "
            f"{', '.join(f'{r:.2f}' for r in phase)}"
        )
    runner = median(phase_rates[RUNNER]) / ideal_rate * 100
    print(
        f"runner % of ideal at C={args.concurrency}/{args.latency_ms} ms: {runner:.1f}% "
        "(goal ≥ 90%)"
    )
    last = [done[-1] for done in runs.values()]
    print("\n".join(compare(last, args.items)))


if __name__ == "__main__":
    main()
