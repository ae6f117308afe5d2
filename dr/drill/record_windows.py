"""Reading short runs of records of many partitions at once, with one consumer and a deadline.

The translation check reads a few hundred records around a group's committed offset on the
source and around its translated offset on the target, for up to sample_partitions partitions
at a time; one consumer per cluster and group keeps that to seconds. (A companion of
dr.kafka.reader's single-position reads; it belongs there once that module's in-flight change
has landed.)
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaError as RdKafkaError
from confluent_kafka import TopicPartition

from dr.config.schema import ClusterSettings
from dr.drill.translation_verdicts import Window
from dr.kafka.reader import RecordAt, consumer_for, record_at

TP = tuple[str, int]


def read_windows(
    cluster: ClusterSettings, spans: Mapping[TP, tuple[int, int]], *, timeout_s: float
) -> dict[TP, Window]:
    """Every record with start <= offset < stop of each partition, read until ``timeout_s``;
    a partition the deadline cut short has ``complete`` False. Empty spans are complete."""
    wanted = {tp: span for tp, span in spans.items() if span[0] < span[1]}
    found: dict[TP, list[RecordAt]] = {tp: [] for tp in wanted}
    open_tps = set(wanted)
    if wanted:
        # Retention may have moved the log start past a span's start since it was listed: read
        # from the new start rather than from the end (the reader's default).
        consumer = consumer_for(cluster, **{"auto.offset.reset": "earliest"})
        try:
            consumer.assign([TopicPartition(t, p, s[0]) for (t, p), s in wanted.items()])
            deadline = time.monotonic() + timeout_s
            while open_tps and time.monotonic() < deadline:
                batch: list[Any] = consumer.consume(num_messages=5000, timeout=0.2)
                for msg in batch:
                    tp = (msg.topic(), msg.partition())
                    if tp not in open_tps:
                        continue
                    err = msg.error()
                    stop = wanted[tp][1]
                    if err is None and msg.offset() < stop:
                        found[tp].append(record_at(msg))
                    if err is None and msg.offset() < stop - 1:
                        continue
                    if err is not None and err.code() != RdKafkaError._PARTITION_EOF:
                        continue
                    open_tps.discard(tp)
                    consumer.incremental_unassign([TopicPartition(*tp)])
        finally:
            consumer.close()
    return {
        tp: Window(start, stop, tuple(found.get(tp, ())), complete=tp not in open_tps)
        for tp, (start, stop) in spans.items()
    }
