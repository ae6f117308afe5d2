"""A process that tries to take a lease in a local store, for the lease tests.

    python lease_worker.py STORE_DIR KEY TTL_S GO_FILE RELEASE_FILE

Prints 'ready', waits for GO_FILE, tries once (no waiting) and prints 'won' or 'held: <why>';
a winner holds (renewing) until RELEASE_FILE exists, then releases.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from dr.log import configure
from dr.state import LockHeld
from dr.storage import LocalStore, StoreLease


def main() -> None:
    root, key, ttl_s, go, release = sys.argv[1:6]
    configure(fmt="json", stream=sys.stderr)  # stdout is for the answers
    lease = StoreLease(LocalStore(Path(root)), key, purpose="lease test worker", ttl_s=float(ttl_s))
    print("ready", flush=True)
    while not Path(go).exists():
        time.sleep(0.001)
    try:
        lease.acquire(wait_s=0)
    except LockHeld as exc:
        print(f"held: {exc}", flush=True)
        return
    print("won", flush=True)
    try:
        deadline = time.monotonic() + 120
        while not Path(release).exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        lease.release()


if __name__ == "__main__":
    main()
