"""What a fine-tuning run and its hosting cost, from prices the user passes in (no price tables:
prices change and differ by region, so a built-in table would be wrong by the time it is read).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from chalicelib.dataprep import jsonl
from chalicelib.dataprep.errors import DataError
from chalicelib.dataprep.tokens import METHOD, record_tokens


@dataclass(frozen=True)
class ProvisionedThroughput:
    model_unit_hour_usd: float
    model_units: int
    hours: float

    @property
    def usd(self) -> float:
        return self.hours * self.model_units * self.model_unit_hour_usd


@dataclass(frozen=True)
class CostEstimate:
    records: int
    training_tokens: int
    epochs: int
    price_per_1k_tokens: float
    storage_month_usd: float = 0.0
    provisioned: ProvisionedThroughput | None = None

    @property
    def trained_tokens(self) -> int:
        return self.training_tokens * self.epochs

    @property
    def training_usd(self) -> float:
        return self.trained_tokens * self.price_per_1k_tokens / 1000

    @property
    def total_usd(self) -> float:
        hosting = self.provisioned.usd if self.provisioned else 0.0
        return self.training_usd + self.storage_month_usd + hosting

    def as_json(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "training_tokens": self.training_tokens,
            "epochs": self.epochs,
            "trained_tokens": self.trained_tokens,
            "price_per_1k_tokens": self.price_per_1k_tokens,
            "training_usd": self.training_usd,
            "storage_month_usd": self.storage_month_usd,
            "provisioned_throughput": (
                {**asdict(self.provisioned), "usd": self.provisioned.usd}
                if self.provisioned
                else None
            ),
            "total_usd": self.total_usd,
            "token_estimate_method": METHOD,
        }

    def table(self) -> str:
        rows = [
            (
                "training",
                f"{self.training_tokens:,} tokens x {self.epochs} epochs"
                f" x ${self.price_per_1k_tokens:g}/1k",
                self.training_usd,
            ),
            ("storage (1 month)", "", self.storage_month_usd),
        ]
        if self.provisioned:
            p = self.provisioned
            rows.append(
                (
                    "provisioned throughput",
                    f"{p.hours:g} h x {p.model_units} model unit{'s' if p.model_units != 1 else ''}"
                    f" x ${p.model_unit_hour_usd:g}/unit-hour",
                    p.usd,
                )
            )
        rows.append(("total", "", self.total_usd))
        width = max(len(row[1]) for row in rows)
        lines = [f"{'item':<24} {'quantity':<{width}} {'usd':>12}"]
        lines += [f"{name:<24} {quantity:<{width}} {usd:>12,.2f}" for name, quantity, usd in rows]
        lines.append(f"({self.records:,} records; tokens estimated as {METHOD})")
        return "\n".join(lines)


def count_training_tokens(path: Path) -> tuple[int, int]:
    """(records, estimated tokens) of a fine-tuning file in either format; DataError if bad."""
    records = tokens = 0
    for line, value, problem in jsonl.scan(path):
        if problem == jsonl.BLANK:
            continue
        if problem:
            raise DataError(f"{path}:{line}: {problem}")
        if not isinstance(value, dict) or not (
            {"prompt", "completion"} <= value.keys() or "messages" in value
        ):
            raise DataError(
                f"{path}:{line}: not a fine-tuning record (prompt/completion or messages)"
            )
        records += 1
        tokens += record_tokens(value)
    if records == 0:
        raise DataError(f"{path}: no records")
    return records, tokens
