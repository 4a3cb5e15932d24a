"""crmgate approvals ..."""
from __future__ import annotations

import json

import click

from connector.cli.base import Ctx, cli, handle_errors, pass_ctx


@cli.group()
def approvals() -> None:
    """The queue of changes waiting for a person."""


@approvals.command("list")
@click.option("--status", type=click.Choice(["pending", "approved", "rejected", "expired"]), default=None)
@click.option("--use-case", default=None)
@pass_ctx
@handle_errors
def approvals_list(ctx: Ctx, status: str | None, use_case: str | None) -> None:
    """Print the queued changes as a JSON array."""
    with ctx.gate() as gate:
        items = [q.to_dict() for q in gate.approvals(status=status, use_case=use_case)]
    click.echo(json.dumps(items, ensure_ascii=False, indent=2, default=str))
