"""The promotion gate (CONTRACT section 7): may a candidate version replace the champion, given an
evaluation that ran both on the same items? Pure: the route loads the evaluation's results and
the version of each model it ran, and renders a failed decision as `409 promotion_rejected` with
`GateDecision.details()`.

A candidate passes when it is not worse than the champion on the output's criterion: the
difference is within `max_drop`, or the drop is not significant (p >= 0.05) and the candidate's
score stays inside the champion's 95% interval. Each output type has its criterion in
`CRITERIA`; `text` outputs are judged by the evaluation's LLM judge (CONTRACT section 10):
its pairwise verdicts, else its rubric scores; without a judge there is no criterion.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from chalicelib.deployments.stats import normal_two_sided_p
from chalicelib.evaluation.results import EvaluationResults, ModelResult

OutputType = Literal["text", "label", "number"]
SIGNIFICANCE = 0.05
Z_95 = 1.959963984540054  # two-sided 95% normal quantile


@dataclass(frozen=True)
class GateDecision:
    """`passed`, the `reasons` (why it passed or failed, in words) and the `comparison` of the
    two versions: each model's name and version, the metrics side by side with their
    differences (candidate − champion), the p-values; None when the evaluation could not be
    used at all."""

    passed: bool
    reasons: list[str]
    comparison: dict[str, Any] | None = None

    def details(self) -> dict[str, Any]:
        """The `details` of `409 promotion_rejected`."""
        return {"passed": self.passed, "reasons": self.reasons, "comparison": self.comparison}


@dataclass(frozen=True)
class _Pair:
    candidate: str
    champion: str
    candidate_version: int
    champion_version: int
    candidate_result: ModelResult
    champion_result: ModelResult
    pair: dict[str, Any]  # the evaluation's comparison entry, oriented candidate − champion
    max_drop: float
    judge: Mapping[str, Any] | None = None  # results.json's `judge`, when the run had one


Criterion = Callable[[_Pair], GateDecision]


def promotion_gate(
    evaluation: EvaluationResults | None,
    *,
    versions: Mapping[str, int],
    candidate: int,
    champion: int,
    output: OutputType,
    max_drop: float = 0.0,
) -> GateDecision:
    """Decide on promoting version `candidate` over `champion`.

    `evaluation` is the finished evaluation's results (None when there is none or it has not
    finished); `versions` maps each model name the evaluation ran (`meta.models`) to the version
    it called (the job records it; `name@3` → 3, a bare alias → its champion then). `max_drop`
    is in the criterion's own units (accuracy for labels, MAE for numbers).
    """
    if evaluation is None:
        return GateDecision(False, ["no finished evaluation"])
    if evaluation.meta.status == "cancelled":
        return GateDecision(False, ["the evaluation was cancelled before it scored every item"])
    if candidate == champion:
        return GateDecision(False, [f"version {candidate} is already the champion"])
    candidate_name = _model_of(evaluation, versions, candidate)
    champion_name = _model_of(evaluation, versions, champion)
    missing = [
        f"the evaluation did not run the {role} (version {v})"
        for role, v, name in (
            ("candidate", candidate, candidate_name),
            ("champion", champion, champion_name),
        )
        if name is None
    ]
    if missing or candidate_name is None or champion_name is None:
        return GateDecision(False, missing)
    pair = _oriented_pair(evaluation, candidate_name, champion_name)
    if pair is None:
        return GateDecision(False, ["the evaluation holds no comparison of the two versions"])
    criterion = CRITERIA.get(output)
    if criterion is None:
        return GateDecision(False, [f"no criterion for {output} outputs"])
    return criterion(
        _Pair(
            candidate=candidate_name,
            champion=champion_name,
            candidate_version=candidate,
            champion_version=champion,
            candidate_result=evaluation.results[candidate_name],
            champion_result=evaluation.results[champion_name],
            pair=pair,
            max_drop=max_drop,
            judge=evaluation.judge,
        )
    )


def _model_of(evaluation: EvaluationResults, versions: Mapping[str, int], v: int) -> str | None:
    for name in evaluation.meta.models:
        if versions.get(name) == v and name in evaluation.results:
            return name
    return None


def _oriented_pair(
    evaluation: EvaluationResults, candidate: str, champion: str
) -> dict[str, Any] | None:
    """The comparison entry of the two models with `accuracy_difference` as candidate − champion
    and the discordant counts named by role."""
    for entry in evaluation.comparison:
        if {entry["a"], entry["b"]} != {candidate, champion}:
            continue
        flip = entry["a"] != candidate
        difference = entry["accuracy_difference"]
        discordant = entry["discordant"]
        cand_only, champ_only = discordant["a_only_correct"], discordant["b_only_correct"]
        if flip:
            cand_only, champ_only = champ_only, cand_only
            difference = None if difference is None else -difference
        return {
            "n": entry["n"],
            "accuracy_difference": difference,
            "mcnemar_p": entry["mcnemar_p"],
            "discordant": {
                "candidate_only_correct": cand_only,
                "champion_only_correct": champ_only,
            },
            "agreement_rate": entry["agreement_rate"],
        }
    return None


def _side_by_side(pair: _Pair, names: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in names:
        a, b = pair.candidate_result.get(name), pair.champion_result.get(name)
        both = isinstance(a, int | float) and isinstance(b, int | float)
        difference = a - b if both else None  # type: ignore[operator]
        out[name] = {"candidate": a, "champion": b, "difference": difference}
    return out


def _comparison(
    pair: _Pair, criterion: str, metrics: dict[str, Any], p_values: dict[str, Any]
) -> dict[str, Any]:
    return {
        "candidate": {"model": pair.candidate, "version": pair.candidate_version},
        "champion": {"model": pair.champion, "version": pair.champion_version},
        "criterion": criterion,
        "max_drop": pair.max_drop,
        "n_paired": pair.pair["n"],
        "metrics": metrics,
        "p_values": p_values,
        "discordant": pair.pair["discordant"],
        "agreement_rate": pair.pair["agreement_rate"],
    }


def _label_criterion(pair: _Pair) -> GateDecision:
    """Accuracy difference on the shared items >= −max_drop; else a drop McNemar cannot tell
    from chance (p >= 0.05) with macro-F1 not below the champion's CI lower bound."""
    metrics = _side_by_side(pair, ("accuracy", "f1_macro", "precision_macro", "recall_macro"))
    metrics |= _side_by_side(pair, ("invalid_rate", "n"))
    metrics["accuracy"]["difference"] = pair.pair["accuracy_difference"]  # paired: shared items
    ci = pair.champion_result.get("f1_macro_ci95")
    metrics["f1_macro"]["champion_ci95"] = ci
    p = pair.pair["mcnemar_p"]
    comparison = _comparison(pair, "accuracy", metrics, {"mcnemar": p})
    difference = pair.pair["accuracy_difference"]
    if difference is None:
        return GateDecision(False, ["no item was answered by both versions"], comparison)
    if difference >= -pair.max_drop:
        return GateDecision(
            True, [f"accuracy difference {difference:+.4f} >= -{pair.max_drop:g}"], comparison
        )
    reasons = [f"accuracy fell by {-difference:.4f} (more than {pair.max_drop:g})"]
    significant = p < SIGNIFICANCE
    if significant:
        reasons.append(f"the drop is significant (McNemar p = {p:.4g} < {SIGNIFICANCE})")
    f1 = pair.candidate_result.get("f1_macro")
    if f1 is None or ci is None or f1 < ci[0]:
        bound = "unknown" if ci is None else f"{ci[0]:.4f}"
        reasons.append(f"macro-F1 {f1} is below the champion's 95% CI lower bound ({bound})")
        return GateDecision(False, reasons, comparison)
    if significant:
        return GateDecision(False, reasons, comparison)
    reasons.append(
        f"the drop is not significant (McNemar p = {p:.4g}) and macro-F1 {f1:.4f} is within "
        f"the champion's 95% CI (lower bound {ci[0]:.4f})"
    )
    return GateDecision(True, reasons, comparison)


def _number_criterion(pair: _Pair) -> GateDecision:
    """MAE (lower is better): increase <= max_drop; else an increase not significant with MAE
    not above the champion's 95% upper bound.

    The evaluation keeps no interval for MAE today, so the champion's is mae ± 1.96·mae_stderr
    (a `mae_ci95`, should results gain one, is used instead; `champion_ci95_method` says which),
    and significance is a z-test of the MAE difference with the two standard errors. That test is
    unpaired (the evaluation keeps no per-item error differences): it overstates the variance
    of a paired difference, so the interval bound is what holds a clearly worse candidate back.
    """
    metrics = _side_by_side(pair, ("mae", "mae_stderr", "accuracy", "invalid_rate", "n"))
    cand, champ = pair.candidate_result.get("mae"), pair.champion_result.get("mae")
    cand_se = pair.candidate_result.get("mae_stderr")
    champ_se = pair.champion_result.get("mae_stderr")
    ci = pair.champion_result.get("mae_ci95")
    method = "the evaluation's mae_ci95"
    if ci is None and champ is not None and champ_se is not None:
        ci = [champ - Z_95 * champ_se, champ + Z_95 * champ_se]
        method = "mae ± 1.96·mae_stderr (the evaluation has no interval for MAE)"
    metrics["mae"]["champion_ci95"] = ci
    metrics["mae"]["champion_ci95_method"] = method if ci is not None else None
    p = None
    if cand is not None and champ is not None and cand_se is not None and champ_se is not None:
        spread = math.sqrt(cand_se * cand_se + champ_se * champ_se)
        p = 1.0 if spread == 0.0 else normal_two_sided_p((cand - champ) / spread)
    comparison = _comparison(
        pair, "mae", metrics, {"mae_z_test": p, "mcnemar": pair.pair["mcnemar_p"]}
    )
    if cand is None or champ is None:
        return GateDecision(False, ["MAE is undefined for one of the versions"], comparison)
    increase = cand - champ
    if increase <= pair.max_drop:
        return GateDecision(
            True, [f"MAE difference {increase:+.4f} <= {pair.max_drop:g}"], comparison
        )
    reasons = [f"MAE rose by {increase:.4f} (more than {pair.max_drop:g})"]
    if p is None or p < SIGNIFICANCE:
        shown = "unknown: too few items" if p is None else f"{p:.4g} < {SIGNIFICANCE}"
        reasons.append(f"the rise is not shown to be chance (z-test p {shown})")
    if ci is None or cand > ci[1]:
        bound = "unknown" if ci is None else f"{ci[1]:.4f}"
        reasons.append(f"MAE {cand:.4f} is above the champion's 95% upper bound ({bound})")
    if len(reasons) > 1:
        return GateDecision(False, reasons, comparison)
    assert ci is not None and p is not None
    reasons.append(
        f"the rise is not significant (z-test p = {p:.4g}) and MAE {cand:.4f} is within the "
        f"champion's 95% interval (upper bound {ci[1]:.4f})"
    )
    return GateDecision(True, reasons, comparison)


def _text_criterion(pair: _Pair) -> GateDecision:
    """Text answers have no accuracy worth gating on; the judge decides. Pairwise (preferred):
    the candidate's net win rate (wins − losses over judged items) >= −max_drop, else losses
    the sign test cannot tell from chance (p >= 0.05). Rubric: every criterion's mean >= the
    champion's − max_drop, else not below the champion's 95% interval."""
    judge = pair.judge
    if not judge:
        return GateDecision(
            False,
            [
                "no criterion for text outputs without a judge: evaluate with a pairwise "
                "or rubric judge (CONTRACT section 10)"
            ],
            None,
        )
    if judge.get("pairwise"):
        return _pairwise_criterion(pair, judge["pairwise"])
    return _rubric_criterion(pair, judge.get("rubric_scores") or {})


def _pairwise_criterion(pair: _Pair, pairwise: Mapping[str, Any]) -> GateDecision:
    entry = next(
        (
            p
            for p in pairwise.get("pairs", [])
            if {p.get("a"), p.get("b")} == {pair.candidate, pair.champion}
        ),
        None,
    )
    if entry is None or not entry.get("n"):
        return GateDecision(False, ["the judge compared no item of the two versions"], None)
    flip = entry["a"] != pair.candidate
    wins, losses = (entry["losses"], entry["wins"]) if flip else (entry["wins"], entry["losses"])
    n, ties = entry["n"], entry["ties"]
    win_ci = entry["loss_rate_ci95"] if flip else entry["win_rate_ci95"]
    loss_ci = entry["win_rate_ci95"] if flip else entry["loss_rate_ci95"]
    net = (wins - losses) / n
    p = entry["sign_test_p"]
    comparison = _comparison(
        pair,
        "judge_pairwise",
        {
            "judge_pairwise": {
                "n": n,
                "candidate_wins": wins,
                "ties": ties,
                "champion_wins": losses,
                "candidate_win_rate": wins / n,
                "candidate_win_rate_ci95": win_ci,
                "candidate_loss_rate": losses / n,
                "candidate_loss_rate_ci95": loss_ci,
                "net_win_rate": net,
            }
        },
        {"sign_test": p},
    )
    if net >= -pair.max_drop:
        return GateDecision(
            True,
            [
                f"judge: net win rate {net:+.4f} >= -{pair.max_drop:g} ({wins} wins, "
                f"{ties} ties, {losses} losses)"
            ],
            comparison,
        )
    reasons = [f"judge: the champion won more often ({losses} vs {wins} of {n}, net {net:+.4f})"]
    if p < SIGNIFICANCE:
        reasons.append(f"the difference is significant (sign test p = {p:.4g} < {SIGNIFICANCE})")
        return GateDecision(False, reasons, comparison)
    reasons.append(f"the difference is not significant (sign test p = {p:.4g})")
    return GateDecision(True, reasons, comparison)


def _rubric_criterion(pair: _Pair, scores: Mapping[str, Any]) -> GateDecision:
    cand = (scores.get(pair.candidate) or {}).get("criteria") or {}
    champ = (scores.get(pair.champion) or {}).get("criteria") or {}
    metrics: dict[str, Any] = {}
    reasons: list[str] = []
    passed = bool(champ)
    for criterion, theirs in champ.items():
        mine = cand.get(criterion) or {}
        a, b, ci = mine.get("mean"), theirs.get("mean"), theirs.get("ci95")
        metrics[f"judge_{criterion}"] = {
            "candidate": a,
            "champion": b,
            "champion_ci95": ci,
            "difference": None if a is None or b is None else a - b,
        }
        if a is None or b is None:
            passed = False
            reasons.append(f"judge: no {criterion} score for one of the versions")
        elif a - b >= -pair.max_drop:
            reasons.append(f"judge: {criterion} {a:.3f} vs {b:.3f}")
        elif ci is not None and a >= ci[0]:
            reasons.append(
                f"judge: {criterion} {a:.3f} is below {b:.3f} but within the champion's 95% "
                f"interval (lower bound {ci[0]:.3f})"
            )
        else:
            passed = False
            bound = "unknown" if ci is None else f"{ci[0]:.3f}"
            reasons.append(
                f"judge: {criterion} {a:.3f} is below the champion's 95% interval "
                f"(lower bound {bound})"
            )
    if not champ:
        reasons.append("judge: no rubric scores for the champion")
    return GateDecision(passed, reasons, _comparison(pair, "judge_rubric", metrics, {}))


#: The criterion of each output type.
CRITERIA: dict[str, Criterion] = {
    "label": _label_criterion,
    "number": _number_criterion,
    "text": _text_criterion,
}
