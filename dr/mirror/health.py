"""A flow's health: one state and the reasons behind it, from every check `mirror status` makes.

Each check that finds something wrong is a Problem: a named check, the state it puts the flow
in, and one line for people. The flow's state is the most severe of its problems' states:

    failed    a connector or a task FAILED (Connect)
    down      MirrorMaker is not running (status command, PID file), or no connector of the
              flow is deployed (Connect)
    paused    a connector is PAUSED or STOPPED (Connect)
    stalled   no fresh heartbeat: nothing shows that MirrorMaker replicates
    degraded  running, but not wholly as configured: a connector missing or unassigned, a task
              not running, a restart pending
    unknown   nothing can tell: heartbeats off and no process check, or a check that failed
    running   none of the above

Missing topics and drift make a flow unhealthy without changing its state: MirrorMaker runs,
the topics are what is wrong. A flow is healthy when no check found a problem.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from dr.log import redact_text
from dr.mirror.connect import ConnectorStatus
from dr.mirror.heartbeats import HeartbeatCheck
from dr.mirror.process import ProcessCheck
from dr.mirror.status import FlowStatus

State = Literal["running", "degraded", "unknown", "stalled", "paused", "down", "failed"]
STATES: tuple[State, ...] = (
    "running",
    "unknown",
    "degraded",
    "stalled",
    "paused",
    "down",
    "failed",
)
Check = Literal["process", "heartbeat", "connector", "task", "restart", "topics", "drift"]
_PAUSED = ("PAUSED", "STOPPED")


@dataclass(frozen=True)
class Problem:
    """What one check found wrong; ``state`` None when it leaves the flow's state alone."""

    check: Check
    state: State | None
    message: str


@dataclass(frozen=True)
class FlowHealth:
    """The flow's state (the most severe its problems give) and the problems found."""

    state: State
    problems: tuple[Problem, ...]

    @property
    def healthy(self) -> bool:
        """True when no check found a problem."""
        return not self.problems

    @property
    def reasons(self) -> tuple[str, ...]:
        """One line per problem."""
        return tuple(p.message for p in self.problems)


def assess_flow(
    topics: FlowStatus,
    *,
    process: ProcessCheck | None = None,
    connectors: Mapping[str, ConnectorStatus | None] | None = None,
    restart_pending: bool = False,
) -> FlowHealth:
    """Combine the checks of one flow: its topics and heartbeat as read on the clusters,
    ``process``, the dedicated process check (None in Connect mode), and ``connectors``, each
    connector the flow should have with its status, None for one that is not deployed (None in
    dedicated mode)."""
    heartbeat = topics.heartbeat
    problems = [
        *_process_problems(process, heartbeat),
        *_connector_problems(connectors or {}),
    ]
    if heartbeat.problem is not None:
        problems.append(Problem("heartbeat", "stalled", heartbeat.problem))
    if restart_pending:
        problems.append(
            Problem(
                "restart",
                "degraded",
                "restart pending: config on disk differs from the running one "
                "(run 'kafka-dr mirror apply' to restart MirrorMaker)",
            )
        )
    if topics.missing_topics:
        n = len(topics.missing_topics)
        problems.append(Problem("topics", None, f"{n} source topic(s) not on the target"))
    if topics.drift:
        n = len(topics.drift)
        problems.append(Problem("drift", None, f"{n} difference(s) between topics and replicas"))
    states = [p.state for p in problems if p.state is not None]
    return FlowHealth(max(states, key=STATES.index, default="running"), tuple(problems))


def first_line(trace: str | None) -> str:
    """The first line of a stack trace, secrets masked; '' when there is none."""
    return redact_text(trace.strip().splitlines()[0]) if trace and trace.strip() else ""


def _process_problems(process: ProcessCheck | None, heartbeat: HeartbeatCheck) -> Iterator[Problem]:
    if process is None:
        return
    if process.running is False:
        yield Problem("process", "down", f"MirrorMaker is not running: {process.detail}")
    elif process.error is not None:
        yield Problem(
            "process", "unknown", f"cannot tell whether MirrorMaker runs: {process.error}"
        )
    elif process.running is None and not heartbeat.enabled:
        yield Problem(
            "process",
            "unknown",
            "nothing shows whether MirrorMaker runs: heartbeats are disabled and neither "
            "mirror.status_command nor mirror.pid_file is set",
        )


def _connector_problems(connectors: Mapping[str, ConnectorStatus | None]) -> Iterator[Problem]:
    missing_state: State = "down" if all(s is None for s in connectors.values()) else "degraded"
    for name, status in connectors.items():
        if status is None:
            yield Problem(
                "connector",
                missing_state,
                f"connector {name} is not deployed (run 'kafka-dr mirror apply')",
            )
            continue
        if status.state == "FAILED":
            yield Problem("connector", "failed", _failed(f"connector {name}", status.trace))
        elif status.state in _PAUSED:
            yield Problem("connector", "paused", f"connector {name} is {status.state}")
        elif status.state != "RUNNING":
            yield Problem("connector", "degraded", f"connector {name} is {status.state}")
        for task in status.tasks:
            what = f"task {task.id} of {name}"
            if task.state == "FAILED":
                yield Problem("task", "failed", _failed(what, task.trace))
            elif task.state != "RUNNING" and not (
                task.state in _PAUSED and status.state in _PAUSED
            ):
                yield Problem("task", "degraded", f"{what} is {task.state}")


def _failed(what: str, trace: str | None) -> str:
    line = first_line(trace)
    return f"{what} FAILED: {line}" if line else f"{what} FAILED"
