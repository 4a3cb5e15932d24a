"""``crmgate init``: a working project directory in one step."""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from crmgate.config import starter_config
from crmgate.errors import ConfigError
from crmgate.trail import TrailStore, generate_keypair

FILES = ("crmgate.yaml", "rules.yaml", "rules.schema.json", "trail.key", "trail.pub", "sandbox.db", "trail.db")
#: the first line of an initialised rules.yaml: editors with the YAML language server (VS Code's YAML
#: extension, Neovim, Helix...) validate and complete the file against the schema written beside it
SCHEMA_MODELINE = "# yaml-language-server: $schema=rules.schema.json\n"


def example_rulebook() -> str:
    """The example rulebook shipped with crmgate (the one the README describes)."""
    return files("crmgate.project").joinpath("templates/rules.yaml").read_text(encoding="utf-8")


def rulebook_schema_text() -> str:
    """The rulebook's JSON Schema as shipped (``crmgate rules schema`` prints the same; a test keeps them equal)."""
    return files("crmgate.project").joinpath("templates/rules.schema.json").read_text(encoding="utf-8")


def routing_example(provider: str = "sample-firmographics") -> str:
    """The example routing and enrichment sections, with a provider that works offline."""
    text = files("crmgate.project").joinpath("templates/routing-example.yaml").read_text(encoding="utf-8")
    return text.replace("provider: firmographics ", f"provider: {provider} ")


def init_project(directory: Path, *, seed: bool = True, with_routing: bool = False) -> list[str]:
    """Write config, rulebook, trail key pair, an empty trail and a seeded sandbox; never overwrite."""
    from crmgate.adapters.sandbox.adapter import SandboxAdapter
    from crmgate.adapters.sandbox.sample_data import seed_sample

    directory.mkdir(parents=True, exist_ok=True)
    existing = [name for name in FILES if (directory / name).exists()]
    if existing:
        raise ConfigError(f"{directory} already holds {', '.join(existing)}; refusing to overwrite",
                          code="already_initialised", details={"existing": existing})
    (directory / "crmgate.yaml").write_text(starter_config(), encoding="utf-8")
    rules = SCHEMA_MODELINE + example_rulebook() + ("\n" + routing_example() if with_routing else "")
    (directory / "rules.yaml").write_text(rules, encoding="utf-8")
    # a local copy, not a URL: the editor validates offline and against this installed version
    (directory / "rules.schema.json").write_text(rulebook_schema_text(), encoding="utf-8")
    generate_keypair(directory / "trail.key", directory / "trail.pub")
    TrailStore(f"sqlite:///{(directory / 'trail.db').resolve()}").close()  # an empty trail, verifiable
    sandbox = SandboxAdapter(directory / "sandbox.db")
    try:
        if seed:
            seed_sample(sandbox)
    finally:
        sandbox.close()
    return list(FILES)
