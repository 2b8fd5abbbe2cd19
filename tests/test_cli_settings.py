"""The CLI builds its settings from the stage's variables under the process environment and
passes them down: Tunegate's own variables are never exported into the process."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from chalicelib.cli import main
from chalicelib.config.settings import get_settings


@pytest.fixture
def clean_process() -> Iterator[None]:
    """The process environment and settings as they were, whatever the command did."""
    before = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(before)
        get_settings.cache_clear()


def test_a_command_reads_its_stage_without_exporting_it(
    clean_process: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("API_KEY_HASHES_PARAMETER", raising=False)
    monkeypatch.delenv("API_KEY_HASHES", raising=False)  # the dev stage's parameter instead
    args = ["policy", "--account-id", "123456789012", "--region", "us-east-1"]
    assert main(["--stage", "dev", *args, "--out", str(tmp_path)]) == 0
    assert get_settings().api_key_hashes_parameter == "/tunegate/dev/api-key-hashes"
    assert "API_KEY_HASHES_PARAMETER" not in os.environ
    assert (tmp_path / "policy-dev.json").exists()


def test_evaluate_passes_its_stage_settings_down_without_touching_the_environment(
    clean_process: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`evaluate` reads the stage's values under the process environment into its settings, not
    into the process environment; a value set in the environment still wins."""
    monkeypatch.delenv("EVALUATION_QUEUE_VISIBILITY_SECONDS", raising=False)
    args = ["evaluate", "--model", "no-such-model", "--dataset", "x.jsonl", "--out", str(tmp_path)]
    assert main(args) == 2  # an unknown model: after the settings are built
    assert get_settings().jobs.queue_visibility_seconds == 30  # the local stage's value
    assert "EVALUATION_QUEUE_VISIBILITY_SECONDS" not in os.environ
    monkeypatch.setenv("EVALUATION_QUEUE_VISIBILITY_SECONDS", "45")
    assert main(args) == 2
    assert get_settings().jobs.queue_visibility_seconds == 45


def test_the_local_worker_passes_its_stage_settings_down(
    clean_process: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scripts.worker import install_stage_settings

    for name in ("MODEL_MAX_ATTEMPTS", "EVALUATION_QUEUE_VISIBILITY_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    settings = install_stage_settings("local")
    assert get_settings() is settings
    assert settings.jobs.queue_visibility_seconds == 30  # the local stage's value
    assert "MODEL_MAX_ATTEMPTS" not in os.environ
    assert "EVALUATION_QUEUE_VISIBILITY_SECONDS" not in os.environ


def test_service_log_lines_go_to_stderr_so_stdout_stays_the_answer(tmp_path: Path) -> None:
    """`tune … --register` prints JSON on stdout; the services it calls log JSON lines too."""
    import subprocess
    import sys

    script = (
        "import sys; from chalicelib.cli import main; from chalicelib.observability import logger\n"
        "main(['validate', sys.argv[1], '--format', 'openai'])\n"
        "logger.info('a service line')\n"
    )
    data = tmp_path / "ok.jsonl"
    data.write_text('{"prompt": "Fine.\\n\\n###\\n\\n", "completion": " positive"}\n')
    done = subprocess.run(
        [sys.executable, "-c", script, str(data)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert "a service line" not in done.stdout
    assert "a service line" in done.stderr
