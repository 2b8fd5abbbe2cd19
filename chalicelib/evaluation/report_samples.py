"""The report's qualitative samples: each kept item with its input, reference and every model's
raw output and prediction side by side, marked right or wrong, in the order the run kept them."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from chalicelib.api.payload import payload_bytes
from chalicelib.evaluation.clipping import clip, clip_messages, fit
from chalicelib.evaluation.judge_report import sample_judge
from chalicelib.evaluation.report_svg import colour, esc, number
from chalicelib.serving.parsing import normalise_label

#: What the samples may add to a report, served as a Lambda response (6 MB in all): texts are
#: clipped shorter, and at worst fewer samples shown, until they fit.
SAMPLES_BUDGET = 3 * 1024 * 1024


def samples_section(models: Sequence[str], samples: object) -> str:
    kept = [s for s in samples if isinstance(s, Mapping)] if isinstance(samples, list) else []
    if not kept:
        return '<p class="note">No qualitative samples were kept in this run.</p>'
    intro = (
        '<p class="note">Disagreements between models and errors come first. Each answer is '
        "marked correct or incorrect against the reference; invalid means the answer could "
        "not be parsed, error means the model gave none.</p>"
    )
    shown: str = fit(
        kept,
        lambda entries, limit: "".join(_sample(models, s, limit) for s in entries),
        payload_bytes,
        SAMPLES_BUDGET,
    )
    if shown.count('<article class="sample">') < len(kept):
        intro += '<p class="note">Only the first samples fit in this page.</p>'
    return intro + shown


def _sample(models: Sequence[str], sample: Mapping[str, Any], limit: int) -> str:
    outputs = sample.get("outputs")
    outputs = outputs if isinstance(outputs, Mapping) else {}
    reference = sample.get("reference")
    order = [m for m in models if m in outputs] + [str(m) for m in outputs if m not in models]
    answers = {
        _answer_key(_mapping(outputs.get(m)))
        for m in order
        if _mapping(outputs.get(m)).get("status") != "error"
    }
    tags = []
    if len(answers) > 1:
        tags.append('<span class="tag disagree">models disagree</span>')
    if any(_mapping(outputs.get(m)).get("status") == "error" for m in order):
        tags.append('<span class="tag error">error</span>')
    category = sample.get("category")
    if category not in (None, ""):
        tags.append(f'<span class="tag">category: {esc(category)}</span>')
    index = sample.get("index")
    title = f"Item {esc(index)}" if index is not None else "Item"
    cards = "".join(
        _output_card(
            m,
            models.index(m) if m in models else len(models) + k,
            _mapping(outputs.get(m)),
            reference,
            limit,
        )
        for k, m in enumerate(order)
    )
    ref_text = "—" if reference is None else esc(clip(_plain(reference), limit))
    return (
        f'<article class="sample"><header><h3>{title}</h3>{"".join(tags)}</header>'
        f'<div class="label">input</div>{_input(sample.get("input"), limit)}'
        f'<div class="label">reference</div><div class="text ref">{ref_text}</div>'
        f'<div class="outputs">{cards or "<p class=note>No model answers recorded.</p>"}</div>'
        f"{sample_judge(sample, limit)}</article>"
    )


def _output_card(
    model: str, index: int, out: Mapping[str, Any], reference: object, limit: int
) -> str:
    kind, verdict = _verdict(out, reference)
    prediction = out.get("prediction")
    pred = (
        ""
        if prediction is None
        else (f'<div class="pred">prediction: {esc(clip(_plain(prediction), limit))}</div>')
    )
    raw = out.get("output")
    raw_html = (
        '<div class="muted">no output</div>'
        if raw is None
        else f'<pre class="text">{esc(clip(_plain(raw), limit))}</pre>'
    )
    return (
        f'<div class="out {kind}"><h4><span><span class="swatch" style="background:'
        f'{colour(index)}" aria-hidden="true"></span>{esc(model)}</span>'
        f'<span class="verdict">{esc(verdict)}</span></h4>{pred}{raw_html}</div>'
    )


def _verdict(out: Mapping[str, Any], reference: object) -> tuple[str, str]:
    """(css class, words): the words carry the meaning, the colour only repeats it."""
    status = out.get("status")
    if status == "error":
        code = out.get("error_code")
        return "error", f"error: {code}" if code else "error"
    if status == "invalid":
        return "invalid", "invalid"
    if not out:
        return "error", "no answer"
    correct = out.get("correct")
    prediction = out.get("prediction")
    if not isinstance(correct, bool):
        if prediction is None or reference is None:
            return "answered", "answered"
        correct = _same(prediction, reference)
    return ("correct", "✓ correct") if correct else ("incorrect", "✗ incorrect")


def _same(prediction: object, reference: object) -> bool:
    """Labels compare as the parser normalises them, numbers by value."""
    a, b = _as_number(prediction), _as_number(reference)
    if a is not None and b is not None:
        return a == b
    return normalise_label(_plain(prediction)) == normalise_label(_plain(reference))


def _as_number(value: object) -> float | None:
    if isinstance(value, str):
        try:
            return number(float(value.strip()))
        except ValueError:
            return None
    return number(value)


def _answer_key(out: Mapping[str, Any]) -> str:
    if out.get("status") == "invalid":
        return "<invalid>"
    prediction = out.get("prediction")
    if prediction is None:
        return "\0" + _plain(out.get("output"))  # text deployments: compare raw answers
    n = _as_number(prediction)
    return repr(n) if n is not None else normalise_label(_plain(prediction))


def _input(value: object, limit: int) -> str:
    """Plain text, or a conversation (a list of messages, optionally with a system prompt)."""
    if isinstance(value, Mapping) and isinstance(value.get("messages"), list):
        system = value.get("system")
        head = [("system", system)] if system else []
        shown = clip_messages(value["messages"], limit)
        return _messages([*head, *(_message(m) for m in shown)], limit)
    if isinstance(value, list):
        return _messages([_message(m) for m in clip_messages(value, limit)], limit)
    if value is None:
        return '<div class="text muted">(input not stored)</div>'
    return f'<div class="text">{esc(clip(_plain(value), limit))}</div>'


def _message(message: object) -> tuple[str, object]:
    if isinstance(message, Mapping):
        return str(message.get("role", "?")), message.get("content")
    return "?", message


def _messages(messages: Sequence[tuple[str, object]], limit: int) -> str:
    parts = [
        f'<p class="msg"><span class="role">{esc(role)}:</span>{esc(clip(_content(c), limit))}</p>'
        for role, c in messages
    ]
    return f'<div class="text conversation">{"".join(parts)}</div>'


def _content(content: object) -> str:
    """Message content as text: a string, or a list of blocks such as {"text": ...}."""
    if isinstance(content, list):
        return "\n".join(
            str(b["text"]) if isinstance(b, Mapping) and "text" in b else _plain(b) for b in content
        )
    return _plain(content)


def _plain(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float | bool) or value is None:
        return str(value)
    return json.dumps(value, ensure_ascii=False, default=str)


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
