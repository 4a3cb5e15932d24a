"""`crmgate serve` as a real process on 127.0.0.1: start it, call it over TCP, stop it."""
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

from connector.setup import init_project

CRMGATE = str(Path(sys.executable).with_name("crmgate"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(project: Path, *args: str) -> dict:
    done = subprocess.run([CRMGATE, "--config", str(project / "crmgate.yaml"), *args],
                          capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)


@pytest.fixture
def server(tmp_path):
    """A project, a token from `crmgate tokens create`, and `crmgate serve` listening on a free port."""
    project = tmp_path / "proj"
    init_project(project)
    token = _cli(project, "tokens", "create", "--actor", "ai:lead-intake-1", "--scope", "propose,read")["token"]
    port = _free_port()
    proc = subprocess.Popen([CRMGATE, "--config", str(project / "crmgate.yaml"), "serve", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={k: v for k, v in os.environ.items() if k != "CRMGATE_TRAIL_KEY"})
    base = f"http://127.0.0.1:{port}"
    seen = []
    for line in proc.stderr:  # uvicorn says when it listens; EOF means the process died
        seen.append(line)
        if "Uvicorn running on" in line:
            break
    else:
        proc.kill()
        pytest.fail(f"crmgate serve did not start: {''.join(seen)[-2000:]}")
    yield base, {"Authorization": f"Bearer {token}"}, project, proc, seen
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


def test_the_readme_curl_example_works(server):
    """The README's curl call, run as written against the server, gets the rejection it shows."""
    base, auth, _project, _proc, _seen = server
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### The HTTP API", 1)[1]
    command = next(block for block in section.split("```sh\n")[1:] if block.startswith("curl"))
    command = command.split("```", 1)[0].replace("http://127.0.0.1:8080", base)
    token = auth["Authorization"].removeprefix("Bearer ")
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=30,
                          env={**os.environ, "CRMGATE_TOKEN": token}, check=True)
    [outcome] = json.loads(done.stdout)["outcomes"]
    assert outcome["status"] == "rejected"
    assert outcome["violations"][0]["fix"] == "Send Country (text; at most 2 characters) instead."
