"""The `tune` and `tuning-jobs` subcommands: argument parsing, waiting and printing only; the
work is the tuning service's, called in-process with the stage's settings (as the API calls
it), so the CLI and `POST /v1/tuning-jobs` check, record and submit alike.

Exit status: 0 when the job was accepted (with `--wait`: when it succeeded), 1 when it failed
or was stopped, 2 when it was refused (bad hyperparameters, data, cost, configuration).
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from chalicelib.cli_output import aligned_table, fail
from chalicelib.errors import ConfigurationError, TunegateError

POLL_SECONDS = 2.0
#: Run after `tune --wait` once the job finished, in order, each given the parsed arguments and
#: the finished job record (`custom_model`, `provider`, `training.s3_uri`, `lineage`); a
#: non-zero answer ends the command with it. Provisioning and registering hook in here.
AFTER_WAIT: list[Callable[[argparse.Namespace, Mapping[str, Any]], int]] = []


def _key_value(text: str) -> tuple[str, Any]:
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE")
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw  # "auto" and other words stay text
    return name.strip(), value


def local_endpoints(environment: Mapping[str, str]) -> None:
    """The local stack serves Bedrock's control plane and OpenAI's fine-tuning API on the
    runtime emulator: follow its (possibly moved) URL unless set apart. Deployed stages set no
    runtime endpoint, so this does nothing there."""
    runtime = environment.get("AWS_ENDPOINT_URL_BEDROCK_RUNTIME")
    if runtime and "AWS_ENDPOINT_URL_BEDROCK" not in environment:
        os.environ["AWS_ENDPOINT_URL_BEDROCK"] = runtime


def _settings(args: argparse.Namespace) -> Any:
    from chalicelib.config.settings import install_settings

    environment = dict(args.environment)
    runtime = environment.get("AWS_ENDPOINT_URL_BEDROCK_RUNTIME")
    if runtime and "TUNING_OPENAI_BASE_URL" not in environment:
        environment["TUNING_OPENAI_BASE_URL"] = runtime.rstrip("/") + "/openai/v1"
    local_endpoints(environment)
    return install_settings(environment)


def upload_source(value: str | None, role: str) -> dict[str, Any] | None:
    """An s3:// URI as is; a local file uploaded to the stage's bucket under `tuning/uploads/`
    (an allowed source) so the service reads and checks it like any other."""
    if value is None:
        return None
    if value.startswith("s3://"):
        return {"s3_uri": value}
    from chalicelib.tuning import objects

    path = Path(value)
    if not path.is_file():
        raise ConfigurationError(f"--{role}: no file {value}")
    uri = f"s3://{objects.bucket()}/{objects.PREFIX}uploads/{uuid.uuid4().hex}/{path.name}"
    objects.upload(path, uri)
    return {"s3_uri": uri}


def loss_table(job: Mapping[str, Any]) -> str:
    """One row per epoch: its last training loss and its validation loss."""
    by_epoch: dict[Any, dict[str, Any]] = {}
    for point in job.get("metrics") or []:
        row = by_epoch.setdefault(point.get("epoch"), {})
        if point.get("training_loss") is not None:
            row["training"] = point["training_loss"]
            row["step"] = point.get("step")
        if point.get("validation_loss") is not None:
            row["validation"] = point["validation_loss"]
    rows = [
        [
            str(epoch) if epoch is not None else "-",
            str(row.get("step", "-")),
            f"{row['training']:.4f}" if "training" in row else "-",
            f"{row['validation']:.4f}" if "validation" in row else "-",
        ]
        for epoch, row in by_epoch.items()
    ]
    return aligned_table(["epoch", "last step", "training loss", "validation loss"], rows)


def _summary(job: Mapping[str, Any]) -> str:
    lines = [
        f"tuning job {job['tuning_job_id']} ({job['provider']}, {job['base_model']}): "
        f"{job['status']}",
        f"estimated cost ${job.get('estimated_cost_usd', 0):,.4f}"
        + (
            f", actual ${job['actual_cost_usd']:,.4f}"
            if job.get("actual_cost_usd") is not None
            else ""
        ),
    ]
    if job.get("custom_model"):
        lines.append(f"custom model: {job['custom_model']}")
    if job.get("failure_message"):
        lines.append(f"provider's message: {job['failure_message']}")
    return "\n".join(lines)


def wait_for(tuning_job_id: str, poll_seconds: float = POLL_SECONDS) -> dict[str, Any]:
    """Poll (each read refreshes from the provider) until the job finishes, with progress."""
    from chalicelib.progress import Progress
    from chalicelib.tuning import service

    steps = {"queued": 1, "running": 2}
    with Progress(3, "tuning", unit="phases") as progress:
        while True:
            job = service.get_job(tuning_job_id)
            progress.label = f"tuning {job['name']}: {job['status']}"
            step = steps.get(str(job["status"]), 3)
            if step > progress.done:
                progress.advance(step - progress.done)
            else:
                progress.advance(0)
            if step == 3:
                return job
            time.sleep(poll_seconds)


def write_report(job: Mapping[str, Any], folder: Path) -> Path:
    from chalicelib.tuning.report import render_report

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"tuning-{job['tuning_job_id']}.html"
    path.write_text(render_report(job), encoding="utf-8")
    return path


def run_tune(args: argparse.Namespace) -> int:
    from chalicelib.tuning import service
    from chalicelib.tuning.models import TuningJobRequest

    if (getattr(args, "provision", False) or getattr(args, "register", None)) and not args.wait:
        print("error: --provision and --register need --wait (they act on the finished job)")
        return 2
    try:
        _settings(args)
        body = {
            "name": args.name,
            "provider": args.provider,
            "base_model": args.base_model,
            "training": upload_source(args.training, "training"),
            "validation": upload_source(args.validation, "validation"),
            "hyperparameters": dict(args.hyperparameter or []),
            "max_cost_usd": args.max_cost_usd,
            "pricing": dict(args.price) if args.price else None,
        }
        request = TuningJobRequest.model_validate(body)
        job = service.submit(request, owner="cli")
    except (ConfigurationError, TunegateError, ValueError) as exc:
        return _refused(exc)
    print(
        f"tuning job {job['tuning_job_id']} {job['status']}; "
        f"estimated training cost ${job['estimated_cost_usd']:,.4f}"
    )
    if not args.wait:
        print(f"watch: python -m chalicelib.cli tuning-jobs show {job['tuning_job_id']}")
        return 0
    job = wait_for(job["tuning_job_id"], args.poll_seconds)
    print(_summary(job))
    if job.get("metrics"):
        print(loss_table(job))
    report = write_report(job, Path(args.out))
    print(f"report: {report} (API: GET {service.location(job['tuning_job_id'])}/report)")
    if job["status"] != "succeeded":
        return 1
    for hook in AFTER_WAIT:
        code = hook(args, job)
        if code:
            return code
    return 0


def _refused(exc: Exception) -> int:
    if isinstance(exc, TunegateError):
        details = "".join(
            f"\n  {d.get('field', '')}{' line ' + str(d['line']) if d.get('line') else ''}: "
            f"{d.get('reason', '')}"
            for d in exc.details or []
        )
        return fail("tune", f"{exc.code}: {exc.message}{details}")
    return fail("tune", exc)


def run_tuning_jobs(args: argparse.Namespace) -> int:
    from chalicelib.tuning import service

    try:
        _settings(args)
        if args.action == "list":
            jobs = service.list_jobs(args.limit)
            rows = [
                [
                    j["tuning_job_id"],
                    j["name"],
                    j["provider"],
                    j["status"],
                    j.get("created_at", ""),
                    j.get("custom_model") or "-",
                ]
                for j in jobs
            ]
            print(aligned_table(["id", "name", "provider", "status", "created", "model"], rows))
            return 0
        if not args.id:
            return fail("tuning-jobs", f"{args.action} needs a tuning job id")
        if args.action == "stop":
            job = service.stop(args.id)
            print(f"tuning job {args.id}: {job['status']}")
            return 0
        job = service.get_job(args.id)
        if args.action == "report":
            print(f"report: {write_report(job, Path(args.out))}")
            return 0
        print(_summary(job))
        if job.get("metrics"):
            print(loss_table(job))
        return 0
    except (ConfigurationError, TunegateError) as exc:
        return _refused(exc)


def register(subparsers: Any) -> None:
    tune = subparsers.add_parser(
        "tune", help="start a fine-tuning job (checked in full first); --wait to watch it"
    )
    tune.add_argument("--name", required=True)
    tune.add_argument("--provider", required=True, choices=["bedrock", "openai"])
    tune.add_argument("--base-model", required=True, help="base model id, or a tuned model")
    tune.add_argument("--training", required=True, metavar="FILE|s3://BUCKET/KEY")
    tune.add_argument("--validation", metavar="FILE|s3://BUCKET/KEY")
    tune.add_argument(
        "--hyperparameter",
        action="append",
        type=_key_value,
        metavar="NAME=VALUE",
        help="e.g. epochCount=3 (repeat); defaults are the base model family's",
    )
    tune.add_argument("--max-cost-usd", type=float, help="refuse when training would cost more")
    tune.add_argument(
        "--price",
        action="append",
        type=_key_value,
        metavar="NAME=USD",
        help="override the price table, e.g. training_per_1k_tokens_usd=0.008",
    )
    tune.add_argument("--wait", action="store_true", help="watch the job until it finishes")
    tune.add_argument(
        "--provision",
        action="store_true",
        help="with --wait: serve the tuned model (Provisioned Throughput, no commitment) under "
        "the job's name, and wait until it is in service",
    )
    tune.add_argument("--model-units", type=int, help="with --provision (default 1)")
    tune.add_argument(
        "--on-demand", action="store_true", help="with --provision: a custom model deployment"
    )
    tune.add_argument(
        "--register",
        metavar="DEPLOYMENT",
        help="with --wait: provision, then add the served model as DEPLOYMENT's next version "
        "in the format recovered from the training data",
    )
    tune.add_argument("--poll-seconds", type=float, default=POLL_SECONDS)
    tune.add_argument("--out", default="tuning-reports", help="folder for the HTML report")
    tune.set_defaults(handler=run_tune)
    jobs = subparsers.add_parser("tuning-jobs", help="list, show, stop or report tuning jobs")
    jobs.add_argument("action", choices=["list", "show", "stop", "report"])
    jobs.add_argument("id", nargs="?")
    jobs.add_argument("--limit", type=int, default=50)
    jobs.add_argument("--out", default="tuning-reports", help="folder for `report`")
    jobs.set_defaults(handler=run_tuning_jobs)
