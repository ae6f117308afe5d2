"""A drill report opened in a real browser (headless chromium): it loads without a console
error or a blocked load, every chart is drawn, and it renders to a real picture.

Needs no Kafka lab: the report is the sample one (tests/drill/drill_sample.py).
"""

from __future__ import annotations

import struct
from html.parser import HTMLParser
from pathlib import Path

import pytest

from integration.browser import find_chromium, open_page, screenshot, write_sample

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def chromium() -> str:
    found = find_chromium()
    if found is None:
        pytest.fail("chromium is not installed: run `make tools` (installs Debian's chromium)")
    return found


@pytest.fixture(scope="module")
def report_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    files = write_sample(tmp_path_factory.mktemp("drill-report"))
    assert files.html_path is not None
    return files.html_path


class ChartShapes(HTMLParser):
    """For each figure.chart of a DOM: its name, and the svg shapes drawn inside it."""

    def __init__(self, dom: str) -> None:
        super().__init__()
        self.charts: list[tuple[str, int, int]] = []  # (name, svgs, shapes with geometry)
        self._inside = False
        self.feed(dom)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "figure" and "chart" in (values.get("class") or "").split():
            self.charts.append((str(values.get("data-chart")), 0, 0))
            self._inside = True
        elif self._inside and tag == "svg":
            name, svgs, shapes = self.charts[-1]
            self.charts[-1] = (name, svgs + 1, shapes)
        elif self._inside and tag in ("path", "rect") and (values.get("d") or values.get("height")):
            name, svgs, shapes = self.charts[-1]
            self.charts[-1] = (name, svgs, shapes + 1)

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure":
            self._inside = False


def test_the_report_opens_without_a_console_error_and_draws_every_chart(
    chromium: str, report_page: Path
) -> None:
    run = open_page(chromium, report_page)

    assert run.console_errors == ()
    charts = ChartShapes(run.dom).charts
    names = {name for name, _, _ in charts}
    assert names == {"timeline", "rpo-flow", "rpo-job", "throughput", "rto-trend", "rpo-trend"}
    for name, svgs, shapes in charts:
        assert svgs == 1, f"chart {name} has {svgs} svg elements"
        assert shapes >= 3, f"chart {name} draws {shapes} shapes"
    assert "FAILED" in run.dom


def test_the_console_check_sees_a_blocked_script(chromium: str, tmp_path: Path) -> None:
    page = tmp_path / "blocked.html"
    page.write_text(
        '<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'\"></head><body><script>document.title='ran'</script>"
        "</body></html>"
    )

    run = open_page(chromium, page)

    assert run.console_errors, "a script blocked by the CSP went unseen"
    assert "<title>ran</title>" not in run.dom


def test_the_report_renders_to_a_full_size_picture(
    chromium: str, report_page: Path, tmp_path: Path
) -> None:
    png = screenshot(chromium, report_page, tmp_path / "report.png", window=(1280, 2400))

    data = png.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk's first fields
    assert (width, height) == (1280, 2400)
    assert len(data) > 60_000  # a blank page of this size compresses to a few kB
