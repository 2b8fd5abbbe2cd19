"""Loss metrics as Bedrock and OpenAI write them, read into one series."""

from __future__ import annotations

import pytest

from chalicelib.tuning.loss import (
    LossFileError,
    LossPoint,
    early_stop,
    parse_bedrock,
    parse_openai_events,
    parse_openai_results,
)

TRAINING = """step_number,epoch_number,training_loss,perplexity
0,1,2.50,12.18
1,1,2.10,8.17
2,2,1.70,5.47
3,2,1.40,4.06
"""
VALIDATION = """step_number,epoch_number,validation_loss,validation_perplexity
1,1,2.30,9.97
3,2,1.90,6.69
"""


def test_bedrock_training_and_validation_merge_by_step() -> None:
    series = parse_bedrock(TRAINING, VALIDATION)
    assert series == [
        LossPoint(0, 1, 2.5, None),
        LossPoint(1, 1, 2.1, 2.3),
        LossPoint(2, 2, 1.7, None),
        LossPoint(3, 2, 1.4, 1.9),
    ]
    assert series[1].as_json() == {
        "step": 1,
        "epoch": 1,
        "training_loss": 2.1,
        "validation_loss": 2.3,
    }


def test_bedrock_without_validation_and_with_bad_cells() -> None:
    text = (
        "\ufeffstep_number,epoch_number,training_loss,perplexity\n0,1,nan,x\nbad,1,1,1\n1,1,2.0,7\n"
    )
    assert parse_bedrock(text) == [LossPoint(0, 1, None, None), LossPoint(1, 1, 2.0, None)]


def test_a_file_without_the_provider_columns_is_refused() -> None:
    with pytest.raises(LossFileError, match="training_loss"):
        parse_bedrock("step,loss\n1,2\n")
    with pytest.raises(LossFileError, match="validation_loss"):
        parse_bedrock(TRAINING, "step_number,epoch_number,loss\n1,1,2\n")


def test_openai_result_file_prefers_full_validation_loss() -> None:
    text = (
        "step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy,full_valid_loss\n"
        "1,2.0,0.5,2.2,0.4,\n"
        "2,1.5,0.6,,,\n"
        "3,1.2,0.7,1.9,0.5,1.8\n"
    )
    series = parse_openai_results(text, steps_per_epoch=2)
    assert series == [
        LossPoint(1, 1, 2.0, 2.2),
        LossPoint(2, 1, 1.5, None),
        LossPoint(3, 2, 1.2, 1.8),
    ]


def test_openai_metric_events() -> None:
    events = [
        {"type": "message", "message": "Step 1/4"},
        {"type": "metrics", "data": {"step": 2, "train_loss": 1.0, "valid_loss": 1.3}},
        {"type": "metrics", "data": {"step": 1, "train_loss": 1.4, "total_steps": 4}},
        {"type": "metrics", "data": "oops"},
    ]
    assert parse_openai_events(events) == [
        LossPoint(1, None, 1.4, None),
        LossPoint(2, None, 1.0, 1.3),
    ]


def test_early_stopping_point() -> None:
    series = parse_bedrock(TRAINING, VALIDATION)
    stop = early_stop(series, epochs_requested=5)
    assert stop is not None
    assert (stop.step, stop.epoch, stop.validation_loss, stop.epochs_run) == (3, 2, 1.9, 2)
    assert early_stop(series, epochs_requested=2) is None  # ran every epoch asked for
    assert early_stop(parse_bedrock(TRAINING), epochs_requested=5) is None  # nothing measured


def test_epochs_run_does_not_depend_on_where_epoch_numbers_start() -> None:
    zero_based = TRAINING.replace(",1,", ",0,").replace(",2,", ",1,")
    stop = early_stop(
        parse_bedrock(zero_based, VALIDATION.replace(",1,", ",0,").replace(",2,", ",1,")), 5
    )
    assert stop is not None and stop.epochs_run == 2
    assert early_stop(parse_bedrock(zero_based), 2) is None
