"""crmgate rules ..."""
from __future__ import annotations

import json
from typing import Any

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


SCHEMA_ID = "urn:crmgate:rulebook:1"
#: draft-07: pydantic's output uses nothing newer, and it is the draft every YAML editor supports
SCHEMA_DIALECT = "http://json-schema.org/draft-07/schema#"


def rulebook_schema() -> dict[str, Any]:
    """The rulebook's JSON Schema, generated from the pydantic models (:class:`crmgate.rules.schema.Rulebook`).

    It checks shape: keys, types, enumerations (risk tiers, modes, operations), bounds. Meaning
    (fields named in rules exist, picklist ``to`` values are among the values) is checked by
    ``crmgate rules check``, which stays the authority.
    """
    from crmgate.rules.schema import Rulebook

    generated = Rulebook.model_json_schema()
    generated.pop("title", None)
    generated.pop("description", None)
    return {"$schema": SCHEMA_DIALECT, "$id": SCHEMA_ID, "title": "crmgate rulebook",
            "description": "What AI workflows may change in the CRM, how risky each change is, and "
                           "who may approve it. Check meaning with `crmgate rules check FILE`.",
            **generated}


def rulebook_schema_json() -> str:
    """The schema as the committed copies hold it (2-space indent, trailing newline)."""
    return json.dumps(rulebook_schema(), indent=2, ensure_ascii=False) + "\n"


@rules.command("schema")
def rules_schema() -> None:
    """Print the rulebook's JSON Schema (for editors: `crmgate init` writes it as rules.schema.json).

    Regenerate the shipped copies with
    `crmgate rules schema > docs/rulebook.schema.json` and
    `crmgate rules schema > connector/project/templates/rules.schema.json`.
    """
    click.echo(rulebook_schema_json(), nl=False)


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
