"""crmgate approvals list | show | approve | reject"""
from __future__ import annotations

import json
import sys

import click

from crmgate.approvals.queue import STATUSES
from crmgate.doors.boundaries import fixes_on_refusal
from crmgate.doors.cli.base import (
    Ctx,
    cli,
    dumps,
    handle_errors,
    parse_assignments,
    pass_ctx,
)
from crmgate.doors.cli.output import (
    approvals_table,
    output_option,
    print_tables,
    result_tables,
    table,
    three_values_table,
    wants_table,
)


@cli.group()
def approvals() -> None:
    """The queue of changes waiting for a person: list, show, approve, requeue, reject."""


@approvals.command("list")
@click.option("--status", type=click.Choice([*STATUSES, "all"]), default="pending", show_default=True,
              help="Only changes with this status (expired: pending past their expiry; all: every status).")
@click.option("--use-case", default=None, help="Only this use case's changes.")
@output_option
@pass_ctx
@handle_errors
def approvals_list(ctx: Ctx, status: str, use_case: str | None, output: str | None) -> None:
    """The queued changes, oldest first: pending ones unless --status says otherwise.

    A table on a terminal; a JSON array when piped (or with --output json)."""
    wanted = None if status == "all" else status
    with ctx.gate() as gate:
        items = [q.to_dict() for q in gate.approvals(status=wanted, use_case=use_case)]
    if wants_table(output):
        print_tables(approvals_table(items, status=wanted))
    else:
        click.echo(json.dumps(items, ensure_ascii=False, indent=2, default=str))


@approvals.command("show")
@click.argument("change_id", metavar="ID")
@output_option
@pass_ctx
@handle_errors
def approvals_show(ctx: Ctx, change_id: str, output: str | None) -> None:
    """One queued change with its trail history (decision, approval, write), its requeue links and,
    when stale, the value of each field at queueing, now and proposed."""
    with ctx.gate() as gate:
        item = gate.show_approval(change_id)
    if not wants_table(output):
        click.echo(json.dumps(item, ensure_ascii=False, indent=2, default=str))
        return
    tables: list = [approvals_table([item], status=item["status"]),
                    table("history", ("seq", "time (UTC)", "entry", "by"),
                          [(str(h["seq"]), h["ts"][:19].replace("T", " "), h["kind"], h["actor"])
                           for h in item["history"]])]
    if item.get("stale"):
        tables.append(three_values_table(item["stale"]["fields"]))
    links = [f"{k.replace('_', ' ')}: {item[k]}" for k in ("requeued_from", "requeued_as") if item.get(k)]
    print_tables(*tables, *links)


@approvals.command("approve")
@click.argument("change_id", metavar="ID")
@click.option("--by", required=True, help="The approver (a person; never an ai: actor or the proposer).")
@click.option("--note", default=None, help="Why, in a few words (recorded in the trail).")
@click.option("--set", "assignments", multiple=True, metavar="FIELD=VALUE",
              help="Approve with this value instead of the AI's (repeatable; VALUE is JSON when it parses).")
@output_option
@pass_ctx
@handle_errors
def approvals_approve(ctx: Ctx, change_id: str, by: str, note: str | None, assignments: tuple[str, ...],
                      output: str | None) -> None:
    """Approve a queued change and write it, if the record still matches what it was queued against.

    The change is re-checked first: it is stale (nothing written) when a field it writes changed
    since it was queued, or when the rules no longer allow it on the record now; other fields may
    have moved. Prints the result as JSON: status applied, stale (requeue it), conflict (the record
    moved during the write: nothing written), failed (exit 1) or unknown (the write was sent and its
    outcome is unknown: exit 1; run `crmgate reconcile`, never approve it again). Refusals (separation of duties, expired, not pending, an edit that breaks the
    rules) exit 2 and write nothing.
    """
    edits = parse_assignments(assignments)
    with ctx.gate() as gate, fixes_on_refusal(gate.rulebook):
        result = gate.approve(change_id, by=by, note=note, edits=edits)
    _print(result.to_dict(), output)
    if result.status in ("failed", "unknown"):  # unknown is not done: a script must not go on as if it were
        sys.exit(1)


@approvals.command("requeue")
@click.argument("change_id", metavar="ID")
@click.option("--by", required=True, help="Who requeues (a person; never an ai: actor or the proposer).")
@click.option("--note", default=None, help="Why, in a few words (recorded in the trail).")
@output_option
@pass_ctx
@handle_errors
def approvals_requeue(ctx: Ctx, change_id: str, by: str, note: str | None, output: str | None) -> None:
    """Decide a stale change again on the record as it is now, as a new pending change.

    The new change is linked to the old one (requeued_from / requeued_as in `approvals show`) and
    its before-values are the record's values now. Refused (exit 2, nothing written) when the change
    is not stale, when the rules now reject it, or when the record already holds the values.
    """
    with ctx.gate() as gate, fixes_on_refusal(gate.rulebook):
        result = gate.requeue(change_id, by=by, note=note)
    _print(result, output)


@approvals.command("reject")
@click.argument("change_id", metavar="ID")
@click.option("--by", required=True, help="Who rejects (a person).")
@click.option("--reason", required=True, help="Why (recorded in the trail).")
@output_option
@pass_ctx
@handle_errors
def approvals_reject(ctx: Ctx, change_id: str, by: str, reason: str, output: str | None) -> None:
    """Reject a queued change; nothing is written to the CRM."""
    with ctx.gate() as gate:
        result = gate.reject(change_id, by=by, reason=reason)
    _print(result.to_dict(), output)


def _print(result: dict, output: str | None) -> None:
    if wants_table(output):
        print_tables(*result_tables(result))
    else:
        click.echo(dumps(result))
