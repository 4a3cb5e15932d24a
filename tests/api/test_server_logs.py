"""`crmgate --log-format json serve` as a real process: every line on stderr is one JSON object
(crmgate's, uvicorn's, the MCP SDK's), one `http.request` line per request with request id,
actor, route, status and duration, and never a token."""
from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.api.cli_process import CRMGATE, free_port, project_with_token

@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, str]:
    """An initialised project and an agent token (created through the CLI, as a user would)."""
    token = project_with_token(tmp_path)
    assert token.startswith("crmgate.")
    return tmp_path, token


def _serve(cwd: Path, workers: int) -> tuple[subprocess.Popen[str], str, list[str]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRMGATE_")}
    proc = subprocess.Popen([CRMGATE, "--log-format", "json", "--config", "p/crmgate.yaml", "serve",
                             "--port", str(port), "--workers", str(workers)], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen: list[str] = []
    assert proc.stderr is not None
    ready = 0
    for line in proc.stderr:  # blocks until every worker has started; EOF means the process died
        seen.append(line)
        ready += "Application startup complete" in line
        if ready == workers:
            return proc, f"http://127.0.0.1:{port}", seen
    proc.kill()
    pytest.fail(f"crmgate serve did not start: {''.join(seen)[-2000:]}")


def _stop(proc: subprocess.Popen[str], seen: list[str]) -> tuple[str, list[dict]]:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    lines = [line for line in ("".join(seen) + err).splitlines() if line.strip()]
    return out, [json.loads(line) for line in lines]  # a line that is not JSON fails here


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_writes_json_log_lines_only(project, workers: int) -> None:
    """Each stderr line parses as JSON with event, level, logger and timestamp; stdout stays empty;
    a request is logged once with its id, actor, route template, status and duration. With two
    workers (uvicorn's import-string factory) the workers log the same way."""
    cwd, token = project
    proc, base, seen = _serve(cwd, workers)
    try:
        auth = {"Authorization": f"Bearer {token}"}
        r = httpx.get(f"{base}/v1/changes/chg_404", headers={**auth, "X-Request-ID": "req-abc"}, timeout=10)
        assert r.status_code == 404 and r.headers["x-request-id"] == "req-abc"
        assert httpx.get(f"{base}/v1/whoami", headers=auth, timeout=10).status_code == 200
        refused = httpx.get(f"{base}/v1/whoami", headers={"Authorization": "Bearer crmgate.x.SECRETNOPE"}, timeout=10)
        assert refused.status_code == 401 and len(refused.headers["x-request-id"]) == 32
    finally:
        out, events = _stop(proc, seen)
    assert out == ""
    assert all({"event", "level", "logger", "timestamp"} <= set(e) for e in events)
    assert {e["logger"] for e in events} >= {"crmgate.serve", "uvicorn.error", "crmgate.http"}
    requests = [e for e in events if e["event"] == "http.request"]
    assert [(e["method"], e["route"], e["status"], e["actor"]) for e in requests] == [
        ("GET", "/v1/changes/{change_id}", 404, "ai:lead-intake-1"),
        ("GET", "/v1/whoami", 200, "ai:lead-intake-1"),
        ("GET", "/v1/whoami", 401, None),
    ]
    assert requests[0]["request_id"] == "req-abc" and all(e["duration_ms"] >= 0 for e in requests)
    refusal = next(e for e in events if e["event"] == "access.refused")
    assert refusal["request_id"] == requests[2]["request_id"]  # lines logged during a request carry its id
    text = json.dumps(events)
    assert token not in text and token.split(".")[-1] not in text and "SECRETNOPE" not in text
    assert any("Application shutdown complete" in e["event"] for e in events)
    if workers > 1:
        assert sum("Started server process" in e["event"] for e in events) >= workers
