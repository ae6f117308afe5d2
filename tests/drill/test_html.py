"""The report page: what it says, what it escapes, and that it loads nothing."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

from drill_sample import sample_report

from dr.drill.html import render_html
from dr.drill.model import (
    Check,
    ClusterRef,
    DrillReport,
    Objective,
    Series,
    SeriesPoint,
    Throughput,
)

HOSTILE = "<script>alert(1)</script>"
SIGNED = "signed: ed25519 key 0123456789abcdef"
ALL_CHARTS = {"timeline", "rpo-flow", "rpo-job", "throughput", "rto-trend", "rpo-trend"}


def page_of(report: DrillReport, *, signed: str = SIGNED) -> str:
    return render_html(report.to_dict(), report_sha256="ab" * 32, signed=signed)


@dataclass
class Figure:
    name: str
    subject: str | None
    classes: str
    svg_shapes: int = 0  # <path>/<rect> elements drawn inside the svg
    svgs: int = 0
    text: list[str] = field(default_factory=list)


class Figures(HTMLParser):
    """Every <figure class="chart"> of a page, with what is inside it."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.figures: list[Figure] = []
        self._depth = 0
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "figure" and "chart" in (values.get("class") or "").split():
            self.figures.append(
                Figure(
                    str(values.get("data-chart")), values.get("data-subject"), values["class"] or ""
                )
            )
            self._depth = 1
        elif tag == "figure" and self._depth:
            self._depth += 1
        elif self._depth and tag == "svg":
            self.figures[-1].svgs += 1
        elif self._depth and tag in ("path", "rect") and (values.get("d") or values.get("width")):
            self.figures[-1].svg_shapes += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure" and self._depth:
            self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._depth and data.strip():
            self.figures[-1].text.append(data.strip())


def test_every_chart_is_a_figure_with_a_drawn_svg() -> None:
    figures = Figures(page_of(sample_report())).figures

    assert {f.name for f in figures} == ALL_CHARTS
    for figure in figures:
        assert figure.svgs == 1, figure.name
        assert figure.svg_shapes > 3, figure.name
        assert "chart-empty" not in figure.classes
    assert [(f.name, f.subject) for f in figures if f.name.startswith("rpo-") and f.subject] == [
        ("rpo-flow", "primary->dr"),
        ("rpo-job", "orders"),
        ("rpo-job", "payments"),
    ]


def test_a_chart_with_no_data_says_why_instead_of_drawing_nothing() -> None:
    report = sample_report(steps=(), history=(), throughput=(), past_drills=())

    figures = Figures(page_of(report)).figures

    assert {f.name for f in figures} == ALL_CHARTS
    for figure in figures:
        assert figure.svgs == 0, figure.name
        assert "chart-empty" in figure.classes.split()
        assert len(figure.text) == 2  # its caption, then the reason
        assert figure.text[1].startswith("no data: "), figure.text
    reasons = {f.name: f.text[1] for f in figures}
    assert reasons["throughput"] == "no data: no restore was timed (backup-restore did not run)"
    assert reasons["rto-trend"] == "no data: no earlier drill of this name"


def test_a_series_without_points_says_so_under_its_subject() -> None:
    report = sample_report(history=(Series("rpo-flow", "primary->dr", 60.0, ()),))

    flows = [f for f in Figures(page_of(report)).figures if f.name == "rpo-flow"]

    assert len(flows) == 1 and flows[0].svgs == 0
    assert flows[0].subject == "primary->dr"
    assert flows[0].text[-1] == "no data: no RPO sample of flow primary->dr kept"


def test_the_page_escapes_a_hostile_topic_name_everywhere() -> None:
    report = sample_report(
        checks=(
            Check(
                "mirror",
                HOSTILE,
                HOSTILE,
                "failed",
                HOSTILE,
                "2026-12-01T04:00:10Z",
                "2026-12-01T04:00:11Z",
                inputs={HOSTILE: HOSTILE},
                evidence={"topics": [HOSTILE]},
            ),
        ),
        objectives=(Objective("mirror", "rpo", HOSTILE, 60.0, None, unmeasured=HOSTILE),),
        clusters=(ClusterRef(HOSTILE, HOSTILE, HOSTILE),),
        history=(Series("rpo-job", HOSTILE, 60.0, (SeriesPoint("2026-12-01T03:00:00Z", 5.0),)),),
        throughput=(Throughput(HOSTILE, HOSTILE, 10, 10, 1.0),),
        cleanup=(HOSTILE,),
        error=HOSTILE,
        drill=HOSTILE,
    )

    page = page_of(report, signed=f"unsigned: no drills.{HOSTILE}.signing_key configured")

    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "alert(1)</" not in page


def test_the_page_loads_nothing_and_runs_no_script() -> None:
    page = page_of(sample_report())

    assert (
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">" in page
    )
    assert "<script" not in page and "<link" not in page and "@import" not in page
    assert "url(" not in page
    assert re.findall(r"\s(?:src|href|xlink:href)=\"([^\"]*)\"", page) == [
        "#check-2",
        "#check-4",
        "#check-7",
    ]  # only the links from "Needs attention" down to its checks


def test_the_page_carries_the_report_sha256_in_its_head() -> None:
    page = page_of(sample_report())

    head = page.split("</head>")[0]
    assert f'<meta name="kafka-dr-report-sha256" content="{"ab" * 32}">' in head


def test_an_unmeasured_objective_reads_unmeasured_with_its_reason_never_zero() -> None:
    report = sample_report(
        objectives=(
            Objective(
                "backup-restore", "rto", "payments", 900.0, None, unmeasured="restore stopped"
            ),
        ),
        past_drills=(),
    )

    page = page_of(report)

    card = re.search(r'<div class="objective unmeasured">(.*?)</div></div>', page)
    assert card is not None
    assert '<div class="figure">unmeasured</div>' in card.group(1)
    assert "unmeasured: restore stopped" in card.group(1)
    assert not re.search(r">\s*0(\.0)?\s*(ms|s)?\s*<", card.group(1))
    assert "0 met, 0 missed, 1 unmeasured" in page
    assert re.search(r"<td class=\"num\">unmeasured</td>", page)  # this drill's trend row


def test_the_verdict_and_the_objectives_come_before_any_chart() -> None:
    page = page_of(sample_report())

    verdict = page.index('<div class="verdict verdict-failed">FAILED</div>')
    objectives = page.index('<section class="objectives">')
    assert verdict < objectives < page.index("<figure")
    assert '<div class="objective missed">' in page
    assert "missed by 12.5 s" in page
    assert page.count('<div class="objective met">') == 2


def test_a_passed_drill_says_passed_in_green() -> None:
    page = page_of(sample_report(outcome="passed"))

    assert '<div class="verdict verdict-passed">PASSED</div>' in page
    assert "--pass: #1a7f37" in page


def test_a_drill_that_could_not_run_says_why_at_the_top() -> None:
    page = page_of(sample_report(outcome="error", error="cluster dr unreachable"))

    assert page.index("The drill could not run: cluster dr unreachable") < page.index("<figure")


def test_failed_checks_are_open_and_passed_ones_collapsed() -> None:
    page = page_of(sample_report())

    details = re.findall(r'<details class="check (\w+)" id="check-\d+"( open)?>', page)
    assert len(details) == 9
    assert all((outcome in ("failed", "error")) == bool(is_open) for outcome, is_open in details)


def test_a_check_shows_its_inputs_and_evidence() -> None:
    page = page_of(sample_report())

    section = page.split('id="check-2"')[1].split("</details>")[0]
    assert "<th>input: sample_records</th><td>50</td>" in section
    assert "<th>offset</th><td>4711</td>" in section
    assert "record at offset 4711 differs from the source" in section


def test_the_page_names_clusters_backups_the_config_and_the_signature() -> None:
    page = page_of(sample_report(clusters=(ClusterRef("dr", None, "d1:9092"),)))

    assert "unknown: the cluster could not be asked" in page
    assert "ab" * 32 in page  # the orders backup's manifest sha256
    assert sample_report().config_sha256 in page
    assert "daemon by kafka-dr@dr-ops-1" in page
    assert SIGNED in page


def test_an_unsigned_report_says_so_in_plain_words() -> None:
    status = "unsigned: no drills.nightly.signing_key configured"

    page = page_of(sample_report(), signed=status)

    assert f'<span class="signature unsigned">{status}</span>' in page
