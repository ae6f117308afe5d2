"""Log-dir snapshots of a cluster's nodes: layout and manifest, archives, the catalog in a store."""
