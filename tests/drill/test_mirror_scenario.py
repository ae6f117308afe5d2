"""The mirror scenario's judgements, without a cluster: translated offsets judged record by
record, a group's check, and the RPO, drift and MirrorMaker checks read from their figures."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from dr.config.drills import DrillSettings, MirrorScenario
from dr.config.load import parse_config
from dr.config.schema import MirrorFlow
from dr.drill.context import DrillContext, Recorder
from dr.drill.mirror import connectors_outcome, drift_outcome, rpo_outcome, run_mirror
from dr.drill.mirror_translation import sample_groups, sample_partitions
from dr.drill.model import ClusterRef
from dr.drill.translation_check import compare, read_spans
from dr.drill.translation_verdicts import Probe, Window, judge_group
from dr.kafka.reader import RecordAt
from dr.mirror.connect import ConnectorStatus, TaskStatus
from dr.mirror.deploy import MirrorState
from dr.mirror.health import assess_flow
from dr.mirror.heartbeats import HeartbeatCheck
from dr.mirror.process import ProcessCheck
from dr.mirror.status import Drift, FlowStatus
from dr.mirror.translate import MissingOffset, TranslatedOffset, TranslationResult
from dr.objectives.figures import PartitionRpo
from dr.objectives.rpo import FlowRpo
from dr.state import StateStore

SHIFT = 10  # the replica's offsets are the source's plus 10 (its log started later)


def record(i: int, *, at: int | None = None) -> RecordAt:
    """Source record number i, at offset ``at`` when it is a copy on the target."""
    return RecordAt(i if at is None else at, 1_700_000_000_000 + i, b"k%d" % i, b"v%d" % i)


def probe(
    committed: int,
    translated: int,
    *,
    bound: int | None = None,
    source_records: int = 100,
    replicated: list[int] | None = None,
    window: int = 20,
) -> Probe:
    """A group's partition: ``source_records`` records on the source; on the target, copies of
    the source records ``replicated`` (default: all) at consecutive offsets from SHIFT."""
    copied = list(range(source_records)) if replicated is None else replicated
    source = [record(i) for i in range(source_records)]
    target = [record(i, at=SHIFT + n) for n, i in enumerate(copied)]
    src_span, dst_span = read_spans(
        committed,
        translated,
        bound,
        source=(0, source_records),
        target=(SHIFT, SHIFT + len(copied)),
        window=window,
    )

    def read(records: list[RecordAt], span: tuple[int, int]) -> Window:
        return Window(*span, tuple(r for r in records if span[0] <= r.offset < span[1]))

    return Probe(
        group="g",
        topic="orders",
        target_topic="primary.orders",
        partition=1,
        committed=committed,
        translated=translated,
        basis="checkpoint" if bound is None else "offset-sync",
        bound=bound,
        source=read(source, src_span),
        target=read(target, dst_span),
        source_end=source_records,
        target_end=SHIFT + len(copied),
        target_cluster="dr",
    )


# -- one partition ---------------------------------------------------------------------------


def test_a_translation_to_the_copy_of_the_committed_record_is_exact() -> None:
    verdict = compare(probe(40, 50))

    assert verdict.verdict == "exact" and verdict.outcome == "passed"
    assert verdict.source_digest == verdict.target_digest == record(40).digest()
    assert (verdict.target_offset_found, verdict.redelivered) == (50, 0)


def test_an_offset_sync_translation_that_rereads_within_its_bound_passes() -> None:
    verdict = compare(probe(40, 45, bound=6))  # the record at 45 is source offset 35's

    assert verdict.verdict == "redelivered" and verdict.outcome == "passed"
    assert verdict.redelivered == 5 and verdict.target_offset_found == 50
    assert verdict.target_record_source_offset == 35


def test_rereading_more_than_the_stated_bound_fails() -> None:
    verdict = compare(probe(40, 45, bound=3))

    assert verdict.verdict == "beyond-bound" and verdict.outcome == "failed"
    assert verdict.problem == (
        "group g: orders-1 committed 40 translated to 45: source offset 40's record is at 50 on "
        "dr, so resuming at 45 re-reads 5 records, more than the 3 the translation allows"
    )


def test_a_checkpoint_that_rounds_down_passes_with_the_records_reread_as_evidence() -> None:
    verdict = compare(probe(40, 47))

    assert verdict.verdict == "redelivered" and verdict.redelivered == 3
    assert verdict.evidence()["basis"] == "checkpoint"


def test_a_translation_past_the_committed_record_is_a_skip_naming_both_records() -> None:
    verdict = compare(probe(40, 57))

    assert verdict.verdict == "skipped" and verdict.outcome == "failed"
    assert verdict.problem == (
        "group g: orders-1 committed 40 translated to 57, but the record at 57 on dr is not "
        "source offset 40's record (it is source offset 47's); that record is at 50 on dr: "
        "resuming at 57 skips 7 records"
    )
    assert (verdict.skipped, verdict.target_offset_found) == (7, 50)
    assert verdict.source_digest != verdict.target_digest


def test_a_record_the_replica_lacks_is_a_skip() -> None:
    lacking = [i for i in range(100) if i != 40]

    verdict = compare(probe(40, 50, replicated=lacking))

    assert verdict.verdict == "skipped"
    assert "(it is source offset 41's): resuming there skips 1 record" in (verdict.problem or "")


def test_a_skip_longer_than_the_window_is_found_by_timestamp_and_fails() -> None:
    far = probe(40, 90)  # the record at 90 is source offset 80's, outside both windows
    assert compare(far).verdict == "unverified"

    verdict = compare(dataclasses.replace(far, elsewhere=record(40, at=50)))

    assert verdict.verdict == "skipped" and verdict.skipped == 40
    assert "skips about 40 records" in (verdict.problem or "")


def test_a_group_that_read_everything_is_translated_to_the_replicas_end() -> None:
    verdict = compare(probe(100, 110))

    assert verdict.verdict == "at-end" and verdict.outcome == "passed"
    assert verdict.source_digest is None and verdict.target_digest is None


def test_a_group_at_the_end_may_reread_only_within_the_bound() -> None:
    assert compare(probe(100, 105)).verdict == "redelivered"
    assert compare(probe(100, 105)).redelivered == 5
    assert compare(probe(100, 105, bound=5)).outcome == "passed"
    assert compare(probe(100, 105, bound=2)).verdict == "beyond-bound"


def test_a_translation_past_the_replicas_end_fails() -> None:
    verdict = compare(probe(100, 115))

    assert verdict.verdict == "past-end" and verdict.outcome == "failed"
    assert "the next 5 records replicated there would never be read" in (verdict.problem or "")


def test_a_commit_not_yet_replicated_is_pending_when_nothing_would_be_skipped() -> None:
    verdict = compare(probe(95, 100, replicated=list(range(90))))

    assert verdict.verdict == "pending" and verdict.outcome == "passed"
    assert verdict.redelivered == 5  # source offsets 90..94, read again once replicated


def test_a_read_cut_short_is_a_warning_never_a_pass() -> None:
    cut = dataclasses.replace(probe(40, 50), target=Window(30, 70, (), complete=False))

    verdict = compare(cut)

    assert verdict.verdict == "unverified" and verdict.outcome == "warning"
    assert "cut short" in (verdict.problem or "")


def test_the_target_read_reaches_past_a_stated_bound() -> None:
    source, target = read_spans(40, 45, 500, source=(0, 10_000), target=(0, 10_000), window=20)

    assert target == (25, 546) and source == (0, 60)


# -- a group ---------------------------------------------------------------------------------


def test_a_group_fails_naming_its_first_wrong_partition() -> None:
    verdicts = [compare(probe(40, 50)), compare(probe(40, 57)), compare(probe(100, 115))]

    judged = judge_group("g", "dr", verdicts)

    assert judged.outcome == "failed"
    assert judged.summary.startswith("group g: orders-1 committed 40 translated to 57, but")
    assert judged.summary.endswith("(and 1 more partition)")


def test_a_group_with_nothing_to_check_is_a_warning() -> None:
    missing = MissingOffset("orders", 2, "no-sync-yet", "no offset-sync yet", 40)

    judged = judge_group("g", "dr", [], missing=[missing])

    assert judged.outcome == "warning"
    assert "orders-2 (commit 40) cannot be translated" in judged.summary
    assert judge_group("g", "dr", []).outcome == "warning"


def test_a_group_whose_partitions_all_resume_at_their_record_passes() -> None:
    judged = judge_group("g", "dr", [compare(probe(40, 50)), compare(probe(40, 47))])

    assert judged.outcome == "passed"
    assert "2 partitions" in judged.summary and "1 exact, up to 3 records re-read" in judged.summary


def test_groups_with_commits_are_sampled_first_in_name_order_within_the_flows_filter() -> None:
    flow = MirrorFlow(source="primary", target="dr", groups_exclude=["c"])
    loaded: Any = SimpleNamespace(
        checkpoints={"c": [], "a": [], "b": [], "d": [], "e": []},
        commits={"d": {}, "b": {}, "c": {}},
        flow=flow,
        settings=SimpleNamespace(mirror=None),
    )

    assert sample_groups(loaded, 3) == ["b", "d", "a"]


def test_partitions_with_commits_are_sampled_first() -> None:
    parts = (
        TranslatedOffset("primary.orders", 0, 5, 5),
        TranslatedOffset("primary.orders", 1, 5, 5, source_committed=5),
        TranslatedOffset("primary.audit", 0, 5, 5, source_committed=5),
    )
    result = TranslationResult("g", parts, ())

    chosen = sample_partitions(result, 2)

    assert [(t.topic, t.partition) for t in chosen] == [("primary.audit", 0), ("primary.orders", 1)]


# -- RPO, drift, MirrorMaker -----------------------------------------------------------------


def flow_rpo(**changes: Any) -> FlowRpo:
    parts = (
        PartitionRpo("orders", 0, "primary.orders", 0, 0.0, 100),
        PartitionRpo("orders", 1, "primary.orders", 12, 4.2, 100),
    )
    return dataclasses.replace(FlowRpo("primary->dr", 4.2, 12, 0.5, 60.0, parts), **changes)


def test_an_rpo_within_its_objective_passes_naming_the_worst_partition() -> None:
    outcome, summary = rpo_outcome(flow_rpo())

    assert outcome == "passed"
    assert summary == (
        "flow primary->dr: RPO 4.2 s, 12 records behind (worst: orders-1), within the 60 s "
        "objective"
    )


def test_an_unmeasured_rpo_is_an_error_with_the_reason_never_zero() -> None:
    outcome, summary = rpo_outcome(flow_rpo(rpo_seconds=None, unmeasured="read timed out"))

    assert outcome == "error" and "read timed out" in summary and "0" not in summary


def test_an_rpo_over_its_objective_fails() -> None:
    assert rpo_outcome(flow_rpo(rpo_seconds=75.0))[0] == "failed"


def heartbeat(age: float | None = 0.5) -> HeartbeatCheck:
    return HeartbeatCheck("primary", "dr", 1.0, age)


def test_a_missing_replica_topic_or_partition_count_fails_the_drift_check() -> None:
    drift = (Drift("orders", "primary.orders", "partitions", "6", "3"),)
    found = FlowStatus("primary->dr", 4, ("audit",), drift, (), heartbeat())

    outcome, summary, evidence = drift_outcome(found)

    assert outcome == "failed"
    assert "1 topic(s) not on the target (audit)" in summary
    assert "orders has 6 partitions, primary.orders 3" in summary
    assert evidence["missing_topics"] == ["audit"]


def test_config_drift_alone_is_a_warning() -> None:
    drift = (Drift("orders", "primary.orders", "config:retention.ms", "1000", "2000"),)
    found = FlowStatus("primary->dr", 4, (), drift, (), heartbeat())

    assert drift_outcome(found)[0] == "warning"
    assert drift_outcome(dataclasses.replace(found, drift=()))[0] == "passed"


def test_a_failed_connector_task_fails_the_connectors_check() -> None:
    found = FlowStatus("primary->dr", 4, (), (), (), heartbeat())
    tasks = (TaskStatus(0, "RUNNING", "w1"), TaskStatus(1, "FAILED", "w1", "boom\n at x"))
    connector = ConnectorStatus(
        "primary->dr.MirrorSourceConnector", "RUNNING", "w1", tasks, "source"
    )
    health = assess_flow(found, connectors={connector.name: connector})
    state = MirrorState(found, health, (connector,))

    outcome, summary, evidence = connectors_outcome(state)

    assert outcome == "failed"
    assert "task 1 of primary->dr.MirrorSourceConnector FAILED: boom" in summary
    assert evidence["connectors"][0]["tasks"][1] == {"id": 1, "state": "FAILED"}


def test_a_running_mirrormaker_with_a_fresh_heartbeat_passes() -> None:
    found = FlowStatus("primary->dr", 4, (), (), (), heartbeat())
    process = ProcessCheck(True, "process 42 is running")
    state = MirrorState(found, assess_flow(found, process=process), None, process=process)

    outcome, summary, _ = connectors_outcome(state)

    assert outcome == "passed" and "heartbeat fresh" in summary


def test_a_stale_heartbeat_fails_the_connectors_check_even_with_the_process_up() -> None:
    found = FlowStatus("primary->dr", 4, (), (), (), heartbeat(age=120.0))
    process = ProcessCheck(True, "process 42 is running")
    state = MirrorState(found, assess_flow(found, process=process), None, process=process)

    outcome, summary, _ = connectors_outcome(state)

    assert outcome == "failed" and "stalled" in summary


# -- the scenario, with clusters that do not answer -------------------------------------------


class Unanswering(DrillContext):
    """A drill whose clusters never answer (cluster_ref finds no cluster id)."""

    def cluster_ref(self, name: str) -> ClusterRef:
        ref = ClusterRef(name, None, self.settings.clusters[name].bootstrap_servers)
        self.recorder.clusters[name] = ref
        return ref


def unanswering(tmp_path: Path, flows: list[str]) -> Unanswering:
    doc = {
        "clusters": {
            name: {"bootstrap_servers": f"{name}:9092"} for name in ("primary", "dr", "edge")
        },
        "objectives": {"rpo_seconds": 60, "rto_seconds": 600},
        "mirror": {
            "flows": [{"source": "primary", "target": "dr"}, {"source": "edge", "target": "dr"}]
        },
        "state": str(tmp_path / "kafka-dr.db"),
    }
    settings = parse_config(json.dumps(doc), source="kafka-dr.yaml", base_dir=tmp_path)
    assert settings.state is not None
    return Unanswering(
        settings=settings,
        state=StateStore(settings.state),
        drill="weekly",
        drill_id="20261201t040000-ab12",
        spec=DrillSettings.model_validate({"scenarios": {"mirror": {"flows": flows}}}),
        destructive=False,
        recorder=Recorder(),
    )


def test_a_flow_whose_cluster_does_not_answer_is_all_errors_and_the_next_flow_is_checked(
    tmp_path: Path,
) -> None:
    ctx = unanswering(tmp_path, ["primary->dr", "nowhere->dr", "edge->dr"])

    run_mirror(ctx, MirrorScenario(flows=["primary->dr", "nowhere->dr", "edge->dr"]))

    rec = ctx.recorder
    assert [s.name for s in rec.steps] == ["flow primary->dr", "flow nowhere->dr", "flow edge->dr"]
    first = [c for c in rec.checks if c.subject == "primary->dr"]
    assert [c.name for c in first] == ["rpo", "translation", "topic_drift", "connectors"]
    assert all(c.outcome == "error" for c in first)
    assert first[0].summary == (
        "flow primary->dr: not checked: cluster 'primary' (primary:9092) did not answer"
    )
    [unknown] = [c for c in rec.checks if c.subject == "nowhere->dr"]
    assert unknown.outcome == "error" and "no mirror flow 'nowhere->dr'" in unknown.summary
    assert [o.subject for o in rec.objectives] == ["primary->dr", "edge->dr"]
    for objective in rec.objectives:
        assert objective.measured_seconds is None and objective.met is None
        assert objective.unmeasured and "did not answer" in objective.unmeasured
