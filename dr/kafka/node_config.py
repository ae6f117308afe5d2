"""A Kafka node's server.properties, read for what the broker procedures decide on: its id
and roles, its log dirs, and whether its metadata quorum is static or dynamic (KIP-853)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from dr.errors import DrError

QuorumKind = Literal["static", "dynamic"]


def parse_properties(text: str) -> dict[str, str]:
    """A java.util.Properties text as a mapping (comments, ``=``/``:`` separators, line
    continuations and the common escapes)."""
    out: dict[str, str] = {}
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = pending + raw.lstrip() if pending else raw.strip()
        if not pending and (not line or line[0] in "#!"):
            continue
        trailing = len(line) - len(line.rstrip("\\"))
        if trailing % 2 == 1:
            pending = line[:-1]
            continue
        pending = ""
        logical.append(line)
    if pending:
        logical.append(pending)
    for line in logical:
        cut = next((i for i, c in enumerate(line) if c in "=:" and _unescaped(line, i)), None)
        key, value = (line, "") if cut is None else (line[:cut], line[cut + 1 :])
        out[_unescape(key.strip())] = _unescape(value.strip())
    return out


def _unescaped(line: str, i: int) -> bool:
    slashes = len(line[:i]) - len(line[:i].rstrip("\\"))
    return slashes % 2 == 0


def _unescape(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append({"n": "\n", "t": "\t", "r": "\r"}.get(nxt, nxt))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


@dataclass(frozen=True)
class NodeConfig:
    """What a node's config says about it."""

    node_id: int
    roles: tuple[str, ...]
    log_dirs: tuple[str, ...]
    metadata_log_dir: str
    quorum: QuorumKind
    properties: dict[str, str]

    @property
    def is_controller(self) -> bool:
        return "controller" in self.roles

    @property
    def is_broker(self) -> bool:
        return "broker" in self.roles


def node_config(text: str, *, where: str) -> NodeConfig:
    """Read a server.properties; raises DrError naming ``where`` when it lacks what a KRaft
    node must have (node.id, process.roles, log dirs, a quorum)."""
    props = parse_properties(text)
    try:
        node_id = int(props["node.id"])
    except (KeyError, ValueError):
        raise DrError(f"{where}: no numeric node.id (is this a KRaft node's config?)") from None
    roles = tuple(r.strip() for r in props.get("process.roles", "").split(",") if r.strip())
    if not roles:
        raise DrError(f"{where}: no process.roles (is this a KRaft node's config?)")
    dirs = props.get("log.dirs") or props.get("log.dir") or ""
    log_dirs = tuple(d.strip() for d in dirs.split(",") if d.strip())
    if not log_dirs:
        raise DrError(f"{where}: no log.dirs")
    if props.get("controller.quorum.voters", "").strip():
        quorum: QuorumKind = "static"
    elif props.get("controller.quorum.bootstrap.servers", "").strip():
        quorum = "dynamic"
    else:
        raise DrError(
            f"{where}: neither controller.quorum.voters nor controller.quorum.bootstrap.servers"
        )
    return NodeConfig(
        node_id=node_id,
        roles=roles,
        log_dirs=log_dirs,
        metadata_log_dir=props.get("metadata.log.dir", "").strip() or log_dirs[0],
        quorum=quorum,
        properties=props,
    )
