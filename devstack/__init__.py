"""The local stack as a library, for tests and benchmarks: moto server + Bedrock emulator on
127.0.0.1, the environment pointed at them, the stage's resources bootstrapped."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TRAIN_FILE = Path(
    os.environ.get(
        "TUNEGATE_TRAIN_FILE", ROOT / "examples" / "drugreview" / "openai" / "train.jsonl"
    )
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalStack:
    moto_url: str
    emulator: Any
    moto: Any
    models_file: Path
    env: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        self.emulator.stop()
        self.moto.stop()


def start_local_stack(
    registry: dict[str, Any] | None = None,
    *,
    api_key: str = "bench-api-key",
    extra_env: dict[str, str] | None = None,
    train_file: Path | None = TRAIN_FILE,
) -> LocalStack:
    """Start moto + emulator, export the environment the app reads, and bootstrap resources.

    `registry` may be a callable-free dict or None for the shipped local registry; the string
    `{emulator}` inside it is replaced by the emulator's URL (for OpenAI-compatible entries).
    """
    from devstack.moto_server import LocalMotoServer
    from emulator import start_emulator

    moto_port = free_port()
    moto = LocalMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
    moto.start()
    emu = start_emulator(host="127.0.0.1", port=0, train_file=train_file)
    if registry is None:
        registry = json.loads((ROOT / "chalicelib" / "registries" / "local.json").read_text())
    text = json.dumps(registry).replace("{emulator}", emu.url)
    models_file = Path(tempfile.mkdtemp(prefix="tunegate-")) / "models.json"
    models_file.write_text(text)
    moto_url = f"http://127.0.0.1:{moto_port}"
    env = {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": emu.url,
        "AWS_ENDPOINT_URL_BEDROCK": emu.url,  # the control plane, on the same emulator
        "STAGE": "test",
        "MODELS_FILE": str(models_file),
        "INVOCATIONS_TABLE": "tunegate-test-invocations",
        "FEEDBACK_TABLE": "tunegate-test-feedback",
        "EVALUATIONS_TABLE": "tunegate-test-evaluations",
        "REGISTRY_TABLE": "tunegate-test-registry",
        "PROVISIONED_TABLE": "tunegate-test-provisioned",
        "TUNING_OPENAI_BASE_URL": f"{emu.url}/openai/v1",
        "TUNING_OPENAI_API_KEY_ENV": "TUNING_OPENAI_API_KEY",
        "TUNING_OPENAI_API_KEY": "sk-local-emulator",
        "EVALUATION_QUEUE": "tunegate-test-evaluation-chunks",
        "RESULTS_BUCKET": "tunegate-test-results",
        "TUNING_TABLE": "tunegate-test-tuning",
        "TUNING_ROLE_ARN": "arn:aws:iam::000000000000:role/tunegate-test-customization",
        "API_KEY_HASHES": hashlib.sha256(api_key.encode()).hexdigest(),
        "FEEDBACK_TOKEN_SECRET": "test-feedback-secret",
        "PYDANTIC_DISABLE_PLUGINS": "__all__",  # as in every stage's config
        **(extra_env or {}),
    }
    os.environ.update(env)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(key, None)
    from chalicelib import aws
    from chalicelib.config.settings import get_settings
    from chalicelib.deploy.bootstrap import bootstrap_resources

    get_settings.cache_clear()
    aws.reset_clients()
    list(bootstrap_resources())
    return LocalStack(moto_url, emu, moto, models_file, env)


@contextmanager
def serve_api(
    extra_env: dict[str, str] | None = None, log: Path | None = None, stage: str = "devstack"
) -> Iterator[str]:
    """The app over real HTTP under `chalice local`, in its own process, on a free port.

    The default stage is absent from config.json, so Chalice adds only the global variables;
    with a configured stage (`local`) the environment still wins over the stage's values, so
    the local stack's environment (moto, emulator, registry, secrets) reaches the app."""
    port = free_port()
    command = [sys.executable, "-m", "devstack.chalice_local", "local", "--no-autoreload"]
    command += ["--stage", stage]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    sink = log.open("wb") if log else subprocess.DEVNULL
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, **(extra_env or {})},
        stdout=sink,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"chalice local exited with {process.returncode}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=1):  # noqa: S310 (loopback)
                    break
            except urllib.error.HTTPError:
                break  # serving: /health answers 503 while a dependency is unreachable
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("chalice local did not start in 60 s") from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if log and not isinstance(sink, int):
            sink.close()
