"""The drill report as one self-contained HTML page, rendered from the JSON payload alone.

The page loads nothing: its CSS is inline, its charts are inline SVG (dr.drill.charts), it
runs no script, and its Content-Security-Policy forbids anything else. Every string from
the payload is escaped (topic names and error messages are not ours). Reading order: the
verdict and the objectives a manager reads in ten seconds, then the timeline, the charts,
each check with its evidence, and the facts that tie the report to what it ran against.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape
from typing import Any

from dr.drill import charts
from dr.drill.page_css import CSS
from dr.drill.units import duration, parse_time, size, when

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
REPORT_SHA256_META = "kafka-dr-report-sha256"
_OBJECTIVE_KINDS = {"rpo": "RPO", "rto": "RTO"}


def render_html(payload: dict[str, Any], *, report_sha256: str, signed: str) -> str:
    """The page of a report payload (``DrillReport.to_dict()``); report_sha256 is the
    payload's digest it carries in ``<meta name="kafka-dr-report-sha256">``, signed the line
    that says whether (and by which key) the evidence is signed."""
    outcome = str(payload["outcome"])
    title = f"DR drill {payload['drill']} {payload['drill_id']}: {outcome.upper()}"
    sections = [
        _summary(payload, signed),
        _timeline(payload),
        _history(payload),
        _throughput(payload),
        _trend(payload),
        _checks(payload),
        _facts(payload, report_sha256=report_sha256, signed=signed),
    ]
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="{REPORT_SHA256_META}" content="{escape(report_sha256)}">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head>\n"
        f"<body><main>\n{''.join(sections)}\n"
        f"<footer>kafka-dr {escape(str(payload['kafka_dr_version']))} · report "
        f'<span class="mono">{escape(report_sha256)}</span> · {escape(signed)}</footer>'
        "</main></body></html>\n"
    )


def _summary(payload: dict[str, Any], signed: str) -> str:
    outcome = str(payload["outcome"])
    took = (parse_time(payload["finished_at"]) - parse_time(payload["started_at"])).total_seconds()
    unsigned = " unsigned" if signed.startswith("unsigned") else ""
    error = payload.get("error")
    lines = [
        '<header class="summary">',
        f'<div class="verdict verdict-{escape(outcome)}">{escape(outcome.upper())}</div>',
        f"<div><h1>DR drill {escape(str(payload['drill']))}</h1>",
        f'<p class="muted">{escape(when(payload["started_at"]))} · took {duration(took)} · '
        f"scenarios: {escape(', '.join(payload['scenarios']))}</p>",
        f'<p class="tally">{_tally(payload)}</p>',
        f'<span class="signature{unsigned}">{escape(signed)}</span></div>',
        "</header>",
    ]
    if error:
        lines.append(f'<p class="drill-error">The drill could not run: {escape(str(error))}</p>')
    lines.append(_objective_cards(payload["objectives"]))
    lines.append(_attention(payload["checks"]))
    return "\n".join(lines)


def _tally(payload: dict[str, Any]) -> str:
    objectives = payload["objectives"]
    met = sum(1 for o in objectives if o["met"] is True)
    missed = sum(1 for o in objectives if o["met"] is False)
    unmeasured = sum(1 for o in objectives if o["met"] is None)
    parts = [f"<strong>Objectives</strong>: {met} met, {missed} missed, {unmeasured} unmeasured"]
    counts: dict[str, int] = {}
    for check in payload["checks"]:
        counts[check["outcome"]] = counts.get(check["outcome"], 0) + 1
    found = ", ".join(f"{n} {escape(str(o))}" for o, n in counts.items()) or "none"
    parts.append(f"<strong>Checks</strong>: {found}")
    return " · ".join(parts)


def _objective_cards(objectives: Sequence[dict[str, Any]]) -> str:
    if not objectives:
        return '<p class="muted">This drill measured no objective.</p>'
    return (
        '<section class="objectives">'
        + "".join(_objective_card(o) for o in objectives)
        + "</section>"
    )


def _objective_card(objective: dict[str, Any]) -> str:
    kind = _OBJECTIVE_KINDS.get(str(objective["kind"]), str(objective["kind"]))
    target = float(objective["target_seconds"])
    measured = objective["measured_seconds"]
    if measured is None:
        state, figure = "unmeasured", "unmeasured"
        verdict = f"unmeasured: {objective.get('unmeasured') or 'no reason recorded'}"
    else:
        state = "met" if objective["met"] else "missed"
        figure = duration(float(measured))
        verdict = "met" if objective["met"] else f"missed by {duration(float(measured) - target)}"
    how = objective.get("how")
    return (
        f'<div class="objective {state}">'
        f'<div class="what">{escape(kind)} · {escape(str(objective["scenario"]))} · '
        f"{escape(str(objective['subject']))}</div>"
        f'<div class="figure">{escape(figure)}</div>'
        f'<div class="muted">target {duration(target)}</div>'
        f'<div class="verdict-line">{escape(verdict)}</div>'
        + (f'<div class="what">{escape(str(how))}</div>' if how else "")
        + "</div>"
    )


def _attention(checks: Sequence[dict[str, Any]]) -> str:
    flagged = [(i, c) for i, c in enumerate(checks) if c["outcome"] != "passed"]
    if not flagged:
        return ""
    items = "".join(
        f'<li>{_badge(c["outcome"])} <a href="#check-{i}">{escape(str(c["name"]))}</a> '
        f"({escape(str(c['subject']))}): {escape(str(c['summary']))}</li>"
        for i, c in flagged
    )
    return f'<h3>Needs attention</h3><ul class="attention">{items}</ul>'


def _timeline(payload: dict[str, Any]) -> str:
    legend = "".join(
        f'<span class="{o}">{o}</span>' for o in ("passed", "failed", "warning", "error")
    )
    return (
        '<h2 id="timeline">Timeline</h2>'
        + charts.timeline(payload["steps"], payload["started_at"])
        + f'<p class="legend">Step outcome:{legend}</p>'
    )


def _history(payload: dict[str, Any]) -> str:
    history = payload["history"]
    flows = charts.rpo_history(history, "rpo-flow", "flow")
    jobs = charts.rpo_history(history, "rpo-job", "job")
    return '<h2 id="rpo-history">RPO history</h2>' + "".join(flows) + "".join(jobs)


def _throughput(payload: dict[str, Any]) -> str:
    rows = payload["throughput"]
    table = _table(
        ["job", "backup", "records", "bytes", "seconds", "records/s", "MB/s"],
        [
            [
                escape(str(r["job"])),
                f'<span class="mono">{escape(str(r["backup_id"]))}</span>',
                f"{int(r['records']):,}",
                size(float(r["bytes"])),
                f"{float(r['seconds']):.1f}",
                f"{float(r['records_per_s']):,.0f}",
                f"{float(r['bytes_per_s']) / 1e6:,.1f}",
            ]
            for r in rows
        ],
        numeric=(2, 3, 4, 5, 6),
    )
    return (
        '<h2 id="throughput">Restore throughput</h2>'
        + charts.throughput(rows)
        + (table if rows else "")
    )


def _trend(payload: dict[str, Any]) -> str:
    current = {
        "drill_id": payload["drill_id"],
        "finished_at": payload["finished_at"],
        "outcome": payload["outcome"],
        "rto_seconds": _worst(payload["objectives"], "rto"),
        "rpo_seconds": _worst(payload["objectives"], "rpo"),
    }
    past = payload["past_drills"]
    rows = [
        [
            f'<span class="mono">{escape(str(d["drill_id"]))}</span>',
            escape(when(str(d["finished_at"]))),
            _badge(d["outcome"]),
            _optional_duration(d.get("rto_seconds")),
            _optional_duration(d.get("rpo_seconds")),
        ]
        for d in [*past, current]
    ]
    table = _table(["drill", "finished", "outcome", "worst RTO", "worst RPO"], rows, numeric=(3, 4))
    trends = charts.objective_trend(past, current, "rto") + charts.objective_trend(
        past, current, "rpo"
    )
    return '<h2 id="drill-history">Drill history</h2>' + trends + table


def _worst(objectives: Sequence[dict[str, Any]], kind: str) -> float | None:
    measured = [
        float(o["measured_seconds"])
        for o in objectives
        if o["kind"] == kind and o["measured_seconds"] is not None
    ]
    return max(measured) if measured else None


def _optional_duration(seconds: Any) -> str:
    return "unmeasured" if seconds is None else duration(float(seconds))


def _checks(payload: dict[str, Any]) -> str:
    checks = list(enumerate(payload["checks"]))
    if not checks:
        return '<h2 id="checks">Checks</h2><p class="muted">No check ran.</p>'
    order = list(payload["scenarios"]) + sorted({str(c["scenario"]) for _, c in checks})
    parts = ['<h2 id="checks">Checks</h2>']
    for scenario in dict.fromkeys(order):
        mine = [(i, c) for i, c in checks if c["scenario"] == scenario]
        if mine:
            parts.append(f"<h3>{escape(scenario)}</h3>")
            parts.extend(_check(i, c) for i, c in mine)
    return "\n".join(parts)


def _check(index: int, check: dict[str, Any]) -> str:
    outcome = str(check["outcome"])
    is_open = " open" if outcome in ("failed", "error") else ""
    facts = [
        ["ran", f"{escape(when(check['started_at']))} → {escape(when(check['finished_at']))}"],
        *[[f"input: {escape(str(k))}", _value(v)] for k, v in check.get("inputs", {}).items()],
        *[[escape(str(k)), _value(v)] for k, v in check.get("evidence", {}).items()],
    ]
    return (
        f'<details class="check {escape(outcome)}" id="check-{index}"{is_open}><summary>'
        f'{_badge(outcome)} <span class="check-name">{escape(str(check["name"]))}</span> '
        f'<span class="muted">{escape(str(check["subject"]))}</span> · '
        f"{escape(str(check['summary']))}</summary>"
        f'<div class="body">{_table(["", ""], facts, header=False, css="facts")}</div></details>'
    )


def _value(value: Any) -> str:
    if isinstance(value, dict | list):
        return f"<pre>{escape(json.dumps(value, indent=2, ensure_ascii=False))}</pre>"
    if value is None:
        return '<span class="muted">none</span>'
    return escape(str(value))


def _facts(payload: dict[str, Any], *, report_sha256: str, signed: str) -> str:
    trigger = payload["trigger"]
    facts = [
        ["drill", escape(f"{payload['drill']} (id {payload['drill_id']})")],
        ["started", escape(when(payload["started_at"]))],
        ["finished", escape(when(payload["finished_at"]))],
        [
            "trigger",
            escape(f"{trigger['kind']} by {trigger['user']}@{trigger['host']}: ")
            + f"<code>{escape(str(trigger['command']))}</code>",
        ],
        ["config sha256", f'<span class="mono">{escape(str(payload["config_sha256"]))}</span>'],
        ["kafka-dr", escape(str(payload["kafka_dr_version"]))],
        ["report sha256", f'<span class="mono">{escape(report_sha256)}</span>'],
        ["signature", escape(signed)],
        [
            "to verify",
            f"<code>kafka-dr drill verify-report drill-{escape(str(payload['drill_id']))}.json"
            " [--public-key PEM]</code> (checks this page too)",
        ],
    ]
    parts = ['<h2 id="evidence">Evidence</h2>', _table(["", ""], facts, header=False, css="facts")]
    parts.append("<h3>Clusters</h3>" + _clusters(payload["clusters"]))
    parts.append("<h3>Backups</h3>" + _backups(payload["backups"]))
    cleanup = payload.get("cleanup") or []
    items = "".join(f"<li><code>{escape(str(c))}</code></li>" for c in cleanup)
    parts.append(
        "<h3>Cleaned up</h3>"
        + (f"<ul>{items}</ul>" if cleanup else '<p class="muted">Nothing left to clean up.</p>')
    )
    return "\n".join(parts)


def _clusters(clusters: Sequence[dict[str, Any]]) -> str:
    if not clusters:
        return '<p class="muted">No cluster was involved.</p>'
    rows = [
        [
            escape(str(c["name"])),
            f'<span class="mono">{escape(str(c["cluster_id"]))}</span>'
            if c["cluster_id"]
            else '<span class="muted">unknown: the cluster could not be asked</span>',
            f'<span class="mono">{escape(str(c["bootstrap_servers"]))}</span>',
        ]
        for c in clusters
    ]
    return _table(["cluster", "cluster id", "bootstrap servers"], rows)


def _backups(backups: Sequence[dict[str, Any]]) -> str:
    if not backups:
        return '<p class="muted">No backup was involved.</p>'
    rows = [
        [
            escape(str(b["job"])),
            f'<span class="mono">{escape(str(b["backup_id"]))}</span>',
            f'<span class="mono">{escape(str(b["manifest_sha256"]))}</span>',
            f"{int(b['records']):,}",
            size(float(b["bytes"])),
            escape(when(str(b["finished_at"]))),
        ]
        for b in backups
    ]
    headers = ["job", "backup", "manifest sha256", "records", "bytes", "finished"]
    return _table(headers, rows, numeric=(3, 4))


def _badge(outcome: Any) -> str:
    text = escape(str(outcome))
    return f'<span class="badge badge-{text}">{text}</span>'


def _table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    numeric: Sequence[int] = (),
    header: bool = True,
    css: str = "",
) -> str:
    """A table of cells that are already HTML (every caller escapes what it puts in)."""

    def cell(tag: str, i: int, content: str) -> str:
        return (
            f'<{tag} class="num">{content}</{tag}>' if i in numeric else f"<{tag}>{content}</{tag}>"
        )

    head = "<tr>" + "".join(cell("th", i, escape(h)) for i, h in enumerate(headers)) + "</tr>"
    if not header:  # a table of facts: the first cell of each row is its heading
        body = "".join(f"<tr><th>{r[0]}</th><td>{r[1]}</td></tr>" for r in rows)
        return f'<table class="{css}">{body}</table>'
    body = "".join(
        "<tr>" + "".join(cell("td", i, c) for i, c in enumerate(r)) + "</tr>" for r in rows
    )
    return f'<table class="{css}"><thead>{head}</thead><tbody>{body}</tbody></table>'
