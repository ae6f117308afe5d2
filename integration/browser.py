"""Opening a drill report in a real browser: Debian's headless chromium.

Used by integration/test_drill_report_browser.py, and to make the screenshot in the docs:

    .venv/bin/python -m integration.browser docs/img/drill-report.png
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from pydantic import SecretStr

from dr.drill.evidence import ReportFiles, write_report
from dr.drill.signing import generate_signing_key

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "tests" / "drill" / "drill_sample.py"
WINDOW = (1280, 2400)
# What chromium writes to stderr (with --enable-logging=stderr) for a console message, an
# uncaught exception or a blocked load: a page that logs any of these has a defect.
CONSOLE_MARKERS = ("CONSOLE", "Uncaught", "Refused to", "Content Security Policy")


@dataclass(frozen=True)
class BrowserRun:
    """What chromium made of a page: the DOM after it ran, and its console's errors."""

    dom: str
    console_errors: tuple[str, ...]


def find_chromium() -> str | None:
    """The chromium binary's path, or None when it is not installed (`make tools` installs it)."""
    return shutil.which("chromium")


def _run(chromium: str, url: str, *flags: str, timeout_s: float = 90) -> tuple[str, str]:
    with tempfile.TemporaryDirectory(prefix="kafka-dr-chromium-") as profile:
        proc = subprocess.run(
            [
                chromium,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                "--enable-logging=stderr",
                "--v=0",
                *flags,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    if proc.returncode != 0:
        raise AssertionError(f"chromium exited {proc.returncode}: {proc.stderr[-2000:]}")
    return proc.stdout, proc.stderr


def open_page(chromium: str, page: Path) -> BrowserRun:
    """The page's DOM once loaded, and every console error chromium logged for it."""
    dom, log = _run(chromium, page.as_uri(), "--dump-dom")
    errors = tuple(
        line for line in log.splitlines() if any(marker in line for marker in CONSOLE_MARKERS)
    )
    return BrowserRun(dom=dom, console_errors=errors)


def screenshot(chromium: str, page: Path, png: Path, *, window: tuple[int, int] = WINDOW) -> Path:
    """A PNG of the page's top window[1] pixels, window[0] wide."""
    width, height = window
    _run(chromium, page.as_uri(), f"--screenshot={png}", f"--window-size={width},{height}")
    return png


def sample_module() -> ModuleType:
    """tests/drill/drill_sample.py, loaded by its path (tests/ is not a package)."""
    spec = importlib.util.spec_from_file_location("drill_sample", SAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_sample(report_dir: Path, *, signed: bool = False) -> ReportFiles:
    """The sample report's JSON and HTML written into report_dir (signed with a new key)."""
    report = sample_module().sample_report()
    key = SecretStr(generate_signing_key()[0].decode()) if signed else None
    return write_report(report, signing_key=key, report_dir=report_dir, store=None)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m integration.browser OUTPUT.png", file=sys.stderr)
        return 2
    chromium = find_chromium()
    if chromium is None:
        print("chromium is not installed: run `make tools`", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        files = write_sample(Path(tmp), signed=True)
        assert files.html_path is not None
        out = screenshot(chromium, files.html_path, Path(argv[0]).absolute())
    print(f"{out} ({out.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
