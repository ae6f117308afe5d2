"""Local KRaft clusters and MirrorMaker 2 from Apache Kafka jars, for people and tests.

Product code never imports this package; only dr/cli/lab.py and the integration fixtures do.
"""
