"""render_report as a pure function: a well-formed, self-contained page whose numbers are the
run's, with every data value escaped and every optional field allowed to be missing."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from html import unescape
from html.parser import HTMLParser
from typing import Any

import pytest

from chalicelib.evaluation.report import render_report
from chalicelib.evaluation.report_svg import LatencyHistogram, fmt_ms
from tests.evaluation.sample_results import HOSTILE_INPUT, HOSTILE_OUTPUT, make_run

VOID = {"meta", "link", "br", "hr", "img", "input", "col", "wbr", "source"}


class Page(HTMLParser):
    """Checks nesting while collecting tags, attributes and text."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.errors: list[str] = []
        self.text: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> Page:
    parsed = Page(page)
    assert parsed.errors == []
    assert parsed.stack == []
    return parsed


def section(page: str, key: str) -> str:
    match = re.search(rf'<section id="{key}".*?</section>', page, re.S)
    assert match, f"no {key} section"
    return match.group(0)


def visible_text(fragment: str) -> str:
    return " ".join(" ".join(Page(fragment).text).split())


@pytest.fixture(scope="module")
def run3() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    return make_run(("base", "tuned", "other"), hostile=True)


@pytest.fixture(scope="module")
def page3(run3: tuple[dict[str, Any], list[dict[str, Any]]]) -> str:
    results, items = run3
    return render_report(results, iter(items))


def test_page_is_well_formed_and_self_contained(page3: str) -> None:
    parsed = parse(page3)
    assert page3.startswith("<!DOCTYPE html>")
    names = {tag for tag, _ in parsed.tags}
    assert not names & {"script", "iframe", "object", "embed", "img", "base", "form"}
    for tag, attrs in parsed.tags:
        assert not [a for a in attrs if a.startswith("on")], tag
        for attr in ("href", "src", "xlink:href", "action"):
            value = attrs.get(attr)
            if value is not None:
                assert value.startswith(("#", "data:")), (tag, attr, value)
        if tag == "link":
            assert attrs.get("rel") == "icon"
    csp = [a["content"] for t, a in parsed.tags if t == "meta" and "http-equiv" in a]
    assert csp and "default-src 'none'" in (csp[0] or "")


def test_every_section_is_present(page3: str) -> None:
    for key in (
        "metrics",
        "comparison",
        "confusion",
        "per-class",
        "latency",
        "categories",
        "samples",
    ):
        section(page3, key)
        assert f'href="#{key}"' in page3


def test_header_shows_the_run(
    run3: tuple[dict[str, Any], list[dict[str, Any]]], page3: str
) -> None:
    meta = run3[0]["meta"]
    header = visible_text(page3[page3.index("<header>") : page3.index("</header>")])
    for value in (
        meta["dataset"],
        str(meta["seed"]),
        meta["started_at"],
        meta["finished_at"],
        f"{meta['n_items']:,}",
        *meta["models"],
    ):
        assert value in header
    assert "Run time 2 min 41 s" in header  # 10:15:00 -> 10:17:41.25


def test_metrics_table_has_each_models_numbers(
    run3: tuple[dict[str, Any], list[dict[str, Any]]], page3: str
) -> None:
    table = section(page3, "metrics")
    text = visible_text(table)
    for model, r in run3[0]["results"].items():
        assert f"{r['accuracy'] * 100:.1f}% ± {r['accuracy_stderr'] * 100:.1f}" in text
        lo, hi = r["f1_macro_ci95"]
        assert f"{r['f1_macro']:.3f} [{lo:.3f}, {hi:.3f}]" in text
        assert f"{r['mae']:,.3f} ± {r['mae_stderr']:,.3f}" in text
        assert f"{r['usage']['input_tokens']:,} / {r['usage']['output_tokens']:,}" in text
        assert model in text
    # one error bar per model for accuracy and for macro F1
    assert table.count('class="bar"') == 2 * 3
    best = max(run3[0]["results"].values(), key=lambda r: r["accuracy"])["accuracy"]
    assert f'class="num best">{best * 100:.1f}%' in table


def test_metrics_table_shows_the_baselines_and_the_verdict(
    run3: tuple[dict[str, Any], list[dict[str, Any]]], page3: str
) -> None:
    rows = {
        visible_text(head): cells
        for head, cells in re.findall(
            r'<tr><th scope="row">(.*?)</th>(.*?)</tr>', section(page3, "metrics"), re.S
        )
    }
    majority = re.findall(r"<td[^>]*>(.*?)</td>", rows["Majority baseline: accuracy / macro F1"])
    stratified = re.findall(
        r"<td[^>]*>(.*?)</td>", rows["Stratified random baseline: accuracy / macro F1"]
    )
    verdict = re.findall(
        r"<td[^>]*>(.*?)</td>", rows["Beats the majority baseline? (exact binomial p)"]
    )
    verdicts = set()
    for i, r in enumerate(run3[0]["results"].values()):
        b = r["baselines"]
        m, st = b["majority"], b["stratified"]
        assert visible_text(majority[i]) == (
            f"{m['accuracy'] * 100:.1f}% / {m['f1_macro']:.3f} (always “{m['label']}”)"
        )
        assert visible_text(stratified[i]) == (
            f"{st['accuracy'] * 100:.1f}% / {st['f1_macro']:.3f}"
        )
        p = b["beats_majority"]["p_value"]
        shown = "p < 0.0001" if p < 0.0001 else f"p = {p:.4f}" if p < 0.01 else f"p = {p:.3f}"
        better = b["beats_majority"]["better"]
        assert visible_text(verdict[i]) == f"{shown}, {'better' if better else 'not better'}"
        verdicts.add(better)
    assert verdicts == {True}  # every sample model reads its input
    results = copy.deepcopy(run3[0])
    results["results"]["base"]["baselines"]["beats_majority"].update(p_value=0.41, better=False)
    page = render_report(results, iter(run3[1]))
    assert "p = 0.410, not better" in visible_text(section(page, "metrics"))


def test_confusion_matrices_show_the_counts(
    run3: tuple[dict[str, Any], list[dict[str, Any]]], page3: str
) -> None:
    html = section(page3, "confusion")
    tables = re.findall(r'<table class="cm".*?</table>', html, re.S)
    assert len(tables) == 3
    for table, (model, r) in zip(tables, run3[0]["results"].items(), strict=True):
        assert f"Confusion matrix of {model}" in table
        cm = r["confusion_matrix"]
        head = re.findall(r'<th scope="col">(.*?)</th>', table)
        assert [unescape(h) for h in head] == cm["columns"] == [*cm["labels"], "<invalid>"]
        rows = re.findall(r"<tr><th scope=\"row\">(.*?)</th>(.*?)</tr>", table, re.S)
        assert [unescape(label) for label, _ in rows] == cm["labels"]
        for (_, cells), expected in zip(rows, cm["matrix"], strict=True):
            counts = [int(c.replace(",", "")) for c in re.findall(r">([\d,]+)</td>", cells)]
            assert counts == [*expected, sum(expected)]


def test_confusion_columns_are_read_from_the_results() -> None:
    """The report names the columns as `columns` does (older results without it still get
    the labels plus "<invalid>")."""
    results, items = make_run(("base", "tuned"))
    named = results["results"]["base"]["confusion_matrix"]
    named["columns"] = [*named["columns"][:-1], "<unparseable>"]
    del results["results"]["tuned"]["confusion_matrix"]["columns"]
    tables = re.findall(r'<table class="cm".*?</table>', render_report(results, items), re.S)
    heads = [[unescape(h) for h in re.findall(r'<th scope="col">(.*?)</th>', t)] for t in tables]
    labels = named["labels"]
    assert heads == [[*labels, "<unparseable>"], [*labels, "<invalid>"]]


def test_confusion_shading_follows_the_share_of_the_row(page3: str) -> None:
    for table in re.findall(r'<table class="cm".*?</table>', section(page3, "confusion"), re.S):
        rows = re.findall(r'<tr><th scope="row">.*?</tr>', table, re.S)
        for r, row in enumerate(rows):
            cells = re.findall(r"rgba\((\d+,\d+,\d+),([\d.]+)\)[^>]*>([\d,]+)</td>", row)
            counts = [int(c.replace(",", "")) for _, _, c in cells]
            alphas = [float(a) for _, a, _ in cells]
            for c, a in zip(counts, alphas, strict=True):
                assert (a == 0) == (c == 0)
            order = sorted(range(len(counts)), key=counts.__getitem__)
            assert [alphas[i] for i in order] == sorted(alphas)
            top = max(counts)
            for c, a in zip(counts, alphas, strict=True):
                if c <= top / 4:  # a quarter of the count: at most half the shade
                    assert a <= alphas[counts.index(top)] / 2
            tints = {rgb for rgb, _, _ in cells}
            assert len(tints) == 2 and cells[r][0] not in {
                cells[j][0] for j in range(len(cells)) if j != r
            }


def test_f1_bars_grouped_by_label_with_every_model(
    run3: tuple[dict[str, Any], list[dict[str, Any]]], page3: str
) -> None:
    svg = section(page3, "per-class")
    bars = re.findall(r"<title>([^<]*?) · ([^<]*?): F1 ([\d.]+)</title>", svg)
    expected = [
        (model, label, f"{r['per_class'][label]['f1']:.3f}")
        for label in ["negative", "neutral", "positive"]
        for model, r in run3[0]["results"].items()
    ]
    assert bars == expected


def test_latency_histograms_count_every_item_once(
    run3: tuple[dict[str, Any], list[dict[str, Any]]], page3: str
) -> None:
    html = section(page3, "latency")
    svgs = re.findall(r'<svg[^>]*class="latency".*?</svg>', html, re.S)
    assert len(svgs) == 3
    items = run3[1]
    for svg, model in zip(svgs, ("base", "tuned", "other"), strict=True):
        counts = [int(c) for c in re.findall(r"<rect [^>]*><title>[^<]*: (\d+)</title>", svg)]
        assert sum(counts) == sum(1 for i in items if i["model"] == model)
        for name in ("p50", "p90", "p99"):
            assert f">{name} " in svg


def test_latency_bars_hold_the_items_of_their_range(
    run3: tuple[dict[str, Any], list[dict[str, Any]]], page3: str
) -> None:
    """Each bar's count equals a direct count of items between its edges (found by search
    over the edges, not by the histogram's own arithmetic)."""
    edges = [LatencyHistogram.edge(i) for i in range(LatencyHistogram.SIZE + 1)]
    svgs = re.findall(r'<svg[^>]*class="latency".*?</svg>', section(page3, "latency"), re.S)
    for svg, model in zip(svgs, ("base", "tuned", "other"), strict=True):
        expected: dict[str, int] = {}
        for item in run3[1]:
            if item["model"] == model:
                i = max(k for k, e in enumerate(edges) if e <= item["latency_ms"])
                key = f"{fmt_ms(edges[i])} – {fmt_ms(edges[i + 1])}"
                expected[key] = expected.get(key, 0) + 1
        bars = re.findall(r"<rect [^>]*><title>([^<]*): (\d+)</title>", svg)
        assert {unescape(k): int(c) for k, c in bars} == expected


def test_items_are_streamed_from_a_one_shot_iterator() -> None:
    results, items = make_run(("base",), n_items=30)
    consumed = []

    def stream() -> Iterator[dict[str, Any]]:
        for item in items:
            consumed.append(item["index"])
            yield item

    page = render_report(results, stream())
    assert consumed == [i["index"] for i in items]
    assert "30 model calls" in page


def test_histogram_bins_are_fixed_and_clamp_outliers() -> None:
    hist = LatencyHistogram()
    for ms in (0.0, 0.001, 0.1, 1.0, 99.0, 100.0, 1e12):
        hist.add(ms)
    assert len(hist.counts) == LatencyHistogram.SIZE
    assert hist.total == 7
    assert hist.counts[0] == 3 and hist.counts[-1] == 1
    hundred = round(LatencyHistogram.position(100.0))
    assert hist.counts[hundred] == 1 and hist.counts[hundred - 1] == 1
    assert LatencyHistogram.edge(hundred) == pytest.approx(100.0)


def test_comparison_reads_the_p_values(
    run3: tuple[dict[str, Any], list[dict[str, Any]]], page3: str
) -> None:
    rows = re.findall(r"<tr><th scope=\"row\">.*?</tr>", section(page3, "comparison"), re.S)
    pairs = run3[0]["comparison"]
    assert len(rows) == len(pairs) == 3
    for row, pair in zip(rows, pairs, strict=True):
        text = visible_text(row)
        assert text.startswith(f"{pair['a']} vs {pair['b']} {pair['n']:,}")
        assert f"{pair['accuracy_difference'] * 100:+.1f} pts" in text
        assert ("significant at" in text and "not significant" not in text) == (
            pair["mcnemar_p"] < 0.05
        )
        ahead = pair["a"] if pair["accuracy_difference"] > 0 else pair["b"]
        assert f"{ahead} ahead by" in text
        disc = pair["discordant"]
        assert text.endswith(f"{disc['a_only_correct']} {disc['b_only_correct']}")


def test_significance_levels_in_plain_words() -> None:
    results, items = make_run(("base", "tuned"))
    pair = results["comparison"][0]
    for p, words in (
        (0.2, "not significant at 5%"),
        (0.03, "significant at 5%"),
        (0.004, "significant at 1%"),
        (0.0002, "significant at 0.1%"),
    ):
        pair["mcnemar_p"] = p
        text = visible_text(section(render_report(results, items), "comparison"))
        assert words in text
        assert ("not significant" in text) == (p >= 0.05)


def expected_kinds(sample: dict[str, Any], numeric: bool = False) -> list[str]:
    kinds = []
    for out in sample["outputs"].values():
        if out["status"] in ("error", "invalid"):
            kinds.append(out["status"])
        elif numeric:
            right = float(out["prediction"]) == float(sample["reference"])
            kinds.append("correct" if right else "incorrect")
        else:
            kinds.append("correct" if out["prediction"] == sample["reference"] else "incorrect")
    return kinds


def test_samples_keep_their_order_and_mark_answers(
    run3: tuple[dict[str, Any], list[dict[str, Any]]], page3: str
) -> None:
    html = section(page3, "samples")
    samples = run3[0]["samples"]
    assert re.findall(r"<h3>Item (\d+)</h3>", html) == [str(s["index"]) for s in samples]
    articles = re.findall(r'<article class="sample">.*?</article>', html, re.S)
    for article, sample in zip(articles, samples, strict=True):
        assert re.findall(r'<div class="out (\w+)">', article) == expected_kinds(sample)
        answers = {
            (o["status"], o["prediction"])
            for o in sample["outputs"].values()
            if o["status"] != "error"
        }
        assert ("models disagree" in article) == (len(answers) > 1)
    # disagreements and errors arrive first, so the first card carries a flag
    assert re.search(r"tag (disagree|error)", articles[0])
    assert "user:" in visible_text(html)  # a conversation input shows its roles


def test_untrusted_text_is_escaped_everywhere() -> None:
    evil = '<script>alert("x")</script>'
    results, items = make_run(("base", evil), hostile=True)
    results["meta"]["dataset"] = evil
    for r in results["results"].values():
        r["per_category"] = {evil: r["per_category"]["long"]}
        cm = r["confusion_matrix"]
        cm["labels"][0] = '"><svg onload=alert(1)>'
        r["per_class"]['"><svg onload=alert(1)>'] = r["per_class"].pop("negative")
    results["samples"][0]["reference"] = evil
    page = render_report(results, items)
    parsed = parse(page)
    assert not [t for t, _ in parsed.tags if t == "script"]
    assert all(not a.startswith("on") for _, attrs in parsed.tags for a in attrs)
    assert "<script" not in page and "<img" not in page and "<svg onload" not in page
    assert "&lt;script&gt;window.__pwned" in page  # the input's markup, shown as text
    text = " ".join(parsed.text)
    assert HOSTILE_INPUT in text and HOSTILE_OUTPUT in text and evil in text


def test_one_model_has_no_comparison() -> None:
    results, items = make_run(("tuned",))
    page = render_report(results, items)
    parse(page)
    assert "no pairwise comparison" in section(page, "comparison")
    assert "comparison-table" not in page
    assert section(page, "confusion").count('<table class="cm"') == 1
    assert "Bold marks" in page and 'class="num best"' not in page


def test_number_deployment_without_labels() -> None:
    results, items = make_run(("base", "tuned"), numeric=True, value_range=10)
    page = render_report(results, items)
    parse(page)
    bars = re.findall(r"<title>base · ([^<]*?): F1", section(page, "per-class"))
    assert bars == [str(v) for v in range(1, 11)]  # numeric classes in numeric order
    mae = results["results"]["tuned"]["mae"]
    assert f"{mae:,.3f}" in visible_text(section(page, "metrics"))
    # predictions are numbers (7.0), references text ("7"): compared by value
    articles = re.findall(r'<article class="sample">.*?</article>', section(page, "samples"), re.S)
    kinds = [re.findall(r'<div class="out (\w+)">', a) for a in articles]
    assert kinds == [expected_kinds(s, numeric=True) for s in results["samples"]]
    assert any("correct" in k for k in kinds) and any("incorrect" in k for k in kinds)


def test_many_numeric_classes_are_capped() -> None:
    results, items = make_run(("base",), n_items=400, numeric=True, value_range=200)
    n_classes = len(results["results"]["base"]["per_class"])
    assert n_classes > 40
    page = render_report(results, items)
    parse(page)
    assert f"{n_classes} distinct classes, too many" in section(page, "confusion")
    f1 = section(page, "per-class")
    assert len(re.findall(r"<title>base · ", f1)) == 40
    assert f"Showing the 40 classes with the most support of {n_classes}" in f1


def test_missing_optional_fields_render_as_dashes() -> None:
    results, items = make_run(("base", "tuned"))
    broken = copy.deepcopy(results)
    for r in broken["results"].values():
        for key in (
            "accuracy_stderr",
            "f1_macro_ci95",
            "mae",
            "mae_stderr",
            "cost_usd",
            "confusion_matrix",
            "per_class",
            "per_category",
            "baselines",
        ):
            r[key] = None
        r["latency_ms"] = {"p50": None, "p90": None, "p99": None}
        del r["usage"]
    broken["comparison"][0]["mcnemar_p"] = None
    del broken["comparison"][0]["discordant"]
    broken["samples"][0]["outputs"] = {}
    del broken["meta"]
    page = render_report(broken, [])
    parse(page)
    metrics = visible_text(section(page, "metrics"))
    assert f"{results['results']['base']['accuracy'] * 100:.1f}%" in metrics
    assert "± " not in metrics.split("Macro F1")[0].split("Accuracy ± stderr")[1]
    assert "Tokens in / out — / — — / —" in metrics
    assert "Majority baseline: accuracy / macro F1 — —" in metrics
    assert "Beats the majority baseline? (exact binomial p) — —" in metrics
    assert "not computed" in section(page, "comparison")
    assert "no confusion matrix" in section(page, "confusion")
    assert "No per-class scores" in section(page, "per-class")
    assert "No per-item latencies" in section(page, "latency")
    assert 'id="categories"' not in page


def test_zero_items_and_empty_results() -> None:
    results, items = make_run(("base", "tuned"), n_items=0)
    assert items == [] and results["results"]["base"]["accuracy"] is None
    page = render_report(results, items)
    parse(page)
    assert "No qualitative samples" in page
    assert "No per-item latencies" in page
    assert visible_text(section(page, "metrics")).count("—") >= 10
    empty = render_report({}, [])
    parse(empty)
    assert "No metrics in this run." in empty


def test_text_deployment_answers_are_not_judged() -> None:
    results = {
        "results": {"chat": {"n": 1, "n_ok": 1}},
        "samples": [
            {
                "index": 3,
                "input": {
                    "system": "Be brief.",
                    "messages": [{"role": "user", "content": [{"text": "Summarise this"}]}],
                },
                "reference": None,
                "outputs": {
                    "chat": {
                        "output": "A summary.",
                        "prediction": None,
                        "status": "ok",
                        "error_code": None,
                    }
                },
            }
        ],
    }
    page = render_report(results, [{"model": "chat", "latency_ms": 12.5}, "not a record"])
    parse(page)
    html = section(page, "samples")
    assert 'class="out answered"' in html and "✓" not in html and "✗" not in html
    samples = visible_text(html)
    assert "system: Be brief." in samples and "user: Summarise this" in samples
    assert "1 model calls" in page
