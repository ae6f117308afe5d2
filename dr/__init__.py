"""kafka-dr: disaster recovery and backup for Apache Kafka."""

__version__ = "0.1.0"
