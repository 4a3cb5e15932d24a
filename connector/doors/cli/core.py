"""init, demo, propose, records, sandbox."""
from __future__ import annotations

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
@pass_ctx
@handle_errors
def propose(ctx: Ctx, source) -> None:
    """Submit proposals from SOURCE (a file or - for stdin): one JSON object, an array, or JSON Lines.

    Prints one JSON outcome per line. A malformed input is refused as a whole (exit 2).
    """
    from crmgate.writes.intake import parse_text

    proposals = parse_text(source.read())
    with ctx.gate() as gate:
        for outcome in gate.propose(proposals):
            click.echo(dumps(outcome.to_dict()))


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
