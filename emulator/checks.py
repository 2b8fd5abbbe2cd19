"""Small JSON-body checks shared by every request family; each raises `Invalid`."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any


class Invalid(Exception):
    """A request-body problem; `param` is the JSON path of the offending field."""

    def __init__(self, detail: str, param: str | None = None):
        self.detail = detail
        self.param = param
        super().__init__(detail)


_TYPE_NAMES = {
    dict: "Object",
    list: "Array",
    str: "String",
    int: "Integer",
    float: "Number",
    bool: "Boolean",
    type(None): "Null",
}


def type_name(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def parse_object(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise Invalid("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise Invalid(f"expected a JSON object, found: {type_name(body)}")
    return body


def no_extra_keys(body: dict[str, Any], allowed: Iterable[str], where: str = "") -> None:
    extra = sorted(set(body) - set(allowed))
    if extra:
        raise Invalid(f"extraneous key [{extra[0]}] is not permitted", f"{where}{extra[0]}")


def text(body: dict[str, Any], key: str, path: str, required: bool = True) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise Invalid(f"{path}: required key [{key}] not found", path)
        return None
    if not isinstance(value, str):
        raise Invalid(f"{path}: expected type: String, found: {type_name(value)}", path)
    return value


def integer(
    body: dict[str, Any], key: str, path: str, default: int | None, lo: int, hi: int
) -> int:
    value = body.get(key)
    if value is None:
        if default is None:
            raise Invalid(f"{path}: required key [{key}] not found", path)
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid(f"{path}: expected type: Integer, found: {type_name(value)}", path)
    if value < lo:
        raise Invalid(f"{path}: {value} is not greater or equal to {lo}", path)
    if value > hi:
        raise Invalid(f"{path}: {value} is not less or equal to {hi}", path)
    return value


def number(body: dict[str, Any], key: str, path: str, lo: float = 0.0, hi: float = 1.0) -> None:
    value = body.get(key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid(f"{path}: expected type: Number, found: {type_name(value)}", path)
    if not lo <= value <= hi:
        raise Invalid(f"{path}: {value} is not within [{lo:g}, {hi:g}]", path)


def text_list(body: dict[str, Any], key: str, path: str, max_items: int) -> tuple[str, ...]:
    """A list of strings, or a single string (OpenAI allows both for `stop`)."""
    value = body.get(key)
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise Invalid(f"{path}: expected type: Array, found: {type_name(value)}", path)
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise Invalid(f"{path}/{index}: expected type: String, found: {type_name(item)}", path)
    if len(value) > max_items:
        raise Invalid(
            f"{path}: expected maximum item count: {max_items}, found: {len(value)}", path
        )
    return tuple(value)


def alternating(roles: list[str], first_message: str, alternate_message: str) -> None:
    """Bedrock's chat APIs insist on user first, then strictly alternating roles."""
    if roles and roles[0] != "user":
        raise Invalid(first_message)
    for previous, current in zip(roles, roles[1:], strict=False):
        if previous == current:
            raise Invalid(alternate_message)
