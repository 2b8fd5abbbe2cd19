"""The local control plane's trainer (emulator/trainer.py) on generated records: throughput
(records × epochs per second) and tracemalloc peak, against the reference classifier's fit
(TF-IDF + newton-cg logistic regression, emulator/reference_model.py) on the same records,
measured in the same run.

Command: `.venv/bin/python bench/bench_trainer.py` (`--records N`, `--epochs E`, `--batch B`).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from emulator.reference_model import Example, ReferenceClassifier  # noqa: E402
from emulator.trainer import TrainingPlan, train  # noqa: E402

LABELS = ("negative", "neutral", "positive")


def generate(count: int, seed: int = 0) -> list[Example]:
    """Reviews of 20–60 words from a 5,000-word vocabulary, each label leaning on its own 200
    words, so the task is learnable but not trivial."""
    rng = random.Random(seed)
    vocabulary = [f"w{i}" for i in range(5000)]
    leaning = {label: vocabulary[i * 200 : (i + 1) * 200] for i, label in enumerate(LABELS)}
    rows = []
    for _ in range(count):
        label = rng.choice(LABELS)
        words = [
            rng.choice(leaning[label]) if rng.random() < 0.15 else rng.choice(vocabulary)
            for _ in range(rng.randint(20, 60))
        ]
        rows.append(Example(" ".join(words), label))
    return rows


def measure(work: Callable[[], Any]) -> tuple[float, float, Any]:
    """(seconds, tracemalloc peak MiB, result)."""
    tracemalloc.start()
    started = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return seconds, peak, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    examples = generate(args.records)
    validation = generate(2_000, seed=1)
    test = generate(2_000, seed=2)
    plan = TrainingPlan(epochs=args.epochs, batch_size=args.batch, early_stopping_patience=0)
    ours_s, ours_mib, result = measure(lambda: train(examples, validation, plan))
    base_s, base_mib, reference = measure(lambda: ReferenceClassifier.train(examples))
    ours_acc = sum(result.model.predict(e.text) == e.label for e in test) / len(test)
    base_acc = sum(reference.predict(e.text) == e.label for e in test) / len(test)
    ours_rate = args.records * args.epochs / ours_s
    base_rate = args.records / base_s
    print(
        f"records: {args.records}, epochs: {args.epochs}, batch: {args.batch}, "
        f"steps: {len(result.steps)}"
    )
    print("| what | seconds | records/s | tracemalloc peak MiB | test accuracy |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(
        f"| control-plane trainer ({args.epochs} epochs, batch {args.batch}, loss per step, "
        f"validation loss per epoch) | {ours_s:.2f} | {ours_rate:,.0f} | {ours_mib:.0f} | "
        f"{ours_acc:.3f} |"
    )
    print(
        f"| baseline: reference classifier fit (TF-IDF 1-2 grams + newton-cg) | {base_s:.2f} | "
        f"{base_rate:,.0f} | {base_mib:.0f} | {base_acc:.3f} |"
    )
    print(
        f"throughput ratio (trainer records/s ÷ baseline records/s): {ours_rate / base_rate:.2f}x"
    )


if __name__ == "__main__":
    main()
