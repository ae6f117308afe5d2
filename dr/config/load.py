"""Loading the configuration: find the file, parse YAML, resolve secret references, validate.

Every problem is reported with its key path (``clusters.prod.client.sasl.password``), and all
of them at once, so that one run of ``kafka-dr config validate`` lists everything to fix.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from dr.config.keys import did_you_mean
from dr.config.playbooks import HookSettings, PlaybookSettings, StepHooks
from dr.config.schema import Settings
from dr.config.strict_yaml import load_yaml
from dr.errors import ConfigError
from dr.log import register_secrets

ENV_VAR = "KAFKA_DR_CONFIG"
DEFAULT_NAME = "kafka-dr.yaml"
_UNION_MEMBERS = {"str", "SecretStr", "int", "float", "bool"}
_ACCESS_KINDS = {"ssh", "command", "lab"}
_REFERENCE = re.compile(r"\$\{(env|file):([^}]*)\}")


@dataclass(frozen=True)
class LoadedConfig:
    """A validated configuration and the file it came from."""

    settings: Settings
    path: Path


def find_config(explicit: str | os.PathLike[str] | None) -> Path:
    """The config file to use: --config, then $KAFKA_DR_CONFIG, then ./kafka-dr.yaml.

    Raises ConfigError when none of them names an existing file.
    """
    if explicit:
        candidate, origin = Path(explicit), "--config"
    elif os.environ.get(ENV_VAR):
        candidate, origin = Path(os.environ[ENV_VAR]), ENV_VAR
    else:
        candidate, origin = Path.cwd() / DEFAULT_NAME, "default"
        if not candidate.exists():
            raise ConfigError(
                str(candidate),
                [f"no config file: give --config FILE, set {ENV_VAR}, or create ./{DEFAULT_NAME}"],
            )
    if not candidate.is_file():
        raise ConfigError(str(candidate), [f"file not found (from {origin})"])
    return candidate.resolve()


def load_config(explicit: str | os.PathLike[str] | None = None) -> LoadedConfig:
    """Find, read and validate the configuration; raises ConfigError listing every problem."""
    path = find_config(explicit)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read: {exc.strerror}"]) from None
    except UnicodeDecodeError:
        raise ConfigError(str(path), ["cannot read: the file is not UTF-8 text"]) from None
    return LoadedConfig(
        settings=parse_config(text, source=str(path), base_dir=path.parent), path=path
    )


def parse_config(text: str, *, source: str, base_dir: Path) -> Settings:
    """Validate config text; relative paths are taken from base_dir. Raises ConfigError."""
    try:
        raw = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(source, [f"{where}{problem}"]) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(source, ["the top level must be a mapping of keys to values"])
    problems: list[str] = []
    secrets: list[str] = []
    resolved = _resolve(raw, (), base_dir, problems, secrets)
    if problems:
        raise ConfigError(source, problems)
    register_secrets(secrets)
    try:
        settings = Settings.model_validate(resolved)
    except ValidationError as exc:
        described = [_describe(err) for err in exc.errors()]
        raise ConfigError(source, list(dict.fromkeys(described))) from None
    problems = _check_references(settings)
    if problems:
        raise ConfigError(source, problems)
    register_secrets(_client_secrets(settings))
    return _with_paths(settings, base_dir)


def format_path(loc: tuple[Any, ...]) -> str:
    """A key path as the user writes it: clusters.prod.brokers[0].id."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _describe(err: Mapping[str, Any]) -> str:
    loc = tuple(err.get("loc", ()))
    # For a union-typed value pydantic appends the member it tried ('str', 'function-after[...]');
    # for a refused mapping key, '[key]' after the key itself.
    while loc and isinstance(loc[-1], str) and (loc[-1] in _UNION_MEMBERS or "[" in loc[-1]):
        loc = loc[:-1]
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    typed_loc, loc = loc, _without_access_kind(loc)
    if kind == "extra_forbidden":
        meant = did_you_mean(Settings, typed_loc)
        message = f"unknown key (did you mean '{meant}'?)" if meant else "unknown key"
    elif kind in ("union_tag_invalid", "union_tag_not_found"):
        # A discriminated union (access.kind): name the key that picks the member.
        loc = (*loc, ctx.get("discriminator", "kind").strip("'"))
        message = (
            f"must be one of {ctx['expected_tags']}"
            if "expected_tags" in ctx
            else "required key is missing"
        )
    elif kind == "missing":
        message = "required key is missing"
    else:
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        if "input" in err and kind.endswith("_type"):
            message += f" (got {type(err['input']).__name__})"
    return f"at '{format_path(loc)}': {message}"


def _without_access_kind(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """The key path without the kind pydantic puts after the access union's key: the user
    wrote clusters.a.access.user, not clusters.a.access.ssh.user."""
    for i in range(1, len(loc)):
        if loc[i - 1] == "access" and loc[i] in _ACCESS_KINDS:
            return (*loc[:i], *loc[i + 1 :])
    return loc


def _resolve(
    value: Any, loc: tuple[Any, ...], base_dir: Path, problems: list[str], secrets: list[str]
) -> Any:
    if isinstance(value, dict):
        return {k: _resolve(v, (*loc, k), base_dir, problems, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, (*loc, i), base_dir, problems, secrets) for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value

    def substitute(match: re.Match[str]) -> str:
        kind, ref = match.group(1), match.group(2).strip()
        where = format_path(loc)
        if kind == "env":
            if ref not in os.environ:
                problems.append(f"at '{where}': environment variable {ref} is not set")
                return ""
            secret = os.environ[ref]
        else:
            path = Path(ref).expanduser()
            if not path.is_absolute():
                path = base_dir / path
            try:
                secret = path.read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                problems.append(f"at '{where}': cannot read secret file {path}: {exc.strerror}")
                return ""
            except UnicodeDecodeError:
                problems.append(f"at '{where}': secret file {path} is not UTF-8 text")
                return ""
        secrets.append(secret)
        return secret

    return _REFERENCE.sub(substitute, value)


def _check_references(settings: Settings) -> list[str]:
    problems: list[str] = []
    for name, job in settings.backups.items():
        if job.cluster not in settings.clusters:
            where = format_path(("backups", name, "cluster"))
            problems.append(f"at '{where}': no cluster named '{job.cluster}' in clusters")
        if job.storage not in settings.storage:
            where = format_path(("backups", name, "storage"))
            problems.append(f"at '{where}': no store named '{job.storage}' in storage")
    if settings.mirror:
        for i, flow in enumerate(settings.mirror.flows):
            for side in ("source", "target"):
                name = getattr(flow, side)
                if name not in settings.clusters:
                    where = format_path(("mirror", "flows", i, side))
                    problems.append(f"at '{where}': no cluster named '{name}' in clusters")
            if flow.source == flow.target:
                where = format_path(("mirror", "flows", i))
                problems.append(f"at '{where}': source and target are the same cluster")
        for name in settings.mirror.clients:
            if name not in settings.clusters:
                where = format_path(("mirror", "clients", name))
                problems.append(f"at '{where}': no cluster named '{name}' in clusters")
    return problems


def _client_secrets(settings: Settings) -> list[str]:
    out: list[str] = []
    for cluster in settings.clusters.values():
        for value in cluster.client.values():
            if not isinstance(value, str):
                out.append(value.get_secret_value())
    if settings.mirror is not None:
        for client in settings.mirror.clients.values():
            out += [v.get_secret_value() for v in client.values() if not isinstance(v, str)]
    for store in settings.storage.values():
        for secret in (store.access_key_id, store.secret_access_key):
            if secret is not None:
                out.append(secret.get_secret_value())
        if store.encryption is not None:  # written inline, not as a reference
            out += [key.get_secret_value().strip() for key in store.encryption.keys.values()]
    for drill in settings.drills.values():
        if drill.signing_key is not None:
            out.append(drill.signing_key.get_secret_value())
    return out


def _with_paths(settings: Settings, base_dir: Path) -> Settings:
    state = settings.state or Path("kafka-dr.db")
    if not state.is_absolute():
        state = base_dir / state
    tools = settings.tools
    if tools.kafka_home is not None and not tools.kafka_home.is_absolute():
        tools = tools.model_copy(update={"kafka_home": base_dir / tools.kafka_home})
    update: dict[str, Any] = {"state": state, "tools": tools}
    mirror = settings.mirror
    if mirror is not None:
        paths = {
            "properties_file": mirror.properties_file,
            "pid_file": mirror.pid_file,
            "secrets_file": mirror.secrets_file,
        }
        relative = {k: base_dir / p for k, p in paths.items() if p and not p.is_absolute()}
        if relative:
            update["mirror"] = mirror.model_copy(update=relative)
    if settings.playbooks:
        update["playbooks"] = {
            name: _with_hook_paths(playbook, base_dir)
            for name, playbook in settings.playbooks.items()
        }
    return settings.model_copy(update=update)


def _with_hook_paths(playbook: PlaybookSettings, base_dir: Path) -> PlaybookSettings:
    """The playbook with each hook program given as a relative path (hooks/x.sh) taken from
    base_dir; a bare name (curl) is left to be looked up on PATH."""

    def resolved(hook: HookSettings) -> HookSettings:
        program = Path(hook.command[0])
        if "/" not in hook.command[0] or program.is_absolute():
            return hook
        return hook.model_copy(update={"command": [str(base_dir / program), *hook.command[1:]]})

    steps = {
        step: StepHooks(
            before=[resolved(h) for h in hooks.before], after=[resolved(h) for h in hooks.after]
        )
        for step, hooks in playbook.hooks.items()
    }
    return playbook.model_copy(update={"hooks": steps})
