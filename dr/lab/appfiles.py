"""The files of a lab application under DIR/apps/, shared by the app and the commands that
drive it.

```
NAME.json        what was started: produce rate, consumer group, topic, pid
NAME.bootstrap   the bootstrap servers the app connects to (a hook rewrites it)
NAME.topic       the topic it uses on that cluster (a hook rewrites it)
NAME.status      what the app reports about itself (connected to, produced, next key)
NAME.ledger      every acknowledged and consumed record (dr/lab/ledger.py)
NAME.log         its log
```

Every file but the ledger and the log is replaced atomically (written aside, then renamed), so
a reader never sees half of one.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from dr.errors import LabError

APPS_DIR = "apps"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def apps_dir(lab_dir: Path) -> Path:
    """Where the lab's applications keep their files."""
    return lab_dir.resolve() / APPS_DIR


def check_name(name: str) -> str:
    """The name, when it can name an app's files; LabError otherwise."""
    if not NAME_PATTERN.match(name):
        raise LabError(
            f"app name '{name}' is not usable: use letters, digits, '.', '_' or '-' "
            "(at most 64, starting with a letter or digit)"
        )
    return name


@dataclass(frozen=True)
class AppPaths:
    """The files of one app."""

    directory: Path
    name: str

    def _file(self, suffix: str) -> Path:
        return self.directory / f"{self.name}.{suffix}"

    @property
    def spec(self) -> Path:
        return self._file("json")

    @property
    def bootstrap(self) -> Path:
        return self._file("bootstrap")

    @property
    def topic(self) -> Path:
        return self._file("topic")

    @property
    def status(self) -> Path:
        return self._file("status")

    @property
    def ledger(self) -> Path:
        return self._file("ledger")

    @property
    def log(self) -> Path:
        return self._file("log")

    @property
    def hold(self) -> Path:
        """Present while the app must not produce (a planned move's stop_producers hook)."""
        return self._file("hold")

    @property
    def marker(self) -> str:
        """What the app's command line holds, so that a recycled pid is never taken for it."""
        return str(self.spec)


@dataclass(frozen=True)
class AppSpec:
    """What ``lab app start`` was asked for, and the pid it started."""

    name: str
    topic: str  # the topic it was started with (on the first cluster)
    produce_rate: float | None = None  # records per second
    group: str | None = None  # consumer group
    pid: int | None = None

    def with_pid(self, pid: int | None) -> AppSpec:
        return replace(self, pid=pid)


@dataclass(frozen=True)
class Target:
    """Where the app connects: bootstrap servers and the topic's name on that cluster."""

    bootstrap: str
    topic: str


@dataclass(frozen=True)
class AppStatus:
    """What the running app says about itself (rewritten about once a second)."""

    state: str  # starting, connected, reconnecting, stopped
    bootstrap: str
    topic: str
    produced: int  # records handed to the producer
    failed: int  # deliveries that reported an error
    reconnects: int
    next_seq: int  # keys below this may have been used: a restart continues from here


def write_atomically(path: Path, text: str) -> None:
    """Replace path with text: written aside, then renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def save_spec(paths: AppPaths, spec: AppSpec) -> None:
    write_atomically(paths.spec, json.dumps(asdict(spec), indent=2) + "\n")


def load_spec(paths: AppPaths) -> AppSpec:
    """The app's spec; LabError when the app was never started here."""
    raw = _read_json(paths.spec, what=f"app '{paths.name}'")
    if raw is None:
        raise LabError(f"no app '{paths.name}' in {paths.directory}")
    try:
        return AppSpec(**raw)
    except TypeError as exc:
        raise LabError(f"{paths.spec} is not an app spec ({exc})") from None


def known_apps(directory: Path) -> list[str]:
    """The names of every app that was started in this apps directory, sorted."""
    if not directory.is_dir():
        return []
    return sorted(p.stem for p in directory.glob("*.json") if NAME_PATTERN.match(p.stem))


def write_target(paths: AppPaths, target: Target) -> None:
    write_atomically(paths.bootstrap, target.bootstrap + "\n")
    write_atomically(paths.topic, target.topic + "\n")


def read_target(paths: AppPaths) -> Target:
    """The bootstrap servers and topic in the app's files; LabError when one is missing or
    empty."""
    values = []
    for path in (paths.bootstrap, paths.topic):
        try:
            value = path.read_text().strip()
        except FileNotFoundError:
            raise LabError(
                f"{path} is missing: start the app with 'kafka-dr lab app start'"
            ) from None
        if not value:
            raise LabError(f"{path} is empty: it should hold one line")
        values.append(value)
    return Target(bootstrap=values[0], topic=values[1])


def read_settled_target(paths: AppPaths, *, settle_s: float = 0.2) -> Target:
    """read_target, once neither file has changed for settle_s: a switch rewrites the two files
    one after the other, and a read between them would pair a new bootstrap with an old topic."""
    for _ in range(50):
        before = target_stamp(paths)
        target = read_target(paths)
        time.sleep(settle_s)
        if target_stamp(paths) == before:
            return target
    return read_target(paths)


def target_stamp(paths: AppPaths) -> tuple[int, ...]:
    """Changes whenever either target file is rewritten (mtime, inode and size of both)."""
    stamp: list[int] = []
    for path in (paths.bootstrap, paths.topic):
        try:
            st = path.stat()
            stamp += [st.st_mtime_ns, st.st_ino, st.st_size]
        except FileNotFoundError:
            stamp += [0, 0, 0]
    return tuple(stamp)


def save_status(paths: AppPaths, status: AppStatus) -> None:
    write_atomically(paths.status, json.dumps(asdict(status)) + "\n")


def load_status(paths: AppPaths) -> AppStatus | None:
    """What the app last reported; None before its first report."""
    raw = _read_json(paths.status, what=f"status of app '{paths.name}'")
    if raw is None:
        return None
    try:
        return AppStatus(**raw)
    except TypeError as exc:
        raise LabError(f"{paths.status} is not an app status ({exc})") from None


def _read_json(path: Path, *, what: str) -> dict[str, Any] | None:
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise LabError(f"{path} ({what}) is unreadable: {exc}") from None
    if not isinstance(raw, dict):
        raise LabError(f"{path} ({what}) is not a JSON object")
    return raw
