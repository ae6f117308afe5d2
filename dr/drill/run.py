"""Running a drill: one at a time, scratch cleaned before and after, every scenario recorded,
the evidence written and signed, the run kept in the state store.

Exit codes follow from the result: 0 when every check passed and every objective was met, 1
when a check failed or an objective was missed (or could not be measured), 2 when the drill
could not run at all (DrillRefused, raised before anything was touched).
"""

from __future__ import annotations

import getpass
import hashlib
import os
import secrets
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydantic import SecretStr

from dr import __version__
from dr.config.schema import Settings
from dr.drill.choice import DrillRefused, chosen_scenarios
from dr.drill.context import DrillCancelled, DrillContext, Recorder, now
from dr.drill.evidence import ReportFiles, write_report
from dr.drill.history import history_series, past_drills, report_store
from dr.drill.model import DrillOutcome, DrillReport, Trigger, iso
from dr.drill.scenarios import SCENARIO_RUNNERS, scratch_clusters
from dr.drill.scratch import abandon_scratch_restores, remove_scratch
from dr.drill.signing import load_signing_key
from dr.errors import DrError
from dr.log import get_logger
from dr.state import StateStore

log = get_logger(__name__)


@dataclass(frozen=True)
class DrillResult:
    """A finished drill: its report and where the evidence went."""

    report: DrillReport
    files: ReportFiles | None

    interrupted: bool = False

    @property
    def exit_code(self) -> int:
        """0 passed, 1 failed, 2 could not run, 130 interrupted (as Ctrl-C exits)."""
        if self.interrupted:
            return 130
        return {"passed": 0, "failed": 1, "error": 2}[self.report.outcome]


def run_drill(
    settings: Settings,
    drill: str,
    *,
    scenarios: Sequence[str] = (),
    destructive: bool = False,
    report_dir: Path | None = None,
    trigger: str = "cli",
    cancel: threading.Event | None = None,
    progress: Callable[[str], None] | None = None,
) -> DrillResult:
    """Run the drill's scenarios (all configured ones, or those named) and write its evidence.

    Raises DrillRefused before touching anything when it cannot run; LockHeld when another
    drill runs on this host. Everything else a scenario meets is recorded in the report."""
    chosen = chosen_scenarios(settings, drill, scenarios, destructive=destructive)
    spec = settings.drills[drill]
    report_dir = report_dir or spec.report_dir
    _check_evidence_targets(spec.signing_key, report_dir, drill=drill)
    state = StateStore(settings.state)  # type: ignore[arg-type]
    with state.exclusive("drill", what="a DR drill"):
        started = now()
        drill_id = f"{started:%Y%m%dt%H%M%S}-{secrets.token_hex(2)}"
        ctx = DrillContext(
            settings=settings,
            state=state,
            drill=drill,
            drill_id=drill_id,
            spec=spec,
            destructive=destructive,
            recorder=Recorder(),
            cancel=cancel or threading.Event(),
        )
        state.start_drill_run(drill_id, drill, started_at=started, summary={"scenarios": chosen})
        log.info("drill_started", drill=drill, drill_id=drill_id, scenarios=chosen)
        error: str | None = None
        for name in spec.scenarios.configured():
            if name not in chosen and not scenarios:
                ctx.recorder.check(
                    name,
                    "not_run",
                    name,
                    "warning",
                    f"scenario {name} is destructive and was not run (add --destructive)",
                    started=started,
                )
        try:
            _clean(ctx, chosen, keep=drill_id)
            for name in chosen:
                ctx.check_cancelled()
                if progress:
                    progress(name)
                _run_scenario(ctx, name)
        except (DrillCancelled, KeyboardInterrupt):
            ctx.cancel.set()
            error = "the drill was interrupted before it finished"
        finally:
            _clean(ctx, chosen, only=drill_id)
        report = _report(ctx, chosen, started=started, trigger=trigger, error=error)
        try:
            files = write_report(
                report,
                signing_key=spec.signing_key,
                report_dir=report_dir,
                store=report_store(settings, drill),
            )
        except DrError as exc:
            state.finish_drill_run(
                drill_id, "error", summary={**summary_of(report, None), "error": str(exc)}
            )
            raise
        state.finish_drill_run(drill_id, report.outcome, summary=summary_of(report, files))
        _log_finished(report, files, trigger=trigger)
        return DrillResult(report, files, interrupted=ctx.cancel.is_set())


def _check_evidence_targets(key: SecretStr | None, report_dir: Path | None, *, drill: str) -> None:
    """Refuse before the drill, not after it: a signing key that does not load, a report
    directory that cannot be written."""
    if key is not None:
        load_signing_key(key, drill=drill)
    if report_dir is not None:
        try:
            report_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DrillRefused(
                f"cannot create report directory {report_dir}: {exc.strerror}"
            ) from None
        if not os.access(report_dir, os.W_OK):
            raise DrillRefused(f"report directory {report_dir} is not writable")


def _run_scenario(ctx: DrillContext, name: str) -> None:
    """One scenario; what stops it is recorded as an error check, and the drill goes on."""
    scenario_settings = getattr(ctx.spec.scenarios, name.replace("-", "_"))
    started = now()
    try:
        with ctx.recorder.step(name, name):
            SCENARIO_RUNNERS[name](ctx, scenario_settings)
    except DrillCancelled:
        raise
    except DrError as exc:
        ctx.recorder.check(name, "scenario", name, "error", str(exc), started=started)
    except Exception as exc:  # a bug must not leave scratch topics: recorded, then raised
        log.exception("drill_scenario_crashed", scenario=name)
        ctx.recorder.check(
            name, "scenario", name, "error", f"{type(exc).__name__}: {exc}", started=started
        )


def _clean(
    ctx: DrillContext, chosen: list[str], *, keep: str | None = None, only: str | None = None
) -> None:
    """Remove scratch topics and groups (a killed drill's before, this drill's after) from
    every cluster the scenarios restore onto; a failure to clean is recorded, never hidden."""
    for name in scratch_clusters(ctx.settings, ctx.spec, chosen):
        started = now()
        try:
            removed = remove_scratch(ctx.settings.clusters[name], keep_drill=keep, only_drill=only)
            ref = ctx.cluster_ref(name)
            if ref.cluster_id:
                abandon_scratch_restores(ctx.state, ref.cluster_id)
        except DrError as exc:
            ctx.recorder.check(
                "cleanup",
                "scratch_removed",
                name,
                "failed",
                f"scratch topics on '{name}' could not be removed: {exc}",
                started=started,
            )
            continue
        if only is not None:
            left = removed.names()
            ctx.recorder.cleanup.extend(left)
            ctx.recorder.check(
                "cleanup",
                "scratch_removed",
                name,
                True,
                f"{len(removed.topics)} scratch topics and {len(removed.groups)} groups removed "
                f"from '{name}'",
                started=started,
                evidence={"removed": list(left)},
            )
        elif removed.topics or removed.groups:
            ctx.recorder.check(
                "cleanup",
                "leftovers_removed",
                name,
                "warning",
                f"removed {len(removed.topics)} scratch topics and {len(removed.groups)} groups "
                f"an interrupted drill had left on '{name}'",
                started=started,
                evidence={"removed": list(removed.names())},
            )


def _log_finished(report: DrillReport, files: ReportFiles | None, *, trigger: str) -> None:
    """The drill's one outcome event, whoever started it: info when it passed, warning when it
    failed, with the figures `drill list` shows and where the evidence is."""
    summary = summary_of(report, files)
    level = log.info if report.outcome == "passed" else log.warning
    level(
        "drill_finished",
        drill=report.drill,
        drill_id=report.drill_id,
        outcome=report.outcome,
        trigger=trigger,
        checks_failed=summary["checks_failed"],
        objectives_missed=summary["objectives_missed"],
        report=summary["json"] or summary["store_json"],
        error=report.error,
    )


def outcome_of(ctx: DrillContext, error: str | None) -> DrillOutcome:
    """failed when a check failed or errored, or an objective was missed or unmeasured."""
    rec = ctx.recorder
    if error is not None:
        return "failed"
    bad_check = any(c.outcome in ("failed", "error") for c in rec.checks)
    bad_objective = any(o.met is not True for o in rec.objectives)
    return "failed" if bad_check or bad_objective else "passed"


def _report(
    ctx: DrillContext, chosen: list[str], *, started: datetime, trigger: str, error: str | None
) -> DrillReport:
    rec = ctx.recorder
    return DrillReport(
        drill_id=ctx.drill_id,
        drill=ctx.drill,
        trigger=Trigger(
            kind="daemon" if trigger == "daemon" else "cli",
            user=_user(),
            host=socket.gethostname(),
            command=(
                f"daemon schedule '{ctx.spec.schedule}' of drill {ctx.drill}"
                if trigger == "daemon"
                else f"kafka-dr drill run {ctx.drill}"
                + "".join(f" --scenario {s}" for s in chosen)
                + (" --destructive" if ctx.destructive else "")
            ),
        ),
        started_at=iso(started),
        finished_at=iso(now()),
        outcome=outcome_of(ctx, error),
        config_sha256=config_digest(ctx.settings),
        kafka_dr_version=__version__,
        scenarios=tuple(chosen),
        clusters=tuple(rec.clusters.values()),
        backups=tuple(rec.backups),
        checks=tuple(rec.checks),
        objectives=tuple(rec.objectives),
        steps=tuple(rec.steps),
        throughput=tuple(rec.throughput),
        history=history_series(ctx.settings, ctx.state, ctx.spec, days=30),
        past_drills=past_drills(ctx.state, ctx.drill, exclude=ctx.drill_id),
        cleanup=tuple(rec.cleanup),
        error=error,
    )


def config_digest(settings: Settings) -> str:
    """SHA-256 of the effective configuration, secrets masked (so it can be published)."""
    return hashlib.sha256(settings.model_dump_json().encode()).hexdigest()


def summary_of(report: DrillReport, files: ReportFiles | None) -> dict[str, object]:
    """What `drill list` and the daemon's metrics read of a drill, without opening its report."""
    rto = [
        o.measured_seconds
        for o in report.objectives
        if o.kind == "rto" and o.measured_seconds is not None
    ]
    rpo = [
        o.measured_seconds
        for o in report.objectives
        if o.kind == "rpo" and o.measured_seconds is not None
    ]
    return {
        "scenarios": list(report.scenarios),
        "checks": len(report.checks),
        "checks_failed": sum(c.outcome in ("failed", "error") for c in report.checks),
        "objectives_missed": sum(o.met is not True for o in report.objectives),
        "rto_seconds": max(rto) if rto else None,
        "rpo_seconds": max(rpo) if rpo else None,
        "error": report.error,
        "json": str(files.json_path) if files and files.json_path else None,
        "html": str(files.html_path) if files and files.html_path else None,
        "store_json": files.json_key if files else None,
        "signed": files.signed if files else False,
    }


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
