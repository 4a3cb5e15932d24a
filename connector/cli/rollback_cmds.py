"""crmgate rollback ..."""
from __future__ import annotations

import sys

import click

from connector.cli.base import Ctx, cli, dumps, handle_errors, pass_ctx


@cli.command()
@click.option("--change", "change_id", required=True, help="The change id to undo.")
@click.option("--dry-run", is_flag=True, help="Print the plan; write nothing.")
@click.option("--force", is_flag=True, help="Also overwrite fields that changed since (recorded as forced).")
@click.option("--by", default="admin", show_default=True, help="Who is rolling back (recorded in the trail).")
@pass_ctx
@handle_errors
def rollback(ctx: Ctx, change_id: str, dry_run: bool, force: bool, by: str) -> None:
    """Undo one change where it is safe; fields edited since are reported as conflicts and kept."""
    with ctx.gate() as gate:
        report = gate.rollback(change_id, dry_run=dry_run, force=force, by=by)
    click.echo(dumps(report.to_dict()))
    if report.status == "failed":
        sys.exit(1)
