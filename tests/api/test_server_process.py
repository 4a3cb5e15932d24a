"""`crmgate serve` as a real process on 127.0.0.1, started as the HTTP docs say: call it over TCP, stop it."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.docblocks import fenced_blocks

CRMGATE = str(Path(sys.executable).with_name("crmgate"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_doc_blocks() -> list[str]:
    """The shell blocks of the HTTP API section of the HTTP and MCP page, in order."""
    return fenced_blocks("docs/http-mcp.md", "sh", "The HTTP API")


@pytest.fixture
def server(tmp_path):
    """The HTTP page's first shell block as written (init, a token, `crmgate serve`), with a free port
    and the token echoed to stderr for the test to use."""
    script = http_doc_blocks()[0]
    assert script.rstrip().endswith("crmgate serve --host 127.0.0.1 --port 8080")
    port = _free_port()
    script = script.replace("crmgate serve", 'echo "TOKEN=$CRMGATE_TOKEN" >&2; exec crmgate serve')
    script = script.replace("--port 8080", f"--port {port}")
    env = {k: v for k, v in os.environ.items() if k not in ("CRMGATE_TRAIL_KEY", "CRMGATE_CONFIG")}
    env["PATH"] = f"{Path(CRMGATE).parent}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.Popen(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base, seen, token = f"http://127.0.0.1:{port}", [], None
    for line in proc.stderr:  # uvicorn says when it listens; EOF means the process died
        seen.append(line)
        token = line.strip().removeprefix("TOKEN=") if line.startswith("TOKEN=") else token
        if "Uvicorn running on" in line:
            break
    else:
        proc.kill()
        pytest.fail(f"crmgate serve did not start: {''.join(seen)[-2000:]}")
    assert token and token.startswith("crmgate.")
    yield base, {"Authorization": f"Bearer {token}"}, tmp_path / "myproject", proc, seen
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


def test_serve_answers_over_tcp_and_stops_cleanly(server):
    """Propose over a real socket, read the change back, refuse a bad token, then SIGTERM shuts it down cleanly."""
    base, auth, project, proc, seen = server
    body = {"proposals": [{"object": "Lead", "op": "create",
                           "fields": {"LastName": "Ng", "Company": "Initech", "Country": "US"}}]}
    r = httpx.post(f"{base}/v1/proposals", json=body, headers=auth, timeout=10)
    assert r.status_code == 200
    [outcome] = r.json()["outcomes"]
    assert outcome["status"] == "applied" and outcome["actor"] == "ai:lead-intake-1"
    change = httpx.get(f"{base}/v1/changes/{outcome['change_id']}", headers=auth, timeout=10).json()
    assert change["status"] == "applied"
    refused = httpx.get(f"{base}/v1/whoami", headers={"Authorization": "Bearer nope"}, timeout=10)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_token"
    assert httpx.get(f"{base}/v1/openapi.json", timeout=10).json()["info"]["title"] == "crmgate"
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=30)
    err = "".join(seen) + err
    # uvicorn shuts down gracefully, then re-raises the signal it caught (exit status -SIGTERM)
    assert proc.returncode in (0, -signal.SIGTERM), err[-2000:]
    assert "Application shutdown complete" in err
    assert "nope" not in err  # the refused token's value is never logged
    verify = subprocess.run([CRMGATE, "--config", str(project / "crmgate.yaml"), "trail", "verify"],
                            capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_serve_refuses_a_bad_config_before_listening(tmp_path):
    """A missing config is a structured error, exit 2, and nothing listens."""
    done = subprocess.run([CRMGATE, "--config", str(tmp_path / "missing.yaml"), "serve", "--port", "0"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert json.loads(done.stderr)["error"]["code"] == "invalid_config"


def test_the_documented_curl_example_works(server):
    """The HTTP page's curl call, run as written against the server, gets the rejection it shows."""
    base, auth, _project, _proc, _seen = server
    command = http_doc_blocks()[1].replace("http://127.0.0.1:8080", base)
    assert command.startswith("curl")
    token = auth["Authorization"].removeprefix("Bearer ")
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=30,
                          env={**os.environ, "CRMGATE_TOKEN": token}, check=True)
    [outcome] = json.loads(done.stdout)["outcomes"]
    assert outcome["status"] == "rejected"
    assert outcome["violations"][0]["fix"] == "Send Country (text; at most 2 characters) instead."
