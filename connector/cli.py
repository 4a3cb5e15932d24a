"""The ``crmgate`` command line. Every command has ``--help``.

Exit codes: 0 success (for ``propose``: every proposal got an outcome, whatever its status);
1 the operation ran and failed (``trail verify`` found tampering, the CRM refused a call);
2 bad input (malformed proposal, rulebook or config; unknown change) — nothing was written.
Errors go to stderr as one JSON object: ``{"error": {"code", "message", "details"?}}``.
"""
from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from adapters.errors import CRMError
from connector.config import load_config
from connector.errors import CrmgateError
from connector.trail import KeyFileError, TrailStoreError
from rules.loader import RulebookError

USER_ERRORS = (CrmgateError, RulebookError, KeyFileError)


def _emit_error(err: dict[str, Any], code: int) -> None:
    click.echo(json.dumps({"error": err}, ensure_ascii=False, default=str), err=True)
    sys.exit(code)


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Render known errors as structured JSON on stderr instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except USER_ERRORS as exc:
            _emit_error(exc.to_dict(), 2)
        except CRMError as exc:
            _emit_error(exc.to_dict(), 1)
        except TrailStoreError as exc:
            _emit_error({"code": "trail_store_error", "message": str(exc)}, 1)

    return wrapper


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


class Ctx:
    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path

    def config(self):
        return load_config(self.config_path)

    def gate(self):
        from connector.gate import Gate

        return Gate.from_config(self.config())


pass_ctx = click.make_pass_decorator(Ctx)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="Config file (default: $CRMGATE_CONFIG, else ./crmgate.yaml).")
@click.version_option(package_name="crmgate")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """crmgate: the governed door between AI workflows and your CRM.

    Proposals are validated against a rulebook, tiered by risk, written reversibly and recorded in a
    signed, hash-chained change trail.
    """
    ctx.obj = Ctx(config_path)


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False), default=".")
@handle_errors
def init(directory: str) -> None:
    """Write a starter crmgate.yaml, rules.yaml, the trail key pair and a seeded sandbox in DIRECTORY."""
    from connector.setup import init_project

    created = init_project(Path(directory))
    click.echo(dumps({"initialised": str(Path(directory).resolve()), "files": created}))


@cli.command()
@click.option("--keep", type=click.Path(file_okay=False), default=None,
              help="Run in this directory and keep it, instead of a temporary one.")
@handle_errors
def demo(keep: str | None) -> None:
    """A self-contained walkthrough on the embedded sandbox; exits 0 when every step behaved."""
    from connector.demo import run_demo

    ok = run_demo(click.echo, Path(keep) if keep else None)
    sys.exit(0 if ok else 1)


@cli.command()
@click.argument("source", type=click.File("r", encoding="utf-8"), default="-")
@pass_ctx
@handle_errors
def propose(ctx: Ctx, source) -> None:
    """Submit proposals from SOURCE (a file or - for stdin): one JSON object, an array, or JSON Lines.

    Prints one JSON outcome per line. A malformed input is refused as a whole (exit 2).
    """
    from connector.intake import parse_text

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
    from connector.gate import make_adapter

    with make_adapter(ctx.config()) as adapter:
        rec = adapter.get_many(object_name, [record_id]).get(record_id)
    if rec is None:
        _emit_error({"code": "record_not_found", "message": f"no {object_name} {record_id}"}, 1)
    click.echo(dumps(rec.to_dict()))


@cli.group()
def sandbox() -> None:
    """Act on the embedded sandbox CRM directly, as a person in the CRM's own UI would."""


def parse_assignments(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``FIELD=VALUE``: VALUE is read as JSON when it parses (numbers, null, true), else as text."""
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"expected FIELD=VALUE, got {pair!r}")
        try:
            out[name] = json.loads(raw)
        except json.JSONDecodeError:
            out[name] = raw
    return out


@sandbox.command("edit")
@click.argument("object_name", metavar="OBJECT")
@click.argument("record_id", metavar="ID")
@click.argument("assignments", nargs=-1, required=True, metavar="FIELD=VALUE...")
@click.option("--as", "actor", default="person", show_default=True, help="Who is editing.")
@pass_ctx
@handle_errors
def sandbox_edit(ctx: Ctx, object_name: str, record_id: str, assignments: tuple[str, ...], actor: str) -> None:
    """Edit a sandbox record outside crmgate (not governed, not in the trail), like a person would."""
    from connector.errors import ConfigError
    from connector.gate import make_adapter

    fields = parse_assignments(assignments)
    config = ctx.config()
    if config.crm.kind != "sandbox":
        raise ConfigError("sandbox edit only works with crm.kind: sandbox")
    with make_adapter(config) as adapter:
        rec = adapter.edit(object_name, record_id, fields, actor=actor)  # type: ignore[attr-defined]
    click.echo(dumps(rec.to_dict()))


@cli.group()
def approvals() -> None:
    """The queue of changes waiting for a person."""


@approvals.command("list")
@click.option("--status", type=click.Choice(["pending", "approved", "rejected", "expired"]), default=None)
@click.option("--use-case", default=None)
@pass_ctx
@handle_errors
def approvals_list(ctx: Ctx, status: str | None, use_case: str | None) -> None:
    """Print the queued changes as a JSON array."""
    with ctx.gate() as gate:
        items = [q.to_dict() for q in gate.approvals(status=status, use_case=use_case)]
    click.echo(json.dumps(items, ensure_ascii=False, indent=2, default=str))


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


@cli.group()
def trail() -> None:
    """Read and verify the change trail."""


@trail.command("show")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True,
              help="How many entries (the newest, unless --start is given).")
@click.option("--start", type=click.IntRange(min=1), default=None, help="First sequence number.")
@pass_ctx
@handle_errors
def trail_show(ctx: Ctx, limit: int, start: int | None) -> None:
    """Print trail entries as JSON Lines, in sequence order."""
    from connector.trail import TrailStore

    store = TrailStore(ctx.config().store, create=False)
    try:
        if start is None:
            head, _ = store.head()
            start = max(1, head - limit + 1)
        for entry in store.read(start, limit):
            click.echo(dumps(entry.to_dict()))
    finally:
        store.close()


@trail.command("verify")
@click.option("--public-key", type=click.Path(dir_okay=False, exists=True), default=None,
              help="The trail's public key (default: trail_public_key_file from the config).")
@pass_ctx
@handle_errors
def trail_verify(ctx: Ctx, public_key: str | None) -> None:
    """Recompute the hash chain and check every signed checkpoint. Exit 1 naming the first bad seq."""
    from connector.trail import TrailStore, load_public_key, verify_store

    config = ctx.config()
    key = load_public_key(public_key or config.public_key_path)
    store = TrailStore(config.store, create=False)  # a mistyped path is an error, not an empty trail
    try:
        report = verify_store(store, key)
    finally:
        store.close()
    click.echo(dumps(report.to_dict()))
    if not report.ok:
        sys.exit(1)


@cli.group()
def rules() -> None:
    """Work with rulebooks."""


@rules.command("check")
@click.argument("path", type=click.Path(dir_okay=False))
@handle_errors
def rules_check(path: str) -> None:
    """Validate a rulebook; print a summary, or the precise problems (exit 2)."""
    from rules.loader import load_rulebook

    rb = load_rulebook(path)
    click.echo(dumps({
        "ok": True, "source": path, "version_hash": _version_hash(rb),
        "objects": sorted(rb.objects), "use_cases": list(rb.use_cases),
        "risk_rules": len(rb.risk.rules),
    }))


def _version_hash(rb: Any) -> Any:
    v = getattr(rb, "version_hash", None)
    return v() if callable(v) else v


def main() -> None:
    cli(prog_name="crmgate")


if __name__ == "__main__":  # pragma: no cover
    main()
