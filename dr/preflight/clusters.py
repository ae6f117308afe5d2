"""The checks of one cluster: reachable, authenticated, brokers online against the inventory,
the ACLs kafka-dr needs, and the KRaft quorum.

Reachability comes first (within the cluster's timeout_s, at once for a permanent failure);
the ACLs and the quorum are asked only of a cluster that answered, as follow-up tasks with
deadlines of their own.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from dr.config.schema import ClusterSettings, Settings
from dr.errors import DrError, ToolMissingError
from dr.kafka import admin as kadmin
from dr.kafka.health import VOTER_CAUGHT_UP_TOLERANCE_S
from dr.kafka.quorum import QuorumStatus, describe_quorum
from dr.preflight.acl_eval import Verdict, evaluate
from dr.preflight.acl_resources import NeededAcl
from dr.preflight.acls import needed_on
from dr.preflight.kafka_probe import (
    AdminGrants,
    ClusterAnswer,
    ProbeFailure,
    describe_authentication,
    principal_of,
    probe_cluster,
)
from dr.preflight.model import PreflightCheck, Stopwatch, passed, problem, warning
from dr.preflight.runner import CheckTask, Outcome
from dr.preflight.tools import JarsFound

QUORUM_TIMEOUT_S = 30.0
# Each quorum read starts a JVM; a small host runs two at a time, not one per cluster.
_JVMS = threading.BoundedSemaphore(2)
ACL_HINT = (
    "grant them to kafka-dr's principal (each is listed with what needs it); "
    "until then the commands that need them fail with an authorization error"
)


def cluster_task(name: str, settings: Settings, jars: JarsFound) -> CheckTask:
    """The task that checks cluster ``name``, and then its ACLs and quorum."""
    cluster = settings.clusters[name]
    subject = f"cluster {name} ({cluster.bootstrap_servers})"
    check = f"cluster {name} reachable"

    def run() -> Outcome:
        watch = Stopwatch()
        try:
            admin, answer = probe_cluster(cluster)
        except ProbeFailure as exc:
            return Outcome(not_answering(name, cluster, exc, seconds=watch.seconds))
        seconds = watch.seconds
        detail = (
            f"cluster id {answer.cluster_id}, {_count(len(answer.broker_ids), 'broker')} "
            f"online, answered in {seconds:.2f}s"
        )
        auth = describe_authentication(cluster)
        accepted = auth if auth.startswith("PLAINTEXT") else f"{auth}: accepted"
        checks = [
            passed(check, subject, detail, seconds=seconds),
            passed(f"cluster {name} authenticated", subject, accepted),
        ]
        if cluster.brokers:
            expected = [b.id for b in cluster.brokers]
            checks.append(brokers_check(name, subject, expected, answer.broker_ids))
        needs = needed_on(settings, name)
        follow_ups = (
            _acl_task(name, subject, cluster, needs, admin, answer),
            _quorum_task(name, subject, cluster, jars),
        )
        return Outcome(tuple(checks), follow_ups)

    hint = f"check the network path to the brokers, or raise clusters.{name}.timeout_s"
    return CheckTask(check, subject, cluster.timeout_s + 5, run, hint)


def not_answering(
    name: str, cluster: ClusterSettings, failure: ProbeFailure, *, seconds: float
) -> tuple[PreflightCheck, ...]:
    """The checks of a cluster that did not answer: unreachable, or refusing our credentials."""
    bootstrap = cluster.bootstrap_servers
    subject = f"cluster {name} ({bootstrap})"
    reachable, authenticated = f"cluster {name} reachable", f"cluster {name} authenticated"
    skipped = "; its authentication, ACLs and quorum were not checked"
    if failure.kind == "unreachable":
        hint = (
            f"check clusters.{name}.bootstrap_servers, that the brokers run, and that this "
            "host may connect to them (firewall, advertised.listeners)"
        )
        detail = f"no broker answered at {bootstrap}: {failure.message}{skipped}"
        return (problem(reachable, subject, detail, hint, seconds=seconds),)
    if failure.kind == "timeout":
        hint = f"check the network path to {bootstrap}, or raise clusters.{name}.timeout_s"
        detail = f"{bootstrap}: {failure.message}{skipped}"
        return (problem(reachable, subject, detail, hint, seconds=seconds),)
    connected = passed(reachable, subject, f"a broker at {bootstrap} took the connection")
    if failure.kind == "tls":
        hint = (
            f"check clusters.{name}.client security.protocol and ssl.ca.location: the "
            "brokers' certificate must be trusted (and their name match)"
        )
        detail = f"the TLS handshake failed: {failure.message}"
    else:
        hint = (
            f"check clusters.{name}.client sasl.mechanism, sasl.username and sasl.password, "
            "and that the user exists on the cluster"
        )
        detail = f"{describe_authentication(cluster)} refused: {failure.message}"
    return connected, problem(authenticated, subject, detail, hint, seconds=seconds)


def brokers_check(
    name: str, subject: str, expected: Sequence[int], online: Sequence[int]
) -> PreflightCheck:
    """'cluster NAME brokers online': every broker of the inventory is online."""
    check = f"cluster {name} brokers online"
    missing = sorted(set(expected) - set(online))
    extra = sorted(set(online) - set(expected))
    listed = ", ".join(map(str, sorted(expected)))
    if missing:
        return problem(
            check,
            subject,
            f"brokers {_ids(missing)} of the inventory ({listed}) are not online",
            f"start them (kafka-dr status shows the cluster's health), or remove them from "
            f"clusters.{name}.brokers",
        )
    if extra:
        return warning(
            check,
            subject,
            f"brokers {_ids(extra)} are online but not in the inventory ({listed})",
            f"add them to clusters.{name}.brokers",
        )
    if len(expected) == 1:
        return passed(check, subject, f"the one broker of the inventory is online ({listed})")
    detail = f"all {len(expected)} brokers of the inventory are online ({listed})"
    return passed(check, subject, detail)


def acl_check(
    name: str, subject: str, verdicts: Sequence[Verdict], *, seconds: float = 0.0
) -> PreflightCheck:
    """'cluster NAME ACLs' from the verdict on each need: fails when a critical need is not
    granted, warns when another is not, or when some could not be verified."""
    check = f"cluster {name} ACLs"
    missing = [v for v in verdicts if v.state == "missing"]
    unverified = [v for v in verdicts if v.state == "unverified"]
    if missing:
        critical = any(v.need.critical for v in missing)
        detail = f"{len(missing)} of {len(verdicts)} needed ACLs missing: " + _listed(missing)
        return problem(check, subject, detail, ACL_HINT, critical=critical, seconds=seconds)
    if unverified:
        detail = f"{len(unverified)} of {len(verdicts)} needed ACLs could not be verified: "
        hint = (
            "make sure they are granted (kafka-dr reads ACL bindings when it may DESCRIBE the "
            "cluster and authenticates with a SASL user name)"
        )
        return warning(check, subject, detail + _listed(unverified), hint, seconds=seconds)
    detail = f"all {len(verdicts)} ACLs kafka-dr needs here are granted"
    return passed(check, subject, detail, seconds=seconds)


def quorum_check(
    name: str, subject: str, quorum: QuorumStatus, *, seconds: float = 0.0
) -> PreflightCheck:
    """'cluster NAME KRaft quorum': it has a leader, and its voters have caught up."""
    check = f"cluster {name} KRaft quorum"
    voters = _ids(sorted(v.node_id for v in quorum.voters))
    if quorum.leader_id is None:
        hint = "a majority of the controllers must run: start the stopped ones"
        return problem(check, subject, f"no leader (voters {voters})", hint, seconds=seconds)
    lagging = sorted(
        v.node_id
        for v in quorum.voters
        if v.role != "leader"
        and (v.last_caught_up_age_s is None or v.last_caught_up_age_s > VOTER_CAUGHT_UP_TOLERANCE_S)
    )
    if lagging:
        detail = (
            f"voters {_ids(lagging)} have not caught up with leader {quorum.leader_id} for "
            f"over {VOTER_CAUGHT_UP_TOLERANCE_S:.0f}s"
        )
        hint = "check those controllers (running? disk? network to the leader?)"
        return warning(check, subject, detail, hint, seconds=seconds)
    detail = f"leader {quorum.leader_id}, voters {voters} caught up"
    return passed(check, subject, detail, seconds=seconds)


def _acl_task(
    name: str,
    subject: str,
    cluster: ClusterSettings,
    needs: Sequence[NeededAcl],
    admin: AdminClient,
    answer: ClusterAnswer,
) -> CheckTask:
    check = f"cluster {name} ACLs"
    timeout_s = cluster.timeout_s

    def run() -> Outcome:
        watch = Stopwatch()
        if not needs:
            detail = "the config asks nothing of this cluster that needs an ACL"
            return Outcome((passed(check, subject, detail),))
        if kadmin.has_authorizer(admin, timeout_s) is False:
            detail = "no authorizer: every operation is allowed"
            return Outcome((passed(check, subject, detail, seconds=watch.seconds),))
        grants = AdminGrants(admin, answer, timeout_s=timeout_s)
        try:
            verdicts = evaluate(needs, grants, principal=principal_of(cluster))
        except (KafkaException, TimeoutError) as exc:
            detail = f"what the cluster grants could not be read: {kadmin.reason(exc)}"
            hint = "run kafka-dr check again; kafka-dr needs DESCRIBE on the cluster"
            return Outcome((warning(check, subject, detail, hint, seconds=watch.seconds),))
        return Outcome((acl_check(name, subject, verdicts, seconds=watch.seconds),))

    hint = f"the cluster answers slowly: raise clusters.{name}.timeout_s"
    return CheckTask(check, subject, max(15.0, 3 * timeout_s), run, hint)


def _quorum_task(name: str, subject: str, cluster: ClusterSettings, found: JarsFound) -> CheckTask:
    check = f"cluster {name} KRaft quorum"

    def run() -> Outcome:
        watch = Stopwatch()
        if found.jars is None:
            detail = f"not checked: {found.missing}"
            return Outcome((warning(check, subject, detail, found.hint or ""),))
        if not _JVMS.acquire(timeout=QUORUM_TIMEOUT_S / 2):
            detail = "not checked: other Kafka tools kept the host busy"
            return Outcome((warning(check, subject, detail, "run kafka-dr check again"),))
        try:
            left = QUORUM_TIMEOUT_S - watch.seconds
            quorum = describe_quorum(cluster, found.jars, timeout_s=left)
        except ToolMissingError as exc:
            detail = f"not checked: {exc.message}"
            return Outcome((warning(check, subject, detail, "see the Java check"),))
        except DrError as exc:
            hint = "kafka-dr status reads the same quorum: look at the controllers' logs"
            detail = f"the quorum could not be read: {exc.message}"
            return Outcome((problem(check, subject, detail, hint, seconds=watch.seconds),))
        finally:
            _JVMS.release()
        return Outcome((quorum_check(name, subject, quorum, seconds=watch.seconds),))

    hint = "the controllers answer slowly, or the host is overloaded"
    return CheckTask(check, subject, QUORUM_TIMEOUT_S + 5, run, hint)


def _listed(verdicts: Sequence[Verdict]) -> str:
    return "; ".join(f"{v.need.describe()} ({v.why}; for {v.need.reasons[0]})" for v in verdicts)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _ids(ids: Sequence[int]) -> str:
    return ", ".join(map(str, ids))
