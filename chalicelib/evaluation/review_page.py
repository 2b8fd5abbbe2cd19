"""The human review page and the report's human review section (pure).

The page is one static shell, the same for every evaluation: a browser cannot send `x-api-key`
on a navigation, so the shell carries no data and needs no key. It asks for the key once, keeps
it in `sessionStorage` (this tab only, gone when it closes; never a cookie, so no other site can
make the browser use it, and never the URL, which logs, history and referrers keep) and calls
the evaluation's JSON routes with the header, where the `evaluate` scope and the ownership rule
apply as everywhere else. Its script and style are inline and allowed by their hashes in the
Content-Security-Policy: nothing else runs or is fetched, only the page's own origin is called.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from chalicelib.evaluation.report_svg import esc, number

_SCRIPT = Path(__file__).resolve().parent / "static" / "review.js"

STYLE = """
body { margin: 0; font: 15px/1.45 system-ui, sans-serif; color: #1b1f24; }
main { max-width: 1100px; margin: 0 auto; padding: 20px; }
pre { white-space: pre-wrap; background: #f3f5f8; padding: 8px 10px; margin: 4px 0 12px; }
#answers { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 16px; }
h2 { font-size: 1.1rem; margin: 18px 0 4px; } h3 { font-size: 1rem; margin: 8px 0 2px; }
label { display: block; margin: 8px 0 2px; } #help, #current { color: #4d5560; }
#controls button { margin: 0 6px 6px 0; padding: 4px 10px; }
#agreement { border-top: 1px solid #d0d7de; margin-top: 20px; }
"""

SHELL = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><link rel="icon" href="data:,">
<title>Tunegate · human review</title><style>{style}</style></head>
<body><main>
<h1>Human review</h1>
<form id="login"><p>Enter an API key with the <code>evaluate</code> scope. It is kept in this
tab only (sessionStorage) and sent as <code>x-api-key</code> to this evaluation's routes.</p>
<label for="key">API key</label><input id="key" type="password" autocomplete="off" required>
<label for="name">Your name (optional, shown beside your ratings)</label>
<input id="name" maxlength="80" autocomplete="name">
<p><button type="submit">Start reviewing</button></p></form>
<p id="status" role="status" aria-live="polite"></p>
<section id="review" hidden aria-labelledby="position">
<h2 id="position"></h2><p id="help"></p>
<h3>Input</h3><pre id="input"></pre>
<h3>Reference</h3><pre id="reference"></pre>
<div id="answers"></div><p id="current"></p>
<div id="controls" role="group" aria-label="Your call"></div>
</section>
<section id="agreement" aria-live="polite"></section>
</main><script>{script}</script></body></html>
"""


def _source_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@lru_cache(maxsize=1)
def review_page() -> tuple[str, str]:
    """(the page, its Content-Security-Policy)."""
    script = _SCRIPT.read_text(encoding="utf-8")
    page = SHELL.format(style=STYLE, script=script)
    csp = (
        f"default-src 'none'; script-src {_source_hash(script)}; style-src "
        f"{_source_hash(STYLE)}; connect-src 'self'; img-src data:; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    )
    return page, csp


def _fixed(value: object) -> str:
    found = number(value)
    return "–" if found is None else f"{found:.3f}"


def human_review_section(summary: Mapping[str, Any]) -> str:
    """The report's section: the pooled kappa with n, then one row per reviewer."""
    weighted = "weighted_kappa" in summary
    head = "<tr><th>reviewer</th><th>reviews</th><th>n</th><th>agreement</th><th>kappa</th>"
    head += "<th>quadratic kappa</th></tr>" if weighted else "</tr>"

    def row(label: str, values: Mapping[str, Any], reviews: object) -> str:
        agreement = number(values.get("agreement"))
        cells = [
            esc(label),
            esc(reviews),
            esc(values.get("n")),
            "–" if agreement is None else f"{agreement:.1%}",
            _fixed(values.get("kappa")),
        ]
        if weighted:
            cells.append(_fixed(values.get("weighted_kappa")))
        return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"

    rows = [row("all reviewers", summary, summary.get("n_reviews"))]
    for reviewer in summary.get("reviewers") or ():
        label = reviewer.get("name") or reviewer.get("reviewer")
        rows.append(row(str(label), reviewer, reviewer.get("reviews")))
    return (
        f'<p class="note">Cohen\'s kappa between the judge and human reviewers '
        f"({esc(summary.get('mode'))} mode; n counts the human calls the judge also made).</p>"
        f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"
    )


def with_human_review(page: str, summary: Mapping[str, Any] | None) -> str:
    """The stored report with the human review section before its footer (reviews arrive after
    the report was written)."""
    if summary is None or "<footer>" not in page:
        return page
    section = (
        '<section id="human-review" aria-labelledby="human-review-h"><h2 id="human-review-h">'
        f"Human review</h2>{human_review_section(summary)}</section>"
    )
    return page.replace("<footer>", section + "<footer>", 1)
