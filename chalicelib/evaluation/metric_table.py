"""The one table of scalar evaluation metrics: the report, the CLI table, lm_eval_results.json
and the finaliser's EMF metrics all read it, so a new metric is a row here plus its computation
in `metrics.py` (an EMF metric also wants a widget on the dashboard in infra/resources.json)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

# rate: a share shown as a percentage; score: 0..1 shown with 3 decimals; error: unbounded.
Display = Literal["rate", "score", "error"]
# The uncertainty a metric carries in METRICS: "<key>_stderr" or "<key>_ci95" ([lo, hi]).
Spread = Literal["stderr", "ci95"]
# How the CLI table shows it: with its spread, the bare number, or a percentage.
CliShow = Literal["spread", "number", "percent"]


@dataclass(frozen=True)
class Metric:
    key: str  # the METRICS field (CONTRACT section 5)
    label: str  # report row title, before the spread's suffix
    name: str  # short lower-case name: CLI column, per-category column, chart label
    higher_is_better: bool
    lm_eval: str  # lm-eval metric name ("<lm_eval>,none" in lm_eval_results.json)
    display: Display = "score"
    spread: Spread | None = None
    emf: str | None = None  # CloudWatch metric emitted once per completed job (CONTRACT 6)
    cli: CliShow | None = None  # None: not a CLI column
    headline: bool = False  # shown first; the trivial baselines are scored on these
    per_category: bool = False  # a column of the report's per-category table
    numeric_only: bool = False  # defined only for numeric answers: hidden when never scored
    text_only: bool = False  # defined only for free-text answers: hidden when never scored
    per_item_mean: bool = False  # a mean of per-item scores (lm-eval aggregation "mean")

    @property
    def spread_key(self) -> str | None:
        return None if self.spread is None else f"{self.key}_{self.spread}"

    @property
    def title(self) -> str:
        """The report's row title: "Accuracy ± stderr", "Macro F1 [95% CI]"."""
        suffix = {"stderr": " ± stderr", "ci95": " [95% CI]", None: ""}[self.spread]
        return self.label + suffix

    @property
    def column(self) -> str:
        """The CLI column header (the CI is named; a stderr rides along as "± x")."""
        return self.name + (" [95% CI]" if self.cli == "spread" and self.spread == "ci95" else "")


# In display order: the report's metric rows, the CLI columns, lm-eval's keys.
METRICS: tuple[Metric, ...] = (
    Metric(
        "accuracy",
        "Accuracy",
        "accuracy",
        True,
        "acc",
        display="rate",
        spread="stderr",
        emf="EvaluationAccuracy",
        cli="spread",
        headline=True,
        per_category=True,
        per_item_mean=True,
    ),
    Metric(
        "f1_macro",
        "Macro F1",
        "macro F1",
        True,
        "f1_macro",
        spread="ci95",
        emf="EvaluationF1Macro",
        cli="spread",
        headline=True,
        per_category=True,
    ),
    Metric("precision_macro", "Macro precision", "macro precision", True, "precision_macro"),
    Metric("recall_macro", "Macro recall", "macro recall", True, "recall_macro"),
    Metric("f1_weighted", "Weighted F1", "weighted F1", True, "f1_weighted"),
    Metric("f1_micro", "Micro F1", "micro F1", True, "f1_micro"),
    Metric(
        "mae",
        "MAE",
        "MAE",
        False,
        "mae",
        display="error",
        spread="stderr",
        emf="EvaluationMAE",
        cli="number",
        per_category=True,
        numeric_only=True,
        per_item_mean=True,
    ),
    Metric(
        "exact_match",
        "Exact match (normalised)",
        "exact match",
        True,
        "exact_match",
        spread="ci95",
        cli="number",
        per_category=True,
        text_only=True,
        per_item_mean=True,
    ),
    Metric(
        "token_f1",
        "Token F1 (SQuAD)",
        "token F1",
        True,
        "f1",
        spread="ci95",
        cli="number",
        per_category=True,
        text_only=True,
        per_item_mean=True,
    ),
    Metric(
        "rouge_l",
        "ROUGE-L F",
        "ROUGE-L",
        True,
        "rougeL",
        spread="ci95",
        cli="number",
        per_category=True,
        text_only=True,
        per_item_mean=True,
    ),
    Metric(
        "chrf",
        "chrF (β = 2)",
        "chrF",
        True,
        "chrf",
        spread="ci95",
        cli="number",
        per_category=True,
        text_only=True,
        per_item_mean=True,
    ),
    Metric(
        "invalid_rate",
        "Invalid rate",
        "invalid",
        False,
        "invalid_rate",
        display="rate",
        cli="percent",
        per_item_mean=True,
    ),
)


def shown(metrics: Iterable[Metric], results: Iterable[Mapping[str, Any]]) -> list[Metric]:
    """The metrics to show for these results: text-only ones only when some result has them,
    so label and number runs show what they always did."""
    scored = list(results)
    return [m for m in metrics if not m.text_only or any(r.get(m.key) is not None for r in scored)]
