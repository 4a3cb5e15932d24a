"""init, demo, propose, records (get, list), sandbox."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from crmgate.doors.cli.base import (
    Ctx,
    _emit_error,
    cli,
    dumps,
    handle_errors,
    parse_assignments,
    pass_ctx,
)
from crmgate.doors.cli.output import outcomes_table, output_option, print_tables, records_table, wants_table


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False), default=".")
@click.option("--with-routing", is_flag=True,
              help="Also add the example routing and enrichment sections (sample-firmographics provider).")
@handle_errors
def init(directory: str, with_routing: bool) -> None:
    """Write a starter crmgate.yaml, rules.yaml, the trail key pair and a seeded sandbox in DIRECTORY."""
    from crmgate.project.scaffold import init_project

    created = init_project(Path(directory), with_routing=with_routing)
    click.echo(dumps({"initialised": str(Path(directory).resolve()), "files": created}))


@cli.command()
@click.option("--keep", type=click.Path(file_okay=False), default=None,
              help="Run in this directory and keep it, instead of a temporary one.")
@handle_errors
def demo(keep: str | None) -> None:
    """A self-contained walkthrough on the embedded sandbox; exits 0 when every step behaved."""
    from crmgate.doors.cli.demo import run_demo

    ok = run_demo(click.echo, Path(keep) if keep else None)
    sys.exit(0 if ok else 1)


@cli.command()
@click.argument("source", type=click.File("rb"), default="-")  # bytes: bad UTF-8 is a clear error
@output_option
@pass_ctx
@handle_errors
def propose(ctx: Ctx, source, output: str | None) -> None:
    """Submit proposals from SOURCE (a file or - for stdin): one JSON object, an array, or JSON Lines.

    On a terminal prints a table of outcomes; piped (or --output json) one JSON outcome per line.
    Each violation carries a `fix`: what to change so the rules accept it. A malformed input is
    refused as a whole (exit 2).
    """
    from crmgate.doors.boundaries import with_fixes
    from crmgate.writes.intake import parse_text

    proposals = parse_text(source.read())
    with ctx.gate() as gate:
        items = [with_fixes(o.to_dict(), gate.rulebook, o.actor) for o in gate.propose(proposals)]
    if wants_table(output):
        print_tables(outcomes_table(items))
        return
    for item in items:
        click.echo(dumps(item))


@cli.group()
def records() -> None:
    """Read records from the configured CRM."""


@records.command("get")
@click.argument("object_name", metavar="OBJECT")
@click.argument("record_id", metavar="ID")
@pass_ctx
@handle_errors
def records_get(ctx: Ctx, object_name: str, record_id: str) -> None:
    """Print one record as JSON (exit 1 if it does not exist)."""
    from crmgate.gate import make_adapter

    with make_adapter(ctx.config()) as adapter:
        rec = adapter.get_many(object_name, [record_id]).get(record_id)
    if rec is None:
        _emit_error({"code": "record_not_found", "message": f"no {object_name} {record_id}"}, 1)
    click.echo(dumps(rec.to_dict()))


@cli.group()
def sandbox() -> None:
    """Act on the embedded sandbox CRM directly, as a person in the CRM's own UI would."""


@records.command("list")
@click.argument("object_name", metavar="OBJECT")
@click.option("--where", "where", multiple=True, metavar="FIELD=VALUE",
              help="Only records whose FIELD equals VALUE (repeatable; VALUE is JSON when it parses).")
@click.option("--limit", type=click.IntRange(min=1, max=10_000), default=50, show_default=True)
@output_option
@pass_ctx
@handle_errors
def records_list(ctx: Ctx, object_name: str, where: tuple[str, ...], limit: int, output: str | None) -> None:
    """List records of OBJECT (the embedded sandbox; Salesforce and HubSpot are read by id with
    `records get`, and this command says so)."""
    from crmgate.errors import ConfigError
    from crmgate.gate import make_adapter

    filters = parse_assignments(where)
    with make_adapter(ctx.config()) as adapter:
        lister = getattr(adapter, "list_records", None)
        if lister is None:
            raise ConfigError(f"records list works on the embedded sandbox only; with crm.kind {adapter.kind!r} "
                              "crmgate reads records by id: crmgate records get OBJECT ID (list them in the "
                              "CRM itself, e.g. a Salesforce list view or report)", code="not_supported",
                              details={"crm": adapter.kind})
        found = [r.to_dict() for r in lister(object_name, filters, limit)]
    if wants_table(output):
        print_tables(records_table(object_name, found, limit=limit))
    else:
        click.echo(json.dumps(found, ensure_ascii=False, indent=2, default=str))


@sandbox.command("edit")
@click.argument("object_name", metavar="OBJECT")
@click.argument("record_id", metavar="ID")
@click.argument("assignments", nargs=-1, required=True, metavar="FIELD=VALUE...")
@click.option("--as", "actor", default="person", show_default=True, help="Who is editing.")
@pass_ctx
@handle_errors
def sandbox_edit(ctx: Ctx, object_name: str, record_id: str, assignments: tuple[str, ...], actor: str) -> None:
    """Edit a sandbox record outside crmgate (not governed, not in the trail), like a person would."""
    from crmgate.errors import ConfigError
    from crmgate.gate import make_adapter

    fields = parse_assignments(assignments)
    config = ctx.config()
    if config.crm.kind != "sandbox":
        raise ConfigError("sandbox edit only works with crm.kind: sandbox")
    with make_adapter(config) as adapter:
        rec = adapter.edit(object_name, record_id, fields, actor=actor)  # type: ignore[attr-defined]
    click.echo(dumps(rec.to_dict()))
