"""crmgate rules ..."""
from __future__ import annotations

import click

from crmgate.doors.cli.base import Ctx, cli, dumps, handle_errors, pass_ctx


@cli.group()
def rules() -> None:
    """Work with rulebooks."""


@rules.command("check")
@click.argument("path", type=click.Path(dir_okay=False))
@handle_errors
def rules_check(path: str) -> None:
    """Validate a rulebook; print a summary, or the precise problems (exit 2)."""
    from crmgate.rules.loader import load_rulebook

    rb = load_rulebook(path)
    click.echo(dumps({
        "ok": True, "source": path, "version_hash": rb.version_hash,
        "objects": sorted(rb.objects), "use_cases": list(rb.use_cases),
        "risk_rules": len(rb.risk.rules),
    }))



@rules.command("from-describe")
@click.argument("objects", nargs=-1, required=True)
@pass_ctx
@handle_errors
def rules_from_describe(ctx: Ctx, objects: tuple[str, ...]) -> None:
    """Print a rulebook ``objects:`` section for OBJECT... from the configured CRM's describe.

    Types, required-on-create fields, picklist values and lengths come from the org's real schema;
    paste the section into a rulebook and trim it to the fields your AI workflows may touch.
    """
    from crmgate.errors import ConfigError
    from crmgate.gate import make_adapter

    adapter = make_adapter(ctx.config())
    try:
        describe = getattr(adapter, "describe", None)
        if describe is None:
            raise ConfigError(f"crm kind {adapter.kind!r} has no describe; from-describe needs Salesforce")
        from crmgate.adapters.salesforce.describe import objects_yaml

        click.echo(objects_yaml([describe(name) for name in objects]), nl=False)
    finally:
        adapter.close()
