"""`snapshot run`: a physical snapshot of every node's log dirs and config, one node at a time.

The order is fixed when the run starts and kept in its params (a resume continues with the
same snapshot id, the same nodes, in the same order): brokers that are not controllers, the
standby controllers, the active controller last (as a rolling restart). Never more than one
node is down: each stop waits for the cluster to be whole again after the previous one.

Steps:

1. record_offsets   every partition's end offset and the cluster id, before any node stops.
2. For each node N:
   preflight_N      nothing offline or under-replicated; stopping N leaves its partitions at
                    or above min.insync.replicas and the quorum a caught-up majority (with
                    --offline-ok, only the first: a single-node cluster goes offline); the
                    end offsets of the partitions N hosts.
   stop_N           those end offsets read again, then a graceful stop (controlled shutdown),
                    killed after --stop-timeout. Checked again first when the preflight is old.
   archive_N        N must be stopped: its log dirs (those of its config, and a metadata dir
                    of its own) and its config file, as a tar compressed with zstd, into
                    snapshots/<C>/<id>/node-N.tar.zst, with its size and SHA-256 journaled.
   start_N          started through its host access (done when it runs already).
   await_N          registered, back in the quorum, nothing under-replicated (--ready-timeout).
3. write_manifest   each object checked in the store (present, the journaled size), then the
                    manifest written: from then on the snapshot exists.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from dr.config.schema import Settings
from dr.errors import DrError, UsageError
from dr.log import get_logger
from dr.playbooks.broker_common import AccessFor, cluster_settings_of, host_access, wait_for
from dr.playbooks.broker_safety import StopCheck, check_stop, nodes_in_order
from dr.playbooks.snapshot_common import (
    LiveSnapshotCluster,
    SnapshotCluster,
    await_node,
    hosted,
    node_paths,
)
from dr.snapshots.archive import store_archive
from dr.snapshots.catalog import snapshot_store, storage_name
from dr.snapshots.manifest import (
    NodeArchive,
    SnapshotManifest,
    encode_manifest,
    manifest_key,
    new_snapshot_id,
    node_key,
)
from dr.steps import Playbook, Step, StepContext
from dr.storage import ObjectStore

log = get_logger(__name__)

PLAYBOOK = "snapshot-run"
STOP_TIMEOUT_S = 120.0
READY_TIMEOUT_S = 300.0
SETTLE_TIMEOUT_S = 60.0
PREFLIGHT_FRESH_S = 30.0


def snapshot_params(
    settings: Settings,
    cluster: str,
    *,
    storage: str | None = None,
    offline_ok: bool = False,
    probe: SnapshotCluster | None = None,
    stop_timeout_s: float = STOP_TIMEOUT_S,
    ready_timeout_s: float = READY_TIMEOUT_S,
    settle_timeout_s: float = SETTLE_TIMEOUT_S,
) -> dict[str, Any]:
    """The run's params: a new snapshot id and the nodes in order, read from the cluster now.
    Raises UsageError for an unknown cluster or store, a store with client-side encryption,
    or a single-node cluster without offline_ok."""
    store = storage_name(settings, cluster, storage)
    if settings.storage[store].encryption is not None:
        # The archives hold every record of the nodes' log dirs, and are not sealed: taking
        # them into a store the user encrypts would store those records in the clear.
        raise UsageError(
            f"storage.{store} encrypts backups, but log-dir snapshots are not encrypted: their "
            "archives would hold the nodes' records in the clear; give --storage a store "
            "without encryption (protected by sse and its access policy)"
        )
    probe = probe or LiveSnapshotCluster(settings.clusters[cluster], settings.tools)
    view, quorum = probe.view(), probe.quorum()
    voters = sorted(v.node_id for v in quorum.voters)
    nodes = [b.id for b in settings.clusters[cluster].brokers] or sorted(
        set(view.brokers) | set(voters)
    )
    if len(nodes) == 1 and not offline_ok:
        raise UsageError(
            f"cluster '{cluster}' has one node: its snapshot stops it and every partition is "
            "offline meanwhile; pass --offline-ok to accept that"
        )
    return {
        "cluster": cluster,
        "storage": store,
        "snapshot_id": new_snapshot_id(cluster),
        **nodes_in_order(view, quorum, nodes),
        "offline_ok": offline_ok,
        "stop_timeout_s": stop_timeout_s,
        "ready_timeout_s": ready_timeout_s,
        "settle_timeout_s": settle_timeout_s,
    }


def snapshot_playbook(
    settings: Settings,
    params: Mapping[str, Any],
    *,
    probe: SnapshotCluster | None = None,
    access: AccessFor | None = None,
    store: ObjectStore | None = None,
) -> Playbook:
    """The snapshot of params["cluster"] (see snapshot_params)."""
    cluster = params["cluster"]
    cluster_settings_of(settings, cluster)
    book = _Snapshot(
        params,
        probe or LiveSnapshotCluster(settings.clusters[cluster], settings.tools),
        access or host_access(settings, cluster),
        lambda: store or snapshot_store(settings, cluster, params["storage"]),
    )
    sid = params["snapshot_id"]
    steps = [
        Step(
            "record_offsets",
            f"record every partition's end offset on {cluster} before any node stops",
            book.record_offsets,
            touches="nothing (reads the cluster)",
        )
    ]
    for n in params["order"]:
        steps += book.node_steps(int(n))
    steps.append(
        Step(
            "write_manifest",
            f"check every node's object, then write the manifest of snapshot {sid} (from then "
            "on it exists)",
            book.write_manifest,
            check=book.manifest_written,
            touches=f"snapshots/{cluster}/{sid}/manifest.json in store '{params['storage']}'",
        )
    )
    return Playbook(
        name=PLAYBOOK, source=cluster, target=cluster, params=dict(params), steps=tuple(steps)
    )


class _Snapshot:
    def __init__(
        self, params: Mapping[str, Any], probe: SnapshotCluster, access: AccessFor, store: Any
    ) -> None:
        self.params, self.probe, self.access, self._store = params, probe, access, store
        self.cluster: str = params["cluster"]
        self.sid: str = params["snapshot_id"]
        self.brokers = {int(n) for n in params["brokers"]}
        self.voters = {int(n) for n in params["voters"]}

    @property
    def store(self) -> ObjectStore:
        found: ObjectStore = self._store()
        return found

    def node_steps(self, n: int) -> list[Step]:
        where = f"node {n} of {self.cluster}"
        key = node_key(self.cluster, self.sid, n)
        return [
            Step(
                f"preflight_{n}",
                f"check {where} may stop: nothing offline or under-replicated"
                + (
                    ""
                    if self.params["offline_ok"]
                    else ", min.insync.replicas and the quorum kept without it"
                ),
                lambda ctx: self.preflight(n),
                touches="nothing (reads the cluster)",
            ),
            Step(
                f"stop_{n}",
                f"record the end offsets {n} hosts, stop it gracefully (killed after "
                f"{self.params['stop_timeout_s']:.0f}s)",
                lambda ctx: self.stop(ctx, n),
                destructive=True,
                touches=where,
            ),
            Step(
                f"archive_{n}",
                f"stream {n}'s log dirs and config file, zstd-compressed, into {key}",
                lambda ctx: self.archive(n),
                touches=f"{key} in store '{self.params['storage']}'",
            ),
            Step(
                f"start_{n}",
                f"start node {n}",
                lambda ctx: self.start(n),
                check=lambda ctx: self.started(ctx, n),
                touches=where,
            ),
            Step(
                f"await_{n}",
                f"wait until {n} is registered, back in the quorum and nothing is "
                f"under-replicated (at most {self.params['ready_timeout_s']:.0f}s)",
                lambda ctx: self.await_back(ctx, n),
                touches="nothing (reads the cluster)",
            ),
        ]

    # -- steps ------------------------------------------------------------------------------
    def record_offsets(self, _ctx: StepContext) -> dict[str, Any]:
        view = self.probe.view()
        ends = self.probe.end_offsets()
        return {
            "cluster_id": view.cluster_id,
            "started_at": datetime.now(UTC).isoformat(),
            "end_offsets": ends,
            "partitions": sum(len(p) for p in ends.values()),
        }

    def _stop_problem(self, n: int) -> tuple[str | None, set[tuple[str, int]]]:
        view = self.probe.view(with_min_isr=not self.params["offline_ok"])
        quorum = None if self.params["offline_ok"] else self.probe.quorum()
        check = check_stop(view, n, quorum)
        if self.params["offline_ok"]:
            check = StopCheck(n, check.offline, check.under_replicated, hosted=check.hosted)
        mine = {(p.topic, p.partition) for p in view.partitions if n in p.replicas}
        return check.problem(), mine

    def preflight(self, n: int) -> dict[str, Any]:
        found: dict[str, Any] = {}

        def safe() -> str | None:
            problem, found["partitions"] = self._stop_problem(n)
            return problem

        hint = "" if self.params["offline_ok"] else " (--offline-ok accepts partitions offline)"
        waited = wait_for(
            safe,
            timeout_s=float(self.params["settle_timeout_s"]),
            failure=f"node {n} of '{self.cluster}' was not safe to stop{hint}",
            event="snapshot_preflight",
            node=n,
        )
        ends = hosted(self.probe.end_offsets(), found["partitions"])
        return {"waited_s": waited, "checked_at": time.time(), "end_offsets": ends}

    def stop(self, ctx: StepContext, n: int) -> dict[str, Any]:
        host = self.access(n)
        before = ctx.output(f"preflight_{n}")
        ends = before.get("end_offsets", {})
        if host.status().running:
            if time.time() - float(before.get("checked_at", 0.0)) > PREFLIGHT_FRESH_S:
                problem, _ = self._stop_problem(n)
                if problem:
                    raise DrError(f"node {n} of '{self.cluster}' may not stop now: {problem}")
            partitions = {(t, int(p)) for t, parts in ends.items() for p in parts}
            ends = hosted(self.probe.end_offsets(), partitions)
        began = time.time()
        stopped = host.stop(deadline_s=float(self.params["stop_timeout_s"]))
        log.info("snapshot_node_stopped", cluster=self.cluster, node=n, how=stopped.how)
        return {"how": stopped.how, "began_at": began, "stopped_at": time.time(),
                "end_offsets": ends}  # fmt: skip

    def archive(self, n: int) -> dict[str, Any]:
        host = self.access(n)
        status = host.status()
        if status.running is not False:
            raise DrError(
                f"node {n} of '{self.cluster}' is not stopped ({status.detail}): its log dirs "
                "are only read while it is down"
            )
        dirs, config_file = node_paths(host)
        started = time.monotonic()
        written = store_archive(
            self.store, node_key(self.cluster, self.sid, n), host.tar_stream([*dirs, config_file])
        )
        seconds = round(time.monotonic() - started, 3)
        log.info("snapshot_node_archived", cluster=self.cluster, node=n, bytes=written.size,
                 tar_bytes=written.tar_bytes, seconds=seconds)  # fmt: skip
        return {
            "key": written.key,
            "size": written.size,
            "sha256": written.sha256,
            "tar_bytes": written.tar_bytes,
            "log_dirs": list(dirs),
            "config_file": config_file,
            "seconds": seconds,
        }

    def started(self, ctx: StepContext, n: int) -> bool:
        ctx.output(f"archive_{n}")  # in a plan: known once the node has been archived
        return self.access(n).status().running is True

    def start(self, n: int) -> dict[str, Any]:
        self.access(n).start()
        return {"started_at": time.time()}

    def await_back(self, ctx: StepContext, n: int) -> dict[str, Any]:
        stopped = ctx.output(f"stop_{n}")
        out = await_node(
            self.probe,
            self.access(n),
            broker=n in self.brokers,
            voter=n in self.voters,
            since_epoch_s=float(stopped["stopped_at"]),
            timeout_s=float(self.params["ready_timeout_s"]),
        )
        out["down_s"] = round(time.time() - float(stopped["began_at"]), 3)
        log.info("snapshot_node_back", cluster=self.cluster, node=n, down_s=out["down_s"])
        return out

    def manifest_written(self, _ctx: StepContext) -> bool:
        return self.store.exists(manifest_key(self.cluster, self.sid))

    def write_manifest(self, ctx: StepContext) -> dict[str, Any]:
        recorded = ctx.output("record_offsets")
        nodes = []
        for n in (int(x) for x in self.params["order"]):
            archived = ctx.output(f"archive_{n}")
            found = self.store.stat(archived["key"])
            if found is None or found.size != archived["size"]:
                what = "missing" if found is None else f"{found.size} bytes"
                raise DrError(
                    f"{archived['key']} is {what} in store '{self.params['storage']}', the run "
                    f"stored {archived['size']} bytes: run the snapshot again"
                )
            stopped = ctx.output(f"stop_{n}")
            nodes.append(
                NodeArchive(
                    node_id=n,
                    key=archived["key"],
                    size=archived["size"],
                    sha256=archived["sha256"],
                    tar_bytes=archived["tar_bytes"],
                    log_dirs=tuple(archived["log_dirs"]),
                    config_file=archived["config_file"],
                    stopped_at=datetime.fromtimestamp(float(stopped["stopped_at"]), UTC),
                    down_s=ctx.output(f"await_{n}").get("down_s"),
                    end_offsets=stopped["end_offsets"],
                )
            )
        manifest = SnapshotManifest(
            snapshot_id=self.sid,
            cluster=self.cluster,
            cluster_id=recorded["cluster_id"],
            started_at=datetime.fromisoformat(recorded["started_at"]),
            finished_at=datetime.now(UTC),
            run_id=ctx.run_id,
            end_offsets=recorded["end_offsets"],
            nodes=tuple(nodes),
        )
        self.store.put_bytes(manifest_key(self.cluster, self.sid), encode_manifest(manifest))
        log.info("snapshot_written", cluster=self.cluster, snapshot=self.sid, nodes=len(nodes),
                 bytes=manifest.size)  # fmt: skip
        return {"snapshot_id": self.sid, "nodes": len(nodes), "bytes": manifest.size}
