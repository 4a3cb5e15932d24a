"""The two generated reference pages of the documentation site, as Markdown.

``python -m crmgate.doors.cli.docgen cli`` prints the CLI reference (from the click command tree),
``... rulebook`` the rulebook reference (from the pydantic models' JSON Schema). The site's build hook
(``docs/hooks/gen_ref.py``) calls the same functions, so the pages never drift from the code.
"""
from __future__ import annotations

import inspect
import json
import sys
from typing import Any

import click

CLI_INTRO = """# CLI reference

Generated from the command tree on every build of this site (`python -m crmgate.doors.cli.docgen cli`
prints it). Every command also answers `--help`. For a tour of what the commands do together, see
[Using the CLI](../cli.md).
"""

RULEBOOK_INTRO = """# Rulebook reference

Generated from the rulebook's pydantic models (`crmgate.rules.schema.Rulebook`) on every build of this
site (`python -m crmgate.doors.cli.docgen rulebook` prints it). How the rulebook is applied is described
in [Concepts](../concepts.md#how-a-proposal-is-decided), [Approvals](../approvals.md) and
[Routing and enrichment](../routing.md). Unknown keys are refused everywhere unless a table says
otherwise.
"""


def _cell(text: str) -> str:
    """Text fit for one Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def _help_text(text: str | None) -> str:
    """click help as Markdown paragraphs (click's ``\\b`` no-rewrap marker dropped)."""
    lines = [line for line in inspect.cleandoc(text or "").splitlines() if line.strip() != "\b"]
    return "\n".join(lines).strip()


def _commands(cmd: click.Command, path: list[str]) -> list[tuple[list[str], click.Command]]:
    found = [(path, cmd)]
    if isinstance(cmd, click.Group):
        for name in sorted(cmd.commands):
            sub = cmd.commands[name]
            if not sub.hidden:
                found += _commands(sub, [*path, name])
    return found


def cli_reference(root: click.Command | None = None) -> str:
    """Markdown for every command of ``crmgate``: usage, help, arguments and options."""
    if root is None:
        from crmgate.doors.cli import cli as root
    out = [CLI_INTRO]
    for path, cmd in _commands(root, ["crmgate"]):
        ctx = click.Context(cmd, info_name=" ".join(path))  # usage then shows the full command path
        out.append(f"## {' '.join(path)}\n")
        out.append(f"```text\n{cmd.get_usage(ctx)}\n```\n")
        if cmd.help:
            out.append(_help_text(cmd.help) + "\n")
        args = [p for p in cmd.params if isinstance(p, click.Argument)]
        if args:
            out.append("Arguments: " + ", ".join(f"`{a.human_readable_name}`" + ("" if a.required else " (optional)")
                                                  for a in args) + ".\n")
        records = [rec for p in cmd.get_params(ctx) if isinstance(p, click.Option) and (rec := p.get_help_record(ctx))]
        if records:
            out.append("| option | meaning |\n|---|---|")
            out += [f"| `{_cell(opts)}` | {_cell(help_)} |" for opts, help_ in records]
            out.append("")
        if isinstance(cmd, click.Group):
            subs = [n for n in sorted(cmd.commands) if not cmd.commands[n].hidden]
            out.append("Commands: " + ", ".join(
                f"[`{n}`](#{'-'.join([*path, n]).lower()})" for n in subs) + ".\n")
    return "\n".join(out)


def _type(schema: dict[str, Any]) -> str:
    """A short human rendering of one JSON Schema node, with links to the models it names."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    if "const" in schema:
        return f"`{json.dumps(schema['const'])}`"
    if "enum" in schema:
        return "one of " + ", ".join(f"`{v}`" for v in schema["enum"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"]
            text = " or ".join(_type(s) for s in options)
            return text + (" or null" if len(options) < len(schema[key]) else "")
    kind = schema.get("type")
    if kind == "array":
        return f"list of {_type(schema.get('items', {}))}"
    if kind == "object":
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            return f"map of name to {_type(extra)}"
        return "mapping"
    return str(kind or "any")


_LIMITS = {"minLength": "at least {} characters", "maxLength": "at most {} characters", "minimum": "≥ {}",
           "maximum": "≤ {}", "exclusiveMinimum": "> {}", "exclusiveMaximum": "< {}", "minItems": "at least {} item(s)",
           "maxItems": "at most {} items", "minProperties": "at least {} entries", "pattern": "matches `{}`"}


def _limits(schema: dict[str, Any]) -> list[str]:
    found = [text.format(schema[key]) for key, text in _LIMITS.items() if key in schema]
    found = ["not empty" if text in ("at least 1 characters", "at least 1 entries") else text for text in found]
    for option in schema.get("anyOf", []):
        found += _limits(option)
    return found


def _model_table(model: dict[str, Any]) -> list[str]:
    props: dict[str, Any] = model.get("properties", {})
    if not props:
        return []
    required = set(model.get("required", []))
    rows = ["| key | type | required | default | notes |", "|---|---|---|---|---|"]
    for name, prop in props.items():
        default = f"`{json.dumps(prop['default'])}`" if "default" in prop else ""
        notes = "; ".join([*_limits(prop), *([prop["description"]] if "description" in prop else [])])
        rows.append(f"| `{name}` | {_cell(_type(prop))} | {'yes' if name in required else ''} | {_cell(default)} "
                    f"| {_cell(notes)} |")
    return rows


def rulebook_reference(schema: dict[str, Any] | None = None) -> str:
    """Markdown for the rulebook: the top level, then every model it is built from, alphabetically."""
    if schema is None:
        from crmgate.rules.schema import Rulebook
        schema = Rulebook.model_json_schema()
    out = [RULEBOOK_INTRO, "## Rulebook\n", "The top level of `rules.yaml`.\n", *_model_table(schema), ""]
    for name, model in sorted(schema.get("$defs", {}).items()):
        out.append(f"## {name}\n")
        if model.get("description"):
            out.append(_cell(model["description"]) + "\n")
        table = _model_table(model)
        out += [*table, ""] if table else [f"Type: {_cell(_type(model))}.\n"]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """``cli`` or ``rulebook``: print that reference page to stdout."""
    args = sys.argv[1:] if argv is None else argv
    pages = {"cli": cli_reference, "rulebook": rulebook_reference}
    if len(args) != 1 or args[0] not in pages:
        print("usage: python -m crmgate.doors.cli.docgen cli|rulebook", file=sys.stderr)
        return 2
    sys.stdout.write(pages[args[0]]())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
