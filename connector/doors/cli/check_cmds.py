"""crmgate check: what proposing would do now (duplicate matches included), writing nothing."""
from __future__ import annotations

import click

from crmgate.doors.cli.base import Ctx, cli, dumps, handle_errors, pass_ctx


@cli.command("check")
@click.argument("source", type=click.File("r", encoding="utf-8"), default="-")
@pass_ctx
@handle_errors
def check(ctx: Ctx, source) -> None:  # noqa: ANN001 - a click file
    """Decide proposals from SOURCE (like ``propose``) without writing anything: no CRM write, no
    trail entry, no queue row. Prints one JSON line per proposal with ``"dry_run": true``; a create
    that matches a duplicate rule carries ``duplicates`` (rule, candidates and scores).
    """
    from crmgate.writes.intake import parse_text

    proposals = parse_text(source.read())
    with ctx.gate() as gate:
        for result in gate.check(proposals):
            click.echo(dumps(result.to_dict()))
