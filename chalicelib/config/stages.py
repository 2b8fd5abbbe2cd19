"""A stage's environment variables from `.chalice/config.json`, for the CLI, the local worker
and `make run`.

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


#: Variables that libraries read from the process environment themselves: boto3 (region,
#: credentials, endpoints), Powertools, pydantic.
LIBRARY_PREFIXES = ("AWS_", "POWERTOOLS_", "PYDANTIC_")


def stage_process_environment(stage: str) -> dict[str, str]:
    """The stage's variables under the process environment (which wins): what the CLI and the
    local worker build their settings from (`chalicelib.config.settings.install_settings`).

    Only the libraries' variables (LIBRARY_PREFIXES) are exported into the process, unless
    already set; Tunegate's own settings reach the code as a `Settings` object, not through
    the environment."""
    merged = {**stage_environment(stage), **os.environ}
    for key, value in merged.items():
        if key.startswith(LIBRARY_PREFIXES):
            os.environ.setdefault(key, value)
    return merged
