"""Configuration: schema, loading with secret references, the generated example."""

from dr.config.load import LoadedConfig, find_config, load_config, parse_config
from dr.config.schema import ClusterSettings, Settings, StorageSettings

__all__ = [
    "ClusterSettings",
    "LoadedConfig",
    "Settings",
    "StorageSettings",
    "find_config",
    "load_config",
    "parse_config",
]
