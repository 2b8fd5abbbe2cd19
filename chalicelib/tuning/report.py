"""The tuning report: one self-contained HTML page (inline CSS and SVG, no script, nothing
fetched, the evaluation report's style sheet and Content-Security-Policy) built from the job's
JSON as the tuning service stores it. Every value is escaped; any field may be missing.

`job` keys read: name, tuning_job_id, provider, base_model, status, custom_model,
failure_message, created_at, finished_at, hyperparameters ({name: {value, default}}),
data ({role: DataSummary.as_json()}), estimated_cost (cost.Estimate.as_json()),
actual_cost_usd, metrics ([LossPoint.as_json()]), early_stopping (EarlyStop.as_json()).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from chalicelib.evaluation.report import CSP, count, dec, usd
from chalicelib.evaluation.report_css import CSS
from chalicelib.evaluation.report_svg import GRID, INK, MUTED, colour, esc, number

DASH = "—"
# the evaluation report's sheet, plus the loss chart shrinking to narrow windows
STYLE = CSS + "svg.loss { max-width: 100%; height: auto; display: block; }\n"


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _seq(value: object) -> Sequence[Any]:
    return value if isinstance(value, list | tuple) else ()


def _show(value: object) -> str:
    return DASH if value is None or value == "" else esc(value)


def _c(x: float) -> str:
    """SVG coordinates: short, locale-free."""
    return f"{x:.1f}".rstrip("0").rstrip(".")


def loss_svg(points: Sequence[Mapping[str, Any]], early_step: int | None = None) -> str:
    """Training and validation loss against step as two polylines (validation with markers,
    as it is measured rarely); a dashed line at the early-stopping step."""
    series = {
        key: [
            (s, v)
            for p in points
            if (s := number(p.get("step"))) is not None and (v := number(p.get(key))) is not None
        ]
        for key in ("training_loss", "validation_loss")
    }
    every = [xy for values in series.values() for xy in values]
    if not every:
        return ""
    w, h, left, right, top, bottom = 720, 300, 56, 16, 16, 40
    x0, x1 = min(x for x, _ in every), max(x for x, _ in every)
    y1 = max(y for _, y in every)
    y0 = min(0.0, min(y for _, y in every))
    span_x, span_y = (x1 - x0) or 1.0, (y1 - y0) or 1.0

    def px(x: float) -> float:
        return left + (x - x0) / span_x * (w - left - right)

    def py(y: float) -> float:
        return top + (1 - (y - y0) / span_y) * (h - top - bottom)

    title = "Training and validation loss by step"
    out = [
        f'<svg class="loss" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
        f'aria-label="{esc(title)}"><title>{esc(title)}</title>'
    ]
    for k in range(5):
        value = y0 + span_y * k / 4
        y = py(value)
        out.append(
            f'<line x1="{left}" y1="{_c(y)}" x2="{w - right}" y2="{_c(y)}" stroke="{GRID}"/>'
            f'<text x="{left - 6}" y="{_c(y + 4)}" font-size="11" text-anchor="end" '
            f'fill="{MUTED}">{value:.3g}</text>'
        )
    for k in range(5):
        step = x0 + span_x * k / 4
        out.append(
            f'<text x="{_c(px(step))}" y="{h - bottom + 16}" font-size="11" '
            f'text-anchor="middle" fill="{MUTED}">{step:.0f}</text>'
        )
    out.append(
        f'<text x="{_c((left + w - right) / 2)}" y="{h - 6}" font-size="12" '
        f'text-anchor="middle" fill="{INK}">step</text>'
    )
    if early_step is not None and x0 <= early_step <= x1:
        ex = _c(px(early_step))
        out.append(
            f'<line class="early-stop" x1="{ex}" y1="{top}" x2="{ex}" y2="{h - bottom}" '
            f'stroke="{INK}" stroke-dasharray="4 3"><title>early stopping: step '
            f"{early_step}</title></line>"
        )
    for i, (key, label) in enumerate(
        (("training_loss", "training"), ("validation_loss", "validation"))
    ):
        values = series[key]
        if not values:
            continue
        tint = colour(i)
        path = " ".join(f"{_c(px(x))},{_c(py(y))}" for x, y in values)
        out.append(
            f'<polyline class="{label}" points="{path}" fill="none" stroke="{tint}" '
            f'stroke-width="2"><title>{label} loss</title></polyline>'
        )
        if key == "validation_loss":
            out += [
                f'<circle cx="{_c(px(x))}" cy="{_c(py(y))}" r="3" fill="{tint}">'
                f"<title>step {x:.0f}: validation loss {y:.4f}</title></circle>"
                for x, y in values
            ]
        out.append(
            f'<rect x="{w - right - 150}" y="{top + 4 + 18 * i}" width="12" height="3" '
            f'fill="{tint}"/><text x="{w - right - 132}" y="{top + 9 + 18 * i}" '
            f'font-size="12" fill="{INK}">{label} loss</text>'
        )
    out.append("</svg>")
    return "".join(out)


def _meta(job: Mapping[str, Any]) -> str:
    rows = [
        ("Job", job.get("tuning_job_id")),
        ("Provider", job.get("provider")),
        ("Base model", job.get("base_model")),
        ("Status", job.get("status")),
        ("Custom model", job.get("custom_model")),
        ("Failure", job.get("failure_message")),
        ("Created", job.get("created_at")),
        ("Finished", job.get("finished_at")),
    ]
    body = "".join(f"<dt>{esc(k)}</dt><dd>{_show(v)}</dd>" for k, v in rows if v not in (None, ""))
    return f'<dl class="meta">{body}</dl>'


def _hyperparameters(job: Mapping[str, Any]) -> str:
    hp = _mapping(job.get("hyperparameters"))
    if not hp:
        return ""
    rows = []
    for name, entry in hp.items():
        entry = _mapping(entry)
        tag = '<span class="tag">default</span>' if entry.get("default") else ""
        rows.append(
            f'<tr><th>{esc(name)}</th><td class="num">{_show(entry.get("value"))}</td>'
            f"<td>{tag}</td></tr>"
        )
    return (
        '<div class="scroll"><table class="data"><thead><tr><th>name</th>'
        '<th class="num">value</th><th></th></tr>'
        f"</thead><tbody>{''.join(rows)}</tbody></table></div>"
        '<p class="note">"default": not given in the request; the family\'s documented '
        "default was used.</p>"
    )


def _data(job: Mapping[str, Any]) -> str:
    data = _mapping(job.get("data"))
    if not data:
        return ""
    out = []
    for role, summary in data.items():
        summary = _mapping(summary)
        completions = _mapping(summary.get("completions"))
        dist = "".join(
            f'<tr><th>{esc(label)}</th><td class="num">{count(n)}</td></tr>'
            for label, n in completions.items()
        )
        out.append(
            f'<h3>{esc(role)}</h3><dl class="meta">'
            f"<dt>Format</dt><dd>{_show(summary.get('format'))}</dd>"
            f"<dt>Records</dt><dd>{count(summary.get('records'))}</dd>"
            f"<dt>Estimated tokens</dt><dd>{count(summary.get('estimated_tokens'))}</dd></dl>"
            + (
                '<div class="scroll"><table class="data"><thead><tr><th>completion</th>'
                '<th class="num">records</th>'
                f"</tr></thead><tbody>{dist}</tbody></table></div>"
                if dist
                else '<p class="note">Completions are free text (no closed label set).</p>'
            )
        )
    return "".join(out)


def _cost(job: Mapping[str, Any]) -> str:
    estimated = _mapping(job.get("estimated_cost"))
    actual = job.get("actual_cost_usd")
    if not estimated and actual is None:
        return ""
    price = _mapping(estimated.get("price"))
    rows = [
        ("Training tokens", count(estimated.get("training_tokens"))),
        ("Epochs", _show(estimated.get("epochs"))),
        ("Price per 1k tokens", usd(estimated.get("price_per_1k_tokens"))),
        ("Estimated training", usd(estimated.get("training_usd"))),
        ("Storage (1 month)", usd(estimated.get("storage_month_usd"))),
        ("Actual", usd(actual)),
    ]
    body = "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in rows)
    note = (
        f'<p class="note">Prices: {_show(price.get("source"))}, '
        f"checked {_show(price.get('checked'))}"
        + ("; example prices, not verified." if price.get("example") else ".")
        + "</p>"
        if price
        else ""
    )
    return f'<dl class="meta">{body}</dl>{note}'


def _loss(job: Mapping[str, Any]) -> str:
    points = [_mapping(p) for p in _seq(job.get("metrics"))]
    early = _mapping(job.get("early_stopping"))
    step = number(early.get("step"))
    svg = loss_svg(points, int(step) if step is not None else None)
    if not svg:
        return '<p class="note">No loss metrics yet.</p>'
    note = (
        f'<p class="note early-stop">Early stopping: best validation loss '
        f"{dec(early.get('validation_loss'), 4)} at step {_show(early.get('step'))} "
        f"(epoch {_show(early.get('epoch'))}); {_show(early.get('epochs_run'))} of "
        f"{_show(early.get('epochs_requested'))} epochs ran.</p>"
        if early
        else ""
    )
    return svg + note


def render_report(job: Mapping[str, Any]) -> str:
    """The whole page for one tuning job."""
    sections = [
        ("loss", "Loss", _loss(job)),
        ("hyperparameters", "Hyperparameters", _hyperparameters(job)),
        ("data", "Data", _data(job)),
        ("cost", "Cost", _cost(job)),
    ]
    shown = [(key, title, body) for key, title, body in sections if body]
    body = "".join(
        f'<section id="{key}" aria-labelledby="{key}-h"><h2 id="{key}-h">{esc(title)}</h2>'
        f"{html}</section>"
        for key, title, html in shown
    )
    name = job.get("name")
    title = "Tuning report" + (f" · {name}" if name not in (None, "") else "")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="color-scheme" content="light"><link rel="icon" href="data:,">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body><main>"
        f"<h1>{esc(title)}</h1>{_meta(job)}{body}"
        "<footer>Generated by Tunegate. Token counts are estimates (characters / 4).</footer>"
        "</main></body></html>\n"
    )
