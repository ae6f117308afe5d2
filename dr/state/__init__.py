"""The embedded state store (SQLite): job runs, time series samples and procedure journals.

The file is created on first use, with its directory, in WAL mode so that readers (the CLI,
/healthz) never wait for the daemon's writers. Each call opens its own connection: a store is
safe to share between threads, and between processes through SQLite's own locking. The schema
is versioned; ``schema.MIGRATIONS`` only ever grows.

Nothing secret is stored: error texts are passed through ``redact_text`` and cut to one line.

The parts: database.py (the file, connections, migrations), runs.py, samples.py, journals.py,
locks.py (one run of a procedure at a time on this host); store.py joins them as StateStore.
"""

from __future__ import annotations

from dr.state.database import StateError
from dr.state.locks import LockHeld
from dr.state.runs import INTERRUPTED, FinalStatus, RunRecord, RunStatus
from dr.state.samples import Sample
from dr.state.store import StateStore

__all__ = [
    "INTERRUPTED",
    "FinalStatus",
    "LockHeld",
    "RunRecord",
    "RunStatus",
    "Sample",
    "StateError",
    "StateStore",
]
