"""crmgate rules ..."""
from __future__ import annotations

from typing import Any

import click

from connector.cli.base import cli, dumps, handle_errors


@cli.group()
def rules() -> None:
    """Work with rulebooks."""


@rules.command("check")
@click.argument("path", type=click.Path(dir_okay=False))
@handle_errors
def rules_check(path: str) -> None:
    """Validate a rulebook; print a summary, or the precise problems (exit 2)."""
    from rules.loader import load_rulebook

    rb = load_rulebook(path)
    click.echo(dumps({
        "ok": True, "source": path, "version_hash": _version_hash(rb),
        "objects": sorted(rb.objects), "use_cases": list(rb.use_cases),
        "risk_rules": len(rb.risk.rules),
    }))


def _version_hash(rb: Any) -> Any:
    v = getattr(rb, "version_hash", None)
    return v() if callable(v) else v
