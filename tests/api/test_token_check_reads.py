"""A token check reads the credential table without SQLite's write lock: it never queues behind a
writer of the trail."""
from __future__ import annotations

import sqlite3
import threading


def test_a_token_check_does_not_wait_for_a_writer(service, token, project):
    """Another connection holds the trail file's write lock (as a worker mid-append does): admitting
    a valid token still answers at once, from a read transaction."""
    headers = token("ai:lead-intake-1", "propose")
    bearer = headers["Authorization"].removeprefix("Bearer ")
    writer = sqlite3.connect(project / "trail.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    admitted: list[str] = []
    try:
        check = threading.Thread(target=lambda: admitted.append(service.admit(bearer, action="t")[0].actor),
                                 daemon=True)
        check.start()
        check.join(timeout=10)  # with BEGIN IMMEDIATE it would wait for the writer (30 s busy timeout)
        assert admitted == ["ai:lead-intake-1"]
    finally:
        writer.execute("ROLLBACK")
        writer.close()
