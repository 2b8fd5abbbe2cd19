"""Plain Python values <-> DynamoDB attribute values, for the low-level client (no boto3
resource layer to import at cold start, no Decimal round trips)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def now_iso() -> str:
    """Now as every record stores a time: ISO 8601 UTC to the millisecond (sorts as text)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def to_attribute(value: Any) -> dict[str, Any]:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        return {"N": repr(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, dict):
        return {"M": {str(k): to_attribute(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [to_attribute(v) for v in value]}
    raise TypeError(f"cannot store {type(value).__name__} in DynamoDB")


def from_attribute(attribute: dict[str, Any]) -> Any:
    ((kind, value),) = attribute.items()
    if kind == "S" or kind == "BOOL":
        return value
    if kind == "N":
        number = float(value)
        return (
            int(value) if number.is_integer() and "." not in value and "e" not in value else number
        )
    if kind == "NULL":
        return None
    if kind == "M":
        return {k: from_attribute(v) for k, v in value.items()}
    if kind == "L":
        return [from_attribute(v) for v in value]
    raise TypeError(f"unsupported DynamoDB attribute type {kind}")


def to_item(values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """An item without its None fields (absent rather than NULL, so sparse indexes work)."""
    return {k: to_attribute(v) for k, v in values.items() if v is not None}


def from_item(item: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {k: from_attribute(v) for k, v in item.items()}
