"""Long texts cut to fit: the report, the job's status view, `results.json` and item pages show a
long input or output clipped, saying how much was cut, so that no answer outgrows what Lambda can
return (6 MB). The full texts stay in the job's `items.jsonl` in S3 and in a CLI run's files."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from chalicelib.api.payload import json_cost

#: Characters of one text shown when nothing forces less (the report's long-standing clip).
MAX_TEXT = 4000
#: Clip lengths tried in turn until a rendering fits its budget.
CLIP_STEPS = (MAX_TEXT, 2000, 1000, 500, 200, 100)
T = TypeVar("T")


def clip(text: str, limit: int = MAX_TEXT) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit:,} more characters]"


def _clip_value(value: Any, limit: int) -> Any:
    return clip(value, limit) if isinstance(value, str) else value


def clip_messages(messages: Sequence[Any], limit: int) -> list[Any]:
    """Each message's content clipped; a very long conversation keeps its first and last
    messages around one that says how many were left out."""
    keep = max(2, limit // 20)
    shown = list(messages)
    if len(shown) > keep:
        omitted = len(shown) - keep
        marker = {"role": "omitted", "content": f"[{omitted:,} more messages]"}
        shown = [*shown[: keep - 1], marker, shown[-1]]
    return [
        {**m, "content": _clip_value(m.get("content"), limit)} if isinstance(m, Mapping) else m
        for m in shown
    ]


def clip_input(value: Any, limit: int) -> Any:
    """Text, a conversation, or {"system", "messages"} (how samples show a system prompt)."""
    if isinstance(value, list):
        return clip_messages(value, limit)
    if isinstance(value, Mapping) and isinstance(value.get("messages"), list):
        return {
            **value,
            "system": _clip_value(value.get("system"), limit),
            "messages": clip_messages(value["messages"], limit),
        }
    return _clip_value(value, limit)


def clip_item(record: Mapping[str, Any], limit: int) -> dict[str, Any]:
    """An item record (items.jsonl, item pages) with its texts clipped."""
    return {
        **record,
        "input": clip_input(record.get("input"), limit),
        "reference": _clip_value(record.get("reference"), limit),
        "output": _clip_value(record.get("output"), limit),
        "prediction": _clip_value(record.get("prediction"), limit),
    }


def clip_sample(sample: Mapping[str, Any], limit: int) -> dict[str, Any]:
    """A qualitative sample with its input, reference and every model's answer clipped."""
    outputs = sample.get("outputs")
    return {
        **sample,
        "input": clip_input(sample.get("input"), limit),
        "reference": _clip_value(sample.get("reference"), limit),
        "outputs": {
            model: {
                **out,
                "output": _clip_value(out.get("output"), limit),
                "prediction": _clip_value(out.get("prediction"), limit),
            }
            if isinstance(out, Mapping)
            else out
            for model, out in (outputs.items() if isinstance(outputs, Mapping) else [])
        },
    }


def fit(
    entries: Sequence[T],
    render: Callable[[Sequence[T], int], Any],
    cost: Callable[[Any], int],
    budget: int,
) -> Any:
    """`render(entries, clip length)` at the longest clip whose cost is within `budget`; if even
    the shortest clip is too long, with fewer entries (the first ones, halving): always ends."""
    for limit in CLIP_STEPS:
        rendered = render(entries, limit)
        if cost(rendered) <= budget:
            return rendered
    kept = list(entries)
    while kept:
        kept = kept[: len(kept) // 2]
        rendered = render(kept, CLIP_STEPS[-1])
        if cost(rendered) <= budget:
            return rendered
    return rendered


def fit_samples(samples: Sequence[Any], budget: int) -> list[Any]:
    """Samples whose JSON costs at most `budget` bytes in a response."""

    def render(kept: Sequence[Any], limit: int) -> list[Any]:
        return [clip_sample(s, limit) if isinstance(s, Mapping) else s for s in kept]

    result: list[Any] = fit(samples, render, json_cost, budget)
    return result
