"""One logging pipeline: crmgate's structlog events and standard-logging records (the trail store,
uvicorn) share one formatter on stderr; --log-format and --log-level work the same for every
command; tracebacks never show frame locals; a library import prints nothing."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import structlog
from structlog.testing import capture_logs

from crmgate.doors.logs import configure_logging
from tests.api.conftest import lead
from tests.logkit import restored_logging

CRMGATE = str(Path(sys.executable).with_name("crmgate"))
PROPOSAL = json.dumps({"object": "Lead", "op": "create", "actor": "ai:lead-intake-1",
                       "fields": {"LastName": "Ng", "Company": "Initech", "Country": "US"}})


def _crmgate(*args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str = "") -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CRMGATE_")}
    return subprocess.run([CRMGATE, *args], check=False, cwd=cwd, input=stdin, capture_output=True, text=True,
                          timeout=60, env={**base, **(env or {})})


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    assert _crmgate("init", "p", cwd=tmp_path).returncode == 0
    return tmp_path


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_tracebacks_show_no_frame_locals(capsys, fmt: str) -> None:
    """In either format a logged exception shows its plain traceback; a token in a frame's locals never appears."""
    with restored_logging():
        configure_logging(fmt, "info")
        secret = "crmgate.cred_1.SECRETSECRETSECRET"  # noqa: F841 - a local the traceback must not show
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            structlog.get_logger("crmgate.api").exception("api.unexpected")
    err = capsys.readouterr().err
    assert "RuntimeError: boom" in err and "SECRET" not in err
    if fmt == "json":
        [line] = err.splitlines()[:1]
        assert json.loads(line)["event"] == "api.unexpected"


def test_standard_logging_records_take_the_same_path(capsys) -> None:
    """A uvicorn or trail-store record (standard logging) comes out as the same JSON as crmgate's own
    events; the level filters both."""
    with restored_logging():
        configure_logging("json", "warning")
        logging.getLogger("uvicorn.error").warning("Uvicorn running on %s", "http://127.0.0.1:1")
        structlog.get_logger("crmgate.pipeline").warning("before_image.failed", object="Lead")
        logging.getLogger("uvicorn.error").info("not shown at warning")
        structlog.get_logger("crmgate.pipeline").info("not shown either")
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(e["logger"], e["event"], e["level"]) for e in events] == [
        ("uvicorn.error", "Uvicorn running on http://127.0.0.1:1", "warning"),
        ("crmgate.pipeline", "before_image.failed", "warning")]
    assert events[1]["object"] == "Lead" and events[0]["timestamp"].endswith("Z")


def test_log_options_work_for_any_command(proj: Path) -> None:
    """`crmgate --log-format json --log-level debug propose`: stdout holds only the outcome; stderr
    holds JSON lines only, the trail store's among them (it logs through structlog now)."""
    done = _crmgate("--log-format", "json", "--log-level", "debug", "--config", "p/crmgate.yaml", "propose",
                    cwd=proj, stdin=PROPOSAL)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "applied"
    events = [json.loads(line) for line in done.stderr.splitlines()]
    appended = [e for e in events if e["event"] == "trail.appended"]
    assert appended and appended[0]["logger"] == "crmgate.trail" and appended[0]["level"] == "debug"


def test_console_format_and_the_environment(proj: Path) -> None:
    """$CRMGATE_LOG_FORMAT / $CRMGATE_LOG_LEVEL stand in for the options; console lines are key=value,
    not JSON; without --log-level debug the debug lines are gone."""
    env = {"CRMGATE_LOG_FORMAT": "console", "CRMGATE_LOG_LEVEL": "debug"}
    done = _crmgate("--config", "p/crmgate.yaml", "propose", cwd=proj, env=env, stdin=PROPOSAL)
    assert done.returncode == 0, done.stderr
    line = next(ln for ln in done.stderr.splitlines() if "trail.appended" in ln)
    assert "[debug" in line and "first_seq=" in line and not line.startswith("{")
    quiet = _crmgate("--config", "p/crmgate.yaml", "propose", cwd=proj, stdin=PROPOSAL)
    assert quiet.returncode == 0 and quiet.stderr == ""  # info is the default level: no debug lines


def test_a_bad_log_option_is_a_usage_error(proj: Path) -> None:
    """An unknown format is refused by the option itself (exit 2), before anything runs."""
    done = _crmgate("--log-format", "xml", "rules", "schema", cwd=proj)
    assert done.returncode == 2 and "xml" in done.stderr and done.stdout == ""


def test_importing_the_library_prints_nothing(tmp_path: Path) -> None:
    """A program that imports crmgate and logs through it gets nothing on its stdout."""
    code = ("import crmgate, structlog; structlog.get_logger('crmgate.pipeline').warning('w', a=1);"
            "structlog.get_logger('crmgate.trail').debug('d')")
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60,
                          cwd=tmp_path)
    assert done.returncode == 0 and done.stdout == ""


def test_every_request_is_logged_once(service, token) -> None:
    """The request log names the request id, the credential's actor (never its token), the route
    template, status and duration, for answered, refused and unrouted requests alike."""
    from fastapi.testclient import TestClient

    from crmgate.doors.api import create_app

    ids = iter(f"req-{n}" for n in range(1, 100))
    agent = token("ai:lead-intake-1", "propose", "read")
    with TestClient(create_app(service, request_ids=lambda: next(ids)), raise_server_exceptions=False) as client, \
            capture_logs() as logs:
        client.post("/v1/proposals", json={"proposals": [lead()]}, headers=agent)
        client.get("/v1/changes/chg_none", headers=agent)
        client.get("/v1/whoami", headers={"Authorization": "Bearer crmgate.x.WRONG"})
        client.get("/v1/nowhere")
    lines = [e for e in logs if e["event"] == "http.request"]
    assert [(e["request_id"], e["method"], e["route"], e["status"], e["actor"]) for e in lines] == [
        ("req-1", "POST", "/v1/proposals", 200, "ai:lead-intake-1"),
        ("req-2", "GET", "/v1/changes/{change_id}", 404, "ai:lead-intake-1"),
        ("req-3", "GET", "/v1/whoami", 401, None),
        ("req-4", "GET", "/v1/nowhere", 404, None)]
    assert all(isinstance(e["duration_ms"], float) and e["duration_ms"] >= 0 for e in lines)
    assert agent["Authorization"].split(".")[-1] not in repr(logs) and "WRONG" not in repr(logs)


class _Stream:
    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty

    def write(self, _text: str) -> int:
        return 0


@pytest.mark.parametrize(("tty", "expected"), [(True, "console"), (False, "json")])
def test_the_default_format_follows_the_terminal(monkeypatch, tty: bool, expected: str) -> None:
    """With no option and no environment variable: console for a person at a terminal, JSON for a pipe or file."""
    from crmgate.doors.logs import resolve

    monkeypatch.delenv("CRMGATE_LOG_FORMAT", raising=False)
    monkeypatch.delenv("CRMGATE_LOG_LEVEL", raising=False)
    monkeypatch.setattr(sys, "stderr", _Stream(tty))
    assert resolve() == (expected, "info")
    assert resolve("json", "DEBUG") == ("json", "debug")


def test_lines_logged_while_a_proposal_runs_carry_its_request_id(service, token) -> None:
    """The proposals route runs its work in a thread: what is logged there (here, the refusal of
    another actor) is bound to the request's id like the request line itself."""
    from fastapi.testclient import TestClient

    from crmgate.doors.api import create_app

    agent = token("ai:lead-intake-1", "propose", "read")
    with TestClient(create_app(service, request_ids=lambda: "req-x"), raise_server_exceptions=False) as client, \
            capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        r = client.post("/v1/proposals", json={"proposals": [{**lead(), "actor": "ai:other"}]}, headers=agent)
    assert r.status_code == 403
    [refused] = [e for e in logs if e["event"] == "access.refused"]
    assert refused["code"] == "actor_mismatch" and refused["request_id"] == "req-x"
