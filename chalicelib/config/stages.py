"""A stage's environment variables from `.chalice/config.json`, for the CLI and `make run`.

Standard library only: the CLI imports this before anything heavy, so `prepare` and `validate`
start fast."""

from __future__ import annotations

import json
import os
from pathlib import Path

from chalicelib.errors import ConfigurationError

PROJECT_DIR = Path(__file__).resolve().parents[2]


def stage_environment(stage: str, project_dir: Path = PROJECT_DIR) -> dict[str, str]:
    """The environment variables a stage gets in `.chalice/config.json` (global, then stage)."""
    config = json.loads((project_dir / ".chalice" / "config.json").read_text(encoding="utf-8"))
    if stage not in config.get("stages", {}):
        raise ConfigurationError(f"stage {stage!r} is not in .chalice/config.json")
    env = dict(config.get("environment_variables", {}))
    env.update(config["stages"][stage].get("environment_variables", {}))
    return {key: str(value) for key, value in env.items()}


def apply_stage_environment(stage: str) -> None:
    """Export the stage's variables into this process; variables already set win."""
    for key, value in stage_environment(stage).items():
        os.environ.setdefault(key, value)
