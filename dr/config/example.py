"""The documented sample configuration, generated from the schema.

Every key's comment is its schema ``description`` and every value comes from the field's
``examples`` (else its default), so the sample never drifts from the models. Only what the
schema cannot know is written here: the names and addresses of a realistic two-cluster set-up
(``primary`` replicated to ``dr``, its orders backed up to S3), and which optional keys to
show commented out.
"""

from __future__ import annotations

import re
import textwrap
import types
from collections.abc import Iterator, Mapping
from pathlib import PurePath
from typing import Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from dr.config.schema import Settings

_INDENT = "  "
_WIDTH = 96
_ENV_REFERENCE = re.compile(r"\$\{env:([^}]+)\}")


class _Commented:
    """Marks a key that the sample shows commented out, with its example value."""


COMMENTED = _Commented()

# What the schema cannot say: the clusters, stores and flows of a realistic set-up. Keys not
# given here take their value from the schema (examples, then defaults). Only the first entry
# of each mapping or list is documented key by key; later entries show just the keys given.
_SAMPLE: dict[str, Any] = {
    "clusters": {
        "primary": {
            "bootstrap_servers": "kafka-1.prod:9092,kafka-2.prod:9092,kafka-3.prod:9092",
            "brokers": [
                {"id": 1, "host": "kafka-1.prod"},
                {"id": 2, "host": "kafka-2.prod", "log_dirs": ["/var/lib/kafka/data"]},
                {"id": 3, "host": "kafka-3.prod", "log_dirs": ["/var/lib/kafka/data"]},
            ],
        },
        "dr": {
            "bootstrap_servers": "kafka-1.dr:9092,kafka-2.dr:9092,kafka-3.dr:9092",
            "client": {
                "security.protocol": "SASL_SSL",
                "sasl.mechanism": "SCRAM-SHA-512",
                "sasl.username": "kafka-dr",
                "sasl.password": "${env:KAFKA_DR_DR_PASSWORD}",
            },
            "brokers": [
                {"id": 1, "host": "kafka-1.dr", "log_dirs": ["/var/lib/kafka/data"]},
                {"id": 2, "host": "kafka-2.dr", "log_dirs": ["/var/lib/kafka/data"]},
                {"id": 3, "host": "kafka-3.dr", "log_dirs": ["/var/lib/kafka/data"]},
            ],
        },
    },
    "storage": {
        "s3-prod": {
            "url": "s3://acme-kafka-backups/prod",
            # On AWS itself the endpoint is derived from the region.
            "endpoint_url": COMMENTED,
            # The standard AWS credential chain (instance role, ~/.aws) is the better default.
            "access_key_id": COMMENTED,
            "secret_access_key": COMMENTED,
        },
        "local": {"url": "file:///var/lib/kafka-dr/backups"},
    },
    "mirror": {
        # Only with deploy: connect, which refuses the dedicated keys below.
        "connect_url": COMMENTED,
        "flows": [{"source": "primary", "target": "dr"}],
        # Only where kafka-dr runs on the MirrorMaker host itself.
        "pid_file": COMMENTED,
    },
    "backups": {
        "orders": {
            "cluster": "primary",
            "topics": ["orders", "payments\\..*"],
            "exclude": [".*-tmp"],
            "storage": "s3-prod",
            "schedule": "*/15 * * * *",
            # Every 15 minutes, 96 backups are one day; keep_days still keeps a month.
            "retention": {"keep_days": 30, "keep_last": 96, "min_keep": 3},
            "compression": "zstd",
        },
    },
    "playbooks": {
        "failover": {
            "hooks": {
                "switch_clients": {
                    "before": [],
                    "after": [
                        {
                            "command": [
                                "/etc/kafka-dr/hooks/switch-dns.sh",
                                "--zone",
                                "kafka.acme.internal",
                            ],
                            "retries": 2,
                        }
                    ],
                },
                # Around every step: a chat message that must never stop the failover.
                "all": {
                    "after": [
                        {
                            "command": ["/etc/kafka-dr/hooks/notify-chat.sh"],
                            "on_failure": "continue",
                        }
                    ]
                },
            }
        },
    },
    "drills": {
        "weekly": {
            "scenarios": {
                "backup_restore": {"jobs": ["orders"], "target_cluster": "dr"},
                "mirror": {"flows": ["primary->dr"]},
            },
            "schedule": "0 4 * * 1",
            "report_dir": "/var/lib/kafka-dr/drills",
            # Made with `kafka-dr drill keygen --out /etc/kafka-dr/drill-signing.pem`.
            "signing_key": COMMENTED,
        },
    },
    "tools": {
        # kafka_home and kafka_version are alternatives: show the Maven one.
        "kafka_home": COMMENTED,
    },
}


def example_config() -> str:
    """The commented sample kafka-dr.yaml; it validates once its ${env:...} variables are set."""
    body = list(_model_lines(Settings, _SAMPLE, depth=0, documented=True))
    header = [
        "# kafka-dr configuration: a primary cluster replicated to a DR cluster, backed up to S3",
        "# and to a local directory; a failover to DR switches the clients' DNS name by a hook.",
        "# Generated by `kafka-dr config example` from the schema; check your copy with",
        "# `kafka-dr config validate FILE`.",
        "#",
        "# Secret values are references, resolved when the config is loaded:",
        "#   ${env:NAME}  the environment variable NAME",
        "#   ${file:PATH} the content of the file PATH (relative to this file's directory)",
        "# This sample reads these environment variables: "
        + ", ".join(_env_variables("\n".join(body))),
        "",
    ]
    return "\n".join([*header, *body]) + "\n"


def example_env_vars() -> list[str]:
    """The environment variables that the sample config's ${env:...} references read."""
    return _env_variables("\n".join(_model_lines(Settings, _SAMPLE, depth=0, documented=True)))


def _env_variables(text: str) -> list[str]:
    # Only the values count: descriptions mention ${env:NAME} as syntax, not as a reference.
    found: list[str] = []
    for line in text.splitlines():
        if not line.lstrip().startswith("#"):
            found += [m for m in _ENV_REFERENCE.findall(line) if m not in found]
    return found


def _model_lines(
    model: type[BaseModel], sample: Mapping[str, Any], *, depth: int, documented: bool
) -> Iterator[str]:
    """The lines of one model's keys; with documented, each preceded by its description."""
    unknown = set(sample) - set(model.model_fields)
    if unknown:
        raise ValueError(f"sample names keys {sorted(unknown)} that {model.__name__} lacks")
    for index, (name, info) in enumerate(model.model_fields.items()):
        if not documented and name not in sample:
            continue
        if documented and depth == 0 and index:
            yield ""
        if documented and info.description:
            yield from _comment(info.description, depth)
        value = sample.get(name, _schema_value(info))
        commented = value is COMMENTED or value is None
        if commented:
            value = _schema_value(info, commented=True)
        lines = list(_key_lines(name, value, info, depth=depth, documented=documented))
        if commented:
            pad = _INDENT * depth
            lines = [f"{pad}# {line[len(pad) :]}" for line in lines]
        yield from lines


def _key_lines(
    name: str, value: Any, info: FieldInfo, *, depth: int, documented: bool
) -> Iterator[str]:
    pad = _INDENT * depth
    key = _scalar(name)
    kind, model = _nested_model(info.annotation)
    if model is not None and kind == "model":
        # A default instance (objectives, tools) is shown through its own fields' examples.
        nested = value if isinstance(value, Mapping) else {}
        yield f"{pad}{key}:"
        yield from _model_lines(model, nested, depth=depth + 1, documented=documented)
    elif model is not None and kind == "dict" and isinstance(value, Mapping) and value:
        yield f"{pad}{key}:"
        for position, (entry, entry_sample) in enumerate(value.items()):
            if position and documented:
                yield ""
            yield f"{pad}{_INDENT}{_scalar(entry)}:"
            yield from _model_lines(
                model, entry_sample, depth=depth + 2, documented=documented and position == 0
            )
    elif model is not None and kind == "list" and isinstance(value, list) and value:
        yield f"{pad}{key}:"
        for position, item_sample in enumerate(value):
            item = list(
                _model_lines(
                    model, item_sample, depth=depth + 2, documented=documented and position == 0
                )
            )
            yield from _list_item(item, depth + 1)
    else:
        yield from _data_lines(key, value, depth)


def _list_item(lines: list[str], depth: int) -> Iterator[str]:
    """Turn a mapping's lines at depth+1 into one `- ` list item at depth."""
    pad = _INDENT * depth
    marked = False
    for line in lines:
        body = line[len(pad) + len(_INDENT) :]
        if not marked and not body.startswith("#"):
            yield f"{pad}- {body}"
            marked = True
        elif not marked:
            yield f"{pad}{body}"
        else:
            yield line


def _data_lines(key: str, value: Any, depth: int) -> Iterator[str]:
    """Plain data (scalars, lists, mappings) as block YAML under key."""
    pad = _INDENT * depth
    if isinstance(value, Mapping) and value:
        yield f"{pad}{key}:"
        for k, v in value.items():
            yield from _data_lines(_scalar(k), v, depth + 1)
    elif isinstance(value, Mapping):
        yield f"{pad}{key}: {{}}"
    elif isinstance(value, list | tuple):
        yield f"{pad}{key}: [{', '.join(_scalar(item, flow=True) for item in value)}]"
    else:
        yield f"{pad}{key}: {_scalar(value)}".rstrip()


def _schema_value(info: FieldInfo, *, commented: bool = False) -> Any:
    """The field's first example, else its default; None when it has neither."""
    if info.examples:
        return info.examples[0]
    if commented or info.is_required():
        return None
    return info.get_default(call_default_factory=True, validated_data={})


def _nested_model(annotation: Any) -> tuple[str, type[BaseModel] | None]:
    """Whether a field holds a model, a dict of models or a list of models, and which model."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        return _nested_model(members[0]) if len(members) == 1 else ("data", None)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "model", annotation
    args = get_args(annotation)
    if origin is dict and len(args) == 2:
        kind, model = _nested_model(args[1])
        return ("dict", model) if kind == "model" else ("data", None)
    if origin is list and len(args) == 1:
        kind, model = _nested_model(args[0])
        return ("list", model) if kind == "model" else ("data", None)
    return "data", None


def _scalar(value: Any, *, flow: bool = False) -> str:
    """One YAML scalar, quoted only where YAML needs it (more often inside a [flow, list])."""
    if value is None:
        return ""
    if isinstance(value, PurePath):
        value = str(value)
    if flow:
        text = yaml.safe_dump([value], default_flow_style=True, width=10**9).strip()
        return text.removeprefix("[").removesuffix("]")
    text = yaml.safe_dump(value, width=10**9)
    return text.removesuffix("\n").removesuffix("\n...").strip()


def _comment(text: str, depth: int) -> Iterator[str]:
    pad = _INDENT * depth
    for line in textwrap.wrap(text, width=max(40, _WIDTH - len(pad) - 2)):
        yield f"{pad}# {line}"
