"""StateStore: the one object callers hold, made of the store's parts over one SQLite file."""

from __future__ import annotations

from dr.state.drill_runs import DrillRuns
from dr.state.journals import Journals
from dr.state.locks import HostLocks
from dr.state.playbook_runs import PlaybookRuns
from dr.state.runs import RunHistory
from dr.state.samples import SampleSeries


class StateStore(RunHistory, SampleSeries, Journals, HostLocks, PlaybookRuns, DrillRuns):
    """The SQLite state store at ``path``; created with its directory on first use."""
