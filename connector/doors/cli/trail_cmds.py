"""crmgate trail ..."""
from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click

from crmgate.doors.cli.base import Ctx, cli, dumps, handle_errors, pass_ctx


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
    from crmgate.trail import TrailStore

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
@click.option("--export", "export_path", type=click.Path(dir_okay=False), default=None,
              help="Verify this export offline (with its .manifest.json and .chain beside it): "
                   "no config or database needed with --public-key.")
@click.option("--manifest", "manifest_path", type=click.Path(dir_okay=False), default=None,
              help="With --export: the manifest, if not at EXPORT.manifest.json.")
@click.option("--since-manifest", "since_manifest", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Prove the live trail still extends the head this earlier export manifest recorded.")
@pass_ctx
@handle_errors
def trail_verify(ctx: Ctx, public_key: str | None, export_path: str | None, manifest_path: str | None,
                 since_manifest: str | None) -> None:
    """Recompute the hash chain and check every signed checkpoint. Exit 1 naming the first bad seq.

    With --export, verify an export file offline instead; with --since-manifest, also prove that
    the live trail still extends an earlier export's head (entries cut off the end are caught).
    """
    from crmgate.trail import TrailStore, load_public_key, verify_store

    if export_path and since_manifest:
        raise click.UsageError("--export and --since-manifest are separate checks: give one")
    if export_path:
        from crmgate.audit.verify_export import verify_export

        key = load_public_key(public_key or _configured_public_key(ctx))
        report = verify_export(export_path, key, manifest_path=manifest_path)
        click.echo(dumps(report.to_dict()))
        if not report.ok:
            sys.exit(1)
        click.echo(report.summary(), err=True)
        return
    config = ctx.config()
    key = load_public_key(public_key or config.public_key_path)
    store = TrailStore(config.store, create=False)  # a mistyped path is an error, not an empty trail
    try:
        if since_manifest:
            from crmgate.audit.manifest import verify_since_manifest

            result = verify_since_manifest(store, key, since_manifest)
            click.echo(dumps(result))
            if not result["ok"]:
                sys.exit(1)
            return
        report = verify_store(store, key)
    finally:
        store.close()
    click.echo(dumps(report.to_dict()))
    if not report.ok:
        sys.exit(1)


def _configured_public_key(ctx: Ctx) -> str:
    """The config's public key for --export without --public-key; with no config, say what to pass."""
    from crmgate.config import find_config_path
    from crmgate.errors import ConfigError

    if find_config_path(ctx.config_path).is_file():
        return str(ctx.config().public_key_path)
    raise ConfigError("verifying an export needs the trail's public key: pass --public-key trail.pub "
                      "(no crmgate.yaml here to find it in; nothing else is needed)",
                      code="public_key_required")


@trail.command("export")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True,
              help="jsonl: whole entries; csv: one row per field change, spreadsheet-safe.")
@click.option("--out", "out", type=click.Path(dir_okay=False), required=True,
              help="The export file; PATH.manifest.json and PATH.chain are written beside it.")
@click.option("--since", default=None, metavar="T", help="Entries at or after this ISO-8601 time.")
@click.option("--until", default=None, metavar="T", help="Entries before this ISO-8601 time.")
@click.option("--actor", default=None,
              help="The changes this actor proposed or acted on, each with every entry of its lifecycle.")
@click.option("--use-case", default=None, help="This use case's changes, each with its whole lifecycle.")
@click.option("--object", "object_", default=None, help="The changes to this CRM object, whole lifecycles.")
@click.option("--record", "record_id", default=None, help="The changes to this record id, whole lifecycles.")
@pass_ctx
@handle_errors
def trail_export(ctx: Ctx, fmt: str, out: str, since: str | None, until: str | None, actor: str | None,
                 use_case: str | None, object_: str | None, record_id: str | None) -> None:
    """Export the trail for auditors, with a signed manifest and the chain proof.

    --actor, --use-case, --object and --record select changes: the export holds every entry of
    each selected change, whoever made it (decision, intent, result, approval and edits, rejection,
    rollback, feedback...); the manifest's "selection" says how. --since/--until alone select
    entries by time. In CSV, "status" is the change's status after each entry (its last row says where it stands).

    Streams one read snapshot (memory stays flat), verifies the stored chain while doing so and
    refuses (exit 1) to export a trail that does not verify. Prints the manifest as JSON. Needs
    the trail private key: the manifest is signed with it.
    """
    from crmgate.audit.export import (
        ExportFilters,
        TrailInvalidError,
        export_trail,
        parse_time,
    )
    from crmgate.trail import TrailStore, load_signer

    filters = ExportFilters(since=parse_time(since, name="since"), until=parse_time(until, name="until"),
                            actor=actor, use_case=use_case, object=object_, record_id=record_id)
    config = ctx.config()
    signer = load_signer(config.trail_key_file)
    store = TrailStore(config.store, create=False)
    try:
        with _progress_bar(store.head()[0]) as progress:
            manifest = export_trail(store, out, fmt=fmt, filters=filters, signer=signer, progress=progress)
    except TrailInvalidError as exc:
        click.echo(dumps({"error": {"code": "trail_invalid", "message": f"not exported: {exc}",
                                    "details": exc.report.to_dict()}}), err=True)
        sys.exit(1)
    except OSError as exc:
        click.echo(dumps({"error": {"code": "export_failed", "message": f"cannot write {out}: {exc.strerror}"}}),
                   err=True)
        sys.exit(1)
    finally:
        store.close()
    click.echo(dumps(manifest))


@contextmanager
def _progress_bar(total: int) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr when it is a terminal; otherwise no progress callback at all."""
    if not sys.stderr.isatty():
        yield None
        return
    with click.progressbar(length=total, label="exporting", file=sys.stderr) as bar:
        yield bar.update
