"""How the judge's findings are shown: the report's Judge section (the judge, its prompt version
and rubric, the rubric table or the pairwise matrix), its reasons beside each sample, and the
CLI's judge lines. Every text is escaped; every field may be missing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from chalicelib.evaluation.clipping import clip
from chalicelib.evaluation.report_svg import esc, number


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _seq(value: object) -> Sequence[Any]:
    return value if isinstance(value, list) else []


def _dec(value: object, digits: int = 2) -> str:
    n = number(value)
    return "—" if n is None else f"{n:.{digits}f}"


def _pct(value: object) -> str:
    n = number(value)
    return "—" if n is None else f"{n * 100:.1f}%"


def _interval(ci: object, fmt: Any) -> str:
    pair = _seq(ci)
    return f" [{fmt(pair[0])}, {fmt(pair[1])}]" if len(pair) == 2 else ""


def _p(value: object) -> str:
    n = number(value)
    if n is None:
        return "—"
    return "< 0.001" if n < 0.001 else f"{n:.3f}"


def _p_phrase(value: object) -> str:
    shown = _p(value)
    return f"p {shown}" if shown.startswith("<") else f"p = {shown}"


def judge_section(judge: object) -> str:
    """The report's Judge section; empty when the run had no judge."""
    j = _mapping(judge)
    if not j:
        return ""
    usage = _mapping(j.get("usage"))
    facts = (
        f'<p class="note" id="judge-facts">Judge <b>{esc(j.get("model"))}</b>, mode '
        f"<b>{esc(j.get('mode'))}</b>, prompt <b>{esc(j.get('prompt_version'))}</b> "
        f"({'custom' if j.get('custom_rubric') else 'default'} rubric for "
        f"{esc(j.get('task_kind'))} answers). {esc(j.get('n_items'))} items judged in "
        f"{esc(j.get('calls'))} judge calls: {esc(j.get('n_unreadable'))} unreadable answers "
        f"(counted, not guessed), {esc(j.get('n_error'))} errors, {esc(j.get('n_cached'))} "
        f"from the cache; {esc(usage.get('input_tokens'))} input and "
        f"{esc(usage.get('output_tokens'))} output tokens, ${_dec(j.get('cost_usd'), 6)} "
        "(apart from the models' own cost).</p>"
    )
    rubric = (
        '<details><summary>Rubric</summary><pre class="text" id="judge-rubric">'
        f"{esc(j.get('rubric'))}</pre></details>"
    )
    body = _rubric_table(j) if j.get("mode") == "rubric" else _pairwise_tables(j)
    return facts + rubric + body


def _rubric_table(j: Mapping[str, Any]) -> str:
    criteria = [str(c) for c in _seq(j.get("criteria"))]
    scores = _mapping(j.get("rubric_scores"))
    head = "".join(f'<th scope="col" class="num">{esc(c)} [95% CI]</th>' for c in criteria)
    rows = []
    for model, result in scores.items():
        per = _mapping(_mapping(result).get("criteria"))
        cells = "".join(
            f'<td class="num">{_dec(_mapping(per.get(c)).get("mean"))}'
            f"{_interval(_mapping(per.get(c)).get('ci95'), _dec)}"
            f" <span class=muted>n={esc(_mapping(per.get(c)).get('n'))}</span></td>"
            for c in criteria
        )
        rows.append(f'<tr><th scope="row">{esc(model)}</th>{cells}</tr>')
        for category, table in _mapping(_mapping(result).get("per_category")).items():
            cells = "".join(
                f'<td class="num">{_dec(_mapping(_mapping(table).get(c)).get("mean"))}'
                f"{_interval(_mapping(_mapping(table).get(c)).get('ci95'), _dec)}</td>"
                for c in criteria
            )
            rows.append(
                f'<tr class="category"><th scope="row">&nbsp;&nbsp;{esc(model)} · '
                f"{esc(category)}</th>{cells}</tr>"
            )
    return (
        '<div class="scroll"><table class="data" id="judge-rubric-table">'
        "<caption>Judge scores, 1–5 (mean, bootstrap 95% CI)</caption>"
        f'<thead><tr><th scope="col">model</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _pairwise_tables(j: Mapping[str, Any]) -> str:
    pairwise = _mapping(j.get("pairwise"))
    models = [str(m) for m in _seq(pairwise.get("models"))]
    matrix = _seq(pairwise.get("win_rate_matrix"))
    head = "".join(f'<th scope="col" class="num">vs {esc(m)}</th>' for m in models)
    rows = []
    for i, model in enumerate(models):
        row = _seq(matrix[i]) if i < len(matrix) else []
        cells = "".join(
            f'<td class="num">{"·" if k == i else _pct(row[k] if k < len(row) else None)}</td>'
            for k in range(len(models))
        )
        rows.append(f'<tr><th scope="row">{esc(model)}</th>{cells}</tr>')
    matrix_html = (
        '<div class="scroll"><table class="data" id="judge-matrix">'
        "<caption>Win rate of the row model against the column model</caption>"
        f'<thead><tr><th scope="col">model</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )
    pair_rows = []
    for p in (_mapping(x) for x in _seq(pairwise.get("pairs"))):
        pair_rows.append(
            f'<tr><th scope="row">{esc(p.get("a"))} vs {esc(p.get("b"))}</th>'
            f'<td class="num">{esc(p.get("n"))}</td>'
            f'<td class="num">{_pct(p.get("win_rate"))}'
            f"{_interval(p.get('win_rate_ci95'), _pct)}</td>"
            f'<td class="num">{_pct(p.get("tie_rate"))}'
            f"{_interval(p.get('tie_rate_ci95'), _pct)}</td>"
            f'<td class="num">{_pct(p.get("loss_rate"))}'
            f"{_interval(p.get('loss_rate_ci95'), _pct)}</td>"
            f'<td class="num">{_p(p.get("sign_test_p"))}</td>'
            f'<td class="num">{esc(p.get("position_flips"))}</td>'
            f'<td class="num">{esc(p.get("n_unreadable"))}</td></tr>'
        )
    head2 = "".join(
        f'<th scope="col"{cls}>{name}</th>'
        for name, cls in (
            ("pair (A vs B)", ""),
            ("judged", ' class="num"'),
            ("A wins [95% CI]", ' class="num"'),
            ("ties", ' class="num"'),
            ("B wins", ' class="num"'),
            ("sign test p", ' class="num"'),
            ("order flips", ' class="num"'),
            ("unreadable", ' class="num"'),
        )
    )
    note = (
        '<p class="note">The judge sees each pair in both orders; a verdict that changes with '
        "the order (an order flip) counts as a tie. Intervals are Wilson 95%; the sign test "
        "compares wins with losses, ties left out.</p>"
    )
    return (
        matrix_html + '<div class="scroll"><table class="data" id="judge-pairs">'
        "<caption>Pairwise verdicts</caption>"
        f"<thead><tr>{head2}</tr></thead><tbody>{''.join(pair_rows)}</tbody></table></div>" + note
    )


def _verdict_text(j: Mapping[str, Any]) -> str:
    status = j.get("status")
    if status == "error":
        return f"judge error ({j.get('error_code')})"
    if status == "unreadable":
        return "unreadable judge answer"
    if j.get("mode") == "rubric":
        scores = _mapping(j.get("scores"))
        return ", ".join(f"{k} {v}" for k, v in scores.items())
    models = [str(m) for m in _seq(j.get("models"))]
    winner = j.get("winner")
    shown = f"A = {models[0]}, B = {models[1]}" if len(models) == 2 else ""
    return f"winner {winner} ({shown})"


def sample_judge(sample: Mapping[str, Any], limit: int) -> str:
    """The judge's verdicts and reasons on one sample, beside its answers."""
    judgements = [_mapping(j) for j in _seq(sample.get("judge"))]
    if not judgements:
        return ""
    rows = "".join(
        f'<li><span class="verdict">{esc(", ".join(str(m) for m in _seq(j.get("models"))))}: '
        f"{esc(_verdict_text(j))}</span> — "
        f'<span class="judge-reason">{esc(clip(str(j.get("reason") or ""), limit))}</span></li>'
        for j in judgements
    )
    return f'<div class="label">judge</div><ul class="judge">{rows}</ul>'


def judge_lines(judge: Mapping[str, Any]) -> str:
    """The CLI's summary of the judge (after the metrics table)."""
    usage = _mapping(judge.get("usage"))
    lines = [
        f"judge {judge.get('model')} ({judge.get('mode')}, prompt {judge.get('prompt_version')}): "
        f"{judge.get('n_items')} items, {judge.get('calls')} calls, "
        f"{judge.get('n_unreadable')} unreadable, {judge.get('n_error')} errors, "
        f"{usage.get('input_tokens')}+{usage.get('output_tokens')} tokens, "
        f"${_dec(judge.get('cost_usd'), 6)}"
    ]
    if judge.get("mode") == "rubric":
        criteria = [str(c) for c in _seq(judge.get("criteria"))]
        for model, result in _mapping(judge.get("rubric_scores")).items():
            per = _mapping(_mapping(result).get("criteria"))
            shown = ", ".join(
                f"{c} {_dec(_mapping(per.get(c)).get('mean'))}"
                f"{_interval(_mapping(per.get(c)).get('ci95'), _dec)}"
                for c in criteria
            )
            lines.append(f"  {model}: {shown}")
    else:
        for p in (_mapping(x) for x in _seq(_mapping(judge.get("pairwise")).get("pairs"))):
            lines.append(
                f"  {p.get('a')} vs {p.get('b')}: wins {_pct(p.get('win_rate'))}"
                f"{_interval(p.get('win_rate_ci95'), _pct)}, ties {_pct(p.get('tie_rate'))}, "
                f"losses {_pct(p.get('loss_rate'))} (n = {p.get('n')}, "
                f"{p.get('position_flips')} order flips), "
                f"sign test {_p_phrase(p.get('sign_test_p'))}"
            )
    return "\n".join(lines)
