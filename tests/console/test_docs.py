"""docs/console.md's examples run as written: the quickstart signs in, the notify block is a valid
config, and the signature check accepts a body crmgate signed."""
from __future__ import annotations

import hashlib
import hmac
import subprocess
from pathlib import Path

import httpx
import yaml

from crmgate.config import parse_config
from crmgate.doors.console.notify import sign
from tests.console.browser import CRMGATE, Server
from tests.console.conftest import Page

DOC = Path(__file__).resolve().parents[2] / "docs" / "console.md"


def _blocks(lang: str) -> list[str]:
    return [b.split("```", 1)[0] for b in DOC.read_text().split(f"```{lang}\n")[1:]]


def test_the_quickstart_serves_the_console_and_its_token_signs_in(tmp_path):
    """init, a token into ana.token, serve: / sends to sign-in, and ana's token opens the queue."""
    script = _blocks("sh")[0]
    setup, serve = script.rsplit("crmgate serve", 1)
    assert serve.strip() == "--host 127.0.0.1 --port 8080"
    subprocess.run(["bash", "-euo", "pipefail", "-c", setup], cwd=tmp_path, check=True, capture_output=True,
                   timeout=120, env={"PATH": f"{Path(CRMGATE).parent}:/usr/bin:/bin"})
    project = tmp_path / "myproject"
    server = Server(project)
    try:
        with httpx.Client(base_url=server.base, timeout=30) as client:
            assert client.get("/").headers["location"] == "/signin"
            form = Page(client.get("/signin").text).form("/signin")
            token = (project / "ana.token").read_text().strip()
            r = client.post("/signin", data={**form["fields"], "token": token})
            assert r.status_code == 303 and r.headers["location"] == "/queue"
            assert client.get("/queue").status_code == 200
    finally:
        server.stop()


def test_the_notify_example_is_a_valid_config():
    """The yaml blocks parse as the notify: section: both webhook formats, then the callback hosts."""
    hooks, callbacks = _blocks("yaml")
    cfg = parse_config({"crm": {"kind": "sandbox"}, **yaml.safe_load(hooks)})
    assert [w.format for w in cfg.notify.webhooks] == ["slack", "generic"]
    assert cfg.notify.webhooks[0].events == ["queued", "expired"] and cfg.notify.retries == 5
    cfg = parse_config({"crm": {"kind": "sandbox"}, **yaml.safe_load(callbacks)})
    assert cfg.notify.callback_hosts == ["agents.internal.example", "127.0.0.1:9000"]
    assert cfg.notify.callback_secret_env == "CRMGATE_CALLBACK_SECRET"


def test_the_signature_check_runs_and_accepts_crmgates_signature():
    """The Python block runs as written, and its function accepts what crmgate sends."""
    [block] = _blocks("python")
    scope: dict = {}
    exec(compile(block, str(DOC), "exec"), scope)  # noqa: S102 - the documentation's own example
    body = b'{"event":"approved"}'
    assert scope["crmgate_signature_ok"]("k", body, sign("k", body))
    assert not scope["crmgate_signature_ok"]("k", body, sign("other", body))
    assert hmac.compare_digest(sign("k", body), "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest())
