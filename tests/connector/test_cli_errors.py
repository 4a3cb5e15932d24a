"""Every CLI error is the promised JSON: one object on stderr, exit 2 (click's usage errors too)."""
from __future__ import annotations

import json
import socket

import pytest
from click.testing import CliRunner

from crmgate.doors.cli import cli


def one_json_error(result) -> dict:
    assert result.exit_code == 2, (result.output, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    error = json.loads(lines[0])["error"]
    assert error["code"] and error["message"]
    return error


@pytest.mark.parametrize("args, code, where", [
    (["propose", "nosuchfile.json"], "invalid_parameter", "nosuchfile.json"),
    (["approvals", "approve", "chg_1"], "missing_parameter", "--by"),
    (["trail", "export", "--format", "xml", "--out", "x"], "invalid_parameter", "xml"),
    (["approvals", "list", "--status", "nosuch"], "invalid_parameter", "nosuch"),
    (["--nosuch"], "unknown_option", "--nosuch"),
    (["nosuchcommand"], "usage_error", "nosuchcommand"),
    (["sandbox", "edit", "Opportunity", "006x", "no-equals-sign"], "invalid_parameter", "FIELD=VALUE"),
    (["feedback", "chg_1"], "usage_error", "--correct"),
])
def test_usage_errors_are_one_json_object_with_exit_2(run, args, code, where):
    """Each of click's usage errors prints one JSON error naming the problem, and exits 2."""
    error = one_json_error(run(*args, code=2))
    assert error["code"] == code and where in json.dumps(error)


def test_verify_export_needs_no_config(tmp_path, monkeypatch):
    """trail verify --export in a folder with no config: without --public-key one JSON error
    saying to pass it; with a key that does not exist, a JSON usage error; nothing needs a config."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CRMGATE_CONFIG", raising=False)
    error = one_json_error(CliRunner().invoke(cli, ["trail", "verify", "--export", "x.jsonl"]))
    assert error["code"] == "public_key_required" and "--public-key" in error["message"]
    error = one_json_error(CliRunner().invoke(cli, ["trail", "verify", "--export", "x.jsonl",
                                                    "--public-key", "nope.pub"]))
    assert error["code"] == "invalid_parameter"


def test_serve_on_a_busy_port_says_so_in_one_line(run):
    """serve on a port something already listens on: one JSON line (port_in_use), exit 2."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        error = one_json_error(run("serve", "--port", str(port), code=2))
    assert error["code"] == "port_in_use" and str(port) in error["message"]
