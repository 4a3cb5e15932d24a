"""`crmgate serve --workers 2` as real processes: one credential's request limit holds across both
workers; with one worker the limits are kept in the process and no budget file is touched."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from tests.api.cli_process import CRMGATE, free_port, project_with_token

LIMIT = 3

pytestmark = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads socket owners from /proc")


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, str]:
    """A project and a token limited to LIMIT requests a minute."""
    token = project_with_token(tmp_path, "--rate-limit", str(LIMIT))
    return tmp_path, token


def _serve(cwd: Path, workers: int) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRMGATE_")}
    proc = subprocess.Popen([CRMGATE, "--config", "p/crmgate.yaml", "serve", "--port", str(port), "--workers",
                             str(workers)], cwd=cwd, env=env, text=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    assert proc.stderr is not None
    ready, listening, seen = 0, False, []
    for line in proc.stderr:  # EOF means the process died
        seen.append(line)
        ready += "Application startup complete" in line
        listening = listening or "Uvicorn running on" in line
        if ready == workers and listening:
            return proc, port
    proc.kill()
    pytest.fail(f"crmgate serve did not start: {''.join(seen)[-2000:]}")


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)


def _owner(client: socket.socket, port: int, pids: list[int]) -> int:
    """The server process holding the other end of ``client`` (from /proc/net/tcp and its fds)."""
    local = client.getsockname()[1]
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and int(fields[2].split(":")[1], 16) == local:
            inode = fields[9]
    assert inode is not None
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd) == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue
    raise AssertionError(f"no server process holds socket {inode}")


def _post(conn: socket.socket, token: str) -> int:
    """One keep-alive request on ``conn``; its status."""
    body = b'{"proposals": [{"object": "Lead", "op": "create", "fields": {"LastName": "W", "Company": "C"}}]}'
    conn.sendall(b"POST /v1/proposals HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Authorization: Bearer " + token.encode() + b"\r\nContent-Length: "
                 + str(len(body)).encode() + b"\r\n\r\n" + body)
    return _answer(conn)


def _accepted(conn: socket.socket) -> socket.socket:
    """``conn`` once a worker has accepted it (it answered ``/v1/health``, which spends no limit):
    before that, the connection waits in the kernel's queue and no process holds it."""
    conn.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert _answer(conn) == 200
    return conn


def _answer(conn: socket.socket) -> int:
    """Read one answer (with a Content-Length) from ``conn``; its status."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, rest = data.split(b"\r\n\r\n", 1)
    length = next(int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length"))
    while len(rest) < length:
        rest += conn.recv(65536)
    return int(head.split()[1])


def test_one_credentials_limit_holds_across_two_workers(project):
    """A keep-alive connection to each of the two workers (checked in /proc), LIMIT requests on each:
    LIMIT are admitted in all, the rest get 429, because the workers share the credential's window."""
    cwd, token = project
    proc, port = _serve(cwd, 2)
    conns: dict[int, socket.socket] = {}
    try:
        workers = [int(p) for p in subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                                   text=True).stdout.split()]
        for _ in range(200):  # the kernel hands each new connection to one worker
            conn = _accepted(socket.create_connection(("127.0.0.1", port)))
            owner = _owner(conn, port, workers)
            if owner in conns:
                conn.close()
            else:
                conns[owner] = conn
            if len(conns) == 2:
                break
        assert len(conns) == 2, "never reached the second worker"
        codes = [_post(c, token) for c in conns.values() for _ in range(LIMIT)]
        assert sorted(codes) == [200] * LIMIT + [429] * LIMIT
    finally:
        for c in conns.values():
            c.close()
        _stop(proc)
    assert (cwd / "p" / "trail.db.budget").exists()


def test_one_worker_keeps_its_limits_in_the_process(project):
    """With one worker the limit still holds, and no budget file is made: nothing cross-process."""
    cwd, token = project
    proc, port = _serve(cwd, 1)
    try:
        with socket.create_connection(("127.0.0.1", port)) as conn:
            codes = [_post(conn, token) for _ in range(LIMIT + 1)]
    finally:
        _stop(proc)
    assert codes == [200] * LIMIT + [429]
    assert not (cwd / "p" / "trail.db.budget").exists()
