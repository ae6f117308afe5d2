"""The ACLs of the secure lab: each user gets what it needs, nothing more.

kafka-dr's user and MirrorMaker's get exactly what `kafka-dr acls plan` plans for the lab's
config; the Connect worker (MirrorMaker's user) its group and internal topics; the lab's
client apps (``lab-apps``) any topic and group, as applications of a real cluster would have
theirs. The lab's own tools act as the super user ``admin``.
"""

from __future__ import annotations

from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclBinding,
    AclOperation,
    AclPermissionType,
    ResourcePatternType,
    ResourceType,
)

from dr.config import load_config
from dr.errors import LabError
from dr.kafka.client import admin_client
from dr.lab.security import APPS, MIRRORMAKER, admin_settings
from dr.lab.state import LabState
from dr.log import get_logger
from dr.preflight.acl_plan import plan_acls

log = get_logger(__name__)

CONNECT_GROUP = "kafka-dr-lab-connect"
CONNECT_TOPICS = "kafka-dr-lab-connect-"


def _allow(
    kind: ResourceType, name: str, pattern: ResourcePatternType, user: str, op: AclOperation
) -> AclBinding:
    return AclBinding(kind, name, pattern, f"User:{user}", "*", op, AclPermissionType.ALLOW)


def lab_extra_bindings(cluster: str) -> list[AclBinding]:
    """What the plan does not cover: the lab apps' rights, and on dr the Connect worker's."""
    lit, pre = ResourcePatternType.LITERAL, ResourcePatternType.PREFIXED
    topic, group = ResourceType.TOPIC, ResourceType.GROUP
    out = [
        _allow(topic, "*", lit, APPS, op)
        for op in (
            AclOperation.DESCRIBE,
            AclOperation.READ,
            AclOperation.WRITE,
            AclOperation.CREATE,
        )
    ]
    out += [_allow(group, "*", lit, APPS, op) for op in (AclOperation.DESCRIBE, AclOperation.READ)]
    if cluster == "dr":
        worker_ops = (
            AclOperation.DESCRIBE,
            AclOperation.DESCRIBE_CONFIGS,
            AclOperation.READ,
            AclOperation.WRITE,
            AclOperation.CREATE,
        )
        out += [_allow(topic, CONNECT_TOPICS, pre, MIRRORMAKER, op) for op in worker_ops]
        out += [
            _allow(group, CONNECT_GROUP, lit, MIRRORMAKER, op)
            for op in (AclOperation.DESCRIBE, AclOperation.READ)
        ]
    return out


def grant_lab_acls(lab_dir: Path, state: LabState) -> int:
    """Create the lab's ACLs on both clusters as the super user; returns how many. Raises
    LabError when a cluster refuses one."""
    settings = load_config(lab_dir / "kafka-dr.yaml").settings
    plan = plan_acls(settings)
    count = 0
    for name, record in state.clusters.items():
        bindings = [b.binding() for b in plan.on(name)] + lab_extra_bindings(name)
        admin = admin_client(admin_settings(lab_dir, state.security, record.bootstrap_servers))
        for binding, future in admin.create_acls(bindings, request_timeout=30).items():
            try:
                future.result(timeout=60)
            except KafkaException as exc:
                raise LabError(f"cluster '{name}' refused the ACL {binding}: {exc}") from None
        count += len(bindings)
    log.info("lab_acls_granted", bindings=count)
    return count
