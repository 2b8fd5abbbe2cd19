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


def test_one_command_tunes_provisions_and_registers_a_version_that_beats_the_base(
    cli: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 14's "done when": `tune … --wait --provision --register NAME` takes the bundled
    training split to a registered, answering version, and an evaluation of it against the base
    stand-in on the held-out test split shows it better (exact McNemar test, not a number)."""
    import json
    import uuid

    suffix = uuid.uuid4().hex[:8]
    tuned, base = f"e2e-tuned-{suffix}", f"e2e-base-{suffix}"
    args = tune_args(tmp_path, "--wait", "--poll-seconds", "0.05", "--register", tuned)
    args[args.index("--name") + 1] = f"e2e-{suffix}"
    args[args.index("--training") + 1] = str(DATA / "train.jsonl")  # the whole split
    assert cli(args) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    registered = json.loads(out[out.index('{\n  "provisioned_model"') :])
    assert registered["provisioned_model"]["status"] == "in_service"
    version = registered["version"]
    assert (version["name"], version["version"]) == (tuned, 1)
    assert version["model_id"] == registered["provisioned_model"]["arn"]
    first = json.loads(DATA.joinpath("train.jsonl").read_text().splitlines()[0])
    assert version["prompt"]["system"] == first["system"]  # the trained format, recovered

    spec = {k: version[k] for k in ("provider", "request_format", "prompt", "inference", "output")}
    spec_file = tmp_path / "base.json"
    spec_file.write_text(json.dumps({**spec, "model_id": BASE_MODEL_ID}))
    assert cli(["deployments", "create-version", base, "--file", str(spec_file)]) == 0
    capsys.readouterr()
    out_dir = tmp_path / "eval"
    models = [f"{tuned}@1", f"{base}@1"]
    assert (
        cli(
            [
                "evaluate",
                "--model",
                models[0],
                "--model",
                models[1],
                "--dataset",
                str(DATA / "test.jsonl"),
                "--out",
                str(out_dir),
            ]
        )
        == 0
    )
    results = json.loads((out_dir / "results.json").read_text())
    assert results["results"][models[0]]["accuracy"] > results["results"][models[1]]["accuracy"]
    [pair] = results["comparison"]
    assert pair["mcnemar_p"] < 0.01
