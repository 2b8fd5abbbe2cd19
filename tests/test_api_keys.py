"""API keys for deployed stages: created by the CLI, only hashes stored in SSM (moto), checked
through the same Powertools parameter path the deployed app uses."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from typing import Any

import boto3
import pytest

from chalicelib.errors import Unauthorized
from chalicelib.secrets import require_api_key
from chalicelib.settings import settings_from_env
from tests.conftest import ROOT

PARAMETER = "/tunegate/test/api-key-hashes"


def create_key() -> str:
    env = {**os.environ, "API_KEY_HASHES_PARAMETER": PARAMETER}
    result = subprocess.run(
        [sys.executable, "-m", "chalicelib.cli", "--stage", "dev", "create-api-key"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    match = re.search(r"API key \(shown once, not stored\): (\S+)", result.stdout)
    assert match, result.stdout
    return match.group(1)


def test_keys_are_stored_only_as_hashes_and_accepted(local_stack: Any) -> None:
    first, second = create_key(), create_key()
    assert first != second and first.startswith("tg_") and len(first) > 40
    stored = boto3.client("ssm").get_parameter(Name=PARAMETER, WithDecryption=True)["Parameter"]
    assert stored["Type"] == "SecureString"
    assert first not in stored["Value"] and second not in stored["Value"]
    assert stored["Value"].split(",") == [
        hashlib.sha256(k.encode()).hexdigest() for k in (first, second)
    ]
    settings = settings_from_env(
        {
            "MODELS_FILE": "chalicelib/registries/local.json",
            "API_KEY_HASHES_PARAMETER": PARAMETER,
            "FEEDBACK_TOKEN_SECRET": "s",
        }
    )
    require_api_key(first, settings)
    require_api_key(second, settings)
    with pytest.raises(Unauthorized):
        require_api_key(first + "x", settings)
