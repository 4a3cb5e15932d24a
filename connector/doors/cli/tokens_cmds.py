"""crmgate tokens create | list | revoke"""
from __future__ import annotations

import click

from crmgate.doors.cli.base import Ctx, cli, dumps, handle_errors, pass_ctx
from crmgate.doors.credentials import SCOPES


class _Credentials:
    """The credential table of the configured store, opened with the trail key (changes are trail entries)."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx

    def __enter__(self):
        from crmgate.clock import new_id, utc_now
        from crmgate.doors.credentials import Credentials
        from crmgate.trail import TrailStore, load_signer

        config = self.ctx.config()
        self.store = TrailStore(config.store, signer=load_signer(config.trail_key_file), create=False)
        return Credentials(self.store, clock=utc_now, ids=new_id)

    def __exit__(self, *exc: object) -> None:
        self.store.close()


@cli.group()
def tokens() -> None:
    """Credentials for the HTTP API and the MCP server: each token acts as one actor, with scopes."""


@tokens.command("create")
@click.option("--actor", required=True, help="The actor every request with this token acts as (e.g. ai:lead-intake-1).")
@click.option("--scope", "scopes", multiple=True, required=True, metavar="SCOPE",
              help=f"Repeatable or comma-separated: {', '.join(SCOPES)}. ai: actors never get approve or rollback.")
@click.option("--label", default=None, help="What the token is for (shown in `tokens list`).")
@click.option("--rate-limit", type=click.IntRange(min=1), default=None,
              help="Requests per window for this token (default: server.rate_limit from the config).")
@click.option("--by", default="admin", show_default=True, help="Who creates it (recorded in the trail).")
@click.option("--token-only", is_flag=True, help="Print only the token (for `export CRMGATE_TOKEN=$(...)`).")
@pass_ctx
@handle_errors
def tokens_create(ctx: Ctx, actor: str, scopes: tuple[str, ...], label: str | None, rate_limit: int | None,
                  by: str, token_only: bool) -> None:
    """Create a credential and print it with its token. The token is shown once: only its hash is kept."""
    wanted = [s for item in scopes for s in item.split(",")]
    with _Credentials(ctx) as creds:
        cred, token = creds.create(actor, wanted, by=by, label=label, rate_limit=rate_limit)
    click.echo(token if token_only else dumps({**cred.to_dict(), "token": token}))
    click.echo("Store this token now: it cannot be shown again (only its SHA-256 is kept).", err=True)


@tokens.command("list")
@pass_ctx
@handle_errors
def tokens_list(ctx: Ctx) -> None:
    """Print every credential (never a token) as JSON, oldest first."""
    with _Credentials(ctx) as creds:
        click.echo(dumps([c.to_dict() for c in creds.list()]))


@tokens.command("revoke")
@click.argument("credential_id", metavar="ID")
@click.option("--by", default="admin", show_default=True, help="Who revokes it (recorded in the trail).")
@pass_ctx
@handle_errors
def tokens_revoke(ctx: Ctx, credential_id: str, by: str) -> None:
    """Revoke a credential: its token is refused from the next request on."""
    with _Credentials(ctx) as creds:
        click.echo(dumps(creds.revoke(credential_id, by=by).to_dict()))
