"""The broker-loss scenario's sequence over a cluster written by hand (tests/playbooks/
broker_fakes.py): the node killed only when the cluster can lose it, then `broker replace`
through the engine, then the time from the kill to fully replicated. The lab runs the replace
for real (integration/test_broker_replace.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from dr.config.drills import BrokerLossScenario, DrillSettings
from dr.config.schema import Settings
from dr.drill.broker_loss import lose_broker
from dr.drill.context import DrillContext, Recorder
from dr.drill.model import Check, ClusterRef
from dr.state import StateStore


def _load_fakes() -> ModuleType:
    """The broker procedures' fakes, by path (tests/ has no packages)."""
    path = Path(__file__).parents[1] / "playbooks" / "broker_fakes.py"
    spec = importlib.util.spec_from_file_location("broker_fakes", path)
    assert spec is not None and spec.loader is not None
    module = sys.modules.setdefault("broker_fakes", importlib.util.module_from_spec(spec))
    if not hasattr(module, "FakeCluster"):
        spec.loader.exec_module(module)
    return module


fakes = _load_fakes()


class StaticQuorum:
    """A static quorum: every node a voter, no directory ids; never changed."""

    def voter_directory(self, node_id: int) -> tuple[bool, str | None]:
        return True, None

    def remove(self, node_id: int, directory_id: str) -> None:
        raise AssertionError("a static quorum is never changed")

    def add(self, config: object, meta_properties: bytes) -> None:
        raise AssertionError("a static quorum is never changed")


def drill_context(settings: Settings) -> DrillContext:
    spec = DrillSettings.model_validate({"scenarios": {"broker_loss": {"cluster": "primary"}}})
    recorder = Recorder()
    # Known already: the report's cluster id is not asked of a cluster that does not exist.
    recorder.clusters["primary"] = ClusterRef("primary", fakes.CLUSTER_ID, "kafka-1:9092")
    assert settings.state is not None
    return DrillContext(
        settings=settings,
        state=StateStore(settings.state),
        drill="weekly",
        drill_id="20261201t040000-ab12",
        spec=spec,
        destructive=True,
        recorder=recorder,
    )


def drill(
    tmp_path: Path, cluster: object, broker: int | None = None, deadline_s: float = 5
) -> DrillContext:
    settings = fakes.settings(tmp_path)
    hosts = {
        n: fakes.FakeHost(
            cluster, n, {f"/etc/kafka-{n}/server.properties": fakes.server_properties(n)}
        )
        for n in (1, 2, 3)
    }
    ctx = drill_context(settings)
    lose_broker(
        ctx,
        BrokerLossScenario(cluster="primary", broker=broker),
        probe=cluster,  # type: ignore[arg-type]
        access=lambda n: hosts[n],
        quorum_tools=StaticQuorum(),  # type: ignore[arg-type]
        deadline_s=deadline_s,
        poll_s=0.05,
    )
    return ctx


def checks(ctx: DrillContext) -> dict[str, Check]:
    return {c.name: c for c in ctx.recorder.checks}


def test_the_highest_broker_is_killed_replaced_and_timed_back_to_fully_replicated(
    tmp_path: Path,
) -> None:
    cluster = fakes.FakeCluster(leader=1)
    ctx = drill(tmp_path, cluster)
    found = checks(ctx)
    assert [c.outcome for c in ctx.recorder.checks] == ["passed"] * 3, ctx.recorder.checks
    assert list(found) == ["broker_killed", "replace_completed", "fully_replicated"]
    assert found["broker_killed"].evidence["node"] == 3
    assert found["broker_killed"].evidence["how"] == "graceful"  # what the fake host says
    assert cluster.events == ["stop 3", "start 3"]  # killed once, started once by the replace
    replaced = found["replace_completed"].evidence
    assert replaced["status"] == "completed" and replaced["run_id"].startswith("broker-replace-")
    assert [s["name"] for s in replaced["steps"]][-1] == "verify"
    whole = found["fully_replicated"].evidence
    assert whole["final_under_replicated"] == 0
    assert whole["under_replicated"][0] == [0.0, 3]  # all 3 partitions, once node 3 was gone
    assert whole["unregistered_after_s"] is not None
    (rto,) = ctx.recorder.objectives
    assert rto.subject == "broker-loss primary node 3" and rto.kind == "rto"
    assert rto.measured_seconds is not None and rto.met is True
    bars = [s.name for s in ctx.recorder.steps]
    assert bars[0] == "broker replace primary node 3"
    assert "broker-replace: await_replicated" in bars


def test_the_configured_broker_is_the_one_killed(tmp_path: Path) -> None:
    cluster = fakes.FakeCluster(leader=1)
    ctx = drill(tmp_path, cluster, broker=2)
    assert cluster.events == ["stop 2", "start 2"]
    assert ctx.recorder.objectives[0].subject == "broker-loss primary node 2"


def test_a_cluster_already_under_replicated_loses_no_broker(tmp_path: Path) -> None:
    cluster = fakes.FakeCluster(leader=1)
    cluster.stuck_out_of_isr.add((("orders", 0), 2))
    ctx = drill(tmp_path, cluster)
    (check,) = ctx.recorder.checks
    assert check.name == "broker_killed" and check.outcome == "error"
    assert "was not killed: 1 partitions are under-replicated: orders-0" in check.summary
    assert cluster.events == []
    (rto,) = ctx.recorder.objectives
    assert rto.measured_seconds is None and rto.unmeasured is not None
    assert rto.unmeasured.startswith("no broker was lost")


def test_a_replace_that_fails_says_the_killed_node_may_be_left_down(tmp_path: Path) -> None:
    cluster = fakes.FakeCluster(leader=1)
    cluster.comes_back[3] = False  # starts, never registers
    ctx = drill(tmp_path, cluster, deadline_s=2)
    found = checks(ctx)
    assert found["replace_completed"].outcome == "failed"
    assert "await_rejoined" in found["replace_completed"].summary
    left = found["broker_left_down"]
    run_id = found["replace_completed"].evidence["run_id"]
    assert left.outcome == "error"
    assert left.summary.startswith("NODE 3 OF 'primary' MAY BE LEFT DOWN")
    assert f"'kafka-dr playbook resume {run_id}'" in left.summary
    assert "fully_replicated" not in found
    assert ctx.recorder.objectives[0].measured_seconds is None
