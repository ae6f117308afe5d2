"""Adapters over the Kafka clients and tools: client config, admin queries, the quorum."""
