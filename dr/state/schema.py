"""The state store's schema, as the migrations that build it: the tables job_runs (runs.py),
samples (samples.py), journals (journals.py), playbook_runs and playbook_events
(playbook_runs.py), drill_runs (drill_runs.py). The list only ever grows."""

from __future__ import annotations

# Each entry moves the schema one version up; never edit one that has shipped.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE job_runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        job TEXT NOT NULL,
        status TEXT NOT NULL
            CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled')),
        started_at REAL NOT NULL,
        finished_at REAL,
        backup_id TEXT,
        records INTEGER NOT NULL DEFAULT 0,
        bytes INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        pid INTEGER NOT NULL
    );
    CREATE INDEX job_runs_by_job ON job_runs (job, id);
    CREATE INDEX job_runs_by_status ON job_runs (status);
    CREATE TABLE samples (
        metric TEXT NOT NULL,
        labels TEXT NOT NULL,
        at REAL NOT NULL,
        value REAL NOT NULL
    );
    CREATE INDEX samples_by_metric ON samples (metric, at);
    CREATE TABLE journals (
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        data TEXT NOT NULL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (kind, key)
    );
    """,
    # 2: runs of every kind of operation (backup, prune, restore...), and the status 'skipped'.
    # SQLite cannot change a CHECK constraint in place: the table is rebuilt, ids kept.
    """
    CREATE TABLE job_runs_v2 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL DEFAULT 'backup',
        job TEXT NOT NULL,
        status TEXT NOT NULL
            CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled', 'skipped')),
        started_at REAL NOT NULL,
        finished_at REAL,
        backup_id TEXT,
        records INTEGER NOT NULL DEFAULT 0,
        bytes INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        pid INTEGER NOT NULL
    );
    INSERT INTO job_runs_v2
        (id, kind, job, status, started_at, finished_at, backup_id, records, bytes, error, pid)
    SELECT id, 'backup', job, status, started_at, finished_at, backup_id, records, bytes, error,
        pid
    FROM job_runs;
    DROP TABLE job_runs;
    ALTER TABLE job_runs_v2 RENAME TO job_runs;
    CREATE INDEX job_runs_by_job ON job_runs (kind, job, id);
    CREATE INDEX job_runs_by_status ON job_runs (status);
    """,
    # 3: playbook runs and their append-only journal of step events.
    """
    CREATE TABLE playbook_runs (
        run_id TEXT PRIMARY KEY,
        playbook TEXT NOT NULL,
        pair TEXT NOT NULL,
        params TEXT NOT NULL,
        status TEXT NOT NULL
            CHECK (status IN ('running', 'completed', 'failed', 'interrupted')),
        started_at REAL NOT NULL,
        incident_start REAL NOT NULL,
        finished_at REAL,
        error TEXT,
        pid INTEGER NOT NULL
    );
    CREATE INDEX playbook_runs_by_start ON playbook_runs (started_at);
    CREATE TABLE playbook_events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL REFERENCES playbook_runs (run_id),
        step TEXT NOT NULL,
        event TEXT NOT NULL,
        at REAL NOT NULL,
        detail TEXT NOT NULL
    );
    CREATE INDEX playbook_events_by_run ON playbook_events (run_id, seq);
    """,
    # 4: DR drills: one row per drill run, with the summary `drill list` shows and where its
    # evidence went (the signed report itself lives in the store and the report directory).
    """
    CREATE TABLE drill_runs (
        drill_id TEXT PRIMARY KEY,
        drill TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('running', 'passed', 'failed', 'error')),
        started_at REAL NOT NULL,
        finished_at REAL,
        summary TEXT NOT NULL,
        pid INTEGER NOT NULL
    );
    CREATE INDEX drill_runs_by_start ON drill_runs (started_at);
    """,
]
