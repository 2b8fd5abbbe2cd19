"""Real OpenAI clients against the app served by `chalice local` on the test stack: the
`openai` SDK (answers and its typed errors) and lm-evaluation-harness's `local-completions` and
`local-chat-completions`, whose accuracy on the drug-review test split must equal Tunegate's own
evaluation of the same deployment on the same items."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from chalicelib.serving.parsing import parse_label
from examples.lm_eval import utils as task_utils
from tests.conftest import API_KEY, ROOT

POSITIVE = "This medicine worked wonders, I feel great and have no side effects at all."
NEGATIVE = "Terrible. It made me sick, I had awful side effects and it did not help."
TEST_SET = ROOT / "examples" / "drugreview" / "openai" / "test.jsonl"
TASKS = ROOT / "examples" / "lm_eval"


@pytest.fixture(scope="module")
def api_url(local_stack: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from devstack import serve_api

    log = tmp_path_factory.mktemp("chalice-local") / "out.log"
    with serve_api(log=log) as url:
        yield url


@pytest.fixture()
def sdk(api_url: str, emulator: Any) -> Iterator[openai.OpenAI]:
    emulator.reset()
    client = openai.OpenAI(base_url=f"{api_url}/v1", api_key=API_KEY, max_retries=0, timeout=30)
    yield client
    emulator.reset()
    client.close()


def test_sdk_chat_and_completions(sdk: openai.OpenAI) -> None:
    chat = sdk.chat.completions.create(
        model="sentiment-converse",
        messages=[{"role": "user", "content": POSITIVE}],
        max_tokens=256,
        temperature=0,
        seed=1,
    )
    assert chat.choices[0].message.content == "positive"
    assert chat.choices[0].finish_reason == "stop" and chat.usage and chat.usage.total_tokens
    extra = chat.model_extra or {}
    assert extra["tunegate"]["prediction"] == "positive" and extra["tunegate"]["feedback_token"]

    stops = ["\n\n", "Question:", "</s>", "<|im_end|>", "###", "\n"]
    text = sdk.completions.create(
        model="sentiment-legacy", prompt=[POSITIVE, NEGATIVE], max_tokens=256, stop=stops
    )
    assert [c.index for c in text.choices] == [0, 1]
    assert [c.text for c in text.choices] == [" positive", " negative"]
    assert "sentiment-legacy" in [m.id for m in sdk.models.list()]


def test_sdk_errors_arrive_as_its_typed_exceptions(
    sdk: openai.OpenAI, api_url: str, emulator: Any
) -> None:
    message = [{"role": "user", "content": POSITIVE}]
    with pytest.raises(openai.BadRequestError) as bad:
        sdk.chat.completions.create(model="sentiment-converse", messages=message, n=2)  # type: ignore[arg-type]
    assert "n > 1" in bad.value.message and bad.value.param == "n"
    with pytest.raises(openai.BadRequestError) as echo:
        sdk.completions.create(model="sentiment-legacy", prompt="x", echo=True, logprobs=1)
    assert "log-probabilities" in echo.value.message
    with pytest.raises(openai.NotFoundError) as missing:
        sdk.completions.create(model="no-such-deployment", prompt="x")
    assert missing.value.code == "not_found"
    wrong_key = openai.OpenAI(base_url=f"{api_url}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong_key.chat.completions.create(model="sentiment-converse", messages=message)  # type: ignore[arg-type]
    wrong_key.close()
    emulator.set_faults(throttle_rate=1.0)
    with pytest.raises(openai.RateLimitError) as throttled:
        sdk.chat.completions.create(model="sentiment-converse", messages=message)  # type: ignore[arg-type]
    assert throttled.value.code == "throttled"
    assert int(throttled.value.response.headers["retry-after"]) > 0


def test_the_task_scores_with_tunegates_label_rule() -> None:
    outputs = ["positive", " Negative.", "neutral\nmore", "positively", "pos", "", "NEUTRAL!"]
    labels = ["negative", "neutral", "positive"]
    assert [task_utils.parse_label(o) for o in outputs] == [parse_label(o, labels) for o in outputs]


def lm_eval(api_url: str, model: str, out: Path, *args: str) -> dict[str, Any]:
    """lm-eval's own CLI in a subprocess, offline, the key from OPENAI_API_KEY as users set it."""
    env = {
        **os.environ,
        "OPENAI_API_KEY": API_KEY,
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(out / "hf"),
        "TOKENIZERS_PARALLELISM": "false",
    }
    command = [
        str(Path(sys.executable).parent / "lm_eval"),
        "run",
        "--tasks",
        "drug_review_sentiment",
        "--include_path",
        str(TASKS),
        "--output_path",
        str(out / "lm-eval"),
        "--log_samples",
        *args,
    ]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    [results_file] = (out / "lm-eval").glob("*/results_*.json")
    document: dict[str, Any] = json.loads(results_file.read_text())
    document["_dir"] = results_file.parent
    return document


def tunegate_evaluation(model: str, out: Path) -> dict[str, Any]:
    """Tunegate's own evaluation (the CLI) of the deployment on the whole test split."""
    result = subprocess.run(
        [sys.executable, "-m", "chalicelib.cli", "evaluate", "--model", model]
        + ["--dataset", str(TEST_SET), "--out", str(out)],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    results: dict[str, Any] = json.loads((out / "results.json").read_text())
    return results


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def check_tunegate_lm_eval_files(out: Path, model: str, reference: dict[str, Any]) -> None:
    """Tunegate's lm_eval_results.json and sample log read with lm-eval's own helpers, and
    carrying every key lm-eval itself wrote in `reference` (its results file of this run)."""
    from lm_eval import utils as lm_utils

    document = json.loads((out / "lm_eval_results.json").read_text())
    assert set(reference) - {"samples", "_dir"} <= set(document)
    task = document["results"][model]
    assert set(reference["results"]["drug_review_sentiment"]) <= set(task) | {"acc_stderr,none"}
    assert task["name"] == model and task["sample_len"] == 98
    assert lm_utils.simple_parse_args_string(document["config"]["model_args"]) == {"model": model}
    assert model in lm_utils.make_table(document)
    names = [str(p) for p in out.iterdir()]
    [samples_file] = lm_utils.get_sample_results_filenames(names)
    assert lm_utils.get_file_task_name(Path(samples_file).name) == model.replace("-", "_")
    assert lm_utils.get_latest_filename([samples_file]) == samples_file
    ours = read_jsonl(Path(samples_file))
    assert document["task_hashes"][model] and len(ours) == 98
    [theirs_file] = (reference["_dir"]).glob("samples_drug_review_sentiment_*.jsonl")
    theirs = read_jsonl(theirs_file)
    assert set(theirs[0]) <= set(ours[0])
    # item by item, the two harnesses scored the same answers the same way
    assert {s["doc_id"]: s["acc"] for s in ours} == {s["doc_id"]: s["acc"] for s in theirs}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("backend", "model", "endpoint", "more_args", "extra"),
    [
        (
            "local-completions",
            "sentiment-legacy",
            "completions",
            ",tokenizer_backend=None,tokenized_requests=False",
            ["--batch_size", "4"],
        ),
        (
            "local-chat-completions",
            "sentiment-converse",
            "chat/completions",
            "",
            ["--apply_chat_template"],
        ),
    ],
)
def test_lm_eval_accuracy_equals_tunegates_own_evaluation(
    api_url: str,
    tmp_path: Path,
    backend: str,
    model: str,
    endpoint: str,
    more_args: str,
    extra: list[str],
) -> None:
    model_args = f"model={model},base_url={api_url}/v1/{endpoint},num_concurrent=4,max_retries=2"
    args = ["--model", backend, "--model_args", model_args + more_args, *extra]
    document = lm_eval(api_url, model, tmp_path, *args)
    scored = document["results"]["drug_review_sentiment"]
    assert document["n-samples"]["drug_review_sentiment"]["effective"] == 98
    ours = tunegate_evaluation(model, tmp_path / "tunegate")
    assert scored["acc,none"] == pytest.approx(ours["results"][model]["accuracy"])
    check_tunegate_lm_eval_files(tmp_path / "tunegate", model, document)
