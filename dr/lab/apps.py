"""The lab's client applications: start, stop, list, and switch them to another cluster.

Each app is a detached ``python -m dr.lab.app`` process (dr/lab/app.py) whose files live under
DIR/apps/ (dr/lab/appfiles.py). Switching rewrites the files an app reads its bootstrap servers
and topic from; the app notices and reconnects. ``kafka-dr lab app switch`` is the lab's hook
command: it takes the playbook's hook context (environment and JSON on stdin).
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from dr.errors import LabError, UsageError
from dr.lab import processes
from dr.lab.appfiles import (
    AppPaths,
    AppSpec,
    Target,
    apps_dir,
    check_name,
    known_apps,
    load_spec,
    load_status,
    read_target,
    save_spec,
    write_atomically,
    write_target,
)
from dr.lab.ledger import read_ledger
from dr.lab.state import require_state
from dr.log import get_logger

log = get_logger(__name__)

DEFAULT_TOPIC = "orders"
START_TIMEOUT_S = 60.0
STOP_GRACE_S = 20.0
TO_BOOTSTRAP_ENV = "KAFKA_DR_TO_BOOTSTRAP"


@dataclass(frozen=True)
class AppRequest:
    """What ``lab app start`` is asked to run."""

    name: str
    topic: str = DEFAULT_TOPIC
    produce_rate: float | None = None
    group: str | None = None
    cluster: str = "primary"


@dataclass(frozen=True)
class AppView:
    """An app as ``lab app list`` shows it."""

    name: str
    pid: int | None  # None when it does not run
    state: str  # what the app last reported (connecting, connected, unreachable, stopped)
    bootstrap: str  # where its files point it
    topic: str
    produce_rate: float | None
    group: str | None
    produced: int
    acked: int
    consumed: int
    failed: int

    @property
    def running(self) -> bool:
        return self.pid is not None


@dataclass(frozen=True)
class AppStarted:
    """An app that started and connected, and how long that took."""

    app: AppView
    seconds: float


@dataclass(frozen=True)
class HookContext:
    """Where a switch sends the apps: new bootstrap servers, and topic names old -> new."""

    to_bootstrap: str
    topics: dict[str, str]


@dataclass(frozen=True)
class Switch:
    """One app moved from a cluster and topic to another."""

    name: str
    running: bool
    from_target: Target
    to_target: Target


def start_app(lab_dir: Path, request: AppRequest) -> AppStarted:
    """Start an app on a lab cluster and wait until it has connected (its topic exists).

    Raises LabError when the lab or cluster is unknown or down, the app already runs, or it does
    not connect within 60 s (it is stopped again); UsageError when it would neither produce nor
    consume. An app started again under the same name continues its ledger and its keys.
    """
    check_name(request.name)
    if request.produce_rate is None and request.group is None:
        raise UsageError(f"app '{request.name}' needs --produce RATE, --consume GROUP or both")
    if request.produce_rate is not None and request.produce_rate <= 0:
        raise UsageError(f"app '{request.name}': --produce must be above 0 records/s")
    cluster = require_state(lab_dir).cluster(request.cluster)
    if not any(processes.is_running(n.pid, n.spec(request.cluster).marker) for n in cluster.nodes):
        raise LabError(
            f"cluster '{request.cluster}' is not running: start it with "
            f"'kafka-dr lab start-cluster --dir {lab_dir} {request.cluster}'"
        )
    paths = AppPaths(apps_dir(lab_dir), request.name)
    if paths.spec.exists():
        pid = load_spec(paths).pid
        if processes.is_running(pid, paths.marker):
            raise LabError(
                f"app '{request.name}' is already running (pid {pid}): "
                f"stop it with 'kafka-dr lab app stop --dir {lab_dir} {request.name}'"
            )
    spec = AppSpec(
        name=request.name,
        topic=request.topic,
        produce_rate=request.produce_rate,
        group=request.group,
    )
    write_target(paths, Target(bootstrap=cluster.bootstrap_servers, topic=request.topic))
    paths.hold.unlink(missing_ok=True)  # a hold left by an earlier run of the app
    save_spec(paths, spec)
    started = time.monotonic()
    started_ns = time.time_ns()
    pid = processes.start_detached(
        [sys.executable, "-m", "dr.lab.app", str(paths.spec)],
        cwd=paths.directory,
        log_file=paths.log,
    )
    save_spec(paths, spec.with_pid(pid))
    try:
        _wait_connected(paths, pid, started_ns)
    except BaseException:
        processes.stop(pid, paths.marker, kill=True)
        raise
    seconds = time.monotonic() - started
    log.info("lab_app_started", app=request.name, pid=pid, seconds=round(seconds, 2))
    return AppStarted(app=_view(paths), seconds=seconds)


def stop_apps(lab_dir: Path, names: Sequence[str] | None = None) -> list[str]:
    """Stop the named apps (every app with None): SIGTERM, then SIGKILL after 20 s. Returns
    the names of those that were running. Raises LabError for an unknown name."""
    chosen = _choose(lab_dir, names)
    specs = [load_spec(paths) for paths in chosen]
    running = processes.stop_all(
        [(spec.pid, paths.marker) for spec, paths in zip(specs, chosen, strict=True)],
        grace_s=STOP_GRACE_S,
    )
    for spec, paths in zip(specs, chosen, strict=True):
        if spec.pid is not None:
            save_spec(paths, spec.with_pid(None))
    return [p.name for p, was in zip(chosen, running, strict=True) if was]


def list_apps(lab_dir: Path) -> list[AppView]:
    """Every app started in the lab, running or not, with its ledger's counts."""
    return [_view(paths) for paths in _choose(lab_dir, None)]


def switch_apps(
    lab_dir: Path, context: HookContext, names: Sequence[str] | None = None
) -> list[Switch]:
    """Point the named apps (every app with None) at the context's bootstrap servers and map
    their topic through its topic map (a topic not in the map keeps its name). The files are
    replaced atomically; running apps reconnect within a second."""
    switches = []
    for paths in _choose(lab_dir, names):
        spec = load_spec(paths)
        current = read_target(paths)
        topic = context.topics.get(current.topic) or context.topics.get(spec.topic) or current.topic
        new = Target(bootstrap=context.to_bootstrap, topic=topic)
        write_target(paths, new)  # a held app resumes producing once it is there
        switches.append(
            Switch(
                name=paths.name,
                running=processes.is_running(spec.pid, paths.marker),
                from_target=current,
                to_target=new,
            )
        )
        log.info("lab_app_switched", app=paths.name, bootstrap=new.bootstrap, topic=new.topic)
    return switches


def hold_apps(
    lab_dir: Path, names: Sequence[str] | None = None, *, timeout_s: float = 30.0
) -> list[str]:
    """Stop the named apps (every app with None) producing, and wait until each running
    producer has had what it sent acknowledged; consumers keep consuming. Returns the apps
    held; raises LabError naming an app that did not hold in time."""
    chosen = _choose(lab_dir, names)
    for paths in chosen:
        write_atomically(paths.hold, "held by kafka-dr lab app hold\n")
    deadline = time.monotonic() + timeout_s
    for paths in chosen:
        spec = load_spec(paths)
        while spec.produce_rate and processes.is_running(spec.pid, paths.marker):
            status = load_status(paths)
            if status is not None and status.state == "held":
                break
            if time.monotonic() > deadline:
                raise LabError(f"app '{paths.name}' did not stop producing within {timeout_s:.0f}s")
            time.sleep(0.1)
        log.info("lab_app_held", app=paths.name)
    return [p.name for p in chosen]


def release_apps(lab_dir: Path, names: Sequence[str] | None = None) -> list[str]:
    """Let held apps produce again."""
    chosen = _choose(lab_dir, names)
    for paths in chosen:
        paths.hold.unlink(missing_ok=True)
    return [p.name for p in chosen]


def hook_context(
    env: Mapping[str, str],
    stdin_text: str,
    *,
    bootstrap: str | None = None,
    topic_map: str | None = None,
) -> HookContext:
    """The switch's target from a playbook hook's context, or from options given by hand.

    Bootstrap servers: ``bootstrap``, else ``to_bootstrap`` in the JSON on stdin, else the
    environment's KAFKA_DR_TO_BOOTSTRAP. Topic map: ``topic_map`` (JSON), else ``topics`` in the
    JSON on stdin, else none (topics keep their names). Raises UsageError when there is no
    bootstrap or a JSON text is not what it should be.
    """
    context = (
        _json_object(stdin_text, what="the hook context on stdin") if stdin_text.strip() else {}
    )
    topics = context.get("topics") or {}
    if topic_map is not None:
        topics = _json_object(topic_map, what="--topic-map")
    if not isinstance(topics, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in topics.items()
    ):
        raise UsageError("the topic map must be a JSON object of topic names to topic names")
    to_bootstrap = bootstrap or context.get("to_bootstrap") or env.get(TO_BOOTSTRAP_ENV)
    if not isinstance(to_bootstrap, str) or not to_bootstrap.strip():
        raise UsageError(
            "no bootstrap servers to switch to: give --bootstrap, or run as a playbook hook "
            f"({TO_BOOTSTRAP_ENV}, or to_bootstrap in the JSON on stdin)"
        )
    return HookContext(to_bootstrap=to_bootstrap.strip(), topics=dict(topics))


def _json_object(text: str, *, what: str) -> dict[str, object]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{what} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise UsageError(f"{what} is not a JSON object")
    return value


def _choose(lab_dir: Path, names: Sequence[str] | None) -> list[AppPaths]:
    directory = apps_dir(lab_dir)
    known = known_apps(directory)
    if names is None:
        return [AppPaths(directory, name) for name in known]
    unknown = [n for n in names if n not in known]
    if unknown:
        have = ", ".join(known) or "none"
        raise LabError(f"no app '{unknown[0]}' in {lab_dir} (apps: {have})")
    return [AppPaths(directory, name) for name in names]


def _view(paths: AppPaths) -> AppView:
    spec = load_spec(paths)
    status = load_status(paths)
    target = read_target(paths)
    events = Counter(entry.event for entry in read_ledger(paths.ledger))
    running = processes.is_running(spec.pid, paths.marker)
    return AppView(
        name=spec.name,
        pid=spec.pid if running else None,
        state=(status.state if status else "starting") if running else "stopped",
        bootstrap=target.bootstrap,
        topic=target.topic,
        produce_rate=spec.produce_rate,
        group=spec.group,
        produced=status.produced if status else 0,
        acked=events["acked"],
        consumed=events["consumed"],
        failed=status.failed if status else 0,
    )


def _wait_connected(paths: AppPaths, pid: int, since_ns: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if processes.has_exited(pid, paths.marker):
            raise LabError(f"app '{paths.name}' exited during start-up: {_log_tail(paths.log)}")
        fresh = paths.status.exists() and paths.status.stat().st_mtime_ns >= since_ns
        status = load_status(paths) if fresh else None
        if status is not None and status.state == "connected":
            return
        time.sleep(0.1)
    raise LabError(
        f"app '{paths.name}' did not connect within {START_TIMEOUT_S:.0f}s; see {paths.log}"
    )


def _log_tail(log_file: Path, lines: int = 3) -> str:
    try:
        text = log_file.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return "no log output"
    picked = [ln for ln in text if "error" in ln.lower()][-lines:] or text[-lines:]
    return " | ".join(ln.strip()[:300] for ln in picked) or "no log output"
