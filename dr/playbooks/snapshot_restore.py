"""`snapshot restore`: lay a snapshot back on a cluster's nodes (total cluster loss), or on
one node (``--broker N``).

Steps:

1. check_snapshot    the manifest read, every node to restore in it and in the inventory,
                     every object present with the manifest's size.
2. stop_N            for each node: stopped, whatever runs there (graceful, killed after
                     --stop-timeout).
3. lay_back_N        for each node, stopped: its object fetched and checked against the
                     manifest's SHA-256 (nothing is wiped before), its log dirs wiped, each
                     path laid back where it was. Safe to run twice (wiped again).
4. start             every restored node started (all of them before any wait: a quorum of
                     several voters needs a majority up to elect a leader).
5. await_quorum      the metadata quorum has a leader, every restored voter back in it, every
                     restored broker registered.
6. await_online      no partition offline or under-replicated (--ready-timeout); the RTO ends
                     here.
7. compare_offsets   every partition's end offset against the snapshot's: for each partition
                     the highest end offset recorded before a node hosting it stopped. Any
                     difference is reported (fewer records: data the snapshot held is not back;
                     more: written after those offsets were read, or after the restore).
"""

from __future__ import annotations

import posixpath
import time
from collections.abc import Mapping
from typing import Any

from dr.config.schema import Settings
from dr.errors import DrError
from dr.kafka.node_config import node_config
from dr.log import get_logger
from dr.playbooks.broker_common import AccessFor, cluster_settings_of, host_access, wait_for
from dr.playbooks.broker_safety import back_in_quorum
from dr.playbooks.snapshot_common import LiveSnapshotCluster, SnapshotCluster
from dr.snapshots.archive import relocated, verified_copy
from dr.snapshots.catalog import read_manifest, resolve_id, snapshot_store, storage_name
from dr.snapshots.manifest import (
    SnapshotManifest,
    compare_end_offsets,
    expected_end_offsets,
)
from dr.steps import Playbook, Step, StepContext
from dr.storage import ObjectStore

log = get_logger(__name__)

PLAYBOOK = "snapshot-restore"
STOP_TIMEOUT_S = 60.0
READY_TIMEOUT_S = 600.0


def restore_params(
    settings: Settings,
    cluster: str,
    snapshot: str,
    *,
    storage: str | None = None,
    node: int | None = None,
    store: ObjectStore | None = None,
    stop_timeout_s: float = STOP_TIMEOUT_S,
    ready_timeout_s: float = READY_TIMEOUT_S,
) -> dict[str, Any]:
    """The run's params: the snapshot (``latest`` resolved now, so a resume lays back the
    same one) and the nodes to restore. Raises UsageError or SnapshotError."""
    name = storage_name(settings, cluster, storage)
    store = store or snapshot_store(settings, cluster, name)
    snapshot_id = resolve_id(store, cluster, snapshot)
    manifest = read_manifest(store, cluster, snapshot_id)
    held = [a.node_id for a in manifest.nodes]
    if node is not None and node not in held:
        manifest.node(node)  # raises, naming the nodes it has
    return {
        "cluster": cluster,
        "storage": name,
        "snapshot_id": snapshot_id,
        "nodes": [node] if node is not None else held,
        "whole": node is None,
        "stop_timeout_s": stop_timeout_s,
        "ready_timeout_s": ready_timeout_s,
    }


def restore_playbook(
    settings: Settings,
    params: Mapping[str, Any],
    *,
    probe: SnapshotCluster | None = None,
    access: AccessFor | None = None,
    store: ObjectStore | None = None,
) -> Playbook:
    """The restore of snapshot params["snapshot_id"] onto params["nodes"] (see
    restore_params)."""
    cluster = params["cluster"]
    cluster_settings_of(settings, cluster)
    book = _Restore(
        params,
        probe or LiveSnapshotCluster(settings.clusters[cluster], settings.tools),
        access or host_access(settings, cluster),
        lambda: store or snapshot_store(settings, cluster, params["storage"]),
    )
    nodes = [int(n) for n in params["nodes"]]
    sid = params["snapshot_id"]
    steps = [
        Step(
            "check_snapshot",
            f"read snapshot {sid}'s manifest; every object there with its size",
            book.check_snapshot,
            touches="nothing (reads the store)",
        )
    ]
    steps += [book.stop_step(n) for n in nodes]
    steps += [book.lay_back_step(n) for n in nodes]
    steps += [
        Step(
            "start",
            f"start node{'s' if len(nodes) > 1 else ''} {', '.join(map(str, nodes))}",
            book.start,
            touches=f"nodes {', '.join(map(str, nodes))} of {cluster}",
        ),
        Step(
            "await_quorum",
            "wait for the metadata quorum's leader, every restored voter in it and every "
            "restored broker registered",
            book.await_quorum,
            touches="nothing (reads the cluster)",
        ),
        Step(
            "await_online",
            f"wait until no partition is offline or under-replicated (at most "
            f"{float(params['ready_timeout_s']):.0f}s)",
            book.await_online,
            touches="nothing (reads the cluster)",
            switches_clients=True,  # the cluster serves its clients again: the RTO ends here
        ),
        Step(
            "compare_offsets",
            "compare every partition's end offset with the snapshot's recorded ones",
            book.compare_offsets,
            touches="nothing (reads the cluster)",
        ),
    ]
    return Playbook(
        name=PLAYBOOK, source=cluster, target=cluster, params=dict(params), steps=tuple(steps)
    )


class _Restore:
    def __init__(
        self, params: Mapping[str, Any], probe: SnapshotCluster, access: AccessFor, store: Any
    ) -> None:
        self.params, self.probe, self.access, self._store = params, probe, access, store
        self.cluster: str = params["cluster"]
        self.sid: str = params["snapshot_id"]
        self.nodes = [int(n) for n in params["nodes"]]
        self._manifest: SnapshotManifest | None = None

    @property
    def store(self) -> ObjectStore:
        found: ObjectStore = self._store()
        return found

    @property
    def manifest(self) -> SnapshotManifest:
        if self._manifest is None:
            self._manifest = read_manifest(self.store, self.cluster, self.sid)
        return self._manifest

    def stop_step(self, n: int) -> Step:
        return Step(
            f"stop_{n}",
            f"stop node {n} of {self.cluster}, whatever runs there",
            lambda ctx: self.stop(n),
            check=lambda ctx: self.access(n).status().running is False,
            destructive=True,
            touches=f"node {n} of {self.cluster}",
        )

    def lay_back_step(self, n: int) -> Step:
        return Step(
            f"lay_back_{n}",
            f"check node {n}'s object against its SHA-256, wipe its log dirs, lay the snapshot "
            "back",
            lambda ctx: self.lay_back(ctx, n),
            destructive=True,
            touches=f"the log dirs and config file of node {n} of {self.cluster}",
        )

    def check_snapshot(self, _ctx: StepContext) -> dict[str, Any]:
        for n in self.nodes:
            archive = self.manifest.node(n)
            self.access(n)  # raises UsageError for a node not in the inventory
            found = self.store.stat(archive.key)
            if found is None or found.size != archive.size:
                what = "missing" if found is None else f"{found.size} bytes"
                raise DrError(f"{archive.key} is {what}, the manifest says {archive.size} bytes")
        return {
            "snapshot_id": self.sid,
            "cluster_id": self.manifest.cluster_id,
            "taken_at": self.manifest.started_at.isoformat(),
            "nodes": self.nodes,
            "bytes": sum(self.manifest.node(n).size for n in self.nodes),
        }

    def stop(self, n: int) -> dict[str, Any]:
        stopped = self.access(n).stop(deadline_s=float(self.params["stop_timeout_s"]))
        return {"how": stopped.how, "seconds": round(stopped.seconds, 3)}

    def lay_back(self, _ctx: StepContext, n: int) -> dict[str, Any]:
        host, archive = self.access(n), self.manifest.node(n)
        status = host.status()
        if status.running is not False:
            raise DrError(
                f"node {n} of '{self.cluster}' is not stopped ({status.detail}): its log dirs "
                "are only replaced while it is down"
            )
        started = time.monotonic()
        with verified_copy(self.store, archive) as path:
            for log_dir in archive.log_dirs:
                host.remove_tree(log_dir)
            for root in (*archive.log_dirs, archive.config_file):
                host.untar(posixpath.dirname(root) or "/", relocated(path, root))
        seconds = round(time.monotonic() - started, 3)
        where = f"cluster '{self.cluster}' node {n} {archive.config_file}"
        config = node_config(host.read_file(archive.config_file).decode(), where=where)
        log.info("snapshot_node_laid_back", cluster=self.cluster, node=n, seconds=seconds)
        return {"paths": [*archive.log_dirs, archive.config_file], "seconds": seconds,
                "roles": list(config.roles)}  # fmt: skip

    def start(self, _ctx: StepContext) -> dict[str, Any]:
        for n in self.nodes:
            self.access(n).start()
        return {"started": self.nodes, "started_at": time.time()}

    def await_quorum(self, ctx: StepContext) -> dict[str, Any]:
        since = float(ctx.output("start").get("started_at", time.time()))
        deadline = time.monotonic() + float(self.params["ready_timeout_s"])

        roles = {n: ctx.output(f"lay_back_{n}").get("roles", []) for n in self.nodes}
        brokers = [n for n in self.nodes if "broker" in roles[n]]

        def joined() -> str | None:
            quorum = self.probe.quorum()
            if quorum.leader_id is None:
                return "the metadata quorum has no leader"
            voters = {v.node_id for v in quorum.voters}
            for n in (n for n in self.nodes if n in voters):
                why = back_in_quorum(quorum, n, voter=True, since_epoch_s=since,
                                     now_epoch_s=time.time())  # fmt: skip
                if why:
                    return why
            registered = set(self.probe.view().brokers)
            missing = [n for n in brokers if n not in registered]
            return f"brokers not registered: {missing}" if missing else None

        waited = wait_for(
            joined,
            timeout_s=deadline - time.monotonic(),
            failure=f"cluster '{self.cluster}' did not form its quorum",
            event="snapshot_restore_waiting",
        )
        return {"waited_s": waited}

    def await_online(self, _ctx: StepContext) -> dict[str, Any]:
        def online() -> str | None:
            view = self.probe.view()
            if view.offline:
                return f"{len(view.offline)} partitions offline"
            if view.under_replicated:
                return f"{len(view.under_replicated)} partitions under-replicated"
            return None

        waited = wait_for(
            online,
            timeout_s=float(self.params["ready_timeout_s"]),
            failure=f"cluster '{self.cluster}' is not whole after the restore",
            event="snapshot_restore_waiting",
        )
        view = self.probe.view()
        return {"waited_s": waited, "partitions": len(view.partitions), "brokers": view.brokers}

    def compare_offsets(self, _ctx: StepContext) -> dict[str, Any]:
        recorded = expected_end_offsets(self.manifest, self.nodes)
        differences = compare_end_offsets(recorded, self.probe.end_offsets())
        fewer = [d for d in differences if d.kind != "more-records"]
        log.info("snapshot_offsets_compared", cluster=self.cluster, snapshot=self.sid,
                 differences=len(differences), fewer=len(fewer))  # fmt: skip
        return {
            "partitions": sum(len(p) for p in recorded.values()),
            "whole": bool(self.params["whole"]),
            "equal": not differences,
            "fewer": len(fewer),
            "more": len(differences) - len(fewer),
            "differences": [
                {
                    "topic": d.topic,
                    "partition": d.partition,
                    "recorded": d.recorded,
                    "restored": d.restored,
                    "kind": d.kind,
                    "detail": d.describe(),
                }
                for d in differences
            ],
        }
