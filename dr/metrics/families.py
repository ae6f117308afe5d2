"""Every metric of kafka-dr: its name, labels and help, declared once on a private registry.

This is the one place where names are written. Recording (what value each takes, when) is in
dr.metrics.recorder; docs/monitoring.md is the reference for users.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from dr import __version__


class Families:
    """The kafka-dr metrics declared on one registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._declare_daemon()
        self._declare_backups()
        self._declare_backup_rpo()
        self._declare_mirror()
        self._declare_mirror_health()
        self._declare_clusters()
        self._declare_drills()

    def _gauge(self, name: str, doc: str, *labels: str) -> Gauge:
        return Gauge(name, doc, list(labels), registry=self.registry)

    def _counter(self, name: str, doc: str, *labels: str) -> Counter:
        return Counter(name, doc, list(labels), registry=self.registry)

    def _declare_daemon(self) -> None:
        g = self._gauge
        self.build_info = g("kafka_dr_build_info", "Always 1; the version of kafka-dr.", "version")
        self.build_info.labels(__version__).set(1)
        self.start_time = g(
            "kafka_dr_daemon_start_time_seconds", "Unix time at which the daemon started."
        )
        self.sample_time = g(
            "kafka_dr_sample_timestamp_seconds",
            "Unix time at which the sampler (rpo, cluster_health, mirror_health) last finished.",
            "sampler",
        )
        self.sample_failures = self._counter(
            "kafka_dr_sample_failures_total",
            "Runs of the sampler that raised or did not finish in time.",
            "sampler",
        )
        self.preflight_time = g(
            "kafka_dr_preflight_timestamp_seconds",
            "Unix time at which the start-up preflight (kafka-dr check) finished; 0 before.",
        )
        self.preflight_check_ok = g(
            "kafka_dr_preflight_check_ok",
            "1 when the preflight check passed or warned, 0 when it failed.",
            "check",
            "subject",
        )
        self.preflight_warnings = g(
            "kafka_dr_preflight_warnings", "Checks of the start-up preflight that warned."
        )

    def _declare_backups(self) -> None:
        g, j = self._gauge, "backup_job"
        self.backup_status = g(
            "kafka_dr_backup_last_run_status",
            "1 for the status of the job's latest run that started (never_run, running, "
            "succeeded, failed, cancelled), 0 for the others.",
            j,
            "status",
        )
        self.backup_last_success = g(
            "kafka_dr_backup_last_success_timestamp_seconds",
            "Unix time at which the job's last successful backup finished; 0 if none did.",
            j,
        )
        self.backup_last_failure = g(
            "kafka_dr_backup_last_failure_timestamp_seconds",
            "Unix time at which the job's last failed backup finished; 0 if none failed.",
            j,
        )
        self.backup_duration = g(
            "kafka_dr_backup_last_duration_seconds",
            "Duration of the job's last successful backup.",
            j,
        )
        self.backup_stale_after = g(
            "kafka_dr_backup_stale_after_seconds",
            "Age of the last success past which the scheduled job is stale (2 x the longest "
            "interval of its schedule, at least 300 s).",
            j,
        )
        self.backup_records = self._counter(
            "kafka_dr_backup_records", "Records stored by the daemon's successful backups.", j
        )
        self.backup_bytes = self._counter(
            "kafka_dr_backup_bytes", "Bytes stored by the daemon's successful backups.", j
        )
        self.backup_failures = self._counter(
            "kafka_dr_backup_failures",
            "The daemon's backups that failed (cancelled and skipped runs are not failures).",
            j,
        )
        self.backup_running = g(
            "kafka_dr_backup_running", "1 while the daemon runs a backup of the job, else 0.", j
        )

    def _declare_backup_rpo(self) -> None:
        g, j = self._gauge, "backup_job"
        self.backup_rpo = g(
            "kafka_dr_backup_rpo_seconds",
            "Age of the oldest record of the job's topics not yet in the store.",
            j,
        )
        self.backup_lag = g(
            "kafka_dr_backup_lag_records", "Records of the job's topics not yet in the store.", j
        )
        self.backup_rpo_unmeasured = g(
            "kafka_dr_backup_rpo_unmeasured",
            "1 when the job's RPO could not be measured (or not yet); its RPO keeps its last "
            "value (none when that was 0).",
            j,
        )
        self.backup_rpo_objective = g(
            "kafka_dr_backup_rpo_objective_seconds", "The job's RPO objective.", j
        )
        self.backup_rto_objective = g(
            "kafka_dr_backup_rto_objective_seconds", "The job's RTO objective.", j
        )

    def _declare_mirror(self) -> None:
        g, f = self._gauge, "flow"
        self.mirror_rpo = g(
            "kafka_dr_mirror_rpo_seconds",
            "RPO of the flow's topic (its worst partition): how much a failover would lose.",
            f,
            "topic",
        )
        self.mirror_lag = g(
            "kafka_dr_mirror_lag_records",
            "Records of the flow's topic not yet replicated to the target.",
            f,
            "topic",
        )
        self.mirror_rpo_unmeasured = g(
            "kafka_dr_mirror_rpo_unmeasured",
            "1 when the flow's RPO could not be measured (or not yet); its RPO keeps its last "
            "value (none when that was 0).",
            f,
        )
        self.mirror_heartbeat_age = g(
            "kafka_dr_mirror_heartbeat_age_seconds",
            "Age of the flow's newest MirrorMaker heartbeat on the target.",
            f,
        )
        self.mirror_stalled = g(
            "kafka_dr_mirror_stalled",
            "1 when the flow's newest heartbeat is stale or missing (heartbeats on), else 0.",
            f,
        )
        self.mirror_rpo_objective = g(
            "kafka_dr_mirror_rpo_objective_seconds", "The flow's RPO objective.", f
        )
        self.mirror_rto_objective = g(
            "kafka_dr_mirror_rto_objective_seconds", "The flow's RTO objective.", f
        )

    def _declare_mirror_health(self) -> None:
        g, f = self._gauge, "flow"
        self.mirror_state = g(
            "kafka_dr_mirror_flow_state",
            "1 for the flow's state as `kafka-dr mirror status` judges it (running, unknown, "
            "degraded, stalled, paused, down, failed), 0 for the others.",
            f,
            "state",
        )
        self.connector_state = g(
            "kafka_dr_mirror_connector_state",
            "1 for the Connect state of the flow's connector, 0 for the others (Connect mode).",
            f,
            "connector",
            "state",
        )
        self.connector_tasks = g(
            "kafka_dr_mirror_connector_tasks",
            "Tasks of the flow's connector in each Connect state (Connect mode).",
            f,
            "connector",
            "state",
        )

    def _declare_clusters(self) -> None:
        g, c = self._gauge, "cluster"
        self.cluster_reachable = g(
            "kafka_dr_cluster_reachable", "1 when the cluster answered its last check.", c
        )
        self.cluster_healthy = g(
            "kafka_dr_cluster_healthy",
            "1 when the last check found no problem (as `kafka-dr status`).",
            c,
        )
        self.brokers_expected = g(
            "kafka_dr_cluster_brokers_expected",
            "Brokers in the cluster's inventory (clusters.C.brokers); 0: not checked.",
            c,
        )
        self.brokers_online = g(
            "kafka_dr_cluster_brokers_online", "Brokers the cluster reports online.", c
        )
        self.urp = g(
            "kafka_dr_cluster_under_replicated_partitions",
            "Partitions with fewer in-sync replicas than replicas.",
            c,
        )
        self.under_min_isr = g(
            "kafka_dr_cluster_under_min_isr_partitions",
            "Partitions with fewer in-sync replicas than min.insync.replicas.",
            c,
        )
        self.offline = g("kafka_dr_cluster_offline_partitions", "Partitions without a leader.", c)
        self.quorum_lag = g(
            "kafka_dr_cluster_quorum_max_voter_lag_records",
            "Largest lag of a KRaft voter behind the quorum leader, in metadata records.",
            c,
        )

    def _declare_drills(self) -> None:
        g, d = self._gauge, "drill"
        self.drill_status = g(
            "kafka_dr_drill_last_run_status",
            "1 for the outcome of the drill's last run (never_run, passed, failed, error, "
            "refused), 0 for the others.",
            d,
            "status",
        )
        self.drill_last_run = g(
            "kafka_dr_drill_last_run_timestamp_seconds",
            "Unix time at which the drill's last run finished; 0 if never run.",
            d,
        )
        self.drill_last_success = g(
            "kafka_dr_drill_last_success_timestamp_seconds",
            "Unix time at which the drill's last passed run finished; 0 if none passed.",
            d,
        )
        self.drill_last_failure = g(
            "kafka_dr_drill_last_failure_timestamp_seconds",
            "Unix time at which the drill's last run that did not pass finished; 0 if none.",
            d,
        )
        self.drill_stale_after = g(
            "kafka_dr_drill_stale_after_seconds",
            "Age of the last passed run past which the scheduled drill is stale.",
            d,
        )
        self.drill_running = g(
            "kafka_dr_drill_running", "1 while a run of the drill is under way.", d
        )
        self.drill_checks_failed = g(
            "kafka_dr_drill_checks_failed",
            "Checks of the drill's last run that failed or errored (absent without a report).",
            d,
        )
        self.drill_objectives_missed = g(
            "kafka_dr_drill_objectives_missed",
            "RPO/RTO objectives of the drill's last run missed or not measured (absent without "
            "a report).",
            d,
        )
        self.drill_rto = g(
            "kafka_dr_drill_rto_seconds",
            "Worst RTO measured by the drill's last run (absent when it measured none).",
            d,
        )
