"""`make run`: the whole local stack on 127.0.0.1, no AWS account needed.

moto server (DynamoDB, S3, SQS), the Bedrock Runtime emulator serving the local reference model,
bootstrap of the stage's resources, the API under `chalice local` and the evaluation worker
(scripts/worker.py). A process that dies is started again (devstack/supervisor.py); Ctrl-C
stops everything.

Ports come from the environment, which wins over the `local` stage's values in
`.chalice/config.json`: PORT (API, 8000), AWS_ENDPOINT_URL (moto, 4566),
AWS_ENDPOINT_URL_BEDROCK_RUNTIME (emulator, 4010). The emulator also serves Bedrock's control
plane, so AWS_ENDPOINT_URL_BEDROCK follows the runtime URL unless set; its jobs and provisioned
models stay EMULATOR_CONTROL_PLANE_STEP_SECONDS (default 1) in each status.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chalicelib.config.stages import stage_environment  # noqa: E402
from devstack.supervisor import Supervisor, log_to_stderr  # noqa: E402

DEV_API_KEY = "tg-local-dev-key"  # its SHA-256 is the local stage's API_KEY_HASHES
TRAIN_FILE = Path(
    os.environ.get(
        "TUNEGATE_TRAIN_FILE", ROOT / "examples" / "drugreview" / "openai" / "train.jsonl"
    )
)
log = log_to_stderr("make run")


def wait_for(url: str, process: subprocess.Popen[bytes] | None, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise SystemExit(f"{process.args!r} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 (loopback only)
                return
        except urllib.error.HTTPError:
            return  # it answers (/health says 503 while a dependency is unreachable)
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {url}")


def busy_ports(ports: dict[str, tuple[str, int, str]]) -> list[str]:
    """One line per port another process already listens on, saying how to move it."""
    problems = []
    for what, (host, port, setting) in ports.items():
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do
            try:
                probe.bind((host, port))
            except OSError as exc:
                problems.append(
                    f"port {port} on {host} ({what}) is not free: {exc.strerror}; "
                    f"stop what uses it or move it: {setting}"
                )
    return problems


def main() -> int:
    stage = "local"
    env = {**stage_environment(stage), **os.environ}
    # One emulator serves Bedrock Runtime and Bedrock's control plane.
    env.setdefault("AWS_ENDPOINT_URL_BEDROCK", env["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"])
    # ... and OpenAI's files and fine-tuning API, for `tune --provider openai`.
    env.setdefault("TUNING_OPENAI_BASE_URL", env["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"] + "/openai/v1")
    step_seconds = env.get("EMULATOR_CONTROL_PLANE_STEP_SECONDS", "1")
    port = env.get("PORT", "8000")
    dev_hash = hashlib.sha256(DEV_API_KEY.encode()).hexdigest()
    if dev_hash not in env.get("API_KEY_HASHES", ""):
        log("warning: the dev key's hash is not in API_KEY_HASHES")
    aws = urlsplit(env["AWS_ENDPOINT_URL"])
    bedrock = urlsplit(env["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"])
    aws_host, bedrock_host = aws.hostname or "127.0.0.1", bedrock.hostname or "127.0.0.1"
    problems = busy_ports(
        {
            "the API": ("127.0.0.1", int(port), f"PORT={int(port) + 100} make run"),
            "moto: DynamoDB, S3, SQS": (
                aws_host,
                aws.port or 80,
                f"AWS_ENDPOINT_URL=http://{aws_host}:{(aws.port or 80) + 100} make run",
            ),
            "the Bedrock emulator": (
                bedrock_host,
                bedrock.port or 80,
                f"AWS_ENDPOINT_URL_BEDROCK_RUNTIME=http://{bedrock_host}:"
                f"{(bedrock.port or 80) + 100} make run",
            ),
        }
    )
    if problems:
        for problem in problems:
            log(problem)
        return 1
    python = sys.executable
    supervisor = Supervisor(cwd=ROOT, env=env, log=log)
    bootstrap = [python, "-m", "chalicelib.cli", "--stage", stage, "bootstrap"]

    def moto_restarted() -> None:
        try:
            wait_for(f"{env['AWS_ENDPOINT_URL']}/moto-api/", None)
        except SystemExit as problem:
            log(f"moto did not come back: {problem}")
            return
        subprocess.run(bootstrap, cwd=ROOT, env=env, check=False, stdout=subprocess.DEVNULL)
        log(
            "moto restarted empty: the stage's resources are bootstrapped again, earlier "
            "records and jobs are gone"
        )

    try:
        moto = supervisor.start(
            "moto",
            [python, "-m", "devstack.moto_server", "-H", aws_host, "-p", str(aws.port)],
            after_restart=moto_restarted,
        )
        wait_for(f"{env['AWS_ENDPOINT_URL']}/moto-api/", moto.process)
        emulator = supervisor.start(
            "emulator",
            [
                python,
                "-m",
                "emulator",
                "--host",
                bedrock_host,
                "--port",
                str(bedrock.port),
                "--train-file",
                str(TRAIN_FILE),
                "--control-plane-step-seconds",
                step_seconds,
            ],
        )
        wait_for(f"{env['AWS_ENDPOINT_URL_BEDROCK_RUNTIME']}/_emulator/health", emulator.process)
        subprocess.run(bootstrap, cwd=ROOT, env=env, check=True)
        api = supervisor.start(
            "api",
            [
                python,
                "-m",
                "devstack.chalice_local",  # chalice local, environment first, no Nagle stall
                "local",
                "--no-autoreload",
                "--stage",
                stage,
                "--host",
                "127.0.0.1",
                "--port",
                port,
            ],
        )
        url = f"http://127.0.0.1:{port}"
        wait_for(f"{url}/health", api.process)
        # chalice local runs no event sources: this polls the queue for the evaluation worker.
        supervisor.start("worker", [python, "scripts/worker.py", "--stage", stage])
        print(
            f"""
Tunegate local stack is up.
  API:      {url}
  API key:  {DEV_API_KEY}
  Bedrock:  {env["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"]} (emulator: runtime with the reference model,
            control plane with fine-tuning jobs that train; OpenAI API under /openai/v1)
  AWS:      {env["AWS_ENDPOINT_URL"]} (moto: DynamoDB, S3, SQS)
  Worker:   scripts/worker.py (evaluation jobs from {env["EVALUATION_QUEUE"]})
Try:
  curl -s {url}/v1/models/drug-review-sentiment/invoke -H 'x-api-key: {DEV_API_KEY}' \\
       -H 'content-type: application/json' -d '{{"input": "This drug changed my life."}}'
A process that dies is restarted. Ctrl-C stops everything.""",
            flush=True,
        )
        supervisor.wait(threading.Event().wait)  # until Ctrl-C or SIGTERM
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        supervisor.stop(signal.SIGINT)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    sys.exit(main())
