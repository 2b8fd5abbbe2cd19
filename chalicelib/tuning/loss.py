"""Loss metrics as the providers write them, read into one typed series.

Bedrock (user guide, "Analyze the results of a model customization job") writes under the
output prefix `training_artifacts/step_wise_training_metrics.csv` (step_number, epoch_number,
training_loss, perplexity) and `validation_artifacts/post_fine_tuning_validation/
validation_metrics.csv` (the same with validation_loss); step_number counts from 0.
OpenAI's result file is a CSV (step, train_loss, train_accuracy, valid_loss,
valid_mean_token_accuracy, full_valid_loss...) and its job events of type "metrics" carry
the same names in `data`.
Texts in, values out: fetching the files is the service's business.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

BEDROCK_TRAINING_FILE = "training_artifacts/step_wise_training_metrics.csv"
BEDROCK_VALIDATION_FILE = "validation_artifacts/post_fine_tuning_validation/validation_metrics.csv"


class LossFileError(ValueError):
    """A metrics file without the columns its provider writes."""


@dataclass(frozen=True)
class LossPoint:
    step: int
    epoch: int | None
    training_loss: float | None
    validation_loss: float | None

    def as_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "epoch": self.epoch,
            "training_loss": self.training_loss,
            "validation_loss": self.validation_loss,
        }


@dataclass(frozen=True)
class EarlyStop:
    step: int
    epoch: int | None
    validation_loss: float
    epochs_run: int | None
    epochs_requested: int

    def as_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "epoch": self.epoch,
            "validation_loss": self.validation_loss,
            "epochs_run": self.epochs_run,
            "epochs_requested": self.epochs_requested,
        }


def _float(value: object) -> float | None:
    try:
        number = float(str(value))
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _int(value: object) -> int | None:
    number = _float(value)
    return int(number) if number is not None and number.is_integer() else None


def _rows(text: str, step_col: str, need: tuple[str, ...], name: str) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    columns = {c.strip() for c in reader.fieldnames or ()}
    missing = [c for c in (step_col, *need) if c not in columns]
    if missing:
        raise LossFileError(f"{name}: missing column(s) {missing}; found {sorted(columns)}")
    return [{k.strip(): (v or "").strip() for k, v in row.items() if k} for row in reader]


def _merge(points: Iterable[LossPoint]) -> list[LossPoint]:
    """One point per step, training and validation values joined, in step order."""
    by_step: dict[int, LossPoint] = {}
    for p in points:
        old = by_step.get(p.step)
        if old is None:
            by_step[p.step] = p
            continue
        by_step[p.step] = LossPoint(
            p.step,
            old.epoch if old.epoch is not None else p.epoch,
            old.training_loss if old.training_loss is not None else p.training_loss,
            old.validation_loss if old.validation_loss is not None else p.validation_loss,
        )
    return [by_step[s] for s in sorted(by_step)]


def parse_bedrock(training_csv: str, validation_csv: str | None = None) -> list[LossPoint]:
    """Bedrock's step-wise training metrics and (optional) validation metrics, merged by step."""
    points = []
    for row in _rows(training_csv, "step_number", ("training_loss",), "training metrics"):
        step = _int(row.get("step_number"))
        if step is not None:
            points.append(
                LossPoint(step, _int(row.get("epoch_number")), _float(row["training_loss"]), None)
            )
    if validation_csv:
        for row in _rows(validation_csv, "step_number", ("validation_loss",), "validation metrics"):
            step = _int(row.get("step_number"))
            if step is not None:
                points.append(
                    LossPoint(
                        step, _int(row.get("epoch_number")), None, _float(row["validation_loss"])
                    )
                )
    return _merge(points)


def _openai_point(data: Mapping[str, Any], steps_per_epoch: int | None) -> LossPoint | None:
    step = _int(data.get("step"))
    if step is None:
        return None
    validation = _float(data.get("full_valid_loss"))
    if validation is None:
        validation = _float(data.get("valid_loss"))
    epoch = _int(data.get("epoch"))
    if epoch is None and steps_per_epoch:
        epoch = (step - 1) // steps_per_epoch + 1
    return LossPoint(step, epoch, _float(data.get("train_loss")), validation)


def parse_openai_results(text: str, steps_per_epoch: int | None = None) -> list[LossPoint]:
    """OpenAI's result file (CSV). `full_valid_loss` (whole validation file) is preferred to
    `valid_loss` (one batch) where both are given; epochs from `steps_per_epoch` if known."""
    rows = _rows(text, "step", ("train_loss",), "result file")
    return _merge(p for row in rows if (p := _openai_point(row, steps_per_epoch)))


def parse_openai_events(
    events: Iterable[Mapping[str, Any]], steps_per_epoch: int | None = None
) -> list[LossPoint]:
    """Fine-tuning job events: those of type "metrics" with their `data`."""
    points = []
    for event in events:
        data = event.get("data")
        point = (
            _openai_point(data, steps_per_epoch)
            if event.get("type") == "metrics" and isinstance(data, Mapping)
            else None
        )
        if point:
            points.append(point)
    return _merge(points)


def early_stop(series: list[LossPoint], epochs_requested: int) -> EarlyStop | None:
    """Where training stopped early: fewer epochs ran than were asked for, and validation loss
    was measured. The point is the best validation loss (the model the provider keeps)."""
    measured = [p for p in series if p.validation_loss is not None]
    # distinct epochs seen, not the largest number: the guide says steps count from 0 but
    # not where epoch numbers start
    epochs_run = len({p.epoch for p in series if p.epoch is not None}) or None
    if not measured or epochs_run is None or epochs_run >= epochs_requested:
        return None
    best = min(measured, key=lambda p: (p.validation_loss, p.step))
    assert best.validation_loss is not None
    return EarlyStop(best.step, best.epoch, best.validation_loss, epochs_run, epochs_requested)
