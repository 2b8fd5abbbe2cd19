"""The evaluation report's inline style sheet: system fonts, high contrast, print-friendly."""

from __future__ import annotations

CSS = """
:root {
  color-scheme: light;
  --fg: #1b1f24; --muted: #4d5560; --line: #d0d7de; --soft: #f3f5f8;
  --good: #1a7f37; --good-bg: #e7f6ec; --bad: #b42318; --bad-bg: #fdecea;
  --warn: #8a5300; --warn-bg: #fff4d6; --err: #57606a; --err-bg: #eef1f4;
}
* { box-sizing: border-box; }
html { font-size: 15px; }
body {
  margin: 0; color: var(--fg); background: #fff; line-height: 1.45;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
    "Noto Sans", "Liberation Sans", sans-serif;
}
main { max-width: 1180px; margin: 0 auto; padding: 24px 20px 48px; }
h1 { font-size: 1.6rem; margin: 0 0 4px; }
h2 { font-size: 1.25rem; margin: 36px 0 10px; padding-bottom: 4px;
  border-bottom: 1px solid var(--line); }
h3 { font-size: 1.02rem; margin: 18px 0 6px; }
p.note, .muted { color: var(--muted); }
p.note { margin: 4px 0 10px; font-size: .92rem; }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas,
  "Liberation Mono", monospace; font-size: .88rem; }
nav.toc { margin: 10px 0 0; font-size: .92rem; }
nav.toc a { margin-right: 14px; color: #0550ae; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px;
  margin: 12px 0 0; font-size: .95rem; }
dl.meta dt { color: var(--muted); }
dl.meta dd { margin: 0; overflow-wrap: anywhere; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: .92rem; }
table.data th, table.data td { border-bottom: 1px solid var(--line); padding: 5px 10px;
  text-align: left; vertical-align: top; }
table.data thead th { background: var(--soft); border-bottom: 2px solid var(--line); }
table.data td.num, table.data th.num { text-align: right; font-variant-numeric: tabular-nums; }
table.data tbody th { font-weight: 600; white-space: nowrap; }
table.data .best { font-weight: 700; }
caption { caption-side: top; text-align: left; color: var(--muted); font-size: .9rem;
  padding: 0 0 6px; }
.swatch { display: inline-block; width: .8em; height: .8em; border-radius: 2px;
  margin-right: 6px; vertical-align: -1px; }
svg text { font-family: inherit; }
svg.bar { display: block; margin-top: 3px; }
.figs { display: flex; flex-wrap: wrap; gap: 18px 28px; align-items: flex-start; }
figure { margin: 0; max-width: 100%; }
figure.cm-fig { overflow-x: auto; }
figcaption { font-size: .9rem; color: var(--muted); margin-bottom: 4px; }
figure.chart { width: 100%; max-width: 760px; }
figure.chart svg { width: 100%; height: auto; display: block; }
table.cm { font-variant-numeric: tabular-nums; }
table.cm th, table.cm td { border: 1px solid #fff; padding: 4px 8px; text-align: right;
  min-width: 3.2em; }
table.cm thead th, table.cm tbody th { background: var(--soft); font-weight: 600;
  max-width: 12em; overflow-wrap: anywhere; }
table.cm tbody th { text-align: left; }
table.cm td.total { background: #fff; color: var(--muted); border-left: 2px solid var(--line); }
table.cm .corner { font-weight: 400; color: var(--muted); font-size: .8rem; text-align: left; }
.sample { border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px 12px;
  margin: 0 0 14px; break-inside: avoid; }
.sample header { display: flex; flex-wrap: wrap; gap: 8px; align-items: baseline;
  margin-bottom: 6px; }
.sample header h3 { margin: 0; font-size: 1rem; }
.tag { display: inline-block; font-size: .78rem; font-weight: 600; padding: 1px 7px;
  border-radius: 10px; background: var(--soft); color: var(--muted); }
.tag.disagree { background: var(--warn-bg); color: var(--warn); }
.tag.error { background: var(--bad-bg); color: var(--bad); }
.label { font-size: .8rem; color: var(--muted); text-transform: uppercase;
  letter-spacing: .04em; margin: 6px 0 2px; }
.text { white-space: pre-wrap; overflow-wrap: anywhere; background: var(--soft);
  border-radius: 6px; padding: 6px 9px; margin: 0; max-height: 16em; overflow-y: auto; }
.msg { margin: 0 0 4px; }
.role { font-weight: 600; color: var(--muted); margin-right: 4px; }
.outputs { display: grid; grid-template-columns: repeat(auto-fit, minmax(230px, 1fr));
  gap: 10px; margin-top: 8px; }
.out { border: 1px solid var(--line); border-left-width: 5px; border-radius: 6px;
  padding: 6px 10px 8px; }
.out h4 { margin: 0 0 4px; font-size: .95rem; display: flex; justify-content: space-between;
  gap: 8px; align-items: baseline; }
.out.correct { border-left-color: var(--good); }
.out.incorrect { border-left-color: var(--bad); }
.out.invalid { border-left-color: #bf8700; }
.out.error { border-left-color: var(--err); background: #fafbfc; }
.verdict { font-size: .8rem; font-weight: 700; padding: 1px 7px; border-radius: 10px;
  white-space: nowrap; }
.out.correct .verdict { background: var(--good-bg); color: var(--good); }
.out.incorrect .verdict { background: var(--bad-bg); color: var(--bad); }
.out.invalid .verdict { background: var(--warn-bg); color: var(--warn); }
.out.error .verdict { background: var(--err-bg); color: var(--err); }
.out.answered .verdict { background: var(--soft); color: var(--muted); }
.pred { margin: 2px 0 4px; font-weight: 600; overflow-wrap: anywhere; }
.sig { font-weight: 700; color: var(--good); }
.nosig { color: var(--muted); }
footer { margin-top: 40px; font-size: .85rem; color: var(--muted); }
@media print {
  html { font-size: 11pt; }
  main { max-width: none; padding: 0; }
  nav.toc { display: none; }
  h2 { break-after: avoid; }
  table, figure, .sample { break-inside: avoid; }
  .text { max-height: none; overflow: visible; }
  .scroll { overflow: visible; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""
