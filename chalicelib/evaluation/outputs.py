"""An evaluation's files: `results.json`, `items.jsonl` (one line per item and model),
`lm_eval_results.json` (lm-evaluation-harness's result shape) and `report.html`, all renamed into
place together so a failed run never leaves a mix of old and new files."""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from chalicelib.config.registry import Deployment
from chalicelib.dataprep.atomic import write_files
from chalicelib.evaluation.answers import ItemResult
from chalicelib.evaluation.metric_table import METRICS
from chalicelib.evaluation.metrics import BOOTSTRAP_RESAMPLES, Pricing
from chalicelib.serving.parsing import normalise_label

RESULTS, ITEMS, LM_EVAL, REPORT = (
    "results.json",
    "items.jsonl",
    "lm_eval_results.json",
    "report.html",
)
CACHE = ".cache.sqlite"
TASK_VERSION = 1.0
LM_EVAL_VERSION = "0.4.13"  # the lm-evaluation-harness whose results and sample files these match
_NOT_WORD = re.compile(r"\W")  # lm-eval's sanitize_task_name


def item_records(result: ItemResult) -> Iterator[dict[str, Any]]:
    """The items.jsonl records of one item, one per model; with a judge, each record holds the
    judge's calls about that model's answer (`judge`: rubric scores, or pairwise verdicts in
    both orders, each with its reason), the per-item verdicts a human review compares with."""
    item = result.item
    for answer in result.answers:
        record = {
            "index": item.index,
            "model": answer.model,
            "input": item.input_json(),
            "reference": item.reference,
            "output": answer.output,
            "prediction": answer.prediction,
            "status": answer.status,
            "error_code": answer.error_code,
            "latency_ms": answer.latency_ms,
            "category": item.category,
        }
        if result.judgements:
            record["judge"] = [j.to_record() for j in result.judgements if answer.model in j.models]
        yield record


class ItemsSpool:
    """items.jsonl as it grows: a hidden file in the output folder, written as results arrive
    (nothing per item stays in memory) and copied into place with the other outputs."""

    def __init__(self, out_dir: Path, *, path: Path | None = None) -> None:
        self.path = path or out_dir / f".{ITEMS}.{os.getpid()}.partial"
        self._handle: TextIO | None = open(self.path, "w", encoding="utf-8", newline="\n")  # noqa: SIM115

    def write(self, result: ItemResult) -> None:
        assert self._handle is not None, "spool already closed"
        for record in item_records(result):
            self._handle.write(json.dumps(record, ensure_ascii=False) + "\n")

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def discard(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)


def read_items(path: Path) -> Iterator[dict[str, Any]]:
    """items.jsonl records, streamed."""
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def run_pricing(deployment: Deployment, hours: float) -> Pricing | None:
    """The deployment's prices with the capacity held for `hours`; None when nothing is priced."""
    spec = deployment.pricing
    priced = (
        spec.input_per_1k_tokens_usd or spec.output_per_1k_tokens_usd or spec.model_unit_hour_usd
    )
    if not priced:
        return None
    return Pricing(
        input_per_1k_tokens_usd=spec.input_per_1k_tokens_usd,
        output_per_1k_tokens_usd=spec.output_per_1k_tokens_usd,
        model_unit_hour_usd=spec.model_unit_hour_usd,
        model_units=spec.model_units,
        hours=hours,
    )


def lm_eval_document(
    results: Mapping[str, Any],
    deployments: Sequence[Deployment],
    *,
    n_dataset_items: int,
) -> dict[str, Any]:
    """lm-evaluation-harness's results file: one task per model (the dataset as that model's
    generate_until task), metric keys "<metric>,none" with "<metric>_stderr,none"."""
    meta = results.get("meta", {})
    tasks: dict[str, Any] = {}
    higher: dict[str, Any] = {}
    configs: dict[str, Any] = {}
    samples: dict[str, Any] = {}
    for deployment in deployments:
        name = deployment.name
        metrics = results["results"][name]
        metrics_n = metrics.get("n", 0)
        entry: dict[str, Any] = {"name": name, "alias": name, "sample_len": metrics_n}
        reported = [m for m in METRICS if metrics.get(m.key) is not None]
        for metric in reported:
            # lm-eval writes "<metric>_stderr,none" beside every metric, "N/A" when it has none
            # (a CI has no lm-eval key: stderrs only)
            entry[f"{metric.lm_eval},none"] = metrics[metric.key]
            stderr = metrics.get(f"{metric.key}_stderr")
            entry[f"{metric.lm_eval}_stderr,none"] = "N/A" if stderr is None else stderr
        tasks[name] = entry
        higher[name] = {m.lm_eval: m.higher_is_better for m in reported}
        inference = deployment.inference
        configs[name] = {
            "task": name,
            "dataset_path": meta.get("dataset"),
            "test_split": "test",
            "output_type": "generate_until",
            "generation_kwargs": {
                "until": list(inference.stop),
                "max_gen_toks": inference.max_tokens,
                "temperature": inference.temperature,
                "top_p": inference.top_p,
                "do_sample": inference.temperature > 0,
            },
            "num_fewshot": 0,
            "metric_list": [
                {
                    # corpus-level metrics are not means of per-item scores: named by their own
                    "metric": m.lm_eval,
                    "aggregation": "mean" if m.per_item_mean else m.lm_eval,
                    "higher_is_better": m.higher_is_better,
                }
                for m in reported
            ],
            "metadata": {
                "version": TASK_VERSION,
                "provider": deployment.provider,
                "request_format": deployment.request_format,
                "output_type": deployment.output.type,
            },
        }
        samples[name] = {"original": n_dataset_items, "effective": metrics_n}
    model_name = "+".join(tasks)  # deployment names never hold "+", so model_args parses back
    return {
        "results": tasks,
        "group_subtasks": {name: [] for name in tasks},
        "configs": configs,
        "versions": {name: TASK_VERSION for name in tasks},
        "n-shot": {name: 0 for name in tasks},
        "higher_is_better": higher,
        "n-samples": samples,
        "config": {
            "model": "tunegate",
            "model_args": f"model={model_name}",
            "batch_size": meta.get("concurrency"),
            "limit": meta.get("limit"),
            "bootstrap_iters": BOOTSTRAP_RESAMPLES,
            "random_seed": meta.get("seed"),
            "gen_kwargs": None,
        },
        "git_hash": None,
        "date": time.time(),
        "pretty_env_info": "N/A",
        "transformers_version": "N/A",
        "lm_eval_version": LM_EVAL_VERSION,
        "upper_git_hash": None,
        "task_hashes": {},  # filled in from the items when the sample logs are written
        "model_source": "tunegate",
        "model_name": model_name,
        "model_name_sanitized": re.sub(r"[\"<>:/|\\?*\[\]]+", "__", model_name),
        "system_instruction": None,
        "system_instruction_sha": None,
        "fewshot_as_multiturn": False,
        "chat_template": None,
        "chat_template_sha": None,
        "total_evaluation_time_seconds": str(meta.get("duration_seconds")),
    }


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def lm_eval_sample(config: Mapping[str, Any], item: Mapping[str, Any]) -> dict[str, Any]:
    """One line of lm-eval's `--log_samples` file from an items.jsonl record; `acc` scored
    as Tunegate scores it, for label outputs."""
    prompt = item["input"] if isinstance(item["input"], str) else json.dumps(item["input"])
    target = str(item["reference"])
    output = item["output"] or ""
    record: dict[str, Any] = {
        "doc_id": item["index"],
        "doc": {"input": item["input"], "reference": item["reference"]},
        "target": target,
        "arguments": {"gen_args_0": {"arg_0": prompt, "arg_1": config["generation_kwargs"]}},
        "resps": [[output]],
        "filtered_resps": [output],
        "filter": "none",
        "metrics": [],
        "doc_hash": _sha256(json.dumps(item["input"], ensure_ascii=False)),
        "prompt_hash": _sha256(prompt),
        "target_hash": _sha256(target),
    }
    if config["metadata"]["output_type"] == "label":
        prediction = item["prediction"]
        correct = prediction is not None and normalise_label(str(prediction)) == normalise_label(
            target
        )
        record["metrics"] = ["acc"]
        record["acc"] = float(correct)
    return record


def _sample_lines(
    lm_eval: Mapping[str, Any], task: str, items_path: Path, hashes: dict[str, str]
) -> Iterator[str]:
    """A task's sample log, streamed from the spool (answered items only: errors are not
    scored); its hash over the documents lands in `hashes` once the file is written."""
    digest = hashlib.sha256()
    for item in read_items(items_path):
        if item["model"] == task and item["status"] != "error":
            record = lm_eval_sample(lm_eval["configs"][task], item)
            digest.update(record["doc_hash"].encode())
            yield json.dumps(record, ensure_ascii=False) + "\n"
    hashes[task] = digest.hexdigest()


def _lm_eval_files(
    out_dir: Path, lm_eval: Mapping[str, Any], items_path: Path
) -> list[tuple[Path, Iterator[str]]]:
    """The sample logs, named as lm-eval names them, then the results file with their hashes."""
    stamp = datetime.now().isoformat().replace(":", "-")  # lm-eval's own file timestamp
    hashes: dict[str, str] = {}
    files = [
        (
            out_dir / f"samples_{_NOT_WORD.sub('_', task)}_{stamp}.jsonl",
            _sample_lines(lm_eval, task, items_path, hashes),
        )
        for task in lm_eval["results"]
    ]
    files.append((out_dir / LM_EVAL, _later(lambda: _json({**lm_eval, "task_hashes": hashes}))))
    return files


def _later(render: Callable[[], str]) -> Iterator[str]:
    """Chunks computed only when the file is written (after the files before it)."""
    yield render()


def _json(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _render_report(results: Mapping[str, Any], items_path: Path) -> str:
    from chalicelib.evaluation.report import render_report

    return render_report(dict(results), read_items(items_path))


def _copy(path: Path) -> Iterator[str]:
    with open(path, encoding="utf-8") as handle:
        yield from handle


def write_outputs(
    out_dir: Path,
    results: Mapping[str, Any],
    lm_eval: Mapping[str, Any],
    items_path: Path,
) -> list[Path]:
    """Write the four files from the finished results and the spooled items, all or none."""
    files = [
        (out_dir / ITEMS, _copy(items_path)),
        (out_dir / RESULTS, _later(lambda: _json(results))),
        *_lm_eval_files(out_dir, lm_eval, items_path),
        (out_dir / REPORT, _later(lambda: _render_report(results, items_path))),
    ]
    write_files(files)
    return [path for path, _ in files]


def rebuild_report(out_dir: Path) -> Path:
    """report.html again from results.json and items.jsonl (e.g. after a report upgrade)."""
    results = json.loads((out_dir / RESULTS).read_text(encoding="utf-8"))
    items_path = out_dir / ITEMS
    if not items_path.is_file():
        raise FileNotFoundError(f"{items_path} does not exist")
    write_files([(out_dir / REPORT, _later(lambda: _render_report(results, items_path)))])
    return out_dir / REPORT
