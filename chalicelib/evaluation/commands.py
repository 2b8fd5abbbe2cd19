"""The `evaluate` and `report` subcommands: argument parsing, progress and printing only.

Exit status: 0 when the evaluation ran (item errors included), 2 when it could not run (unknown
model, bad dataset, unreadable file, bad configuration), 1 when a worker process of
`--processes N` failed and 130 when interrupted (rerun to resume, in both cases).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chalicelib.cli_output import aligned_table, fail
from chalicelib.errors import ConfigurationError
from chalicelib.evaluation.metric_table import METRICS, Metric, shown
from chalicelib.evaluation.pacing import DEFAULT_CONCURRENCY

if TYPE_CHECKING:  # the engine is imported when a command runs: other commands start faster
    from chalicelib.config.registry import Deployment
    from chalicelib.config.settings import Settings
    from chalicelib.evaluation.judge import JudgePlan

DEFAULT_SAMPLES = 20  # as samples.DEFAULT_SAMPLES, not imported: the engine loads lazily
MAX_CONCURRENCY = 50  # the model client's connection pool (chalicelib.aws)


def _bounded(low: int, high: int | None = None) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low or (high is not None and value > high):
            span = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"must be {span}")
        return value

    return parse


def _processes(text: str) -> int | str:
    """--processes: a count of at least 1, or `auto` (chalicelib/evaluation/processes.py)."""
    if text == "auto":
        return text
    return int(_bounded(1)(text))


def _deployments(settings: Settings, names: Sequence[str]) -> list[Deployment]:
    from chalicelib.config.registry import load_registry
    from chalicelib.errors import NotFound

    for i, name in enumerate(names):
        if name in names[:i]:
            raise ConfigurationError(f"--model {name} is given twice")
    registry = load_registry(settings.models_file)
    select = registry.select
    if any("@" in name for name in names):
        # `name@N` is a version in the registry table (bare names keep reading the file).
        from chalicelib.deployments.resolve import RegistryView
        from chalicelib.storage.registry import DynamoRegistryStore

        select = RegistryView(DynamoRegistryStore(settings.registry_table).snapshot()).select
    try:
        return select(names)
    except NotFound as exc:
        unknown = exc.details[0]["reason"] if exc.details else exc.message
        known = ", ".join(sorted(d.name for d in registry.deployments))
        raise ConfigurationError(f"{unknown}; the registry has: {known}") from None


def _judge_plan(
    settings: Settings, args: argparse.Namespace, deployments: Sequence[Deployment]
) -> JudgePlan | None:
    """--judge and its options as the API's `judge` object, checked the same way."""
    from pydantic import ValidationError

    from chalicelib.config.registry import load_registry
    from chalicelib.errors import InvalidRequest
    from chalicelib.evaluation.judge import JudgeSpec, resolve_judge

    if args.judge is None:
        if args.judge_mode or args.judge_rubric or args.judge_criteria:
            raise ConfigurationError(
                "--judge-mode, --judge-rubric and --judge-criteria need --judge"
            )
        return None
    fields: dict[str, Any] = {"model": args.judge, "mode": args.judge_mode or "rubric"}
    if args.judge_rubric:
        try:
            fields["rubric"] = Path(args.judge_rubric).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigurationError(
                f"--judge-rubric: cannot read {args.judge_rubric}: {exc}"
            ) from None
    if args.judge_criteria:
        fields["criteria"] = [c.strip() for c in args.judge_criteria.split(",")]
    if args.judge_samples:
        fields["samples"] = args.judge_samples
    try:
        spec = JudgeSpec.model_validate(fields)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = "judge." + ".".join(str(p) for p in error["loc"])
        raise ConfigurationError(f"{where}: {error['msg']}") from None
    registry = load_registry(settings.models_file)
    try:
        return resolve_judge(spec, lambda name: registry.select([name])[0], deployments)
    except InvalidRequest as exc:
        detail = exc.details[0] if exc.details else {"field": "judge", "reason": exc.message}
        raise ConfigurationError(f"{detail['field']}: {detail['reason']}") from None


def run_evaluate(args: argparse.Namespace) -> int:
    from chalicelib.config.settings import install_settings
    from chalicelib.evaluation.cache import SqliteCache
    from chalicelib.evaluation.datasets import DatasetError
    from chalicelib.evaluation.judge_run import Judge
    from chalicelib.evaluation.outputs import CACHE, ItemsSpool
    from chalicelib.evaluation.processes import (
        WorkerFailed,
        plan_processes,
        run_shards,
        shard_tasks,
    )
    from chalicelib.evaluation.results import assemble
    from chalicelib.evaluation.runner import Evaluator
    from chalicelib.evaluation.scoring import reference_check
    from chalicelib.evaluation.sources import open_dataset
    from chalicelib.evaluation.totals import EvaluationTotals
    from chalicelib.progress import Progress

    try:
        settings = install_settings(args.environment)
        deployments = _deployments(settings, args.model)
        judge_plan = _judge_plan(settings, args, deployments)
    except ConfigurationError as exc:
        return fail("evaluate", exc)
    dataset = open_dataset(args.dataset, check=reference_check(deployments))
    try:
        summary = dataset.validate()
    except DatasetError as exc:
        return fail("evaluate", f"invalid dataset {exc}")
    except OSError as exc:
        return fail("evaluate", f"cannot read {args.dataset}: {exc}")
    out_dir = Path(args.out)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return fail("evaluate", f"cannot create {out_dir}: {exc}")
    total = summary.n_items if args.limit is None else min(args.limit, summary.n_items)
    started_at, clock = datetime.now(UTC), time.monotonic()
    totals = EvaluationTotals(
        [d.name for d in deployments],
        samples=args.samples,
        seed=args.seed,
        judged=judge_plan is not None,
    )
    processes = plan_processes(
        args.processes,
        n_items=total,
        n_models=len(deployments),
        concurrency=args.concurrency,
        cpus=os.cpu_count(),
    )
    cache = SqliteCache(out_dir / CACHE)  # created here, before any worker opens it
    spool = ItemsSpool(out_dir)
    try:
        with Progress(total, "evaluate") as bar:
            if processes == 1:
                judge = None if judge_plan is None else Judge(judge_plan)
                evaluator = Evaluator(
                    deployments, concurrency=args.concurrency, cache=cache, judge=judge
                )
                for result in evaluator.run(dataset.items(args.limit), ordered=True):
                    spool.write(result)
                    totals.add(result)
                    bar.advance(1, errors=int(result.has_error))
            else:
                spool.close()
                cache.close()  # the workers open their own; none may inherit this one
                tasks = shard_tasks(
                    processes,
                    n_items=total,
                    concurrency=args.concurrency,
                    out_dir=out_dir,
                    cache=cache.path,
                    environment=args.environment,
                    dataset=args.dataset,
                    deployments=deployments,
                    judge=judge_plan,
                    samples=args.samples,
                    seed=args.seed,
                )
                run_shards(tasks, totals, spool.path, lambda n, e: bar.advance(n, errors=e))
        spool.close()
        seconds = time.monotonic() - clock
        run = assemble(
            totals,
            deployments,
            dataset=args.dataset,
            seed=args.seed,
            limit=args.limit,
            started=started_at,
            finished=datetime.now(UTC),
            n_dataset_items=summary.n_items,
            concurrency=args.concurrency,
            seconds=seconds,
            judge=judge_plan,
        )
        written = run.write(out_dir, deployments, spool.path)
    except KeyboardInterrupt:
        print(
            f"\nevaluate: interrupted; finished answers are kept in {out_dir / CACHE}: "
            "run the same command again to resume",
            file=sys.stderr,
        )
        return 130
    except WorkerFailed as exc:
        print(
            f"\nevaluate: error: {exc}\nfinished answers are kept in {out_dir / CACHE}: "
            "run the same command again to resume",
            file=sys.stderr,
        )
        return 1
    except OSError as exc:
        return fail("evaluate", exc)
    finally:
        spool.discard()
        cache.close()
    print(metrics_table(run.results))
    baselines = baselines_table(run.results)
    if baselines:
        print()
        print(baselines)
    if run.comparison:
        print()
        print(comparison_lines(run.comparison))
    if run.judge is not None:
        from chalicelib.evaluation.judge_report import judge_lines

        print()
        print(judge_lines(run.judge))
    print()
    print(
        f"{totals.n_items} items x {len(deployments)} models in {seconds:.1f} s: "
        f"{totals.model_calls} model calls, {totals.n_answers_cached} answers from the cache, "
        f"{totals.n_items_with_errors} items with errors"
    )
    print("wrote " + ", ".join(str(path) for path in written))
    return 0


def run_report(args: argparse.Namespace) -> int:
    from chalicelib.evaluation.outputs import rebuild_report

    try:
        path = rebuild_report(Path(args.dir))
    except (OSError, ValueError, KeyError) as exc:
        return fail("report", exc)
    print(f"wrote {path}")
    return 0


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _cli_value(metric: Metric, m: Mapping[str, Any]) -> str:
    """ "0.812 ± 0.025", "0.640 [0.580, 0.700]", "0.750", "2.5%" or "-"."""
    value = m.get(metric.key)
    if metric.cli == "percent":
        return "-" if value is None else f"{value * 100:.1f}%"
    text = _num(value)
    if metric.cli == "spread" and metric.spread == "stderr":
        if m.get(f"{metric.key}_stderr") is not None:
            text += f" ± {m[f'{metric.key}_stderr']:.3f}"
    elif metric.cli == "spread" and metric.spread == "ci95":
        ci = m.get(f"{metric.key}_ci95")
        if ci:
            text += f" [{ci[0]:.3f}, {ci[1]:.3f}]"
    return text


def metrics_table(results: Mapping[str, Mapping[str, Any]]) -> str:
    """The metric table's CLI columns (accuracy ± stderr, macro F1 [95% CI], MAE, invalid
    rate), then n/errors and latency p50/p99."""
    picked = [metric for metric in shown(METRICS, results.values()) if metric.cli]
    columns = ["model", *(metric.column for metric in picked)]
    columns += ["n", "errors", "p50 ms", "p99 ms"]
    rows = []
    for model, m in results.items():
        latency = m.get("latency_ms") or {}
        rows.append(
            [
                model,
                *(_cli_value(metric, m) for metric in picked),
                str(m.get("n", 0)),
                str(m.get("n_error", 0)),
                _num(latency.get("p50"), 1),
                _num(latency.get("p99"), 1),
            ]
        )
    return aligned_table(columns, rows)


def beats_majority(baselines: Mapping[str, Any]) -> str:
    """ "p = 0.541, not better": the exact binomial test of the accuracy vs the majority rate."""
    from chalicelib.evaluation.report import p_value

    beats = baselines["beats_majority"]
    shown = p_value(beats["p_value"])
    shown = f"p {shown}" if shown.startswith("<") else f"p = {shown}"
    return f"{shown}, {'better' if beats['better'] else 'not better'}"


def baselines_table(results: Mapping[str, Mapping[str, Any]]) -> str:
    """Per model, what answering without reading the input scores on its references (always
    the majority class; random classes drawn with the reference frequencies), and whether the
    model's accuracy beats the majority rate. Empty when no model has baselines."""
    columns = [
        "baseline",
        "majority (always)",
        "macro F1",
        "stratified random",
        "macro F1",
        "model vs majority",
    ]
    rows = []
    for model, m in results.items():
        b = m.get("baselines")
        if not b:
            continue
        majority, stratified = b["majority"], b["stratified"]
        rows.append(
            [
                model,
                f"{majority['accuracy']:.3f} ({majority['label']})",
                f"{majority['f1_macro']:.3f}",
                f"{stratified['accuracy']:.3f}",
                f"{stratified['f1_macro']:.3f}",
                beats_majority(b),
            ]
        )
    return aligned_table(columns, rows) if rows else ""


def comparison_lines(comparison: Sequence[Mapping[str, Any]]) -> str:
    lines = []
    for pair in comparison:
        diff = pair.get("accuracy_difference")
        agreement = pair.get("agreement_rate")
        lines.append(
            f"{pair['a']} vs {pair['b']}: accuracy difference "
            f"{'-' if diff is None else f'{diff:+.3f}'}, McNemar exact p = "
            f"{_num(pair.get('mcnemar_p'), 4)}, agreement "
            f"{'-' if agreement is None else f'{agreement * 100:.1f}%'} (n = {pair['n']})"
        )
    return "\n".join(lines)


def register(subparsers: Any) -> None:
    evaluate = subparsers.add_parser(
        "evaluate",
        help="evaluate deployments on a held-out set; writes results, items, report",
        description="Evaluate one or more deployments on the same held-out items. Answers are "
        "cached in DIR/.cache.sqlite, so an interrupted run resumes where it stopped; delete "
        "that file (or use another DIR) to ask the models again.",
    )
    evaluate.add_argument(
        "--model", action="append", required=True, metavar="NAME", help="repeat to compare"
    )
    evaluate.add_argument("--dataset", required=True, metavar="FILE|s3://BUCKET/KEY")
    evaluate.add_argument("--out", required=True, metavar="DIR")
    evaluate.add_argument(
        "--concurrency",
        type=_bounded(1, MAX_CONCURRENCY),
        default=DEFAULT_CONCURRENCY,
        help="most model calls in flight; lowered automatically while throttled "
        "(default: %(default)s)",
    )
    evaluate.add_argument(
        "--processes",
        type=_processes,
        default=1,
        metavar="N|auto",
        help="worker processes sharing the items and the concurrency, for runs one core cannot "
        "keep up with (same files as one process); auto: one per CPU (at most 4) from 2,000 "
        "model calls, else one (default: %(default)s)",
    )
    evaluate.add_argument("--limit", type=_bounded(1), default=None, help="first N items only")
    evaluate.add_argument("--seed", type=int, default=0, help="bootstrap and sample seed")
    evaluate.add_argument(
        "--samples",
        type=_bounded(0),
        default=DEFAULT_SAMPLES,
        help="qualitative samples to keep (default: %(default)s)",
    )
    judge = evaluate.add_argument_group(
        "judge", "LLM-as-judge: a registry deployment grades the answers (CONTRACT section 10)"
    )
    judge.add_argument("--judge", metavar="NAME", help="the judge deployment")
    judge.add_argument(
        "--judge-mode",
        choices=("rubric", "pairwise"),
        help="rubric: 1-5 per criterion for each answer (default); pairwise: each pair of "
        "models compared in both orders",
    )
    judge.add_argument("--judge-rubric", metavar="FILE", help="a custom rubric (text file)")
    judge.add_argument(
        "--judge-criteria", metavar="A,B", help="criterion names (default: per task kind)"
    )
    judge.add_argument(
        "--judge-samples", type=_bounded(1), metavar="N", help="judge the first N items only"
    )
    evaluate.set_defaults(handler=run_evaluate)
    report = subparsers.add_parser(
        "report", help="rebuild DIR/report.html from DIR/results.json and DIR/items.jsonl"
    )
    report.add_argument("dir", metavar="DIR")
    report.set_defaults(handler=run_report)
