"""crmgate reconcile [--dry-run] [--older-than SECONDS]"""
from __future__ import annotations

import sys

import click

from crmgate.doors.cli.base import Ctx, cli, dumps, handle_errors, pass_ctx


@cli.command()
@click.option("--dry-run", is_flag=True, help="Read the CRM and print what would be done; write nothing.")
@click.option("--older-than", type=click.FloatRange(min=0), default=0.0, show_default=True, metavar="SECONDS",
              help="Only intents without a result older than this (younger ones may still be running). "
                   "unknown writes are always judged.")
@pass_ctx
@handle_errors
def reconcile(ctx: Ctx, dry_run: bool, older_than: float) -> None:
    """Find out what became of writes whose outcome is not known, and record it.

    Every unknown write and every intent without a result (a crash, a lost reply) is read back from
    the CRM: applied ones are recorded as applied (and can be rolled back), ones that never landed
    are written again with the same change id and key when still allowed, else failed with the
    reason; the rest stay unknown and are listed with why. Prints JSON; exit 1 when any change is
    left unresolved. Safe to run again, and from several workers at once.
    """
    from crmgate.gate import Gate

    with Gate.from_config(ctx.config(), recover=False) as gate:  # --dry-run must write nothing
        report = gate.reconcile(older_than=older_than, dry_run=dry_run)
    click.echo(dumps(report.to_dict()))
    if sys.stderr.isatty():
        s = report.summary
        click.echo(f"examined {s['examined']}: applied {s['applied']}, written again {s['redriven']}, "
                   f"failed {s['failed']}, still unknown {s['unknown']}, held by another worker {s['claimed']}",
                   err=True)
    if report.unresolved and not dry_run:
        sys.exit(1)
