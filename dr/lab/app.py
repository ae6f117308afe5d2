"""A lab client application, started detached by ``kafka-dr lab app start``::

    python -m dr.lab.app DIR/apps/NAME.json

It produces records at a steady rate (keys ``NAME-<seq>``, in order) and/or consumes them as a
consumer group, on the cluster and topic named in ``DIR/apps/NAME.bootstrap`` and
``NAME.topic``. When a hook rewrites those files, or when its cluster has not answered for a
few seconds and the files name another one, it closes its clients (acknowledgements awaited,
offsets committed) and connects anew with the same group id, so it resumes where the group's
committed offsets on the new cluster say. While ``NAME.hold`` exists it produces nothing (what
it had sent is acknowledged first, then its status says ``held``) and keeps consuming: a
planned move's stop_producers hook. Every acknowledged and consumed record goes to its
ledger. SIGTERM stops it cleanly: acknowledgements awaited, offsets committed, group left.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from dr.errors import DrError
from dr.lab.appclients import Session
from dr.lab.appfiles import (
    AppPaths,
    AppSpec,
    AppStatus,
    Target,
    load_spec,
    load_status,
    read_settled_target,
    read_target,
    save_status,
    target_stamp,
)
from dr.lab.ledger import LedgerWriter
from dr.lab.security import APPS, user_client_conf
from dr.log import configure, get_logger

log = get_logger(__name__)

TICK_S = 0.05
FILE_CHECK_S = 0.5
STATUS_EVERY_S = 1.0
GONE_AFTER_S = 3.0  # a cluster silent this long is gone: the files are read again
PROBE_EVERY_S = 2.0
FLUSH_S = 5.0  # waiting for acknowledgements when leaving a cluster that answers
FLUSH_WHEN_GONE_S = 1.0
SEQ_BLOCK = 1000  # keys reserved in the status file ahead of use, so a restart never reuses one


class App:
    """The application's loop over successive sessions (one per cluster it connects to)."""

    def __init__(self, paths: AppPaths, spec: AppSpec) -> None:
        self.paths = paths
        self.spec = spec
        self.stopping = False
        self.ledger = LedgerWriter(paths.ledger)
        self.client = user_client_conf(paths.directory.parent, APPS)  # DIR/apps -> DIR
        previous = load_status(paths)
        self.next_seq = previous.next_seq if previous else 0
        self.reserved = self.next_seq
        self.produced = previous.produced if previous else 0
        self.failed = previous.failed if previous else 0
        self.reconnects = previous.reconnects if previous else 0
        self.held = False  # producing stopped, what was sent acknowledged

    def stop(self, *_args: object) -> None:
        """Ask the loop to finish (a signal handler)."""
        self.stopping = True

    def run(self) -> None:
        """Serve sessions until stopped; each switch of target starts a new session."""
        target: Target | None = read_settled_target(self.paths)
        session: Session | None = None
        while target is not None:
            session = Session(self.spec, target, self.ledger, self.client)
            log.info(
                "app_connecting", app=self.spec.name, bootstrap=target.bootstrap, topic=target.topic
            )
            try:
                target = self._serve(session)
            finally:
                gone = session.unreachable_for() > 0
                session.close(flush_s=FLUSH_WHEN_GONE_S if gone else FLUSH_S)
                self.failed += session.failed
            if target is not None:
                self.reconnects += 1
                if target != session.target:  # moved: a hold (a planned move's) ends here
                    self.paths.hold.unlink(missing_ok=True)
        self._report(session, state="stopped")
        self.ledger.close()
        log.info("app_stopped", app=self.spec.name, produced=self.produced)

    def _serve(self, session: Session) -> Target | None:
        """Run one session; returns the next target, or None when the app is stopping."""
        stamp = target_stamp(self.paths)
        now = time.monotonic()
        next_due = next_check = next_status = next_probe = now
        while not self.stopping:
            now = time.monotonic()
            if not session.topic_ready and now >= next_probe:
                next_probe = now + 1.0
                if session.ensure_topic():
                    self._report(session)
            holding = self.paths.hold.exists()
            if holding and not self.held:
                self.held = session.flush(FLUSH_S)
                self._report(session)
            elif not holding:
                if self.held:
                    next_due = now  # no burst for the time held
                self.held = False
                if session.topic_ready and self.spec.produce_rate:
                    next_due = self._produce_due(session, now, next_due)
            session.serve(TICK_S)
            now = time.monotonic()
            if session.fatal:
                return read_target(self.paths)  # the same or a new cluster, with new clients
            if now >= next_check:
                next_check = now + FILE_CHECK_S
                new_stamp = target_stamp(self.paths)
                if new_stamp != stamp or session.unreachable_for() >= GONE_AFTER_S:
                    stamp = new_stamp
                    moved = self._moved(session)
                    if moved is not None:
                        return moved
                if session.unreachable_for() > 0 and now >= next_probe:
                    next_probe = now + PROBE_EVERY_S
                    session.probe()
            if now >= next_status:
                next_status = now + STATUS_EVERY_S
                self._report(session)
        return None

    def _moved(self, session: Session) -> Target | None:
        """The target in the files when it differs from the session's, else None."""
        try:
            target = read_settled_target(self.paths)
        except DrError as exc:
            log.warning("app_target_unreadable", app=self.spec.name, error=str(exc))
            return None
        if target == session.target:
            return None
        log.info(
            "app_switching",
            app=self.spec.name,
            from_bootstrap=session.target.bootstrap,
            to_bootstrap=target.bootstrap,
            from_topic=session.target.topic,
            to_topic=target.topic,
            cluster_answers=session.unreachable_for() == 0,
        )
        return target

    def _produce_due(self, session: Session, now: float, next_due: float) -> float:
        """Produce every record due by now at the app's rate; returns when the next is due."""
        assert self.spec.produce_rate
        if now - next_due > 1.0:  # fell behind (a slow call): carry on, no burst
            next_due = now
        while next_due <= now:
            if self.next_seq >= self.reserved:
                self.reserved = self.next_seq + SEQ_BLOCK
                self._report(session)
            if not session.produce(f"{self.spec.name}-{self.next_seq}"):
                break  # the producer's queue is full: try again on the next tick
            self.next_seq += 1
            self.produced += 1
            next_due += 1.0 / self.spec.produce_rate
        return next_due

    def _report(self, session: Session | None, *, state: str | None = None) -> None:
        if state is None:
            assert session is not None
            if not session.topic_ready:
                state = "connecting"
            elif session.unreachable_for() >= 1.0:
                state = "unreachable"
            elif self.held:
                state = "held"
            else:
                state = "connected"
        target = session.target if session is not None else read_target(self.paths)
        save_status(
            self.paths,
            AppStatus(
                state=state,
                bootstrap=target.bootstrap,
                topic=target.topic,
                produced=self.produced,
                failed=self.failed + (session.failed if session and state != "stopped" else 0),
                reconnects=self.reconnects,
                next_seq=self.reserved,
            ),
        )


def main(argv: list[str] | None = None) -> int:
    """Run the app named by its spec file; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m dr.lab.app", description=__doc__)
    parser.add_argument("spec", type=Path, help="the app's DIR/apps/NAME.json")
    args = parser.parse_args(argv)
    configure(level="info", fmt="json")
    spec_path: Path = args.spec.resolve()
    paths = AppPaths(directory=spec_path.parent, name=spec_path.stem)
    try:
        app = App(paths, load_spec(paths))
        signal.signal(signal.SIGTERM, app.stop)
        signal.signal(signal.SIGINT, app.stop)
        app.run()
    except DrError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
