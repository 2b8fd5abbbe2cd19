"""The control plane's local trainer: hashed word n-grams + a logistic regression trained by SGD,
mini-batch by mini-batch and epoch by epoch, so a job's hyperparameters change what it learns.

Hyperparameters map onto it as on a real fine-tune: epochs are passes over the data, the batch
size is the mini-batch size, the learning-rate multiplier scales the SGD step, and early stopping
watches the validation loss after each epoch (threshold = the least improvement that counts,
patience = how many epochs without one are tolerated). A custom model can be the starting point
of another job (incremental tuning): its weights are copied and trained further."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from emulator.reference_model import Example, example_from_record, strip_separator

#: The SGD step size at learning-rate multiplier 1 (features are L2-normalised); 2.0 fits the
#: drug-review training split in 2 epochs of batch 8 (validation loss 0.75 → 0.70).
BASE_STEP = 2.0
#: A learning rate given as an absolute value (Titan/Llama/Nova style) is read relative to this.
REFERENCE_LEARNING_RATE = 1e-5
N_FEATURES = 2**16


class DataError(ValueError):
    """A training or validation line the trainer cannot read, with its 1-based line number."""

    def __init__(self, source: str, line: int, problem: str):
        self.source, self.line, self.problem = source, line, problem
        super().__init__(f"{source} line {line}: {problem}")


def parse_examples(data: bytes, source: str) -> list[Example]:
    """Every non-blank line as an example; the first bad line raises DataError."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise DataError(source, 1, "the file is not UTF-8 text") from None
    examples = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            examples.append(example_from_record(json.loads(line)))
        except ValueError as problem:  # json.JSONDecodeError is a ValueError
            raise DataError(source, number, str(problem)) from None
        if not examples[-1].label:
            raise DataError(source, number, "the completion / assistant answer is empty")
    if not examples:
        raise DataError(source, 1, "no training records")
    return examples


@dataclass(frozen=True, slots=True)
class TrainingPlan:
    epochs: int = 2
    batch_size: int = 8
    learning_rate_multiplier: float = 1.0
    #: The least drop in validation loss that counts as an improvement.
    early_stopping_threshold: float = 0.01
    #: Epochs without improvement before stopping; 0 turns early stopping off.
    early_stopping_patience: int = 3
    seed: int = 0


@dataclass(frozen=True, slots=True)
class StepLoss:
    step: int
    epoch: int
    loss: float
    accuracy: float


@dataclass
class TrainingResult:
    model: TrainedClassifier
    steps: list[StepLoss] = field(default_factory=list)
    #: Validation loss after each epoch (step = the last step of that epoch); empty without data.
    validation: list[StepLoss] = field(default_factory=list)
    epochs_run: int = 0
    stopped_early: bool = False
    cancelled: bool = False
    records: int = 0

    @property
    def training_loss(self) -> float | None:
        return self.steps[-1].loss if self.steps else None

    @property
    def validation_loss(self) -> float | None:
        return self.validation[-1].loss if self.validation else None


class TrainedClassifier:
    """A trained model: answers the label it predicts for a prompt."""

    def __init__(self, classifier: Any, labels: Sequence[str]):
        self.classifier = classifier
        self.labels = tuple(labels)

    def predict(self, text: str) -> str:
        return str(self.classifier.predict(_features([strip_separator(text)]))[0])

    def loss(self, examples: Sequence[Example]) -> float:
        """Mean log loss on labelled examples (labels unknown to the model count as certain
        misses, clipped like sklearn's log_loss)."""
        return _log_loss(self.classifier, _features(_texts(examples)), _labels(examples))


def _texts(examples: Sequence[Example]) -> list[str]:
    return [strip_separator(example.text) for example in examples]


def _labels(examples: Sequence[Example]) -> list[str]:
    return [example.label for example in examples]


def _features(texts: Sequence[str]) -> Any:
    from sklearn.feature_extraction.text import HashingVectorizer

    vectorizer = HashingVectorizer(
        ngram_range=(1, 2), n_features=N_FEATURES, alternate_sign=False, norm="l2"
    )
    return vectorizer.transform(texts)


def _log_loss(classifier: Any, features: Any, labels: Sequence[str]) -> float:
    import numpy as np

    probabilities = classifier.predict_proba(features)
    index = {label: i for i, label in enumerate(classifier.classes_)}
    picked = np.array(
        [
            probabilities[row, index[label]] if label in index else 0.0
            for row, label in enumerate(labels)
        ]
    )
    eps = np.finfo(probabilities.dtype).eps
    return float(-np.mean(np.log(np.clip(picked, eps, 1.0))))


def _accuracy(classifier: Any, features: Any, labels: Sequence[str]) -> float:
    predicted = classifier.predict(features)
    return float(sum(p == y for p, y in zip(predicted, labels, strict=True)) / len(labels))


def train(
    examples: Sequence[Example],
    validation: Sequence[Example],
    plan: TrainingPlan,
    parent: TrainedClassifier | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> TrainingResult:
    """Train (or, from `parent`, keep training) and record the loss at every step.

    `should_stop` is polled between mini-batches: a stopped job keeps what it learnt so far."""
    import numpy as np
    from sklearn.linear_model import SGDClassifier

    labels = sorted({example.label for example in examples})
    if parent is not None:
        unknown = sorted(set(labels) - set(parent.labels))
        if unknown:
            raise ValueError(
                f"labels {unknown} are not among the base custom model's labels "
                f"{list(parent.labels)}"
            )
        classifier = copy.deepcopy(parent.classifier)
        classes = list(parent.labels)
    else:
        if len(labels) < 2:
            raise ValueError("the training data needs at least two distinct answers")
        classifier = SGDClassifier(
            loss="log_loss",
            learning_rate="constant",
            eta0=BASE_STEP * plan.learning_rate_multiplier,
            alpha=1e-5,
            random_state=plan.seed,
        )
        classes = labels
    classifier.set_params(eta0=BASE_STEP * plan.learning_rate_multiplier)
    features = _features(_texts(examples))
    targets = np.array(_labels(examples), dtype=object)
    valid_features = _features(_texts(validation)) if validation else None
    valid_labels = _labels(validation)
    result = TrainingResult(TrainedClassifier(classifier, classes), records=len(examples))
    rng = np.random.default_rng(plan.seed)
    best, waited, step = math.inf, 0, 0
    for epoch in range(1, plan.epochs + 1):
        order = rng.permutation(len(targets))
        for start in range(0, len(order), plan.batch_size):
            if should_stop():
                result.cancelled = True
                return result
            batch = order[start : start + plan.batch_size]
            x, y = features[batch], targets[batch]
            classifier.partial_fit(x, y, classes=classes)
            loss = _log_loss(classifier, x, list(y))
            result.steps.append(StepLoss(step, epoch, loss, _accuracy(classifier, x, list(y))))
            step += 1
        result.epochs_run = epoch
        if valid_features is None:
            continue
        valid_loss = _log_loss(classifier, valid_features, valid_labels)
        accuracy = _accuracy(classifier, valid_features, valid_labels)
        result.validation.append(StepLoss(step - 1, epoch, valid_loss, accuracy))
        if best - valid_loss > plan.early_stopping_threshold:
            best, waited = valid_loss, 0
        else:
            waited += 1
            if plan.early_stopping_patience and waited >= plan.early_stopping_patience:
                result.stopped_early = epoch < plan.epochs
                break
    return result
