"""crmgate routing ..."""
from __future__ import annotations

import click

from crmgate.doors.cli.base import Ctx, cli, dumps, handle_errors, pass_ctx


@cli.group()
def routing() -> None:
    """Inspect and replay routing decisions."""


@routing.command("replay")
@click.option("--rules", "rules_path", required=True, type=click.Path(dir_okay=False),
              help="The rulebook to replay under (e.g. the next version).")
@click.option("--since", default=None, help="Only decisions at or after this ISO time.")
@click.option("--until", default=None, help="Only decisions before this ISO time.")
@pass_ctx
@handle_errors
def routing_replay(ctx: Ctx, rules_path: str, since: str | None, until: str | None) -> None:
    """Re-decide past routing under another rulebook; write nothing.

    Prints JSON Lines: a summary first (how many records would change owner, from which rule to
    which), then one line per difference.
    """
    from crmgate.clock import parse_time
    from crmgate.decide.replay import replay
    from crmgate.rules.loader import load_rulebook
    from crmgate.trail import TrailStore

    parse_time(since, name="since"), parse_time(until, name="until")  # refuse bad input first
    rulebook = load_rulebook(rules_path)
    store = TrailStore(ctx.config().store, create=False)
    try:
        report = replay(store, rulebook, since=parse_time(since, name="since"),
                        until=parse_time(until, name="until"))
    finally:
        store.close()
    click.echo(dumps(report.summary()))
    for diff in report.differences:
        click.echo(dumps(diff))
