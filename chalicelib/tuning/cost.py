"""What a tuning job costs before it starts: a price row per base model (every field
overridable by the caller) fed to dataprep's one cost formula (`dataprep.cost.CostEstimate`).

The built-in prices are EXAMPLES (`example=True`): the stored documentation names the price
page but not the numbers, and prices differ by region and change. A caller who knows the real
price passes it; the estimate says which prices it used and whether they were examples.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from chalicelib.dataprep.cost import CostEstimate, ProvisionedThroughput
from chalicelib.errors import CostLimitExceeded, InvalidRequest
from chalicelib.tuning.families import AUTO, Family, Hyperparameters, base_model_id

#: OpenAI chooses the epochs for "auto" only once the job runs; the estimate assumes this many.
AUTO_EPOCHS_ASSUMED = 3
_BEDROCK_PRICING = "https://aws.amazon.com/bedrock/pricing/"
_OPENAI_PRICING = "https://openai.com/api/pricing/"


@dataclass(frozen=True)
class Price:
    model: str  # a base model id or id prefix
    training_per_1k_tokens_usd: float
    storage_month_usd: float
    model_unit_hour_usd: float  # provisioned throughput, no commitment
    source: str
    checked: str
    example: bool = True  # not verified against the source


PRICES: tuple[Price, ...] = (
    Price("anthropic.claude-3-haiku", 0.008, 1.95, 40.0, _BEDROCK_PRICING, "2026-12-02"),
    Price("amazon.nova-micro", 0.001, 1.95, 20.0, _BEDROCK_PRICING, "2026-12-02"),
    Price("amazon.nova-lite", 0.002, 1.95, 25.0, _BEDROCK_PRICING, "2026-12-02"),
    Price("amazon.nova-pro", 0.008, 1.95, 50.0, _BEDROCK_PRICING, "2026-12-02"),
    Price("meta.llama3", 0.004, 1.95, 25.0, _BEDROCK_PRICING, "2026-12-02"),
    Price("amazon.titan-text", 0.008, 1.95, 20.0, _BEDROCK_PRICING, "2026-12-02"),
    Price("gpt-4o-mini", 0.003, 0.0, 0.0, _OPENAI_PRICING, "2026-12-02"),
    Price("gpt-4o", 0.025, 0.0, 0.0, _OPENAI_PRICING, "2026-12-02"),
    Price("gpt-4-", 0.09, 0.0, 0.0, _OPENAI_PRICING, "2026-12-02"),
    Price("gpt-3.5-turbo", 0.008, 0.0, 0.0, _OPENAI_PRICING, "2026-12-02"),
    Price("davinci-002", 0.006, 0.0, 0.0, _OPENAI_PRICING, "2026-12-02"),
    Price("babbage-002", 0.0004, 0.0, 0.0, _OPENAI_PRICING, "2026-12-02"),
)
_OVERRIDABLE = ("training_per_1k_tokens_usd", "storage_month_usd", "model_unit_hour_usd")


def price_for(model: str, overrides: Mapping[str, float] | None = None) -> Price:
    """The longest-prefix price row of `model`'s base model, with the caller's overrides.

    Overriding every field of an unknown model is allowed (a user with their own price list).
    """
    base = base_model_id(model)
    rows = sorted((p for p in PRICES if base.startswith(p.model)), key=lambda p: -len(p.model))
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(_OVERRIDABLE))
    bad = [k for k, v in overrides.items() if k in _OVERRIDABLE and not _price_ok(v)]
    if unknown or bad:
        raise InvalidRequest(
            "Bad price override.",
            details=[
                {"field": f"pricing.{k}", "reason": f"unknown; allowed: {', '.join(_OVERRIDABLE)}"}
                for k in unknown
            ]
            + [{"field": f"pricing.{k}", "reason": "must be a number >= 0"} for k in bad],
        )
    if rows:
        row = rows[0]
    elif set(overrides) >= set(_OVERRIDABLE):
        row = Price(base, 0.0, 0.0, 0.0, "caller", "", example=False)
    else:
        raise InvalidRequest(
            f"No price is known for {base!r}.",
            details=[{"field": "pricing", "reason": f"give all of {', '.join(_OVERRIDABLE)}"}],
        )
    if overrides:
        row = replace(
            row,
            training_per_1k_tokens_usd=float(
                overrides.get("training_per_1k_tokens_usd", row.training_per_1k_tokens_usd)
            ),
            storage_month_usd=float(overrides.get("storage_month_usd", row.storage_month_usd)),
            model_unit_hour_usd=float(
                overrides.get("model_unit_hour_usd", row.model_unit_hour_usd)
            ),
            source="caller",
            example=False,
        )
    return row


def _price_ok(value: object) -> bool:
    return (
        not isinstance(value, bool) and isinstance(value, int | float) and 0 <= value < float("inf")
    )


def epochs_of(hyperparameters: Hyperparameters) -> int:
    """The epochs a job will run: Bedrock's `epochCount` or OpenAI's `n_epochs` ("auto"
    counts as AUTO_EPOCHS_ASSUMED)."""
    for name in ("epochCount", "n_epochs"):
        value = hyperparameters.values.get(name)
        if value == AUTO:
            return AUTO_EPOCHS_ASSUMED
        if isinstance(value, int):
            return value
    return 1


@dataclass(frozen=True)
class Estimate:
    cost: CostEstimate
    price: Price

    @property
    def training_usd(self) -> float:
        return self.cost.training_usd

    def as_json(self) -> dict[str, Any]:
        return {
            **self.cost.as_json(),
            "price": {
                "model": self.price.model,
                "source": self.price.source,
                "checked": self.price.checked,
                "example": self.price.example,
            },
        }


def estimate(
    tokens: int,
    epochs: int,
    base_model: str,
    *,
    records: int = 0,
    overrides: Mapping[str, float] | None = None,
    model_units: int = 0,
    hours: float = 0.0,
) -> Estimate:
    """Training (tokens x epochs x price), one month's storage and, given model units and
    hours, provisioned throughput: dataprep's breakdown with the price row it used."""
    price = price_for(base_model, overrides)
    provisioned = (
        ProvisionedThroughput(price.model_unit_hour_usd, model_units, hours)
        if model_units and hours
        else None
    )
    cost = CostEstimate(
        records=records,
        training_tokens=tokens,
        epochs=epochs,
        price_per_1k_tokens=price.training_per_1k_tokens_usd,
        storage_month_usd=price.storage_month_usd,
        provisioned=provisioned,
    )
    return Estimate(cost, price)


def hourly_usd(
    custom_model: str, model_units: int, overrides: Mapping[str, float] | None = None
) -> float:
    """The hourly cost of a provisioned model (no commitment price)."""
    return price_for(custom_model, overrides).model_unit_hour_usd * model_units


def check_cost_limit(estimate: Estimate, max_cost_usd: float | None) -> None:
    """400 `cost_limit_exceeded` when training (tokens x epochs x price) costs more than the
    caller allowed; storage and hosting are shown but billed later and apart."""
    if max_cost_usd is None or estimate.training_usd <= max_cost_usd:
        return
    note = " (example prices; pass your own)" if estimate.price.example else ""
    raise CostLimitExceeded(
        f"Estimated training cost ${estimate.training_usd:,.4f} is above max_cost_usd "
        f"${max_cost_usd:,.4f}{note}.",
        details=[
            {
                "field": "max_cost_usd",
                "reason": f"estimated {estimate.training_usd:.4f} USD = "
                f"{estimate.cost.training_tokens:,} tokens x {estimate.cost.epochs} epochs x "
                f"${estimate.price.training_per_1k_tokens_usd:g}/1k",
            }
        ],
    )


def family_price(family: Family) -> list[Price]:
    """The price rows of a family's base models (for listing)."""
    return [p for p in PRICES if any(m.startswith(p.model) for m in family.base_models)]
