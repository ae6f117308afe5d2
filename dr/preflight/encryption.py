"""The check that a backup job's keys open its latest backup, before a restore needs them.

A wrong key file, a key id dropped from ``encryption.keys`` or an ``encryption`` section lost
from the config is otherwise found by the restore of a disaster. The check opens the latest
backup's metadata object (one small read) with the store's keys: the key that sealed it is the
one the next restore needs first. Segments carried over from older backups may need older
keys too; ``kafka-dr backup verify --deep`` opens every one.
"""

from __future__ import annotations

from dr.backup.catalog import latest_manifest
from dr.config.schema import Settings, StorageSettings
from dr.errors import DrError
from dr.preflight.model import PreflightCheck, Stopwatch, passed, problem, warning
from dr.preflight.runner import CheckTask, Outcome
from dr.preflight.stores import open_probe_store
from dr.storage import EncryptedStore, EncryptionError, ObjectStore, get_stored, open_stored
from dr.storage.crypt import header_key_id
from dr.storage.encrypted import keyring_of

DEADLINE_S = 20.0


def keys_task(job: str, settings: Settings) -> CheckTask:
    """The task that checks that job's store settings open its latest backup."""
    storage = settings.backups[job].storage
    name, subject = f"backup job {job} keys", f"backup job {job} (storage.{storage})"

    def run() -> Outcome:
        return Outcome((keys_check(job, settings.storage[storage], name=name, subject=subject),))

    return CheckTask(name, subject, DEADLINE_S, run, "run kafka-dr check again")


def keys_check(job: str, store: StorageSettings, *, name: str, subject: str) -> PreflightCheck:
    """'backup job J keys': ok when the latest backup's metadata opens with the settings
    (or is not encrypted), fail naming the key id it needs otherwise; a store that cannot be
    read is a warning (the store's own check says why)."""
    watch = Stopwatch()
    try:
        opened = _opened(store)
        latest = latest_manifest(opened, job)
        if latest is None:
            return passed(name, subject, "no backup yet", seconds=watch.seconds)
        stored = get_stored(opened, latest.metadata_key)
        open_stored(opened, latest.metadata_key, stored)
    except EncryptionError as exc:
        return problem(name, subject, exc.message, _hint(store, exc), seconds=watch.seconds)
    except DrError as exc:
        detail = f"the latest backup could not be read: {exc.message}"
        hint = f"see the check of store {store.name}"
        return warning(name, subject, detail, hint, seconds=watch.seconds)
    key_id = header_key_id(stored)
    how = f"opens with key '{key_id}'" if key_id is not None else "is not encrypted"
    detail = f"the metadata of the latest backup, {latest.backup_id}, {how}"
    return passed(name, subject, detail, seconds=watch.seconds)


def _hint(store: StorageSettings, exc: EncryptionError) -> str:
    if "allow_unencrypted_reads is false" in exc.message:
        return (
            f"set storage.{store.name}.encryption.allow_unencrypted_reads to true until the "
            "backups taken before encryption are pruned"
        )
    return (
        f"list under storage.{store.name}.encryption.keys the key its backups were sealed "
        "with (the same id, the same key file): restores of them need it"
    )


def _opened(settings: StorageSettings) -> ObjectStore:
    store = open_probe_store(settings)  # a file:// store comes with its keys already
    keyring = keyring_of(settings)
    if keyring is None or settings.encryption is None or isinstance(store, EncryptedStore):
        return store
    allow = settings.encryption.allow_unencrypted_reads
    return EncryptedStore(store, keyring, allow_unencrypted_reads=allow)
