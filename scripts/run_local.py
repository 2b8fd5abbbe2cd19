"""`make run`: the whole local stack on 127.0.0.1, no AWS account needed.

moto server (DynamoDB, S3, SQS), the Bedrock Runtime emulator serving the local reference model,
bootstrap of the stage's resources, the API under `chalice local` and the evaluation worker
(scripts/worker.py). Ctrl-C stops everything.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chalicelib.stages import stage_environment  # noqa: E402

DEV_API_KEY = "tg-local-dev-key"  # its SHA-256 is the local stage's API_KEY_HASHES
TRAIN_FILE = Path(
    os.environ.get(
        "TUNEGATE_TRAIN_FILE", ROOT / "examples" / "drugreview" / "openai" / "train.jsonl"
    )
)


def wait_for(url: str, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{process.args!r} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 (loopback only)
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {url}")


def main() -> int:
    stage = "local"
    env = {**stage_environment(stage), **os.environ}
    port = env.get("PORT", "8000")
    dev_hash = hashlib.sha256(DEV_API_KEY.encode()).hexdigest()
    if dev_hash not in env.get("API_KEY_HASHES", ""):
        print("warning: the dev key's hash is not in API_KEY_HASHES", file=sys.stderr)
    aws = urlsplit(env["AWS_ENDPOINT_URL"])
    bedrock = urlsplit(env["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"])
    children: list[subprocess.Popen[bytes]] = []
    python = sys.executable

    def start(*args: str) -> subprocess.Popen[bytes]:
        # Own process group each, so the whole tree of a child is stopped together.
        process = subprocess.Popen(args, cwd=ROOT, env=env, start_new_session=True)
        children.append(process)
        return process

    try:
        moto = start(
            python, "-m", "moto.server", "-H", aws.hostname or "127.0.0.1", "-p", str(aws.port)
        )
        wait_for(f"{env['AWS_ENDPOINT_URL']}/moto-api/", moto)
        emulator = start(
            python,
            "-m",
            "emulator",
            "--host",
            bedrock.hostname or "127.0.0.1",
            "--port",
            str(bedrock.port),
            "--train-file",
            str(TRAIN_FILE),
        )
        wait_for(f"{env['AWS_ENDPOINT_URL_BEDROCK_RUNTIME']}/_emulator/health", emulator)
        subprocess.run(
            [python, "-m", "chalicelib.cli", "--stage", stage, "bootstrap"],
            cwd=ROOT,
            env=env,
            check=True,
        )
        api = start(
            python,
            "-m",
            "devstack.chalice_local",  # chalice local with a deeper listen backlog
            "local",
            "--no-autoreload",
            "--stage",
            stage,
            "--host",
            "127.0.0.1",
            "--port",
            port,
        )
        url = f"http://127.0.0.1:{port}"
        wait_for(f"{url}/health", api)
        # chalice local runs no event sources: this polls the queue for the evaluation worker.
        start(python, "scripts/worker.py", "--stage", stage)
        print(
            f"""
Tunegate local stack is up.
  API:      {url}
  API key:  {DEV_API_KEY}
  Bedrock:  {env["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"]} (emulator, reference model)
  AWS:      {env["AWS_ENDPOINT_URL"]} (moto: DynamoDB, S3, SQS)
  Worker:   scripts/worker.py (evaluation jobs from {env["EVALUATION_QUEUE"]})
Try:
  curl -s {url}/v1/models/drug-review-sentiment/invoke -H 'x-api-key: {DEV_API_KEY}' \\
       -H 'content-type: application/json' -d '{{"input": "This drug changed my life."}}'
Ctrl-C stops everything.""",
            flush=True,
        )
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        print("a local service exited; stopping the stack", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for child in children:
            _signal_group(child, signal.SIGINT)
        for child in children:
            try:
                child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                _signal_group(child, signal.SIGKILL)


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    sys.exit(main())
