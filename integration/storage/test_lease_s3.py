"""Conditional writes and the store lease on a real S3-API server (moto, over HTTP).

moto 5.2.5 honours ``If-None-Match: *`` on PutObject (412 PreconditionFailed when the key
exists), but checks and writes in two steps without a lock, in a threaded server: two racing
creates can both succeed there, where AWS S3 makes the pair atomic. The race tests therefore
run against a moto server that handles one request at a time (``one_at_a_time_server``), which
gives it the atomicity S3 promises; everything else runs against the session's plain server.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import boto3
import pytest
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

from dr.state import LockHeld
from dr.storage import LockLost, S3Store, StorageError, StoreLease
from integration.s3server import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, S3Server
from integration.storage.faults import FaultProxy

KEY = "orders/locks/backup.json"
TTL = 1.5
ATOMIC_BUCKET = "kafka-dr-lease-test"


class OneRequestAtATime:
    """WSGI middleware: each request runs alone, so moto's check-then-write is atomic."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self.lock:
            return list(self.app(environ, start_response))


@pytest.fixture(scope="module")
def one_at_a_time_server() -> Iterator[S3Server]:
    """A moto server over HTTP that handles one request at a time, with its own bucket."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = OneRequestAtATime(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_port}"
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
        )
        # moto's backend is one per process: a second fixture run finds the bucket there.
        with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
            client.create_bucket(Bucket=ATOMIC_BUCKET)
        yield S3Server(endpoint_url=endpoint, bucket=ATOMIC_BUCKET, client=client)
    finally:
        server.shutdown()
        thread.join(timeout=10)


def race(count: int, attempt: Callable[[int], bool]) -> list[int]:
    """Run attempt(i) in count threads released together; the i of those that returned True."""
    start = threading.Barrier(count)
    winners: list[int] = []

    def run(i: int) -> None:
        start.wait()
        if attempt(i):
            winners.append(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return winners


def test_put_if_absent_returns_false_for_an_existing_key_and_leaves_it_unchanged(
    s3_server: S3Server, s3_prefix: str
) -> None:
    store = S3Store(s3_server.settings(s3_prefix), retry_deadline_s=5)
    store.put_bytes("manifest.json", b"old")

    assert store.put_if_absent("orders/sequence/00000001", b"first") is True
    assert store.put_if_absent("orders/sequence/00000001", b"second") is False
    assert store.put_if_absent("manifest.json", b"new") is False

    assert store.get_bytes("orders/sequence/00000001") == b"first"
    assert store.get_bytes("manifest.json") == b"old"
    assert [i.key for i in store.list("")] == ["manifest.json", "orders/sequence/00000001"]


def test_of_stores_putting_one_key_if_absent_over_http_exactly_one_creates_it(
    one_at_a_time_server: S3Server, s3_prefix: str
) -> None:
    stores = [S3Store(one_at_a_time_server.settings(s3_prefix)) for _ in range(8)]
    for round_ in range(5):
        key = f"locks/backup.json.{round_:08d}"

        def create(i: int, key: str = key) -> bool:
            return stores[i].put_if_absent(key, str(i).encode())

        winners = race(8, create)

        assert len(winners) == 1, f"round {round_}: {winners}"
        assert stores[0].get_bytes(key) == str(winners[0]).encode()


def test_two_acquirers_racing_over_http_leave_exactly_one_holder(
    one_at_a_time_server: S3Server, s3_prefix: str
) -> None:
    for round_ in range(5):
        leases = [
            StoreLease(
                S3Store(one_at_a_time_server.settings(f"{s3_prefix}/{round_}")),
                KEY,
                purpose="backup of job orders",
                ttl_s=60,
                host=f"host-{i}",
            )
            for i in range(2)
        ]

        def acquire(i: int, leases: list[StoreLease] = leases) -> bool:
            try:
                leases[i].acquire(wait_s=0)
            except LockHeld:
                return False
            return True

        winners = race(2, acquire)
        try:
            assert len(winners) == 1, f"round {round_}: {winners}"
            leases[winners[0]].check_held()
        finally:
            for lease in leases:
                lease.release()


def test_a_cut_off_holder_is_taken_over_after_the_ttl_and_fenced_when_it_is_back(
    s3_server: S3Server, fault_proxy: FaultProxy, s3_prefix: str
) -> None:
    through_proxy = s3_server.settings(s3_prefix, endpoint_url=fault_proxy.url)
    holder_store = S3Store(through_proxy, retry_deadline_s=0.3)
    holder = StoreLease(holder_store, KEY, purpose="backup", ttl_s=TTL, host="host-a")
    stealer = StoreLease(
        S3Store(s3_server.settings(s3_prefix)), KEY, purpose="backup", ttl_s=TTL, host="host-b"
    )
    with holder:
        fault_proxy.fail_next(1_000_000, "503")  # host-a's requests fail from now on
        started = time.monotonic()
        with stealer.acquire(wait_s=TTL * 5):
            assert time.monotonic() - started >= TTL * 0.9
            assert not holder.still_held()
            fault_proxy.clear()  # host-a is back

            with pytest.raises(LockLost, match="taken over by host-b pid"):
                holder.check_held()
            holder.release()
            stealer.check_held()


def test_a_conditional_write_conflict_is_retried_until_it_has_an_answer(
    s3_server: S3Server, fault_proxy: FaultProxy, s3_prefix: str
) -> None:
    store = S3Store(s3_server.settings(s3_prefix, endpoint_url=fault_proxy.url))
    store.put_if_absent("warm-up", b"")  # the store's one-off check of conditional writes
    fault_proxy.fail_next(2, "409")

    assert store.put_if_absent("locks/backup.json.00000001", b"x") is True
    assert fault_proxy.faults_served == 2


def test_a_lease_whose_create_landed_but_whose_answer_was_lost_is_still_acquired(
    s3_server: S3Server, fault_proxy: FaultProxy, s3_prefix: str
) -> None:
    store = S3Store(s3_server.settings(s3_prefix, endpoint_url=fault_proxy.url))
    store.put_if_absent("warm-up", b"")
    lease = StoreLease(store, KEY, purpose="backup", host="host-a")
    fault_proxy.fail_next(1, "lost", after=1)  # after the listing: the create's answer

    with lease:  # the retried create gets 412, yet the object holds this lease's token
        lease.check_held()
        assert fault_proxy.faults_served == 1
        assert [i.key for i in store.list(KEY)] == [f"{KEY}.00000001"]


def test_a_server_that_ignores_conditional_writes_is_refused(
    s3_server: S3Server, fault_proxy: FaultProxy, s3_prefix: str
) -> None:
    fault_proxy.strip_headers("If-None-Match")
    store = S3Store(s3_server.settings(s3_prefix, endpoint_url=fault_proxy.url))

    with pytest.raises(StorageError, match="ignores conditional writes"):
        store.put_if_absent("locks/backup.json.00000001", b"x")
    assert not store.exists("locks/backup.json.00000001")


def test_clean_temporaries_aborts_incomplete_uploads_under_the_store_prefix_only(
    s3_server: S3Server, s3_prefix: str
) -> None:
    client = s3_server.client
    mine = client.create_multipart_upload(Bucket=s3_server.bucket, Key=f"{s3_prefix}/a/seg")
    client.upload_part(
        Bucket=s3_server.bucket,
        Key=f"{s3_prefix}/a/seg",
        UploadId=mine["UploadId"],
        PartNumber=1,
        Body=b"half",
    )
    other_key = f"{s3_prefix}-sibling/{uuid.uuid4().hex}"
    other = client.create_multipart_upload(Bucket=s3_server.bucket, Key=other_key)
    store = S3Store(s3_server.settings(s3_prefix))
    try:
        time.sleep(1.1)  # the server's Date header counts whole seconds

        assert store.clean_temporaries(older_than_s=0) == 1

        left = client.list_multipart_uploads(Bucket=s3_server.bucket).get("Uploads", [])
        assert [u["UploadId"] for u in left if u["Key"].startswith(s3_prefix)] == [
            other["UploadId"]
        ]
        assert store.clean_temporaries(older_than_s=0) == 0
    finally:
        client.abort_multipart_upload(
            Bucket=s3_server.bucket, Key=other_key, UploadId=other["UploadId"]
        )
