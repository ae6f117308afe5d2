"""Finding backups named on the command line: an id, or 'latest' of a job.

A backup belongs to a configured job, or to a job that is not configured but whose catalog is
in a configured store: an archive written by a procedure (a failback's divergence archive,
job ``divergence-<run_id>``). Those are found by their job name (``--job``) or by a backup id,
whose job is the id without its time suffix, in the first configured store that holds them.
"""

from __future__ import annotations

import json
import re
from typing import Any

from dr.backup.catalog import (
    CatalogError,
    Manifest,
    ManifestDamaged,
    latest_manifest,
    load_manifest,
    manifest_key,
    sequence_numbers,
)
from dr.config.schema import Settings
from dr.errors import UsageError
from dr.storage import ObjectNotFound, ObjectStore, get_stored, open_store, open_stored

# The time suffix of a backup id (catalog.new_backup_id): -YYYYMMDDTHHMMSSffffffZ.
_ID_TIME = re.compile(r"-\d{8}T\d{12}Z$")


def job_store(settings: Settings, job: str, *, archives: bool = False) -> ObjectStore:
    """The store of a configured job; with ``archives``, also of a job that is not configured
    but has committed backups in a configured store. Raises UsageError when there is none."""
    if job in settings.backups:
        return open_store(settings.storage[settings.backups[job].storage])
    store = _archive_store(settings, job) if archives else None
    if store is None:
        raise UsageError(
            f"no backup job named '{job}' (jobs: {', '.join(settings.backups) or 'none'})"
        )
    return store


def _archive_store(
    settings: Settings, job: str, backup_id: str | None = None
) -> ObjectStore | None:
    """The first configured store holding backups of the unconfigured job (the manifest of
    backup_id, when given); None when no store does."""
    for storage in settings.storage.values():
        store = open_store(storage)
        if backup_id is not None:
            if store.exists(manifest_key(job, backup_id)):
                return store
        elif sequence_numbers(store, job):
            return store
    return None


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
        store = job_store(settings, job, archives=True)
        manifest = latest_manifest(store, job)
        if manifest is None:
            raise CatalogError(
                f"job '{job}' has no readable completed backup in {store.url} "
                f"(`kafka-dr backup list {job}` names any it cannot read)"
            )
        return store, manifest
    owners = [j for j in settings.backups if ref.startswith(f"{j}-") and (job is None or j == job)]
    if not owners:
        archive = _archive_of(settings, ref, job)
        if archive is not None:
            return archive
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


def _archive_of(
    settings: Settings, ref: str, job: str | None
) -> tuple[ObjectStore, Manifest] | None:
    """Backup ref of a job that is not configured, found in a configured store, if any."""
    owner = job if job is not None and job not in settings.backups else None
    if owner is None and job is None and _ID_TIME.search(ref):
        owner = _ID_TIME.sub("", ref)
    if owner is None or not ref.startswith(f"{owner}-"):
        return None
    store = _archive_store(settings, owner, ref)
    return None if store is None else (store, load_manifest(store, owner, ref))


def load_metadata(store: ObjectStore, manifest: Manifest) -> dict[str, Any]:
    """The backup's metadata snapshot, opened with the store's keys when it is encrypted.

    Raises CatalogError (missing, or not a JSON object), EncryptionError (encrypted with a
    key the settings do not list, or read without keys), StorageError.
    """
    key = manifest.metadata_key
    try:
        stored = get_stored(store, key)
    except ObjectNotFound:
        raise CatalogError(
            f"metadata object '{key}' of backup {manifest.backup_id} is missing"
        ) from None
    # Through open_stored, not get_bytes: a store opened without keys would hand the
    # encrypted bytes to the JSON parser (an unexpected UnicodeDecodeError, not the key id).
    data = open_stored(store, key, stored)
    try:
        raw = json.loads(data)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        raw = None
    if not isinstance(raw, dict):
        raise CatalogError(
            f"metadata object '{key}' of backup {manifest.backup_id} is not a JSON object: "
            f"run 'kafka-dr backup verify {manifest.backup_id}'"
        )
    return raw
