"""docs/monitoring.md is the metric reference: it names every metric the daemon exports, and no
doc names a kafka_dr_ metric that does not exist (but the renamed ones, in their table)."""

from __future__ import annotations

import re
from pathlib import Path

from dr.metrics import Metrics

ROOT = Path(__file__).parent.parent
MONITORING = ROOT / "docs" / "monitoring.md"
NAME = re.compile(r"\bkafka_dr_[a-z_]+[a-z](?![a-z_*])")  # not a wildcard (kafka_dr_drill_*)
# Not metrics: a field of the drill report.
NOT_METRICS = {"kafka_dr_version"}


def section(text: str, title: str) -> str:
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def renamed() -> set[str]:
    """The names of the renamed table's left column (what they were)."""
    table = section(MONITORING.read_text(), "Renamed metrics")
    return {
        name
        for line in table.splitlines()
        if line.startswith("| ")
        for name in NAME.findall(line.split("|")[1])
    }


def test_the_reference_names_every_metric_the_daemon_exports() -> None:
    reference = section(MONITORING.read_text(), "Metrics")

    missing = {name for name in Metrics().exported_names() if f"`{name}`" not in reference}

    assert missing == set()


def test_no_doc_names_a_metric_that_does_not_exist() -> None:
    exported, old = Metrics().exported_names(), renamed()
    docs = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]

    unknown = {
        (doc.name, name)
        for doc in docs
        for name in NAME.findall(doc.read_text())
        if name not in exported and name not in NOT_METRICS and name not in old
    }

    assert unknown == set()
    assert "kafka_dr_backup_age_seconds" in old  # the table lists what was renamed
