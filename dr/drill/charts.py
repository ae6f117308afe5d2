"""The report's charts: inline SVG drawn by pygal from the report's JSON payload.

Each chart is a ``<figure class="chart" data-chart="NAME">`` holding one ``<svg>``; when there
is nothing to draw, the figure holds a ``<p class="no-data">`` saying why instead. pygal
embeds no script here (its config script is dropped: the page's CSP allows none) and its
CSS is written inline, so the page needs nothing from the network. Text from the payload
reaches the SVG through pygal's XML serializer, which escapes it.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import Any
from xml.etree.ElementTree import Element

import pygal
from pygal.style import Style

from dr.drill.units import MB, duration, parse_time, time_unit

PASS, FAIL, WARN, ERROR, INK, MUTED = (
    "#1a7f37",
    "#cf222e",
    "#9a6700",
    "#8250df",
    "#1f2328",
    "#59636e",
)
OUTCOME_COLOURS = {"passed": PASS, "failed": FAIL, "warning": WARN, "error": ERROR}
_FONT = 'system-ui, -apple-system, "Segoe UI", "DejaVu Sans", "Liberation Sans", sans-serif'
_WIDTH = 960

STYLE = Style(
    background="transparent",
    plot_background="#ffffff",
    foreground=INK,
    foreground_strong=INK,
    foreground_subtle="#d1d9e0",
    font_family=_FONT,
    label_font_size=12,
    major_label_font_size=12,
    value_font_size=11,
    value_label_font_size=11,
    title_font_size=15,
    legend_font_size=12,
    opacity=".85",
    opacity_hover=".95",
    stroke_width="2",
    transition="0ms",
    colors=("#0969da", "#bc4c00", "#1a7f37", "#8250df", "#bf3989", "#1b7c83", "#9a6700"),
    guide_stroke_color="#d1d9e0",
    major_guide_stroke_color="#afb8c1",
)

# The RPO charts: the measured series in blue, the objective line in the colour of a failure.
OBJECTIVE_STYLE = Style(**{**STYLE.to_dict(), "colors": ("#0969da", FAIL)})


def figure(name: str, caption: str, svg: str | None, *, empty: str, subject: str = "") -> str:
    """The figure of one chart: its svg, or the reason there is none (``no data: ...``)."""
    subject_attr = f' data-subject="{html.escape(subject)}"' if subject else ""
    body = svg if svg is not None else f'<p class="no-data">no data: {html.escape(empty)}</p>'
    empty_class = "" if svg is not None else " chart-empty"
    return (
        f'<figure class="chart{empty_class}" data-chart="{html.escape(name)}"{subject_attr}>'
        f"<figcaption>{html.escape(caption)}</figcaption>{body}</figure>"
    )


def timeline(steps: Sequence[dict[str, Any]], drill_started_at: str) -> str:
    """The drill's steps as a Gantt chart: one bar per step from its start to its end,
    coloured by outcome, against the time since the drill started."""
    caption = "Timeline of the drill"
    if not steps:
        return figure("timeline", caption, None, empty="the drill recorded no steps")
    origin = parse_time(drill_started_at)
    rows = list(reversed(steps))  # pygal draws the first label at the bottom
    starts = [(parse_time(s["started_at"]) - origin).total_seconds() for s in rows]
    ends = [(parse_time(s["finished_at"]) - origin).total_seconds() for s in rows]
    unit, scale = time_unit(max(ends))
    chart = _chart(
        pygal.HorizontalStackedBar,
        height=100 + 30 * len(rows),
        show_legend=False,
        print_values=True,
        x_labels=[f"{s['scenario']} · {s['name']}" for s in rows],
        truncate_label=48,
        y_title=f"{unit} since the drill started",
        value_formatter=_number,
    )
    chart.add(
        "waiting",
        [{"value": a / scale, "color": "transparent", "formatter": _blank} for a in starts],
    )
    chart.add(
        "step",
        [
            {
                "value": max(b - a, 0.0) / scale,
                "color": OUTCOME_COLOURS.get(str(s["outcome"]), MUTED),
                "formatter": _seconds_as(scale),
            }
            for a, b, s in zip(starts, ends, rows, strict=True)
        ],
    )
    return figure("timeline", caption, _svg(chart), empty="")


def rpo_history(history: Sequence[dict[str, Any]], kind: str, noun: str) -> list[str]:
    """One chart per subject of kind (rpo-flow, rpo-job): its RPO over time, and its
    objective drawn as a dashed line."""
    series = [s for s in history if s.get("kind") == kind]
    if not series:
        caption = f"RPO history per {noun}"
        return [figure(kind, caption, None, empty=f"this drill read no {noun}'s RPO history")]
    return [_rpo_chart(s, kind, noun) for s in series]


def _rpo_chart(series: dict[str, Any], kind: str, noun: str) -> str:
    subject = str(series["subject"])
    target = float(series["target_seconds"])
    caption = f"RPO of {noun} {subject} (objective {duration(target)})"
    points = [(parse_time(p["at"]), float(p["value"])) for p in series.get("points", [])]
    if not points:
        return figure(
            kind, caption, None, subject=subject, empty=f"no RPO sample of {noun} {subject} kept"
        )
    unit, scale = time_unit(max(target, *(v for _, v in points)))
    first, last = min(t for t, _ in points), max(t for t, _ in points)
    chart = _chart(
        pygal.DateTimeLine,
        height=300,
        style=OBJECTIVE_STYLE,
        x_value_formatter=lambda at: at.strftime("%m-%d %H:%M"),
        value_formatter=_number,
        y_title=f"RPO ({unit})",
        x_label_rotation=20,
        include_x_axis=True,
        show_dots=len(points) <= 60,
        dots_size=2,
        legend_at_bottom=True,
    )
    chart.add(f"RPO of {subject}", [(t, v / scale) for t, v in points])
    chart.add(
        f"objective {duration(target)}",
        [(first, target / scale), (last, target / scale)],
        stroke_style={"width": 2, "dasharray": "8,5"},
        show_dots=False,
    )
    return figure(kind, caption, _svg(chart), subject=subject, empty="")


def throughput(rows: Sequence[dict[str, Any]]) -> str:
    """Records per second of each restore the drill timed (MB per second written beside)."""
    caption = "Restore throughput (records per second)"
    if not rows:
        return figure(
            "throughput", caption, None, empty="no restore was timed (backup-restore did not run)"
        )
    ordered = list(reversed(rows))  # pygal draws the first label at the bottom
    chart = _chart(
        pygal.HorizontalBar,
        height=110 + 44 * len(rows),
        x_labels=[f"{r['job']} · {r['backup_id']}" for r in ordered],
        truncate_label=40,
        print_values=True,
        show_legend=False,
        value_formatter=_number,
    )
    chart.add(
        "records/s",
        [
            {
                "value": float(r["records_per_s"]),
                "formatter": lambda v, _mb=float(r["bytes_per_s"]) / MB: (
                    f"{v:,.0f} records/s · {_mb:,.1f} MB/s"
                ),
            }
            for r in ordered
        ],
    )
    return figure("throughput", caption, _svg(chart), empty="")


def objective_trend(past: Sequence[dict[str, Any]], current: dict[str, Any], kind: str) -> str:
    """The worst measured figure of kind (rto, rpo) of each past drill and of this one,
    oldest first; a drill that measured none leaves a gap (never a zero)."""
    name, label = f"{kind}-trend", kind.upper()
    caption = f"Worst {label} of each drill"
    if not past:
        return figure(name, caption, None, empty="no earlier drill of this name")
    drills = [*sorted(past, key=lambda d: str(d["finished_at"])), current]
    values = [_optional(d.get(f"{kind}_seconds")) for d in drills]
    if all(v is None for v in values):
        return figure(name, caption, None, empty=f"no drill of this name measured its {label}")
    unit, scale = time_unit(max(v for v in values if v is not None))
    chart = _chart(
        pygal.Line,
        height=280,
        x_labels=[_trend_label(d) for d in drills],
        x_label_rotation=20,
        value_formatter=_number,
        y_title=f"{label} ({unit})",
        show_legend=False,
        allow_interruptions=True,
        include_x_axis=True,
        print_values=True,
    )
    chart.add(
        f"worst {label}",
        [
            None if v is None else {"value": v / scale, "formatter": _seconds_as(scale)}
            for v in values
        ],
        dots_size=4,
    )
    return figure(name, caption, _svg(chart), empty="")


def _seconds_as(scale: float) -> Callable[[float], str]:
    return lambda v: duration(v * scale)


def _trend_label(drill: dict[str, Any]) -> str:
    when = parse_time(str(drill["finished_at"])).strftime("%Y-%m-%d")
    mark = {"passed": "✓", "failed": "✗", "error": "!"}.get(str(drill.get("outcome")), "?")
    return f"{mark} {when}"


def _optional(value: Any) -> float | None:
    return None if value is None else float(value)


def _blank(_: float) -> str:
    return ""


def _number(value: float) -> str:
    return f"{value:,.4g}"


def _chart(kind: Callable[..., Any], *, height: int, style: Style = STYLE, **options: Any) -> Any:
    chart = kind(
        js=[],
        disable_xml_declaration=True,
        style=style,
        width=_WIDTH,
        height=height,
        margin=12,
        spacing=10,
        **options,
    )
    return chart.add_xml_filter(_without_scripts)


def _svg(chart: Any) -> str:
    return str(chart.render(is_unicode=True))


def _without_scripts(root: Element) -> Element:
    """The SVG tree without pygal's <script> elements (they only feed its optional JS)."""
    for parent in list(root.iter()):
        for child in [c for c in parent if _local_name(c.tag) == "script"]:
            parent.remove(child)
    return root


def _local_name(tag: Any) -> str:
    return str(tag).rsplit("}", 1)[-1]
