"""requirements.lock (the image's) and requirements-dev.lock (CI's): exact, hashed versions
that satisfy pyproject.toml, one version of each package in both."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).parents[1]
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")


def pins(name: str) -> dict[str, str]:
    """The lock file's packages (canonical names) and their exact versions; every entry must
    carry at least one hash."""
    found: dict[str, str] = {}
    entries = re.split(r"\n(?=\S)", (ROOT / name).read_text())
    for entry in entries:
        match = _PIN.match(entry)
        if match is None:
            assert entry.startswith("#") or not entry.strip(), f"{name}: not a pin: {entry[:80]}"
            continue
        assert "--hash=sha256:" in entry, f"{name}: {match.group(1)} has no hash"
        found[canonicalize_name(match.group(1))] = match.group(2)
    return found


def declared(extra: str | None = None) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    listed = project["optional-dependencies"][extra] if extra else project["dependencies"]
    return [Requirement(line) for line in listed]


@pytest.mark.parametrize(
    ("lock", "extras"),
    [("requirements.lock", [None]), ("requirements-dev.lock", [None, "dev"])],
)
def test_each_lock_pins_every_declared_dependency_within_its_range(
    lock: str, extras: list[str | None]
) -> None:
    pinned = pins(lock)
    for extra in extras:
        for requirement in declared(extra):
            name = canonicalize_name(requirement.name)
            assert name in pinned, f"{lock} lacks {name}: run `make lock`"
            assert requirement.specifier.contains(pinned[name], prereleases=True), (
                f"{lock} pins {name}=={pinned[name]}, outside {requirement}: run `make lock`"
            )


def test_the_runtime_lock_holds_the_same_versions_as_the_dev_lock() -> None:
    runtime, dev = pins("requirements.lock"), pins("requirements-dev.lock")

    assert {n: dev.get(n) for n in runtime} == runtime
    assert "pytest" not in runtime and "pytest" in dev


def test_the_lock_files_leave_the_package_itself_out() -> None:
    # It is installed on its own with --no-deps (Makefile, Dockerfile).
    assert "kafka-dr" not in pins("requirements.lock")
    assert "kafka-dr" not in pins("requirements-dev.lock")
