"""crmgate feedback ... and crmgate report ..."""
from __future__ import annotations

import click

from crmgate.doors.cli.base import Ctx, cli, dumps, handle_errors, pass_ctx


@cli.command()
@click.argument("change_id")
@click.option("--correct/--incorrect", "correct", default=None,
              help="Whether the change proved right (one of the two is required).")
@click.option("--by", default="admin", show_default=True, help="Who gives the feedback (not an ai: actor).")
@click.option("--note", default=None, help="Why, in a sentence.")
@pass_ctx
@handle_errors
def feedback(ctx: Ctx, change_id: str, correct: bool | None, by: str, note: str | None) -> None:
    """Record whether a change later proved right (a feedback.recorded trail entry)."""
    from crmgate.audit.feedback import record_feedback
    from crmgate.trail import TrailStore, load_signer

    if correct is None:
        raise click.UsageError("give --correct or --incorrect")
    config = ctx.config()
    store = TrailStore(config.store, signer=load_signer(config.trail_key_file), create=False)
    try:
        click.echo(dumps(record_feedback(store, change_id, correct=correct, by=by, note=note).to_dict()))
    finally:
        store.close()


@cli.command()
@click.option("--since", default=None, help="Only trail entries at or after this ISO-8601 time.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@pass_ctx
@handle_errors
def report(ctx: Ctx, since: str | None, as_json: bool) -> None:
    """Governance report: counts and rates per use case, actor and field, with shadow-mode would-haves."""
    from crmgate.audit.export import parse_time
    from crmgate.audit.report import governance_report, render_table
    from crmgate.trail import TrailStore

    since = parse_time(since, name="since")
    store = TrailStore(ctx.config().store, create=False)
    try:
        result = governance_report(store, since=since)
    finally:
        store.close()
    click.echo(dumps(result.to_dict()) if as_json else render_table(result))
