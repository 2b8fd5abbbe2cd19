"""A bad registry or configuration stops the app at start, with a message that says what."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib.config.settings import settings_from_env
from chalicelib.config.stages import stage_environment
from chalicelib.errors import ConfigurationError

ROOT = Path(__file__).resolve().parent.parent
BASE_ENV = {
    "MODELS_FILE": "chalicelib/registries/local.json",
    "API_KEY_HASHES": hashlib.sha256(b"k").hexdigest(),
    "FEEDBACK_TOKEN_SECRET": "s",
}


def import_app(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MODELS_", "API_KEY"))}
    return subprocess.run(
        [sys.executable, "-c", "import app"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_bad_registry_stops_the_app_naming_deployment_and_field(tmp_path: Path) -> None:
    registry = json.loads((ROOT / "chalicelib" / "registries" / "local.json").read_text())
    registry["deployments"][1]["model_id"] = "arn:aws:bedrock:nowhere"
    bad = tmp_path / "models.json"
    bad.write_text(json.dumps(registry))
    result = import_app({**BASE_ENV, "MODELS_FILE": str(bad)})
    assert result.returncode != 0
    assert "deployment 'drug-review-legacy' field model_id" in result.stderr


def test_good_configuration_imports() -> None:
    result = import_app(BASE_ENV)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"API_KEY_HASHES": "not-a-digest"}, "API_KEY_HASHES"),
        ({"API_KEY_HASHES": ""}, "API_KEY_HASHES_PARAMETER"),
        ({"FEEDBACK_TOKEN_SECRET": ""}, "FEEDBACK_TOKEN_SECRET"),
        ({"MAX_BODY_BYTES": "ten"}, "MAX_BODY_BYTES"),
        ({"MODEL_MAX_ATTEMPTS": "9"}, "MODEL_MAX_ATTEMPTS"),
    ],
)
def test_bad_settings_fail_at_start(change: dict[str, str], needle: str) -> None:
    env = {**BASE_ENV, **change}
    env = {k: v for k, v in env.items() if v}
    with pytest.raises(ConfigurationError, match=needle):
        settings_from_env(env)


def test_models_file_resolves_against_the_app_folder() -> None:
    settings = settings_from_env(BASE_ENV)
    assert settings.models_file == ROOT / "chalicelib" / "registries" / "local.json"


@pytest.mark.parametrize("stage", ["local", "dev", "prod"])
def test_every_stage_is_configured(stage: str) -> None:
    env = stage_environment(stage)
    settings = settings_from_env(env)
    assert settings.stage == stage and settings.models_file.exists()
    assert settings.api_key_hashes or settings.api_key_hashes_parameter


def test_unknown_stage() -> None:
    with pytest.raises(ConfigurationError, match="stage 'nope'"):
        stage_environment("nope")


def test_the_invoke_path_does_not_import_the_evaluation_engine() -> None:
    """The jobs routes import the jobs service on their first request (app.evaluation_jobs):
    importing the app, as a cold start does, loads neither it nor the evaluation engine."""
    code = (
        "import sys, app; heavy = sorted(m for m in sys.modules if m.startswith("
        "('chalicelib.jobs', 'chalicelib.evaluation'))); assert not heavy, heavy"
    )
    env = {**stage_environment("local"), **os.environ}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
