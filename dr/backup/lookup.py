"""Finding backups named on the command line: an id, or 'latest' of a job."""

from __future__ import annotations

import json
from typing import Any

from dr.backup.catalog import (
    CatalogError,
    Manifest,
    ManifestDamaged,
    latest_manifest,
    load_manifest,
)
from dr.config.schema import Settings
from dr.errors import UsageError
from dr.storage import ObjectNotFound, ObjectStore, open_store


def job_store(settings: Settings, job: str) -> ObjectStore:
    if job not in settings.backups:
        raise UsageError(
            f"no backup job named '{job}' (jobs: {', '.join(settings.backups) or 'none'})"
        )
    return open_store(settings.storage[settings.backups[job].storage])


def find_backup(
    settings: Settings, ref: str, job: str | None = None
) -> tuple[ObjectStore, Manifest]:
    """The store and manifest of backup `ref` (an id, or 'latest' with one job or --job).

    Raises UsageError when ref is ambiguous, CatalogError when there is no such backup
    (ManifestDamaged when its manifest exists but is damaged).
    """
    if ref == "latest":
        if job is None:
            if len(settings.backups) != 1:
                raise UsageError("'latest' needs --job JOB when several backup jobs are configured")
            job = next(iter(settings.backups))
        store = job_store(settings, job)
        manifest = latest_manifest(store, job)
        if manifest is None:
            raise CatalogError(f"job '{job}' has no completed backup in {store.url}")
        return store, manifest
    owners = [j for j in settings.backups if ref.startswith(f"{j}-") and (job is None or j == job)]
    if not owners:
        raise CatalogError(
            f"no backup job owns backup id '{ref}' (ids look like JOB-YYYYMMDDT...Z)"
        )
    damaged: ManifestDamaged | None = None
    for owner in sorted(owners, key=len, reverse=True):
        store = job_store(settings, owner)
        try:
            return store, load_manifest(store, owner, ref)
        except ManifestDamaged as exc:
            damaged = exc
        except CatalogError:
            continue
    if damaged is not None:
        raise damaged
    raise CatalogError(f"backup '{ref}' not found")


def load_metadata(store: ObjectStore, manifest: Manifest) -> dict[str, Any]:
    try:
        raw: dict[str, Any] = json.loads(store.get_bytes(manifest.metadata_key))
    except ObjectNotFound:
        raise CatalogError(
            f"metadata object '{manifest.metadata_key}' of backup {manifest.backup_id} is missing"
        ) from None
    return raw
