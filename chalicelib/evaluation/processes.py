"""`evaluate --processes N`: the CLI's items in N contiguous shards, one worker process each, so a
run is not held to one core by the GIL (botocore's ~1 ms of CPU per call).

Each worker evaluates its shard with its share of the concurrency, writes its items.jsonl lines
in item order to its own spool, commits answers to the one shared SQLite cache (WAL, one
transaction per answer) and sends back its mergeable totals (`EvaluationTotals.to_state`, as a
job's chunk does); the parent draws the progress bar, merges the totals in shard order and
joins the spools in shard order, so the files are those of a one-process run.

Workers are forked where the platform can (spawn elsewhere): a spawned worker spends ~0.5 s of
CPU importing what the parent already has. The parent forks them before it has any thread, open
cache connection or pooled socket, and each worker forgets the inherited AWS clients. They start
with SIGINT blocked (Ctrl-C is the parent's to handle) and exit as soon as the parent's end of
their pipe closes, so no worker outlives a killed or interrupted run.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import signal
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from chalicelib.config.registry import Deployment
from chalicelib.evaluation.judge import JudgePlan
from chalicelib.evaluation.totals import EvaluationTotals

AUTO = "auto"
#: `auto` uses several processes only from this many model calls (items x models): below it the
#: ~0.5 s each worker takes to start costs more than the second core gives back.
AUTO_MIN_CALLS = 2000
AUTO_MAX_PROCESSES = 4
_PROGRESS_SECONDS = 0.1  # a worker reports its progress at most this often
_STOP_SECONDS = 5.0  # how long a stopped worker gets before it is killed


class WorkerFailed(Exception):
    """A worker process stopped before finishing its shard (crashed, killed, or raised)."""


def plan_processes(
    requested: int | str, *, n_items: int, n_models: int, concurrency: int, cpus: int | None
) -> int:
    """How many processes to run: never more than items or concurrency (each process needs an
    item and a call in flight); `auto` is one process unless the run makes at least
    AUTO_MIN_CALLS model calls and the machine has several CPUs, then one per CPU (at most
    AUTO_MAX_PROCESSES)."""
    if requested == AUTO:
        many = n_items * n_models >= AUTO_MIN_CALLS and (cpus or 1) > 1
        wanted = min(cpus or 1, AUTO_MAX_PROCESSES) if many else 1
    else:
        wanted = int(requested)
    return max(1, min(wanted, n_items, concurrency))


def shards(n_items: int, n: int) -> list[tuple[int, int]]:
    """[start, stop) of n contiguous shards of near-equal size, in item order."""
    size, extra = divmod(n_items, n)
    bounds, start = [], 0
    for i in range(n):
        stop = start + size + (i < extra)
        bounds.append((start, stop))
        start = stop
    return bounds


def shares(concurrency: int, n: int) -> list[int]:
    """The run's concurrency split over n processes (the total stays --concurrency)."""
    size, extra = divmod(concurrency, n)
    return [size + (i < extra) for i in range(n)]


@dataclass(frozen=True)
class ShardTask:
    """What one worker needs; picklable (sent to a spawned process)."""

    environment: Mapping[str, str]
    dataset: str
    deployments: Sequence[Deployment]
    judge: JudgePlan | None
    start: int
    stop: int
    concurrency: int
    samples: int
    seed: int
    cache: Path
    spool: Path


def shard_tasks(
    n: int,
    *,
    n_items: int,
    concurrency: int,
    out_dir: Path,
    cache: Path,
    **common: Any,
) -> list[ShardTask]:
    """The n workers' tasks; spool files named by this process and the shard number."""
    return [
        ShardTask(
            start=start,
            stop=stop,
            concurrency=share,
            cache=cache,
            spool=out_dir / f".items.jsonl.{os.getpid()}.{i}.partial",
            **common,
        )
        for i, ((start, stop), share) in enumerate(
            zip(shards(n_items, n), shares(concurrency, n), strict=True)
        )
    ]


def run_shards(
    tasks: Sequence[ShardTask],
    totals: EvaluationTotals,
    spool: Path,
    advance: Callable[[int, int], None],
) -> EvaluationTotals:
    """Run the tasks in worker processes; their totals merged into `totals` and their items
    appended to `spool`, both in shard order. `advance(done, errors)` as items finish. Raises
    WorkerFailed (after stopping the others) when a worker does not finish its shard."""
    forks = "fork" in multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork") if forks else multiprocessing.get_context("spawn")
    workers: list[tuple[Any, Connection]] = []
    states: dict[int, dict[str, Any]] = {}
    try:
        with _sigint_blocked():  # inherited (fork or exec): Ctrl-C reaches the parent only
            for task in tasks:
                mine, theirs = context.Pipe()
                inherited = [conn for _, conn in workers]  # a fork must not hold these open
                process = context.Process(
                    target=_worker,
                    args=(task, theirs, inherited),
                    name="tunegate-evaluate",
                    daemon=True,
                )
                process.start()
                theirs.close()
                workers.append((process, mine))
        while len(states) < len(workers):
            _receive(workers, states, advance)
        for i in range(len(tasks)):
            totals.merge(EvaluationTotals.from_state(states[i]))
        with open(spool, "ab") as joined:
            for task in tasks:
                with open(task.spool, "rb") as part:
                    shutil.copyfileobj(part, joined)
        return totals
    finally:
        _stop(workers)
        for task in tasks:
            task.spool.unlink(missing_ok=True)


def _receive(
    workers: Sequence[tuple[Any, Connection]],
    states: dict[int, dict[str, Any]],
    advance: Callable[[int, int], None],
) -> None:
    """Handle what the workers sent, or raise WorkerFailed for the first that stopped short."""
    by_conn = {conn: i for i, (_, conn) in enumerate(workers) if i not in states}
    by_sentinel = {p.sentinel: i for i, (p, _) in enumerate(workers) if i not in states}
    ready = wait([*by_conn, *by_sentinel])
    for conn in (c for c in ready if c in by_conn):
        with contextlib.suppress(EOFError, OSError):  # exited: its sentinel says how
            _handle(by_conn[conn], conn.recv(), workers, states, advance)
    for i in (by_sentinel[s] for s in ready if s in by_sentinel):
        conn = workers[i][1]
        try:
            while i not in states and conn.poll():  # what it sent just before exiting
                _handle(i, conn.recv(), workers, states, advance)
        except (EOFError, OSError):
            pass
        if i not in states:
            process = workers[i][0]
            process.join(_STOP_SECONDS)  # its pipe closes a moment before it can be reaped
            code = process.exitcode
            how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit {code}"
            raise WorkerFailed(f"worker {i + 1} of {len(workers)} stopped ({how})")


def _handle(
    i: int,
    message: tuple[Any, ...],
    workers: Sequence[object],
    states: dict[int, dict[str, Any]],
    advance: Callable[[int, int], None],
) -> None:
    kind, *body = message
    if kind == "progress":
        advance(*body)
    elif kind == "done":
        states[i] = body[0]
    else:
        raise WorkerFailed(f"worker {i + 1} of {len(workers)} failed: {body[0]}")


def _stop(workers: Sequence[tuple[Any, Connection]]) -> None:
    """Close every pipe (a worker exits when it sees that), then make sure each has exited."""
    for _, conn in workers:
        conn.close()
    deadline = time.monotonic() + _STOP_SECONDS
    for process, _ in workers:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join()


@contextlib.contextmanager
def _sigint_blocked() -> Any:
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _worker(task: ShardTask, conn: Connection, inherited: Sequence[Connection]) -> None:
    """A worker process: its shard, then its totals; exits at once if the parent goes away."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    for other in inherited:  # the parent's ends of earlier workers' pipes (fork)
        other.close()
    threading.Thread(target=_exit_with_parent, args=(conn,), daemon=True).start()
    try:
        state = _evaluate_shard(task, conn)
    except BaseException as exc:  # reported to the parent, which prints it and stops the run
        with contextlib.suppress(OSError):
            conn.send(("failed", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
        os._exit(1)
    conn.send(("done", state))  # then return: the process exits (and its pipe closes)


def _exit_with_parent(conn: Connection) -> None:
    """The parent sends nothing: recv returns only when its end closes (finished, stopped,
    interrupted or killed). SQLite commits per answer, so exiting here loses only calls in
    flight, as a killed one-process run would."""
    with contextlib.suppress(EOFError, OSError):
        conn.recv()
    os._exit(0)


def _evaluate_shard(task: ShardTask, conn: Connection) -> dict[str, Any]:
    from chalicelib import aws
    from chalicelib.cli import logs_to_stderr
    from chalicelib.config.settings import install_settings
    from chalicelib.evaluation.cache import SqliteCache
    from chalicelib.evaluation.judge_run import Judge
    from chalicelib.evaluation.outputs import ItemsSpool
    from chalicelib.evaluation.runner import Evaluator
    from chalicelib.evaluation.scoring import reference_check
    from chalicelib.evaluation.sources import open_dataset

    logs_to_stderr()
    aws.reset_clients()  # a forked parent's pooled connections are not ours to use
    install_settings(task.environment)
    dataset = open_dataset(task.dataset, check=reference_check(task.deployments))
    totals = EvaluationTotals(
        [d.name for d in task.deployments],
        samples=task.samples,
        seed=task.seed,
        judged=task.judge is not None,
    )
    judge = None if task.judge is None else Judge(task.judge)
    done = errors = 0
    sent = time.monotonic()
    with SqliteCache(task.cache) as cache:
        spool = ItemsSpool(task.spool.parent, path=task.spool)
        evaluator = Evaluator(
            task.deployments, concurrency=task.concurrency, cache=cache, judge=judge
        )
        items = islice(dataset.items(task.stop), task.start, None)
        for result in evaluator.run(items, ordered=True):
            spool.write(result)
            totals.add(result)
            done, errors = done + 1, errors + result.has_error
            if time.monotonic() - sent >= _PROGRESS_SECONDS:
                conn.send(("progress", done, errors))
                done = errors = 0
                sent = time.monotonic()
        spool.close()
    if done:
        conn.send(("progress", done, errors))
    return totals.to_state()
