"""S3Store on a real S3-API server: where objects land, encryption, storage class, multipart."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import dr.storage.s3
from dr.config.schema import StorageSettings
from dr.storage import S3Store, StorageError, open_store
from integration.s3server import SECRET_ACCESS_KEY, S3Server


def test_keys_are_stored_under_the_url_prefix(s3_server: S3Server, s3_prefix: str) -> None:
    store = S3Store(s3_server.settings(s3_prefix))

    store.put_bytes("orders/data/0/000.seg", b"x")

    listed = s3_server.client.list_objects_v2(Bucket=s3_server.bucket, Prefix=s3_prefix)
    assert [o["Key"] for o in listed["Contents"]] == [f"{s3_prefix}/orders/data/0/000.seg"]
    assert store.url == f"s3://{s3_server.bucket}/{s3_prefix}"


def test_a_store_does_not_see_objects_of_a_sibling_prefix(
    s3_server: S3Server, s3_prefix: str
) -> None:
    store_a = S3Store(s3_server.settings(f"{s3_prefix}/a"))
    store_ab = S3Store(s3_server.settings(f"{s3_prefix}/ab"))
    store_b = S3Store(s3_server.settings(f"{s3_prefix}/b"))
    store_a.put_bytes("manifest.json", b"a")
    store_ab.put_bytes("manifest.json", b"ab")

    assert [i.key for i in store_a.list("")] == ["manifest.json"]
    assert list(store_b.list("")) == []
    assert not store_b.exists("manifest.json")
    assert store_a.get_bytes("manifest.json") == b"a"


def test_every_put_is_encrypted_with_aes256(
    s3_server: S3Server, s3_prefix: str, tmp_path: Path
) -> None:
    store = S3Store(s3_server.settings(s3_prefix, sse="AES256"))
    source = tmp_path / "segment"
    source.write_bytes(b"y" * 1000)

    store.put_bytes("small", b"x")
    store.put_file("file", source)

    for key in ("small", "file"):
        head = s3_server.client.head_object(Bucket=s3_server.bucket, Key=f"{s3_prefix}/{key}")
        assert head["ServerSideEncryption"] == "AES256"


def test_every_put_uses_the_configured_storage_class(
    s3_server: S3Server, s3_prefix: str, tmp_path: Path
) -> None:
    store = S3Store(s3_server.settings(s3_prefix, storage_class="STANDARD_IA"))
    source = tmp_path / "segment"
    source.write_bytes(b"y" * 1000)

    store.put_bytes("small", b"x")
    store.put_file("file", source)

    for key in ("small", "file"):
        head = s3_server.client.head_object(Bucket=s3_server.bucket, Key=f"{s3_prefix}/{key}")
        assert head.get("StorageClass") == "STANDARD_IA"


def test_a_file_above_the_threshold_is_uploaded_in_parts_with_the_put_options(
    s3_server: S3Server, s3_prefix: str, tmp_path: Path
) -> None:
    settings = s3_server.settings(
        s3_prefix, multipart_threshold_mb=5, sse="AES256", storage_class="STANDARD_IA"
    )
    store = S3Store(settings)
    source = tmp_path / "big.seg"
    source.write_bytes(bytes(range(256)) * (12 * 1024 * 1024 // 256))
    copy = tmp_path / "restored" / "big.seg"

    store.put_file("orders/big.seg", source)
    store.get_file("orders/big.seg", copy)

    head = s3_server.client.head_object(Bucket=s3_server.bucket, Key=f"{s3_prefix}/orders/big.seg")
    parts = re.fullmatch(r'"[0-9a-f]{32}-(\d+)"', head["ETag"])
    assert parts is not None, f"not a multipart ETag: {head['ETag']}"
    assert int(parts.group(1)) >= 2
    assert head["ServerSideEncryption"] == "AES256"
    assert head.get("StorageClass") == "STANDARD_IA"
    assert copy.read_bytes() == source.read_bytes()


def test_a_file_below_the_threshold_is_uploaded_whole(
    s3_server: S3Server, s3_prefix: str, tmp_path: Path
) -> None:
    store = S3Store(s3_server.settings(s3_prefix, multipart_threshold_mb=5))
    source = tmp_path / "small.seg"
    source.write_bytes(b"z" * (4 * 1024 * 1024))

    store.put_file("small.seg", source)

    head = s3_server.client.head_object(Bucket=s3_server.bucket, Key=f"{s3_prefix}/small.seg")
    assert re.fullmatch(r'"[0-9a-f]{32}"', head["ETag"])


def test_list_and_delete_many_go_through_several_pages(
    s3_server: S3Server, s3_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dr.storage.s3, "LIST_PAGE_SIZE", 7)
    monkeypatch.setattr(dr.storage.s3, "DELETE_BATCH", 7)
    store = S3Store(s3_server.settings(s3_prefix))
    wanted = [f"seg/{i:05d}" for i in range(30)]
    for key in wanted:
        s3_server.client.put_object(Bucket=s3_server.bucket, Key=f"{s3_prefix}/{key}", Body=b"")

    assert [i.key for i in store.list("seg/")] == wanted

    store.delete_many(wanted[:-1])
    assert [i.key for i in store.list("")] == wanted[-1:]


def test_open_store_gives_an_s3_store_for_an_s3_url(s3_settings: StorageSettings) -> None:
    store = open_store(s3_settings)

    assert isinstance(store, S3Store)
    assert store.url == s3_settings.url


def test_a_missing_bucket_is_a_one_line_storage_error_naming_the_store(
    s3_server: S3Server,
) -> None:
    settings = s3_server.settings("p").model_copy(update={"url": "s3://no-such-bucket/p"})
    store = S3Store(settings, retry_deadline_s=2)

    with pytest.raises(StorageError) as caught:
        store.put_bytes("k", b"x")

    message = str(caught.value)
    assert "NoSuchBucket" in message and "'k'" in message and "s3://no-such-bucket/p" in message
    assert "\n" not in message and SECRET_ACCESS_KEY not in message


def test_credentials_in_the_url_are_refused_without_being_echoed(s3_server: S3Server) -> None:
    settings = s3_server.settings("p").model_copy(update={"url": "s3://AKIA:hunter22@bucket/p"})

    with pytest.raises(StorageError) as caught:
        S3Store(settings)

    assert "hunter22" not in str(caught.value)


def test_half_of_a_credential_pair_is_refused(s3_server: S3Server) -> None:
    settings = s3_server.settings("p").model_copy(update={"secret_access_key": None})

    with pytest.raises(StorageError, match="access_key_id and secret_access_key"):
        S3Store(settings)
