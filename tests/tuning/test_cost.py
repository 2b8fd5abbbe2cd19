"""Cost before a job starts: dataprep's formula, a price row per base model, user overrides,
and the refusal above max_cost_usd."""

from __future__ import annotations

import pytest

from chalicelib.dataprep.cost import CostEstimate
from chalicelib.errors import CostLimitExceeded, InvalidRequest
from chalicelib.tuning.cost import (
    AUTO_EPOCHS_ASSUMED,
    check_cost_limit,
    epochs_of,
    estimate,
    hourly_usd,
    price_for,
)
from chalicelib.tuning.families import check_hyperparameters

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0:200k"


def test_estimate_is_dataprep_s_formula_with_its_price_row() -> None:
    est = estimate(100_000, 3, HAIKU, records=782)
    assert isinstance(est.cost, CostEstimate)
    assert est.training_usd == pytest.approx(
        100_000 * 3 * est.price.training_per_1k_tokens_usd / 1000
    )
    body = est.as_json()
    assert body["trained_tokens"] == 300_000 and body["price"]["example"] is True
    assert body["price"]["source"].startswith("https://")


def test_overrides_replace_the_example_price() -> None:
    est = estimate(10_000, 2, HAIKU, overrides={"training_per_1k_tokens_usd": 0.5})
    assert est.training_usd == pytest.approx(10.0)
    assert est.price.example is False and est.price.source == "caller"
    assert est.price.storage_month_usd == price_for(HAIKU).storage_month_usd


def test_longest_prefix_wins() -> None:
    assert price_for("ft:gpt-4o-mini-2024-07-18:acme::x").model == "gpt-4o-mini"
    assert price_for("gpt-4o-2024-08-06").model == "gpt-4o"


def test_unknown_model_needs_every_price_and_bad_overrides_are_named() -> None:
    with pytest.raises(InvalidRequest):
        price_for("acme.mystery-v1")
    full = {"training_per_1k_tokens_usd": 1.0, "storage_month_usd": 0.0, "model_unit_hour_usd": 2.0}
    assert price_for("acme.mystery-v1", full).model_unit_hour_usd == 2.0
    with pytest.raises(InvalidRequest) as exc:
        price_for(HAIKU, {"training_per_1k_tokens_usd": -1, "tip": 3})
    fields = {d["field"] for d in exc.value.details or []}
    assert fields == {"pricing.training_per_1k_tokens_usd", "pricing.tip"}


def test_provisioned_hours_and_hourly_cost() -> None:
    est = estimate(1000, 1, HAIKU, model_units=2, hours=10)
    assert est.cost.provisioned is not None
    assert est.cost.provisioned.usd == pytest.approx(20 * price_for(HAIKU).model_unit_hour_usd)
    assert hourly_usd(HAIKU, 2) == pytest.approx(2 * price_for(HAIKU).model_unit_hour_usd)


def test_over_the_limit_is_cost_limit_exceeded() -> None:
    est = estimate(1_000_000, 2, HAIKU, overrides={"training_per_1k_tokens_usd": 0.01})
    check_cost_limit(est, 20.0)  # exactly at the limit passes
    check_cost_limit(est, None)
    with pytest.raises(CostLimitExceeded) as exc:
        check_cost_limit(est, 19.99)
    assert exc.value.status == 400 and exc.value.code == "cost_limit_exceeded"
    assert exc.value.body()["error"]["details"][0]["field"] == "max_cost_usd"


def test_epochs_of_both_providers() -> None:
    assert epochs_of(check_hyperparameters(HAIKU, {})) == 2
    assert epochs_of(check_hyperparameters(HAIKU, {"epochCount": 7})) == 7
    assert epochs_of(check_hyperparameters("davinci-002", {})) == AUTO_EPOCHS_ASSUMED
    assert epochs_of(check_hyperparameters("davinci-002", {"n_epochs": 4})) == 4
