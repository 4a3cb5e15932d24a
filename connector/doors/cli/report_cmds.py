"""crmgate feedback ... and crmgate report ..."""
from __future__ import annotations

import csv
import io
from typing import Any

import click

from crmgate.doors.cli.base import Ctx, cli, dumps, handle_errors, pass_ctx
from crmgate.doors.cli.output import output_option, print_tables, table, wants_table


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


_COLUMNS = (("proposals", "proposals", "proposals decided"),
            ("applied", "applied", "applied by the rules and written"),
            ("queued", "queued", "held for a person"),
            ("approved", "approved", "approved by a person"),
            ("approved_with_edits", "edited", "approved with a person's edit"),
            ("rejected_by_rule", "rejected (rules)", "rejected by validation, use case or a blocking tier"),
            ("rejected_by_person", "rejected (person)", "rejected by a person"),
            ("shadowed", "shadowed", "decided in shadow mode: nothing written"),
            ("rolled_back", "rolled back", "undone by a rollback"),
            ("conflicts", "conflicts", "writes refused because the record had moved"),
            ("failures", "failures", "writes the CRM refused"))
_RATES = (("acceptance", "accept %", "(applied + approved) / everything decided"),
          ("override", "override %", "(edited + rejected by a person) / decided by a person"),
          ("rollback", "rollback %", "rolled back / written"),
          ("exception", "exception %", "(conflicts + failures) / write attempts"),
          ("feedback_accuracy", "accuracy %", "feedback 'correct' / all feedback"))
_GROUPS = (("use case", "by_use_case"), ("actor", "by_actor"), ("field", "by_field"))


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _rows(data: dict[str, Any], key: str) -> list[tuple[str, dict[str, Any]]]:
    return [*data[key].items(), ("TOTAL", data["totals"])]


def report_tables(data: dict[str, Any]) -> list[Any]:
    """The report for a person: one table per grouping, then a legend of every column."""
    head = [label for _, label, _ in _COLUMNS + _RATES]
    since = f" since {data['since']}" if data["since"] else ""
    out: list[Any] = [f"governance report{since}: {data['entries']} trail entries"]
    for title, key in _GROUPS:
        out.append(table(f"by {title}", (title, *head), [
            (name, *(str(c[k]) for k, _, _ in _COLUMNS), *(_rate(c["rates"][k]) for k, _, _ in _RATES))
            for name, c in _rows(data, key)]))
    dups = [(uc, c) for uc, c in sorted(data["by_use_case"].items())
            if c.get("duplicates_blocked", 0) + c.get("duplicates_queued", 0) + c.get("duplicates_merged", 0)]
    if dups:
        out.append(table("duplicates by use case", ("use case", "blocked", "queued", "merged"), [
            (uc, str(c["duplicates_blocked"]), str(c["duplicates_queued"]), str(c["duplicates_merged"]))
            for uc, c in dups]))
    out.append(table("legend", ("column", "counts"), [(label, why) for _, label, why in _COLUMNS + _RATES]
                     + [("-", "no denominator yet (nothing to divide by)")]))
    return out


def report_csv(data: dict[str, Any]) -> str:
    """One CSV row per use case, actor and field (and their totals), counts then rates (0..1)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["group", "name", *(k for k, _, _ in _COLUMNS), *(k for k, _, _ in _RATES)])
    for title, key in _GROUPS:
        for name, c in _rows(data, key):
            w.writerow([title, name, *(c[k] for k, _, _ in _COLUMNS),
                        *("" if c["rates"][k] is None else c["rates"][k] for k, _, _ in _RATES)])
    return buf.getvalue()


@cli.command()
@click.option("--since", default=None, help="Only trail entries at or after this ISO-8601 time.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the same as --output json).")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV: one row per use case, actor and field.")
@output_option
@pass_ctx
@handle_errors
def report(ctx: Ctx, since: str | None, as_json: bool, as_csv: bool, output: str | None) -> None:
    """Governance report: counts and rates per use case, actor and field, with a legend.

    A table on a terminal (or --output table), JSON when piped (or --json), CSV with --csv."""
    from crmgate.audit.export import parse_time
    from crmgate.audit.report import governance_report
    from crmgate.trail import TrailStore

    since = parse_time(since, name="since")
    store = TrailStore(ctx.config().store, create=False)
    try:
        data = governance_report(store, since=since).to_dict()
    finally:
        store.close()
    if as_csv:
        click.echo(report_csv(data), nl=False)
    elif not as_json and wants_table(output):
        print_tables(*report_tables(data))
    else:
        click.echo(dumps(data))
