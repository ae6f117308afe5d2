"""The report page's stylesheet (inline in the page: it loads nothing from anywhere)."""

CSS = """
:root {
  --pass: #1a7f37; --pass-bg: #dafbe1; --fail: #cf222e; --fail-bg: #ffebe9;
  --warn: #9a6700; --warn-bg: #fff8c5; --error: #8250df; --error-bg: #fbefff;
  --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; --panel: #f6f8fa;
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0; color: var(--ink); background: #fff;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", "Liberation Sans", sans-serif;
}
main { max-width: 1080px; margin: 0 auto; padding: 28px 32px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; letter-spacing: -0.01em; }
h2 { font-size: 19px; margin: 36px 0 12px; padding-bottom: 6px;
  border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 20px 0 8px; }
p { margin: 6px 0; }
code, .mono { font-family: ui-monospace, "DejaVu Sans Mono", "Liberation Mono", Menlo, monospace;
  font-size: 13px; overflow-wrap: anywhere; }
.muted { color: var(--muted); }
header.summary { display: grid; grid-template-columns: auto 1fr; gap: 8px 24px;
  align-items: center; }
.verdict { font-size: 34px; font-weight: 800; letter-spacing: 0.06em; padding: 10px 22px;
  border-radius: 10px; border: 3px solid currentColor; text-align: center; }
.verdict-passed { color: var(--pass); background: var(--pass-bg); }
.verdict-failed { color: var(--fail); background: var(--fail-bg); }
.verdict-error { color: var(--error); background: var(--error-bg); }
.tally { font-size: 16px; margin-top: 6px; }
.signature { display: inline-block; margin-top: 6px; padding: 2px 10px; border-radius: 999px;
  font-size: 13px; border: 1px solid var(--line); background: var(--panel); }
.signature.unsigned { color: var(--warn); background: var(--warn-bg); border-color: #d4a72c; }
.drill-error { margin: 16px 0 0; padding: 12px 16px; border-left: 5px solid var(--error);
  background: var(--error-bg); font-weight: 600; }
.objectives { display: grid; grid-template-columns: repeat(auto-fill, minmax(230px, 1fr));
  gap: 12px; margin: 20px 0 4px; }
.objective { border: 1px solid var(--line); border-left: 6px solid var(--muted); border-radius: 8px;
  padding: 10px 14px; background: #fff; break-inside: avoid; }
.objective .what { font-size: 13px; color: var(--muted); overflow-wrap: anywhere; }
.objective .figure { font-size: 23px; font-weight: 700; margin: 2px 0; }
.objective .verdict-line { font-weight: 600; }
.objective.met { border-left-color: var(--pass); }
.objective.met .verdict-line { color: var(--pass); }
.objective.missed { border-left-color: var(--fail); }
.objective.missed .verdict-line, .objective.missed .figure { color: var(--fail); }
.objective.unmeasured { border-left-color: var(--warn); background: #fffdf0; }
.objective.unmeasured .verdict-line, .objective.unmeasured .figure { color: var(--warn); }
.attention { margin: 14px 0 0; padding: 0; list-style: none; }
.attention li { margin: 4px 0; }
.badge { display: inline-block; min-width: 64px; text-align: center; padding: 1px 8px;
  border-radius: 999px; font-size: 12px; font-weight: 700; text-transform: uppercase;
  letter-spacing: 0.04em; }
.badge-passed { color: var(--pass); background: var(--pass-bg); }
.badge-failed { color: var(--fail); background: var(--fail-bg); }
.badge-warning { color: var(--warn); background: var(--warn-bg); }
.badge-error { color: var(--error); background: var(--error-bg); }
figure.chart { margin: 14px 0 22px; padding: 12px 14px; border: 1px solid var(--line);
  border-radius: 8px; break-inside: avoid; }
figure.chart figcaption { font-weight: 600; margin-bottom: 6px; }
figure.chart svg { display: block; width: 100%; height: auto; }
.no-data { margin: 8px 0; padding: 18px; text-align: center; color: var(--muted);
  background: var(--panel); border-radius: 6px; font-style: italic; }
.legend { font-size: 13px; color: var(--muted); }
.legend span::before { content: ""; display: inline-block; width: 10px; height: 10px;
  margin: 0 4px 0 12px; border-radius: 2px; background: currentColor; vertical-align: -1px; }
.legend .passed { color: var(--pass); } .legend .failed { color: var(--fail); }
.legend .warning { color: var(--warn); } .legend .error { color: var(--error); }
table { border-collapse: collapse; width: 100%; margin: 8px 0 16px; font-size: 14px; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line);
  vertical-align: top; overflow-wrap: anywhere; }
th { background: var(--panel); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.facts th { width: 200px; }
details.check { border: 1px solid var(--line); border-radius: 8px; margin: 8px 0;
  break-inside: avoid; }
details.check > summary { cursor: pointer; padding: 8px 12px; list-style-position: inside; }
details.check[open] > summary { border-bottom: 1px solid var(--line); background: var(--panel); }
details.check .body { padding: 6px 14px 10px; }
details.check.failed { border-left: 5px solid var(--fail); }
details.check.error { border-left: 5px solid var(--error); }
details.check.warning { border-left: 5px solid var(--warn); }
.check-name { font-weight: 600; }
pre { margin: 0; white-space: pre-wrap; overflow-wrap: anywhere;
  font: 12px/1.45 ui-monospace, "DejaVu Sans Mono", "Liberation Mono", Menlo, monospace; }
footer { margin-top: 40px; font-size: 12px; color: var(--muted); }
@media (max-width: 720px) {
  main { padding: 16px; } header.summary { grid-template-columns: 1fr; }
}
@media print {
  @page { margin: 14mm; }
  body { font-size: 11pt; } main { max-width: none; padding: 0; }
  h2 { break-after: avoid; } figure.chart, .objective, details.check { break-inside: avoid; }
  .verdict, .badge, .objective { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""
