"""The rulebook's editor schema: generated from the models, shipped in sync, and it accepts every
example rulebook the project ships while refusing a misspelled risk tier."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from crmgate.doors.cli import cli
from crmgate.doors.cli.rules_cmds import rulebook_schema, rulebook_schema_json
from crmgate.project.scaffold import SCHEMA_MODELINE, example_rulebook, routing_example, rulebook_schema_text
from crmgate.rules.loader import RulebookError, parse_rulebook
from tests.routing.conftest import routing_text

ROOT = Path(__file__).resolve().parents[2]
REGENERATE = "crmgate rules schema > {}"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = rulebook_schema()
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def _test_rulebooks() -> list[tuple[str, str]]:
    """Every string in tests/ that the loader accepts as a rulebook, named by file and line."""
    found = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and "version: 1\n" in node.value:
                try:
                    parse_rulebook(node.value)
                except RulebookError:
                    continue  # a deliberately broken one: the loader's tests own it
                found.append((f"{path.relative_to(ROOT)}:{node.lineno}", node.value))
    return found


TEST_RULEBOOKS = _test_rulebooks()
SHIPPED = {"templates/rules.yaml": example_rulebook(),
           "templates/rules.yaml + routing-example.yaml": example_rulebook() + "\n" + routing_example(),
           "tests/routing: routing_text()": routing_text(),
           **dict(TEST_RULEBOOKS)}


@pytest.mark.parametrize("copy", ["docs/rulebook.schema.json", "connector/project/templates/rules.schema.json"])
def test_the_committed_copies_match_the_models(copy: str) -> None:
    """docs/ and the copy `crmgate init` writes equal the schema generated from the models now."""
    assert (ROOT / copy).read_text(encoding="utf-8") == rulebook_schema_json(), \
        f"stale: run `{REGENERATE.format(copy)}`"


def test_rules_schema_prints_a_json_schema_with_its_identity() -> None:
    """`crmgate rules schema` prints the schema: draft-07, an $id and a title, strict about unknown keys."""
    out = CliRunner().invoke(cli, ["rules", "schema"])
    assert out.exit_code == 0, out.output
    schema = json.loads(out.output)
    assert schema == rulebook_schema()
    assert (schema["$schema"], schema["$id"], schema["title"]) == (
        "http://json-schema.org/draft-07/schema#", "urn:crmgate:rulebook:1", "crmgate rulebook")
    assert schema["required"] == ["version", "objects", "risk"] and schema["additionalProperties"] is False


def test_the_test_suite_ships_rulebooks_to_check() -> None:
    """The collection below really finds the rulebooks in tests/ (hubspot, risk, use cases, decisions...)."""
    assert len(TEST_RULEBOOKS) >= 6, [name for name, _ in TEST_RULEBOOKS]


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_every_shipped_rulebook_validates(validator: jsonschema.Draft7Validator, name: str) -> None:
    """The templates and every rulebook the loader accepts in tests/ pass the schema (no false alarms in editors)."""
    errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
              for e in validator.iter_errors(yaml.safe_load(SHIPPED[name]))]
    assert errors == []


@pytest.mark.parametrize(("old", "new", "where"), [
    ("- {op: delete, tier: critical}", "- {op: delete, tier: critcal}", "tier"),
    ("  default: low\n", "  default: lwo\n", "default"),
    ("tiers: {low: apply,", "tiers: {lwo: apply,", "tiers"),
])
def test_a_misspelled_risk_tier_is_refused(validator: jsonschema.Draft7Validator, old: str, new: str,
                                           where: str) -> None:
    """A risk tier spelled wrong (in a rule, the default, or the tier map) fails the schema, at its path."""
    text = example_rulebook()
    assert old in text
    errors = list(validator.iter_errors(yaml.safe_load(text.replace(old, new))))
    assert errors and all(e.absolute_path[0] == "risk" for e in errors)
    assert any(where in e.absolute_path or where in e.message for e in errors), [e.message for e in errors]


def test_init_points_rules_yaml_at_a_local_schema(tmp_path: Path) -> None:
    """init's rules.yaml starts with the language server's modeline, naming the schema file written beside it."""
    out = CliRunner().invoke(cli, ["init", str(tmp_path / "p")])
    assert out.exit_code == 0, out.output
    rules = (tmp_path / "p" / "rules.yaml").read_text(encoding="utf-8")
    assert rules.splitlines()[0] == "# yaml-language-server: $schema=rules.schema.json" == SCHEMA_MODELINE.strip()
    assert (tmp_path / "p" / "rules.schema.json").read_text(encoding="utf-8") == rulebook_schema_text()
    assert "rules.schema.json" in json.loads(out.output)["files"]
    parse_rulebook(rules)  # the modeline is a comment: the rulebook still loads
