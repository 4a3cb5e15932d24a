"""Helpers for tests that run ``crmgate`` as a real process: the installed command, a free port,
a CLI call that must succeed, and a fresh project with an agent token made through the CLI."""
from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

CRMGATE = str(Path(sys.executable).with_name("crmgate"))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cli(*args: str, cwd: Path) -> str:
    """Run ``crmgate *args`` in ``cwd``; it must exit 0. Returns its stdout."""
    done = subprocess.run([CRMGATE, *args], check=False, cwd=cwd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def project_with_token(cwd: Path, *token_args: str) -> str:
    """``crmgate init p`` in ``cwd``, then an ``ai:lead-intake-1`` token with scopes propose and read
    (plus ``token_args``, e.g. ``--rate-limit 3``), created as a user would; returns the token."""
    run_cli("init", "p", cwd=cwd)
    return run_cli("--config", "p/crmgate.yaml", "tokens", "create", "--actor", "ai:lead-intake-1", "--scope",
                   "propose,read", *token_args, "--token-only", cwd=cwd).strip()
