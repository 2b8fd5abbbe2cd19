"""Local end to end: `cli tune … --wait` on the bundled drug-review split, from the command to
the finished job (and through whatever `tune --wait` runs after it: the AFTER_WAIT hooks,
provisioning and registering where they are installed), on the local stack (moto + emulator,
the emulator's control plane at its default pace: no wait between statuses).

Phases, each the median of `--runs`: accepted (hyperparameters, full data check, cost, upload
to S3, record, CreateModelCustomizationJob), then succeeded (the emulator trains for real; the
CLI polls every `--poll-seconds`), then the hooks.

Command: `.venv/bin/python bench/bench_tuning_e2e.py` (`--runs N`, `--epochs E`).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DATA = Path(__file__).resolve().parent.parent / "examples" / "drugreview" / "bedrock"


def one_run(epochs: int, poll_seconds: float, out: Path, run: int) -> dict[str, float]:
    import os

    from chalicelib.tuning import commands, service
    from chalicelib.tuning.models import TuningJobRequest

    started = time.perf_counter()
    request = TuningJobRequest.model_validate(
        {
            "name": f"bench-{run}-{os.getpid()}",
            "provider": "bedrock",
            "base_model": "anthropic.claude-3-haiku-20240307-v1:0",
            "training": commands.upload_source(str(DATA / "train.jsonl"), "training"),
            "validation": commands.upload_source(str(DATA / "validation.jsonl"), "validation"),
            "hyperparameters": {"epochCount": epochs},
        }
    )
    job = service.submit(request, owner="bench")
    accepted = time.perf_counter()
    job = commands.wait_for(job["tuning_job_id"], poll_seconds)
    assert job["status"] == "succeeded", job.get("failure_message")
    finished = time.perf_counter()
    commands.write_report(job, out)
    # As `tune --wait --provision --register bench-tuned` runs them: serve, then register.
    args: Any = argparse.Namespace(
        provision=True,
        register="bench-tuned",
        on_demand=False,
        model_units=None,
        poll_seconds=poll_seconds,
        environment=dict(os.environ),
    )
    for hook in commands.AFTER_WAIT:
        with contextlib.redirect_stdout(io.StringIO()) as printed:  # the registered version
            assert hook(args, job) == 0
        assert '"version": ' in printed.getvalue()
    done = time.perf_counter()
    return {
        "accepted": accepted - started,
        "succeeded": finished - started,
        "hooks": done - finished,
        "total": done - started,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--poll-seconds", type=float, default=0.2)
    args = parser.parse_args()

    import tempfile

    from devstack import start_local_stack

    stack = start_local_stack(api_key="bench-api-key")
    try:
        out = Path(tempfile.mkdtemp(prefix="tuning-bench-"))
        from chalicelib.provisioning.commands import after_tune
        from chalicelib.tuning import commands

        commands.AFTER_WAIT[:] = [after_tune]  # what chalicelib.cli installs
        runs = [one_run(args.epochs, args.poll_seconds, out, i) for i in range(args.runs)]
    finally:
        stack.stop()
    from chalicelib.tuning import commands

    print(
        f"drug-review train 782 + validation 98 records, {args.epochs} epochs, "
        f"{args.runs} runs, hooks installed: {len(commands.AFTER_WAIT)}"
    )
    for phase in ("accepted", "succeeded", "hooks", "total"):
        values = [r[phase] for r in runs]
        print(
            f"{phase:10s} median {statistics.median(values):7.2f} s  "
            f"(min {min(values):.2f}, max {max(values):.2f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
