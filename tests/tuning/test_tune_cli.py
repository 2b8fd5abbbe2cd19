"""`cli tune … --wait` and `cli tuning-jobs` against the local stack: a local file uploaded and
checked, the job watched to the end, the loss table printed and the report written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from emulator import BASE_MODEL_ID
from tests.conftest import ROOT

DATA = ROOT / "examples" / "drugreview" / "bedrock"


@pytest.fixture()
def cli(local_stack: Any) -> Iterator[Any]:
    from chalicelib.cli import main
    from chalicelib.config.settings import get_settings

    yield main
    get_settings.cache_clear()  # the CLI installed its own settings


def tune_args(tmp_path: Path, *extra: str) -> list[str]:
    training = tmp_path / "train.jsonl"
    training.write_text("".join(DATA.joinpath("train.jsonl").read_text().splitlines(True)[:200]))
    return [
        "tune",
        "--name",
        "cli-drugs",
        "--provider",
        "bedrock",
        "--base-model",
        BASE_MODEL_ID,
        "--training",
        str(training),
        "--validation",
        str(DATA / "validation.jsonl"),
        "--out",
        str(tmp_path / "reports"),
        *extra,
    ]


def test_tune_waits_prints_the_loss_table_and_writes_the_report(
    cli: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli(
        tune_args(tmp_path, "--hyperparameter", "epochCount=2", "--wait", "--poll-seconds", "0.1")
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert ": succeeded" in out
    assert "epoch  last step  training loss  validation loss" in out
    assert "custom model: arn:aws:bedrock:" in out
    [report] = (tmp_path / "reports").glob("tuning-*.html")
    assert "<svg" in report.read_text()
    tuning_job_id = report.stem.removeprefix("tuning-")
    assert cli(["tuning-jobs", "list"]) == 0
    assert tuning_job_id in capsys.readouterr().out
    assert cli(["tuning-jobs", "show", tuning_job_id]) == 0
    assert "succeeded" in capsys.readouterr().out


def test_tune_refuses_bad_hyperparameters_with_field_and_range(
    cli: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli(tune_args(tmp_path, "--hyperparameter", "epochCount=11"))
    err = capsys.readouterr().err
    assert code == 2
    assert "hyperparameters.epochCount: must be an integer 1-10, found 11" in err
