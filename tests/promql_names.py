"""The metric names a PromQL expression selects, for tests that compare them with the names the
daemon exports (alert rules, dashboard panels)."""

from __future__ import annotations

import re

# Words of PromQL that are not metric names when they stand alone.
KEYWORDS = {
    "and",
    "or",
    "unless",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "offset",
    "bool",
    "inf",
    "nan",
}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^}]*\}")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_RANGE = re.compile(r"\[[^\]]*\]")
_VARIABLE = re.compile(r"\$\{[^}]*\}|\$\w+")
_WORD = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    """The metric names ``expr`` selects: words that are neither functions, keywords, label
    names, durations, numbers nor Grafana variables."""
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _VARIABLE.sub(" ", text)
    names: set[str] = set()
    for match in _WORD.finditer(text):
        word, before = match.group(), text[max(match.start() - 1, 0) : match.start()]
        if before and (before.isdigit() or before == "."):
            continue  # the unit of a duration (5m) or the exponent of a number (1e3)
        if text[match.end() :].lstrip().startswith("("):
            continue  # a function (rate, max, time...)
        if word.lower() in KEYWORDS:
            continue
        names.add(word)
    return names
