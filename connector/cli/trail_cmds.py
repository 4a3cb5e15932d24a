"""crmgate trail ..."""
from __future__ import annotations

import sys

import click

from connector.cli.base import Ctx, cli, dumps, handle_errors, pass_ctx


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
