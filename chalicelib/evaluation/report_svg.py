"""Inline SVG pieces of the evaluation report (interval bars, per-class F1 bars, latency
histograms) and the value helpers they share with `report`. Every text from data is escaped."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence

# Okabe-Ito colours: told apart under the common colour-vision deficiencies, all dark enough
# to read as thin bars on white.
PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#56b4e9", "#e69f00", "#000000")
INK = "#1b1f24"
MUTED = "#4d5560"
GRID = "#d0d7de"


def esc(value: object) -> str:
    """Escape for both text and attribute positions: every data value is untrusted."""
    return html.escape(str(value), quote=True)


def number(value: object) -> float | None:
    """A finite float, or None for anything else (missing, bool, text, NaN, infinity)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        v = float(value)
    except OverflowError:
        return None
    return v if math.isfinite(v) else None


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def fmt_ms(ms: float) -> str:
    if ms >= 10_000:
        return f"{ms / 1000:,.1f} s"
    if ms >= 1000:
        return f"{ms / 1000:.2f} s"
    if ms >= 100:
        return f"{ms:.0f} ms"
    if ms >= 10:
        return f"{ms:.1f} ms"
    return f"{ms:.2f} ms"


def _tick_ms(ms: float) -> str:
    return f"{ms / 1000:g} s" if ms >= 1000 else f"{ms:g} ms"


def _f(x: float) -> str:
    """SVG coordinates: short, locale-free."""
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def interval_bar(
    value: float | None, lo: float | None, hi: float | None, tint: str, label: str
) -> str:
    """A value on a 0..1 track with an error bar from lo to hi (stderr or CI)."""
    if value is None:
        return ""
    w, h = 150, 14

    def x(v: float) -> float:
        return 1 + min(max(v, 0.0), 1.0) * (w - 2)

    parts = [
        f'<svg class="bar" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" '
        f'aria-label="{esc(label)}"><title>{esc(label)}</title>',
        f'<rect x="1" y="3" width="{w - 2}" height="8" rx="2" fill="#eaeef2"/>',
        f'<rect x="1" y="3" width="{_f(x(value) - 1)}" height="8" rx="2" fill="{tint}" '
        'fill-opacity="0.8"/>',
    ]
    if lo is not None and hi is not None:
        a, b = x(lo), x(hi)
        parts.append(
            f'<path d="M{_f(a)} 7H{_f(b)}M{_f(a)} 2V12M{_f(b)} 2V12" stroke="{INK}" '
            'stroke-width="1.5" fill="none"/>'
        )
    parts.append("</svg>")
    return "".join(parts)


def f1_bars(
    models: Sequence[str], scores: Mapping[str, Mapping[str, float | None]], labels: Sequence[str]
) -> str:
    """Horizontal bars grouped by label, one bar per model in model order."""
    label_w, plot_w, right, top = 190, 470, 60, 24
    bar_h, bar_gap, group_gap = 14, 2, 12
    group_h = len(models) * (bar_h + bar_gap) - bar_gap
    height = top + len(labels) * (group_h + group_gap) + 4
    width = label_w + plot_w + right
    title = f"Per-class F1 of {len(models)} model(s) over {len(labels)} class(es)"
    out = [
        f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{esc(title)}" class="f1-bars"><title>{esc(title)}</title>',
    ]
    for k in range(5):
        gx = label_w + plot_w * k / 4
        out.append(
            f'<line x1="{_f(gx)}" y1="{top - 4}" x2="{_f(gx)}" y2="{height - 4}" '
            f'stroke="{GRID}"/><text x="{_f(gx)}" y="{top - 8}" font-size="11" '
            f'text-anchor="middle" fill="{MUTED}">{k / 4:g}</text>'
        )
    for g, label in enumerate(labels):
        y0 = top + g * (group_h + group_gap)
        if g % 2 == 0:
            out.append(
                f'<rect x="0" y="{y0 - group_gap / 2:g}" width="{width}" '
                f'height="{group_h + group_gap}" fill="#f6f8fa" fill-opacity="0.7"/>'
            )
        out.append(
            f'<text x="{label_w - 8}" y="{_f(y0 + group_h / 2 + 4)}" font-size="12" '
            f'text-anchor="end" fill="{INK}"><title>{esc(label)}</title>'
            f"{esc(_clip(label, 28))}</text>"
        )
        for j, model in enumerate(models):
            y = y0 + j * (bar_h + bar_gap)
            f1 = scores.get(model, {}).get(label)
            if f1 is None:
                out.append(
                    f'<text x="{label_w + 4}" y="{y + bar_h - 3}" font-size="10" '
                    f'fill="{MUTED}">n/a ({esc(_clip(model, 30))})</text>'
                )
                continue
            bw = min(max(f1, 0.0), 1.0) * plot_w
            tip = f"{model} · {label}: F1 {f1:.3f}"
            out.append(
                f'<rect x="{label_w}" y="{y}" width="{_f(bw)}" height="{bar_h}" '
                f'fill="{colour(j)}"><title>{esc(tip)}</title></rect>'
                f'<text x="{_f(label_w + bw + 4)}" y="{y + bar_h - 3}" font-size="11" '
                f'fill="{INK}">{f1:.3f}</text>'
            )
    out.append("</svg>")
    return "".join(out)


class LatencyHistogram:
    """Latency counts in fixed log-spaced bins (10 per decade, 0.1 ms to 10^7 ms): memory does
    not grow with the number of items, so a 100k-line items file streams through."""

    BINS_PER_DECADE = 10
    LOW_EXP = -1
    SIZE = 80

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * self.SIZE
        self.total = 0

    @classmethod
    def edge(cls, i: int) -> float:
        """Lower edge (ms) of bin i; bin i holds [edge(i), edge(i + 1))."""
        return float(10 ** (cls.LOW_EXP + i / cls.BINS_PER_DECADE))

    @classmethod
    def position(cls, ms: float) -> float:
        """Continuous bin coordinate of a latency (bin i spans [i, i + 1))."""
        return (math.log10(ms) - cls.LOW_EXP) * cls.BINS_PER_DECADE

    def add(self, ms: float) -> None:
        """Count one latency; values outside the range land in the first or last bin."""
        i = 0 if ms <= 0 else math.floor(self.position(ms) + 1e-9)
        self.counts[min(max(i, 0), self.SIZE - 1)] += 1
        self.total += 1

    def occupied(self) -> tuple[int, int] | None:
        used = [i for i, c in enumerate(self.counts) if c]
        return (used[0], used[-1]) if used else None


def latency_span(histograms: Sequence[LatencyHistogram]) -> tuple[int, int] | None:
    """A shared bin range for every model's histogram, at least one decade wide."""
    spans = [s for s in (h.occupied() for h in histograms) if s is not None]
    if not spans:
        return None
    lo, hi = min(s[0] for s in spans), max(s[1] for s in spans)
    lo, hi = max(lo - 1, 0), min(hi + 1, LatencyHistogram.SIZE - 1)
    while hi - lo + 1 < LatencyHistogram.BINS_PER_DECADE:
        lo, hi = max(lo - 1, 0), min(hi + 1, LatencyHistogram.SIZE - 1)
    return lo, hi


def latency_svg(
    model: str,
    hist: LatencyHistogram,
    span: tuple[int, int],
    marks: Mapping[str, float | None],
    tint: str,
) -> str:
    """One model's histogram on the shared log axis, with its p50/p90/p99 as dashed lines."""
    width, height, left, right, top, bottom = 720, 200, 56, 16, 40, 32
    lo, hi = span
    plot_w, plot_h = width - left - right, height - top - bottom
    bw = plot_w / (hi - lo + 1)
    base = top + plot_h
    peak = max(hist.counts[lo : hi + 1]) or 1
    summary = ", ".join(f"{k} {fmt_ms(v)}" for k, v in marks.items() if v is not None)
    title = f"Latency distribution of {model}: {hist.total} calls" + (
        f"; {summary}" if summary else ""
    )

    def x_of(ms: float) -> float:
        pos = LatencyHistogram.position(ms) - lo
        return left + min(max(pos, 0.0), hi - lo + 1.0) * bw

    out = [
        f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{esc(title)}" class="latency"><title>{esc(title)}</title>',
        f'<line x1="{left}" y1="{base}" x2="{width - right}" y2="{base}" stroke="{MUTED}"/>',
    ]
    for tick in sorted({peak, peak // 2} - {0}):
        y = base - plot_h * tick / peak
        out.append(
            f'<line x1="{left}" y1="{_f(y)}" x2="{width - right}" y2="{_f(y)}" '
            f'stroke="{GRID}" stroke-dasharray="2 3"/><text x="{left - 6}" y="{_f(y + 4)}" '
            f'font-size="11" text-anchor="end" fill="{MUTED}">{tick:,}</text>'
        )
    out.append(
        f'<text x="{left - 6}" y="{base + 4}" font-size="11" text-anchor="end" '
        f'fill="{MUTED}">0</text>'
    )
    for i in range(lo, hi + 1):
        c = hist.counts[i]
        if not c:
            continue
        bh = max(plot_h * c / peak, 1.0)
        tip = f"{fmt_ms(LatencyHistogram.edge(i))} – {fmt_ms(LatencyHistogram.edge(i + 1))}: {c}"
        out.append(
            f'<rect x="{_f(left + (i - lo) * bw + 0.5)}" y="{_f(base - bh)}" '
            f'width="{_f(max(bw - 1, 0.5))}" height="{_f(bh)}" fill="{tint}" '
            f'fill-opacity="0.85"><title>{esc(tip)}</title></rect>'
        )
    decades = (hi - lo + 1) / LatencyHistogram.BINS_PER_DECADE
    multiples = (1, 2, 5) if decades <= 2.5 else (1,)
    low_ms, high_ms = LatencyHistogram.edge(lo), LatencyHistogram.edge(hi + 1)
    for exp in range(LatencyHistogram.LOW_EXP, 9):
        for mult in multiples:
            v = mult * 10.0**exp
            if low_ms <= v <= high_ms:
                x = x_of(v)
                out.append(
                    f'<line x1="{_f(x)}" y1="{base}" x2="{_f(x)}" y2="{base + 4}" '
                    f'stroke="{MUTED}"/><text x="{_f(x)}" y="{base + 17}" font-size="11" '
                    f'text-anchor="middle" fill="{MUTED}">{_tick_ms(v)}</text>'
                )
    for k, (name, mark) in enumerate(marks.items()):
        if mark is None or mark <= 0:
            continue
        x = x_of(mark)
        y = 11 + 12 * k
        anchor = "end" if x > width - right - 40 else "start"
        tx = x - 3 if anchor == "end" else x + 3
        out.append(
            f'<line x1="{_f(x)}" y1="{y - 9}" x2="{_f(x)}" y2="{base}" stroke="{INK}" '
            f'stroke-dasharray="4 3"/><text x="{_f(tx)}" y="{y}" text-anchor="{anchor}" '
            f'font-size="11" fill="{INK}">{esc(name)} {esc(fmt_ms(mark))}</text>'
        )
    out.append(
        f'<text x="{left + plot_w / 2:g}" y="{height - 2}" font-size="11" text-anchor="middle" '
        f'fill="{MUTED}">latency (log scale)</text></svg>'
    )
    return "".join(out)
