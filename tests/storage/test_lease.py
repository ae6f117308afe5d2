"""StoreLease: one holder per lease among processes, threads and (played) hosts of one store.

Other hosts are played by leases with another host name (or objects written as another host
would write them): for them only the ttl counts, never a pid, and never a wall clock.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dr.errors import DrError
from dr.state import LockHeld
from dr.storage import LEASE_TTL_S, LocalStore, LockLost, StorageError, StoreLease

KEY = "orders/locks/backup.json"
TTL = 0.6
# For holders that must never be stolen: room for a renewer thread slowed by a busy machine.
SAFE_TTL = 1.2
WORKER = Path(__file__).with_name("lease_worker.py")


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "store")


@pytest.fixture(autouse=True)
def no_thread_left_behind() -> Iterator[None]:
    yield
    left = [t.name for t in threading.enumerate() if t.name.startswith("lease-renewer")]
    assert not left, f"renewer threads left running: {left}"


class FreezableStore(LocalStore):
    """A local store whose writes can be made to fail, as a stalled or cut-off host's do."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.frozen = threading.Event()

    def put_bytes(self, key: str, data: bytes) -> None:
        if self.frozen.is_set():
            raise StorageError(f"cannot write '{key}' in {self.url}: the test cut this host off")
        super().put_bytes(key, data)


def generations(store: LocalStore) -> list[str]:
    return [info.key.removeprefix(KEY + ".") for info in store.list(KEY + ".")]


def read_generation(store: LocalStore, number: int) -> dict[str, object]:
    doc: dict[str, object] = json.loads(store.get_bytes(f"{KEY}.{number:08d}"))
    return doc


def foreign_lease(
    *, host: str = "host-far", pid: int = 4242, renewed_at: str, renewals: int = 0
) -> bytes:
    """A generation object as another host would write it."""
    return json.dumps(
        {
            "owner": {"host": host, "pid": pid, "token": "feedc0ffee", "machine": "elsewhere"},
            "purpose": "backup of job orders",
            "acquired_at": renewed_at,
            "renewed_at": renewed_at,
            "renewals": renewals,
        }
    ).encode()


def start_worker(store: LocalStore, tmp_path: Path, name: str) -> subprocess.Popen[str]:
    worker = subprocess.Popen(
        [
            sys.executable,
            str(WORKER),
            str(store.root),
            KEY,
            str(LEASE_TTL_S),
            str(tmp_path / "go"),
            str(tmp_path / f"release-{name}"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
    return worker


def test_an_acquired_lease_names_its_owner_purpose_and_times(store: LocalStore) -> None:
    with StoreLease(store, KEY, purpose="backup of job orders") as lease:
        doc = read_generation(store, 1)

        assert lease.still_held()
        assert doc["owner"] == {
            "host": lease.owner.host,
            "pid": os.getpid(),
            "token": lease.owner.token,
            "machine": lease.owner.machine,
            "process_started": lease.owner.process_started,
        }
        assert doc["purpose"] == "backup of job orders"
        assert doc["acquired_at"] and doc["renewed_at"]


def test_the_default_ttl_is_sixty_seconds(store: LocalStore) -> None:
    assert StoreLease(store, KEY, purpose="p").ttl_s == 60.0


def test_a_held_lease_is_refused_with_a_message_naming_lease_holder_and_since(
    store: LocalStore,
) -> None:
    with StoreLease(store, KEY, purpose="backup of job orders", host="host-a"):
        acquired_at = read_generation(store, 1)["acquired_at"]

        with pytest.raises(LockHeld) as refused:
            StoreLease(store, KEY, purpose="backup", host="host-b").acquire(wait_s=0)

    message = str(refused.value)
    assert isinstance(refused.value, DrError)
    assert KEY in message and f"host-a pid {os.getpid()}" in message
    assert f"since {acquired_at}" in message and "\n" not in message


def test_two_leases_of_one_process_exclude_each_other(store: LocalStore) -> None:
    with StoreLease(store, KEY, purpose="first"), pytest.raises(LockHeld):
        StoreLease(store, KEY, purpose="second").acquire(wait_s=0)


def test_processes_racing_for_a_lease_leave_exactly_one_holder(
    store: LocalStore, tmp_path: Path
) -> None:
    workers = [start_worker(store, tmp_path, str(i)) for i in range(6)]
    (tmp_path / "go").touch()
    try:
        answers = [w.stdout.readline().strip() if w.stdout else "" for w in workers]
    finally:
        for i in range(len(workers)):
            (tmp_path / f"release-{i}").touch()
        for worker in workers:
            worker.wait(timeout=30)

    assert answers.count("won") == 1, answers
    assert all(a.startswith("held: ") for a in answers if a != "won"), answers


def test_the_lease_of_a_sigkilled_process_on_this_host_is_taken_over_at_once(
    store: LocalStore, tmp_path: Path
) -> None:
    holder = start_worker(store, tmp_path, "killed")
    (tmp_path / "go").touch()
    assert holder.stdout is not None and holder.stdout.readline().strip() == "won"
    with pytest.raises(LockHeld, match=f"pid {holder.pid}"):
        StoreLease(store, KEY, purpose="backup").acquire(wait_s=0)

    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    started = time.monotonic()
    with StoreLease(store, KEY, purpose="backup") as lease:
        took_s = time.monotonic() - started

        assert lease.still_held()
        assert generations(store) == ["00000002"]
    assert took_s < LEASE_TTL_S / 10


def test_a_lease_naming_this_pid_with_another_token_is_taken_over_at_once(
    store: LocalStore,
) -> None:
    me = StoreLease(store, KEY, purpose="p").owner
    earlier = json.loads(foreign_lease(host=me.host, pid=os.getpid(), renewed_at="-"))
    earlier["owner"] |= {"machine": me.machine, "token": "an-earlier-process"}
    store.put_bytes(f"{KEY}.00000007", json.dumps(earlier).encode())

    with StoreLease(store, KEY, purpose="backup"):
        assert generations(store) == ["00000008"]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_a_lease_naming_a_live_pid_that_started_at_another_time_is_taken_over(
    store: LocalStore,
) -> None:
    me = StoreLease(store, KEY, purpose="p").owner
    reused = json.loads(foreign_lease(host=me.host, pid=os.getppid(), renewed_at="-"))
    reused["owner"] |= {"machine": me.machine, "process_started": 1}
    store.put_bytes(f"{KEY}.00000001", json.dumps(reused).encode())

    with StoreLease(store, KEY, purpose="backup"):
        assert generations(store) == ["00000002"]


def test_a_lease_another_host_left_unchanged_is_taken_over_after_the_ttl(
    store: LocalStore,
) -> None:
    # Its clock runs years ahead: renewed_at says "just now" for ever, and must not matter.
    store.put_bytes(f"{KEY}.00000003", foreign_lease(renewed_at="2999-01-01T00:00:00+00:00"))
    stealer = StoreLease(store, KEY, purpose="backup", ttl_s=TTL)
    with pytest.raises(LockHeld, match="host-far pid 4242"):
        stealer.acquire(wait_s=0)

    started = time.monotonic()
    with stealer.acquire(wait_s=TTL * 5):
        assert time.monotonic() - started >= TTL * 0.9
        assert generations(store) == ["00000004"]


def test_a_holder_whose_object_keeps_changing_is_never_taken_over(store: LocalStore) -> None:
    with StoreLease(store, KEY, purpose="backup", ttl_s=SAFE_TTL, host="host-a") as holder:
        with pytest.raises(LockHeld):
            StoreLease(store, KEY, purpose="backup", ttl_s=SAFE_TTL, host="host-b").acquire(
                wait_s=SAFE_TTL * 2.5
            )

        assert holder.still_held()
        holder.check_held()


def test_a_renewing_holder_whose_clock_is_far_behind_is_not_taken_over(
    store: LocalStore,
) -> None:
    stop = threading.Event()

    def renew_with_a_clock_stuck_in_1970() -> None:
        renewals = 0
        while not stop.wait(SAFE_TTL / 6):
            renewals += 1
            data = foreign_lease(renewed_at="1970-01-01T00:00:00+00:00", renewals=renewals)
            store.put_bytes(f"{KEY}.00000001", data)

    store.put_bytes(f"{KEY}.00000001", foreign_lease(renewed_at="1970-01-01T00:00:00+00:00"))
    renewer = threading.Thread(target=renew_with_a_clock_stuck_in_1970)
    renewer.start()
    try:
        with pytest.raises(LockHeld, match="since 1970-01-01"):
            StoreLease(store, KEY, purpose="backup", ttl_s=SAFE_TTL).acquire(wait_s=SAFE_TTL * 2.5)
    finally:
        stop.set()
        renewer.join()
    assert generations(store) == ["00000001"]


def test_check_held_raises_lock_lost_naming_the_new_holder_after_a_takeover(
    store: LocalStore,
) -> None:
    cut_off = FreezableStore(store.root)
    holder = StoreLease(cut_off, KEY, purpose="backup", ttl_s=TTL, host="host-a").acquire()
    try:
        cut_off.frozen.set()  # host-a's renewals fail from now on
        with StoreLease(
            store, KEY, purpose="backup", ttl_s=TTL, host="host-b", wait_s=TTL * 5
        ) as stealer:
            assert not holder.still_held()
            with pytest.raises(LockLost, match="taken over by host-b pid"):
                holder.check_held()

            holder.release()  # must leave the new holder's lease alone
            stealer.check_held()
            assert stealer.still_held()
    finally:
        holder.release()


class SlowStore(LocalStore):
    """A local store whose writes can be made to take a given time, as over a slow network."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.delay_s = 0.0

    def put_bytes(self, key: str, data: bytes) -> None:
        time.sleep(self.delay_s)
        super().put_bytes(key, data)


def test_a_renewal_that_lands_after_the_holder_stopped_trusting_its_lease_loses_it(
    store: LocalStore,
) -> None:
    slow = SlowStore(store.root)
    with StoreLease(slow, KEY, purpose="backup", ttl_s=TTL) as holder:
        slow.delay_s = TTL  # the next renewal lands when others may have judged it expired
        time.sleep(TTL * 1.6)

        assert not holder.still_held()
        with pytest.raises(LockLost, match="renewed too late"):
            holder.check_held()


def test_the_renewer_notices_a_higher_generation_and_marks_the_lease_lost(
    store: LocalStore,
) -> None:
    with StoreLease(store, KEY, purpose="backup", ttl_s=TTL, host="host-a") as holder:
        store.put_if_absent(f"{KEY}.00000002", foreign_lease(host="host-z", renewed_at="-"))

        deadline = time.monotonic() + TTL * 3
        while holder.still_held() and time.monotonic() < deadline:
            time.sleep(0.02)

        assert not holder.still_held()
        with pytest.raises(LockLost, match="taken over by host-z pid 4242"):
            holder.check_held()
    assert generations(store) == ["00000002"]


def test_threads_stealing_an_expired_lease_leave_exactly_one_holder(store: LocalStore) -> None:
    store.put_bytes(f"{KEY}.00000001", foreign_lease(renewed_at="2026-12-01T00:00:00+00:00"))
    stealers = [
        StoreLease(store, KEY, purpose="backup", ttl_s=TTL, host=f"host-{i}") for i in range(8)
    ]
    outcomes: dict[int, str] = {}

    def steal(i: int) -> None:
        try:
            stealers[i].acquire(wait_s=TTL * 1.5)
            outcomes[i] = "won"
        except LockHeld:
            outcomes[i] = "held"

    threads = [threading.Thread(target=steal, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert sorted(outcomes.values()) == ["held"] * 7 + ["won"]
        assert generations(store) == ["00000002"]
    finally:
        for stealer in stealers:
            stealer.release()


class InterleavingStore(LocalStore):
    """A local store that runs other hosts' moves just before its first conditional write."""

    def __init__(self, root: Path, before_first_create: list[object]) -> None:
        super().__init__(root)
        self.pending = before_first_create

    def put_if_absent(self, key: str, data: bytes) -> bool:
        while self.pending:
            move = self.pending.pop(0)
            assert callable(move)
            move()
        return super().put_if_absent(key, data)


def test_a_contender_with_a_stale_view_backs_off_when_a_higher_generation_exists(
    store: LocalStore,
) -> None:
    with StoreLease(store, KEY, purpose="first run", host="host-a"):
        pass  # generation 2 now says "released"
    x = StoreLease(store, KEY, purpose="x", host="host-x")
    z = StoreLease(store, KEY, purpose="z", host="host-z")
    # Between host-c's read of generation 2 and its create of 3: host-x takes 3 and releases
    # (4, deleting 3), host-z takes 5 (deleting 4). Number 3 is free again, but stale.
    stale = InterleavingStore(store.root, [x.acquire, x.release, z.acquire])
    try:
        with pytest.raises(LockHeld, match="host-z"):
            StoreLease(stale, KEY, purpose="c", host="host-c").acquire(wait_s=0)

        z.check_held()
        assert generations(store) == ["00000005"]
    finally:
        z.release()


def test_release_puts_a_released_generation_that_the_next_acquirer_takes_at_once(
    store: LocalStore,
) -> None:
    with StoreLease(store, KEY, purpose="backup", host="host-a"):
        pass

    assert generations(store) == ["00000002"]
    assert read_generation(store, 2)["released"] is True
    with StoreLease(store, KEY, purpose="backup", host="host-b") as lease:
        lease.check_held()
        assert generations(store) == ["00000003"]


def test_a_waiting_acquirer_gets_the_lease_as_soon_as_it_is_released(store: LocalStore) -> None:
    holder = StoreLease(store, KEY, purpose="backup", host="host-a").acquire()
    threading.Timer(0.3, holder.release).start()
    started = time.monotonic()

    with StoreLease(store, KEY, purpose="backup", host="host-b", wait_s=30):
        assert 0.25 <= time.monotonic() - started < 5


def test_an_error_in_the_with_block_still_releases_the_lease(store: LocalStore) -> None:
    with (
        pytest.raises(RuntimeError, match="boom"),
        StoreLease(store, KEY, purpose="backup", ttl_s=TTL),
    ):
        raise RuntimeError("boom")

    assert read_generation(store, 2)["released"] is True


def test_check_held_refuses_a_lease_that_was_never_acquired(store: LocalStore) -> None:
    with pytest.raises(LockLost, match="not held"):
        StoreLease(store, KEY, purpose="backup").check_held()


def test_a_lease_is_renewed_in_the_background(store: LocalStore) -> None:
    with StoreLease(store, KEY, purpose="backup", ttl_s=TTL) as lease:
        first = read_generation(store, 1)
        time.sleep(TTL * 1.5)
        later = read_generation(store, 1)

        assert later["renewals"] != first["renewals"] and later["renewed_at"]
        assert lease.still_held()
