"""Names of the topics and groups kafka-dr itself creates in a cluster: kept here, below the
rooms that create them, so that preflight can name them in the ACLs it asks for without
importing every playbook and the drill."""

from __future__ import annotations

# The topic a cutover or failover writes a record to and reads it back from (dr.playbooks.canary).
CANARY_TOPIC = "kafka-dr.canary"
# The prefix of a drill's scratch topics and groups (dr.drill.scratch).
DRILL_PREFIX = "__kafka-dr-drill-"
