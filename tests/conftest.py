"""Shared fixtures: a real local stack (moto server over HTTP + the Bedrock emulator) and the app.

The app reads its configuration once at import, so the environment is set before `app` is
imported, and the same process-wide app is reused by every test (as a warm Lambda would be).
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "test-api-key-0123456789"  # a bare hash entry: every scope
#: Keys with fewer scopes (CONTRACT section 3), stored as `HASH:scope+scope` next to API_KEY.
SCOPED_KEYS = {
    "test-invoke-key": "invoke",
    "test-evaluate-key": "evaluate",
    "test-other-evaluate-key": "invoke+evaluate",
    "test-admin-evaluate-key": "evaluate+admin",
    "test-admin-only-key": "admin",
}


def key_entries() -> str:
    """API_KEY_HASHES of the test stack: API_KEY (all scopes) and every key of SCOPED_KEYS."""
    entries = [hashlib.sha256(API_KEY.encode()).hexdigest()]
    entries += [f"{hashlib.sha256(k.encode()).hexdigest()}:{s}" for k, s in SCOPED_KEYS.items()]
    return ",".join(entries)


LABELS = {
    "type": "label",
    "labels": ["negative", "neutral", "positive"],
    "values": {"negative": 0, "neutral": 1, "positive": 2},
}
ECHO_ARN = "arn:aws:bedrock:us-east-1:000000000000:provisioned-model/echo-{}"


def test_registry(emulator_url: str, reference_arn: str) -> dict[str, Any]:
    """Echo deployments show the exact formatted request; sentiment ones hit the real classifier."""
    separator = "\n\n###\n\n"
    echo = {"output": {"type": "text"}, "inference": {"max_tokens": 200, "stop": ["END"]}}
    deployments: list[dict[str, Any]] = [
        {
            "name": f"echo-{fmt}",
            "provider": "bedrock",
            "model_id": ECHO_ARN.format(fmt),
            "request_format": fmt,
            "prompt": {
                "system": "Be brief.",
                "template": "Review: {input}",
                "separator": separator,
            },
            **echo,
        }
        for fmt in ("converse", "anthropic", "llama3", "titan")
    ]
    deployments += [
        {
            "name": f"echo-openai-{fmt}",
            "provider": "openai",
            "model_id": "echo",
            "request_format": fmt,
            "base_url": f"{emulator_url}/openai/v1",
            "api_key_env": "TEST_OPENAI_KEY",
            "prompt": {"template": "{input}", "separator": separator},
            **echo,
        }
        for fmt in ("completions", "chat")
    ]

    def sentiment(name: str, fmt: str, prompt: dict[str, Any], **extra: Any) -> dict[str, Any]:
        """A deployment of the reference classifier (a label answer)."""
        return {
            "name": name,
            "provider": "bedrock",
            "model_id": reference_arn,
            "request_format": fmt,
            "prompt": prompt,
            "inference": {"max_tokens": 5, "temperature": 0, "stop": ["\n"]},
            "output": LABELS,
            **extra,
        }

    system = {"system": "Classify the sentiment of this drug review."}
    deployments += [
        sentiment("sentiment-converse", "converse", system, store_inputs=True),
        sentiment("sentiment-legacy", "titan", {"separator": separator}),
        sentiment("legacy-stored", "titan", {"separator": separator}, store_inputs=True),
        {
            "name": "echo-number",
            "provider": "bedrock",
            "model_id": ECHO_ARN.format("number"),
            "request_format": "converse",
            "inference": {"max_tokens": 20},
            "output": {"type": "number", "range": [0, 10]},
        },
        {  # the emulator's untuned base model answering free text (a judge's weaker side)
            "name": "base-text",
            "provider": "bedrock",
            "model_id": "anthropic.claude-3-haiku-20240307-v1:0",
            "request_format": "converse",
            "inference": {"max_tokens": 50, "temperature": 0},
            "output": {"type": "text"},
        },
        {  # the emulator's local judge (emulator/judge_model.py), priced per token
            "name": "judge",
            "provider": "bedrock",
            "model_id": "tunegate.judge-v1:0",
            "request_format": "converse",
            "inference": {"max_tokens": 300, "temperature": 0},
            "output": {"type": "text"},
            "pricing": {"input_per_1k_tokens_usd": 0.25, "output_per_1k_tokens_usd": 1.25},
        },
    ]
    return {"deployments": deployments}


@pytest.fixture(scope="session")
def local_stack() -> Iterator[Any]:
    from devstack import start_local_stack
    from emulator import REFERENCE_MODEL_ARN

    registry = test_registry("{emulator}", REFERENCE_MODEL_ARN)
    extra = {
        "MODEL_READ_TIMEOUT_SECONDS": "1",
        "MODEL_MAX_ATTEMPTS": "3",
        "TEST_OPENAI_KEY": "sk-test",
        "CORS_ALLOW_ORIGINS": "http://widget.test, http://127.0.0.1:8765",
        "API_KEY_HASHES": key_entries(),
    }
    stack = start_local_stack(registry, api_key=API_KEY, extra_env=extra)
    yield stack
    stack.stop()


@pytest.fixture(scope="session")
def emulator(local_stack: Any) -> Any:
    return local_stack.emulator


@pytest.fixture(scope="session")
def stack(local_stack: Any) -> Any:
    """The app, imported once the environment points at the local stack."""
    import app as app_module

    return app_module


@pytest.fixture()
def client(stack: Any, emulator: Any) -> Iterator[Any]:
    from chalice.test import Client

    emulator.reset()
    # A stage absent from config.json: chalice.test then adds only the global variables.
    with Client(stack.app, stage_name="pytest", project_dir=str(ROOT)) as test_client:
        yield test_client


def run_python_json(
    args: list[str], env: dict[str, str], cwd: Path = ROOT, timeout: float = 120
) -> dict[str, Any]:
    """Run `python ARGS` in a fresh process; it must succeed and print JSON as its last line."""
    result = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stderr
    out: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return out


def auth_headers(key: str = API_KEY, **extra: str) -> dict[str, str]:
    return {"x-api-key": key, "content-type": "application/json", **extra}


@pytest.fixture()
def log_stream() -> Iterator[io.StringIO]:
    """What the app's logger writes during the test (its handler keeps the stream it was
    created with, which is not the one pytest swaps in per test)."""
    from chalicelib.observability import logger

    stream = io.StringIO()
    previous = logger.registered_handler.setStream(stream)  # type: ignore[attr-defined]
    yield stream
    logger.registered_handler.setStream(previous)  # type: ignore[attr-defined]


def log_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    stream.seek(0)
    stream.truncate()
    return lines
