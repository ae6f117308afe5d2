"""RPO on the real lab when it cannot be measured: unmeasured with the reason, never 0.

Each test measures a flow of its own, in a copy of the lab's config, over topics of its own
(prefix ``b13-``); MirrorMaker keeps running untouched. A flow with the ``identity`` policy
looks for its replica under the source topic's own name on dr, which MirrorMaker (default
policy) never writes: the target holds exactly what the test puts there.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import yaml
from confluent_kafka import Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from dr.config import load_config
from dr.lab.traffic import create_topic, produce_records
from dr.objectives.rpo import measure_rpo
from integration.conftest import RunningLab, run_cli


def unique(name: str) -> str:
    return f"b13-{name}-{uuid.uuid4().hex[:8]}"


def config_for(lab: RunningLab, tmp_path: Path, topic: str, *, backup: bool = False) -> Path:
    """The lab's config with one identity flow over `topic` (and a backup job of it)."""
    config: dict[str, Any] = yaml.safe_load(lab.config.read_text())
    config["mirror"]["flows"] = [
        {
            "source": "primary",
            "target": "dr",
            "topics": [topic],
            "replication_policy": "identity",
        }
    ]
    config["storage"] = {"local": {"url": (tmp_path / "store").as_uri()}}
    config["backups"] = (
        {"b13": {"cluster": "primary", "topics": [topic], "storage": "local"}} if backup else {}
    )
    config["state"] = str(tmp_path / "state.db")
    path = tmp_path / "kafka-dr.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def rpo_status(config: Path, *args: str) -> tuple[int, str]:
    proc = run_cli("--config", str(config), "rpo", "status", *args)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, proc.stdout


def delete_all_records(bootstrap: str, topic: str, end: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.delete_records([TopicPartition(topic, 0, end)]).values():
        future.result(timeout=30)


def test_a_replica_whose_records_are_gone_makes_the_flow_unmeasured_not_zero_nor_a_guess(
    lab: RunningLab, tmp_path: Path
) -> None:
    topic = unique("gone")
    create_topic(lab.bootstrap("primary"), topic, partitions=1, replication=3)
    produce_records(lab.bootstrap("primary"), topic, 20)
    # The replica held 5 records and lost them all (retention, delete-records): it has offsets
    # but no record to tell how far replication got.
    create_topic(lab.bootstrap("dr"), topic, partitions=1, replication=1)
    produce_records(lab.bootstrap("dr"), topic, 5)
    delete_all_records(lab.bootstrap("dr"), topic, 5)
    config = config_for(lab, tmp_path, topic)

    code, out = rpo_status(config, "--json")
    flow = json.loads(out)["flows"]["primary->dr"]
    text_code, text = rpo_status(config)

    assert code == 1 and text_code == 1
    assert flow["rpo_seconds"] is None
    assert f"no record among the last 10 offsets of {topic}-0 on the target" in flow["unmeasured"]
    assert flow["lag_messages"] is None
    assert flow["breached"] is False
    assert (
        f"flow primary->dr: RPO unmeasured (no record among the last 10 offsets of {topic}-0"
        in (text)
    )


def test_a_flow_whose_target_holds_nothing_yet_counts_every_source_record_never_zero(
    lab: RunningLab, tmp_path: Path
) -> None:
    topic = unique("empty")
    create_topic(lab.bootstrap("primary"), topic, partitions=1, replication=3)
    produced_at = time.time()
    produce_records(lab.bootstrap("primary"), topic, 20)
    create_topic(lab.bootstrap("dr"), topic, partitions=1, replication=1)  # empty replica
    time.sleep(1.0)
    config = config_for(lab, tmp_path, topic)

    _, out = rpo_status(config, "--json")
    flow = json.loads(out)["flows"]["primary->dr"]

    # Nothing replicated is a measurement, not a gap: the oldest record the source holds is
    # the oldest one a failover would lose.
    assert flow["unmeasured"] is None
    assert flow["lag_messages"] == 20
    assert flow["rpo_seconds"] >= time.time() - produced_at - 1.5 > 0


def test_a_read_that_runs_out_of_time_makes_flows_and_jobs_unmeasured_not_zero(
    lab: RunningLab, tmp_path: Path
) -> None:
    topic = unique("slow")
    create_topic(lab.bootstrap("primary"), topic, partitions=2, replication=3)
    produce_records(lab.bootstrap("primary"), topic, 40)
    settings = load_config(config_for(lab, tmp_path, topic, backup=True)).settings

    in_time = measure_rpo(settings)
    # No time at all to read: the reader gives up before its first fetch (a deadline of a few
    # ms may still get one fetch in, which can bring every record).
    too_late = measure_rpo(settings, read_timeout_s=0.0)

    assert in_time.unmeasured == {}
    (flow,) = in_time.flows
    (job,) = in_time.backups
    assert flow.rpo_seconds is not None and flow.rpo_seconds > 0
    assert job.rpo_seconds is not None and job.rpo_seconds > 0
    assert set(too_late.unmeasured) == {"primary->dr", "b13"}
    (flow,) = too_late.flows
    (job,) = too_late.backups
    assert (flow.rpo_seconds, job.rpo_seconds) == (None, None)
    assert (flow.lag_messages, job.lag_messages) == (40, 40)
    assert flow.unmeasured is not None and "could not be read within 0s" in flow.unmeasured
    assert job.unmeasured is not None and "could not be read within 0s" in job.unmeasured


def produce_at(bootstrap: str, topic: str, keys: list[str], timestamp_ms: int) -> None:
    """One record per key, every one stamped with the same millisecond."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for key in keys:
        producer.produce(topic, key=key, value=f"v-{key}", partition=0, timestamp=timestamp_ms)
    assert producer.flush(30) == 0


def test_records_of_the_replicas_last_millisecond_not_yet_copied_count_as_missing(
    lab: RunningLab, tmp_path: Path
) -> None:
    # MirrorMaker stopped in the middle of a burst of one millisecond: the replica's last
    # record has the same timestamp as the 6 records after it on the source. Offsets for one
    # millisecond later skip them all; the flow must not read as caught up.
    topic = unique("same-ms")
    stamp = int(time.time() * 1000) - 5_000
    keys = [f"k{i}" for i in range(10)]
    create_topic(lab.bootstrap("primary"), topic, partitions=1, replication=3)
    create_topic(lab.bootstrap("dr"), topic, partitions=1, replication=1)
    produce_at(lab.bootstrap("primary"), topic, keys, stamp)
    produce_at(lab.bootstrap("dr"), topic, keys[:4], stamp)
    config = config_for(lab, tmp_path, topic)

    code, out = rpo_status(config, "--json")
    flow = json.loads(out)["flows"]["primary->dr"]
    assert flow["unmeasured"] is None
    assert flow["lag_messages"] == 6
    assert flow["rpo_seconds"] >= 4.5
    assert code in (0, 1)

    produce_at(lab.bootstrap("dr"), topic, keys[4:], stamp)  # now every record is copied
    _, out = rpo_status(config, "--json")
    flow = json.loads(out)["flows"]["primary->dr"]
    assert (flow["lag_messages"], flow["rpo_seconds"], flow["unmeasured"]) == (0, 0.0, None)
