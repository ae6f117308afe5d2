"""Backup and restore of topics: segment format, catalog, runner, verify, retention, restore."""
