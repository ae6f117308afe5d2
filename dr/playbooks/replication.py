"""What the playbooks do to a MirrorMaker 2 flow: stop it, tell whether it is stopped, read
where its replicas end, and start it again from where the source now ends.

Stopping: Connect mode pauses the flow's connectors; dedicated mode runs
``mirror.stop_command`` (which stops the one MirrorMaker process, every flow it runs).

Starting again after clients wrote elsewhere (a rollback, a failback): the records kafka-dr
copied back onto the source are already on the target, so MirrorMaker must not copy them a
second time. Its source connector's stored positions are moved to the source's end first:

* Connect mode: Kafka Connect's offsets API (``PUT /connectors/NAME/stop``,
  ``PATCH /connectors/NAME/offsets``, then resume), Kafka 3.6 and later;
* dedicated mode, with MirrorMaker stopped: one record per partition appended to its offsets
  topic (``mm2-offsets.SOURCE.internal`` on the target unless ``offset.storage.topic`` says
  otherwise), with the exact key MirrorMaker itself wrote for that partition and in the same
  partition of the topic, then ``mirror.restart_command``.

MirrorMaker stores the last offset it copied and starts at the next one, so the value written
is the source's end offset minus one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from confluent_kafka import Producer

from dr.config.schema import MirrorFlow, MirrorSettings, Settings
from dr.errors import DrError
from dr.kafka import admin as kadmin
from dr.kafka.client import admin_client, confluent_config
from dr.kafka.reader import read_range
from dr.log import get_logger
from dr.mirror.connect import ConnectClient
from dr.mirror.connectors import render_connectors
from dr.mirror.deploy import run_mirror_command
from dr.mirror.process import check_process
from dr.mirror.properties import flow_property

log = get_logger(__name__)
TP = tuple[str, int]
SOURCE_CONNECTOR = "MirrorSourceConnector"


class ReplicationError(DrError):
    """A flow could not be stopped, read or started again."""


def _mirror(settings: Settings) -> MirrorSettings:
    if settings.mirror is None:
        raise ReplicationError("no mirror section in the config: there is no flow to act on")
    return settings.mirror


def touches(settings: Settings, flow: MirrorFlow) -> str:
    """What stopping the flow touches, for a plan."""
    if _mirror(settings).deploy == "connect":
        return f"the connectors of flow {flow.name} (paused)"
    return "the dedicated MirrorMaker process (stopped: every flow it runs)"


def stopped(settings: Settings, flow: MirrorFlow) -> bool:
    """True when nothing of the flow copies records any more."""
    mirror = _mirror(settings)
    if mirror.deploy == "connect":
        client = ConnectClient(str(mirror.connect_url))
        for name in render_connectors(settings.clusters, flow):
            status = client.status_if_deployed(name)
            if status is not None and status.state not in ("PAUSED", "STOPPED"):
                return False
        return True
    process = check_process(mirror)
    if process.running is None:
        return False  # nothing can tell: stop it (stopping twice is harmless)
    return not process.running


def stop(settings: Settings, flow: MirrorFlow, run_id: str) -> dict[str, Any]:
    """Stop the flow (see the module's docstring); raises DrError when it cannot be."""
    mirror = _mirror(settings)
    if mirror.deploy == "connect":
        client = ConnectClient(str(mirror.connect_url))
        paused = []
        for name in render_connectors(settings.clusters, flow):
            if client.status_if_deployed(name) is not None:
                client.pause(name)
                paused.append(name)
        return {"paused_connectors": paused}
    if not mirror.stop_command:
        raise ReplicationError(
            "mirror.stop_command is not set: stop MirrorMaker by hand, then run "
            f"'kafka-dr playbook resume {run_id}'"
        )
    run_mirror_command(mirror.stop_command, "mirror.stop_command", timeout_s=120)
    return {"stopped": "dedicated MirrorMaker", "command": mirror.stop_command[0]}


def partition_ends(
    settings: Settings, cluster: str, topics: list[str], timeout_s: float | None = None
) -> dict[str, int]:
    """``TOPIC:PARTITION`` -> end offset of every partition of these topics on the cluster
    (topics absent there are left out)."""
    admin = admin_client(settings.clusters[cluster])
    timeout_s = admin.timeout_s if timeout_s is None else timeout_s
    found = kadmin.list_topic_partitions(admin, timeout_s)
    tps = [(t, p) for t in sorted(set(topics)) if t in found for p in range(found[t].partitions)]
    ends = kadmin.offsets(admin, tps, "latest", timeout_s, committed=False)
    return {f"{t}:{p}": ends[(t, p)] for t, p in tps}


def tp_key(tp: TP) -> str:
    return f"{tp[0]}:{tp[1]}"


def parse_tp(key: str) -> TP:
    topic, _, partition = key.rpartition(":")
    return topic, int(partition)


def start_from_ends(
    settings: Settings, flow: MirrorFlow, source_ends: Mapping[str, int]
) -> dict[str, Any]:
    """Start the flow again, its source positions first moved to ``source_ends``
    (``TOPIC:PARTITION`` -> the source's end offset); raises DrError when it cannot."""
    mirror = _mirror(settings)
    wanted = {parse_tp(k): v for k, v in source_ends.items() if v > 0}
    if mirror.deploy == "connect":
        return _start_connect(settings, mirror, flow, wanted)
    return _start_dedicated(settings, mirror, flow, wanted)


def _start_connect(
    settings: Settings, mirror: MirrorSettings, flow: MirrorFlow, wanted: Mapping[TP, int]
) -> dict[str, Any]:
    client = ConnectClient(str(mirror.connect_url))
    names = list(render_connectors(settings.clusters, flow))
    source = next((n for n in names if n.endswith(SOURCE_CONNECTOR)), None)
    if source is None or client.status_if_deployed(source) is None:
        raise ReplicationError(
            f"flow {flow.name} has no deployed source connector: 'kafka-dr mirror apply' first"
        )
    if _connect_started(client, names, source, flow, wanted):
        return {"already_started": True, "connectors": names}
    client.stop(source)
    client.alter_offsets(
        source,
        [
            {
                "partition": {"cluster": flow.source, "topic": t, "partition": p},
                "offset": {"offset": end - 1},
            }
            for (t, p), end in sorted(wanted.items())
        ],
    )
    for name in names:
        if client.status_if_deployed(name) is not None:
            client.resume(name)
    return {"connectors_resumed": names, "positions_moved": len(wanted)}


def _connect_started(
    client: ConnectClient, names: list[str], source: str, flow: MirrorFlow, wanted: Mapping[TP, int]
) -> bool:
    """The flow runs again with its positions at or past the wanted ends (a resumed run whose
    start had been done before a kill): moving them now would skip what it copied since."""
    for name in names:
        status = client.status_if_deployed(name)
        if status is not None and status.state != "RUNNING":
            return False
    stored: dict[TP, int] = {}
    for entry in client.offsets(source):
        part, offset = entry.get("partition", {}), entry.get("offset", {})
        if part.get("cluster") == flow.source and isinstance(offset.get("offset"), int):
            stored[(str(part.get("topic")), int(part.get("partition", -1)))] = offset["offset"]
    return all(stored.get(tp, -1) >= end - 1 for tp, end in wanted.items())


def _start_dedicated(
    settings: Settings, mirror: MirrorSettings, flow: MirrorFlow, wanted: Mapping[TP, int]
) -> dict[str, Any]:
    if not mirror.restart_command:
        raise ReplicationError(
            "mirror.restart_command is not set: kafka-dr cannot start MirrorMaker again"
        )
    topic = (
        flow_property(mirror, flow, "offset.storage.topic") or f"mm2-offsets.{flow.source}.internal"
    )
    target = settings.clusters[flow.target]
    keys = _stored_keys(target, topic, flow.source)
    if check_process(mirror).running:
        # A resumed run whose start was done before a kill: MirrorMaker runs from at least the
        # wanted ends (it only moves on). Anything else is not kafka-dr's to overwrite.
        if all(keys[tp][2] >= end - 1 for tp, end in wanted.items() if tp in keys):
            return {"already_started": True, "offsets_topic": topic}
        raise ReplicationError(
            "MirrorMaker is running from before the ends it must start from: its positions "
            "can only be moved while it is stopped (mirror.stop_command)"
        )
    unknown = sorted(tp for tp in wanted if tp not in keys)
    producer = Producer(confluent_config(target, **{"enable.idempotence": True, "acks": "all"}))
    for tp, end in sorted(wanted.items()):
        if tp not in keys:
            continue  # never copied: MirrorMaker starts it from the beginning, as it should
        key, partition, _stored = keys[tp]
        value = json.dumps({"offset": end - 1}, separators=(",", ":")).encode()
        producer.produce(topic, value, key, partition=partition)
    if producer.flush(target.timeout_s):
        raise ReplicationError(f"MirrorMaker's positions in {topic} could not be written")
    run_mirror_command(mirror.restart_command, "mirror.restart_command", timeout_s=300)
    log.info("mirror_restarted", flow=flow.name, positions=len(wanted) - len(unknown))
    return {
        "offsets_topic": topic,
        "positions_moved": len(wanted) - len(unknown),
        "never_copied": [tp_key(tp) for tp in unknown],
        "started": "dedicated MirrorMaker",
    }


def _stored_keys(cluster: Any, topic: str, source_alias: str) -> dict[TP, tuple[bytes, int, int]]:
    """The key MirrorMaker's source connector stored for each source partition, with the
    partition of the offsets topic it is in and the newest offset stored (-1 when unreadable)."""
    admin = admin_client(cluster)
    found = kadmin.list_topic_partitions(admin, admin.timeout_s)
    if topic not in found:
        raise ReplicationError(f"MirrorMaker's offsets topic {topic} is not on the target")
    tps = [(topic, p) for p in range(found[topic].partitions)]
    low = kadmin.offsets(admin, tps, "earliest", admin.timeout_s, committed=False)
    high = kadmin.offsets(admin, tps, "latest", admin.timeout_s, committed=False)
    keys: dict[TP, tuple[bytes, int, int]] = {}
    for tp in tps:
        for rec in read_range(cluster, tp, low[tp], high[tp], whole=True):
            try:
                connector, part = json.loads(rec.key or b"null")
                if not str(connector).endswith(SOURCE_CONNECTOR):
                    continue
                if part.get("cluster") != source_alias:
                    continue
                stored = json.loads(rec.value or b"null") if rec.value else None
                offset = stored.get("offset") if isinstance(stored, dict) else None
                keys[(str(part["topic"]), int(part["partition"]))] = (
                    rec.key or b"",
                    tp[1],
                    offset if isinstance(offset, int) else -1,
                )
            except (ValueError, TypeError, KeyError, AttributeError):
                continue  # another connector's record, or not one of Connect's
    return keys
