"""The checks of the config's secret references. A config that loaded has every ${env:NAME}
and ${file:PATH} resolved (dr.config.load refuses it otherwise), so what is left to check is
how the secret files are kept: readable or writable by others than their owner is a warning.

The references are read again from the config file itself: the loaded settings hold the
secrets' values, not where they came from.
"""

from __future__ import annotations

import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from dr.config.load import format_path
from dr.preflight.model import PreflightCheck, passed, problem, warning

# The syntax dr.config.load resolves.
REFERENCE = re.compile(r"\$\{(env|file):([^}]*)\}")
CHECK = "secret references"


@dataclass(frozen=True)
class SecretReference:
    """One ${env:NAME} or ${file:PATH} of the config: the key it is at, and what it names
    (the variable, or the file's path as the loader resolves it)."""

    key: str
    kind: Literal["env", "file"]
    target: str


def secret_references(text: str, base_dir: Path) -> list[SecretReference]:
    """Every secret reference in the config text, in the order written; [] for text that is
    not a YAML mapping."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError:
        return []
    found: list[SecretReference] = []
    _walk(raw, (), base_dir, found)
    return found


def secret_checks(config_path: Path) -> tuple[PreflightCheck, ...]:
    """'secret references', and one 'secret file PATH' check per file referenced."""
    subject = f"config {config_path}"
    try:
        text = config_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        detail = f"{config_path} cannot be read again: {exc}"
        return (warning(CHECK, subject, detail, "make the config file readable"),)
    refs = secret_references(text, config_path.parent)
    envs = [r for r in refs if r.kind == "env"]
    files: dict[str, list[str]] = {}
    for ref in refs:
        if ref.kind == "file":
            files.setdefault(ref.target, []).append(ref.key)
    if not refs:
        detail = "the config has no ${env:...} or ${file:...} reference"
    else:
        detail = (
            f"{len(refs)} resolved at load: {len(envs)} from the environment, "
            f"{len(refs) - len(envs)} from {len(files)} files"
        )
    checks = [passed(CHECK, subject, detail)]
    checks += [secret_file_check(Path(path), keys) for path, keys in files.items()]
    return tuple(checks)


def secret_file_check(path: Path, keys: list[str]) -> PreflightCheck:
    """'secret file PATH': only its owner may read or write it."""
    check, subject = f"secret file {path}", f"{keys[0]} (${{file:{path}}})"
    try:
        info = path.stat()
    except OSError as exc:
        hint = "it was read when the config loaded: put it back, readable by kafka-dr"
        return problem(check, subject, f"cannot be read: {exc.strerror or exc}", hint)
    mode = stat.S_IMODE(info.st_mode)
    hint = f"chmod 600 {path} (it holds the secret at {', '.join(keys)})"
    if mode & 0o044:
        return warning(check, subject, f"readable by group or others (mode {mode:04o})", hint)
    if mode & 0o022:
        return warning(check, subject, f"writable by group or others (mode {mode:04o})", hint)
    return passed(check, subject, f"mode {mode:04o}, owner uid {info.st_uid} only")


def _walk(value: Any, loc: tuple[Any, ...], base_dir: Path, found: list[SecretReference]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _walk(item, (*loc, key), base_dir, found)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _walk(item, (*loc, i), base_dir, found)
    elif isinstance(value, str):
        for match in REFERENCE.finditer(value):
            kind, ref = match.group(1), match.group(2).strip()
            if kind == "env":
                found.append(SecretReference(format_path(loc), "env", ref))
                continue
            path = Path(ref).expanduser()
            target = path if path.is_absolute() else base_dir / path
            found.append(SecretReference(format_path(loc), "file", str(target)))
