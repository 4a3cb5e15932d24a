"""crmgate rollback --change ID | --batch ID | --actor A [--since T] [--until T] | --use-case U"""
from __future__ import annotations

import sys
from typing import Any

import click
from rich.table import Table

from crmgate.doors.cli.base import Ctx, cli, dumps, handle_errors, pass_ctx
from crmgate.doors.cli.output import print_tables, show, table


@cli.command()
@click.option("--change", "change_id", default=None, help="One change id to undo (also a rollback's id).")
@click.option("--batch", "batch_id", default=None, help="Every change of this proposal batch.")
@click.option("--actor", default=None, help="Every change this actor made (with --since/--until).")
@click.option("--use-case", default=None, help="Every change of this use case (with --since/--until).")
@click.option("--since", default=None, metavar="T", help="From this ISO-8601 time, inclusive (UTC if no offset).")
@click.option("--until", default=None, metavar="T", help="Up to this ISO-8601 time, exclusive.")
@click.option("--dry-run", is_flag=True, help="Print the plan (a table; JSON with --json); write nothing.")
@click.option("--json", "as_json", is_flag=True, help="With --dry-run: the plan as JSON.")
@click.option("--force", is_flag=True, help="Also overwrite fields that changed since (recorded as forced).")
@click.option("--by", default="admin", show_default=True, help="Who is rolling back (recorded in the trail).")
@click.option("--reconcile-first", is_flag=True,
              help="First reconcile the selected changes whose outcome is unknown or unresolved.")
@pass_ctx
@handle_errors
def rollback(ctx: Ctx, change_id: str | None, batch_id: str | None, actor: str | None,
             use_case: str | None, since: str | None, until: str | None, dry_run: bool,
             as_json: bool, force: bool, by: str, reconcile_first: bool) -> None:
    """Undo changes where it is safe; fields edited since are reported as conflicts and kept.

    Exactly one of --change, --batch, --actor, --use-case. Changes are undone newest first; several
    changes to one field return it to its value before the first, if it still holds the last value
    crmgate wrote. Prints JSON (for --change alone: that change's report; otherwise a summary with
    every change's report). Selected changes whose outcome is unknown or unresolved cannot be judged:
    they are listed under "unjudged" and left alone (--reconcile-first settles them first). Exit 1
    when a CRM write failed or any change was left unjudged.
    """
    with ctx.gate() as gate, _progress() as progress:
        report = gate.rollback_many(change=change_id, batch=batch_id, actor=actor, use_case=use_case,
                                    since=since, until=until, dry_run=dry_run, force=force, by=by,
                                    progress=progress, reconcile_first=reconcile_first)
    if dry_run and not as_json:
        print_tables(plan_table(report.to_dict()))
    elif change_id and not dry_run:
        click.echo(dumps(report.changes[0].to_dict()))
    else:
        click.echo(dumps(report.to_dict()))
    if sys.stderr.isatty():
        s = report.summary
        click.echo(f"reverted {s['reverted']}, partial {s['partial']}, conflicts {s['conflicts']}, "
                   f"failed {s['failed']}, skipped {s['skipped']}, unjudged {s['unjudged']}", err=True)
    if report.unjudged:
        click.echo(report.to_dict()["warning"] + ": " + ", ".join(report.unjudged), err=True)
    if not report.ok:
        sys.exit(1)


class _progress:
    """A progress bar on stderr while records are written, only when stderr is a terminal."""

    def __enter__(self):
        self.bar: Any = None
        if not sys.stderr.isatty():
            return None
        return self.update

    def update(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = click.progressbar(length=total, label="rolling back", file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(done - self.bar.pos)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


_WHOLE = {"create": "delete the record", "delete": "re-create the record"}


def plan_table(report: dict[str, Any]) -> Table:
    """The dry-run plan for a person: one row per field of every selected change (one row for a
    create or delete, whose rollback deletes or re-creates the whole record), then the summary."""
    rows = []
    for ch in report["changes"]:
        what = (ch["change_id"], ch["object"], ch["record_id"] or "", ch["status"])
        whole = ch["op"] in _WHOLE and ch["status"] == "planned"
        if whole or not ch["fields"]:
            rows.append((*what, "", _WHOLE[ch["op"]] if whole else "-", "", "", ch["message"]))
            continue
        for f in ch["fields"]:
            rows.append((*what, f["field"], f["action"], show(f["current"]), show(f["before"]), f["reason"]))
    s = report["summary"]
    return table("rollback plan (dry run: nothing written)",
                 ("change", "object", "record", "status", "field", "action", "now", "back to", "why"), rows,
                 caption=f"{s['selected']} changes: would undo {s['planned']}, conflicts {s['conflicts']}, "
                         f"skipped {s['skipped']} (dry run: nothing written)")
