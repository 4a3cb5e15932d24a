"""Configuration: where the CRM, the store, the rulebook and the trail key are.

Resolution order for the file: ``--config PATH``, else ``$CRMGATE_CONFIG``, else ``./crmgate.yaml``.
Relative paths inside the file (sandbox path, rules, key files, ``sqlite:///`` URLs) are resolved
against the directory of the config file, so a config works wherever it is invoked from.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crmgate.errors import ConfigError

DEFAULT_FILE = "crmgate.yaml"
ENV_VAR = "CRMGATE_CONFIG"


class SandboxCRM(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["sandbox"]
    path: str = "sandbox.db"


class VendorCRM(BaseModel):
    """Salesforce or HubSpot: the adapter validates its own keys (``from_settings``). Credentials
    never live here: only the names of the environment variables that hold them."""

    model_config = ConfigDict(extra="allow", frozen=True)
    kind: Literal["salesforce", "hubspot"]

    def settings(self) -> dict[str, Any]:
        return self.model_dump(exclude={"kind"})


class HttpProvider(BaseModel):
    """An enrichment provider reached over HTTP: POST {object, record} -> JSON object of values.
    Header values are read from the environment variables named in ``headers_env``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    url: str = Field(pattern=r"^https?://")
    timeout_s: float = Field(default=10.0, gt=0)
    headers_env: dict[str, str] = Field(default_factory=dict)

    def headers(self, env: Mapping[str, str]) -> dict[str, str]:
        missing = [v for v in self.headers_env.values() if v not in env]
        if missing:
            raise ConfigError(f"providers: environment variable(s) {', '.join(missing)} not set")
        return {h: env[v] for h, v in self.headers_env.items()}


class ApprovalSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    ttl_hours: float = Field(default=72, gt=0)


class RecoverySettings(BaseModel):
    """After a crash: writes in flight longer than ``grace_s`` seconds are taken as orphaned. With
    ``on_start`` (the default) every start of crmgate reconciles them; a repeat of an orphan's key
    reconciles it first in any case. Writes younger than ``grace_s`` answer ``in_progress``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    on_start: bool = True
    grace_s: float = Field(default=60, ge=0)


class ServerSettings(BaseModel):
    """The HTTP API and MCP server: each credential's request limit (``rate_limit`` requests per
    ``rate_window_s``, unless the credential sets its own), the most proposals in one request, the
    largest request body, and how many unknown or revoked tokens one client may send per window."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    rate_limit: int = Field(default=120, ge=1)
    rate_window_s: float = Field(default=60, gt=0)
    max_proposals: int = Field(default=1000, ge=1, le=10000)
    max_body_mb: float = Field(default=10, gt=0)
    failed_auth_limit: int = Field(default=30, ge=1)


class BudgetSettings(BaseModel):
    """Where the CRM budget (rate windows, spent-allowance stops) and the server's request quotas
    are kept, so every worker of one store shares them: ``store`` (the trail store's own database
    when it is PostgreSQL; this process otherwise), ``memory`` (this process only) or a
    ``redis://host:port/db`` URL. ``trip_s``: how long a spent daily allowance stops every worker."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    storage: str = Field(default="store", pattern=r"^(store|memory|rediss?://\S+)$")
    trip_s: float = Field(default=3600, gt=0)


class Webhook(BaseModel):
    """One notification target: ``format`` ``slack`` (incoming-webhook JSON) or ``generic`` (a JSON
    body signed with HMAC-SHA256 in ``X-Crmgate-Signature``, keyed by the variable ``secret_env``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    url: str = Field(pattern=r"^https?://")
    format: Literal["slack", "generic"] = "generic"
    secret_env: str | None = None
    events: list[Literal["queued", "approved", "rejected", "expired", "conflict", "rolled_back"]] | None = None
    timeout_s: float = Field(default=5.0, gt=0)


class NotifySettings(BaseModel):
    """Webhooks told about queued and resolved changes; ``console_url`` makes each event's link."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    console_url: str = "http://127.0.0.1:8080"
    webhooks: list[Webhook] = Field(default_factory=list)
    retries: int = Field(default=5, ge=0, le=20)
    #: hosts an agent's ``callback_url`` may point to (exact host names, or host:port); empty: none
    callback_hosts: list[str] = Field(default_factory=list)
    #: the variable holding the secret that signs callbacks (generic JSON, HMAC-SHA256)
    callback_secret_env: str | None = None


class Config(BaseModel):
    """A validated configuration with absolute paths."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    crm: SandboxCRM | VendorCRM = Field(discriminator="kind")
    store: str = "sqlite:///trail.db"
    rules: str = "rules.yaml"
    trail_key_file: str | None = "trail.key"
    trail_public_key_file: str | None = None
    approvals: ApprovalSettings = ApprovalSettings()
    recovery: RecoverySettings = RecoverySettings()
    providers: dict[str, HttpProvider] = Field(default_factory=dict)
    server: ServerSettings = ServerSettings()
    budget: BudgetSettings = BudgetSettings()
    notify: NotifySettings = NotifySettings()
    #: the directory the relative paths were resolved against
    base_dir: str = "."

    @property
    def public_key_path(self) -> Path:
        if self.trail_public_key_file:
            return Path(self.trail_public_key_file)
        if self.trail_key_file:
            return Path(self.trail_key_file).with_suffix(".pub")
        raise ConfigError("no trail_public_key_file (or trail_key_file beside it) is configured")


def find_config_path(explicit: str | os.PathLike[str] | None = None,
                     env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if explicit:
        return Path(explicit)
    if env.get(ENV_VAR):
        return Path(env[ENV_VAR])
    return Path(DEFAULT_FILE)


def load_config(explicit: str | os.PathLike[str] | None = None,
                env: Mapping[str, str] | None = None) -> Config:
    """Read, validate and resolve the configuration; raise :class:`ConfigError` on any problem."""
    path = find_config_path(explicit, env)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path} (run `crmgate init` or pass --config)",
                          details={"source": str(path)}) from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}",
                          details={"source": str(path)}) from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}", details={"source": str(path)}) from exc
    try:
        return parse_config(raw, source=str(path), base_dir=path.resolve().parent)
    except RecursionError:
        raise ConfigError(f"{path}: a YAML alias refers to itself", details={"source": str(path)}) from None


def parse_config(raw: Any, *, source: str = "<config>", base_dir: Path | None = None) -> Config:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level", details={"source": source})
    base = (base_dir or Path.cwd()).resolve()
    try:
        cfg = Config.model_validate({**raw, "base_dir": str(base)})
    except ValidationError as exc:
        problems = [{"path": ".".join(str(p) for p in err["loc"]), "message": err["msg"]}
                    for err in exc.errors()]
        first = problems[0]
        raise ConfigError(f"{source}: {first['path']}: {first['message']}",
                          details={"source": source, "problems": problems}) from None
    scheme = cfg.store.split("://", 1)[0].split("+", 1)[0] if "://" in cfg.store else ""
    if scheme not in ("sqlite", "postgresql", "postgres"):
        raise ConfigError(f"{source}: store: expected a sqlite:/// or postgresql:// URL; got {scheme or cfg.store!r}",
                          details={"source": source, "problems": [{"path": "store", "message": "unsupported URL"}]})
    crm = cfg.crm
    if isinstance(crm, SandboxCRM):
        crm = crm.model_copy(update={"path": _resolve(base, crm.path)})
    return cfg.model_copy(update={
        "crm": crm,
        "store": resolve_store_url(base, cfg.store),
        "rules": _resolve(base, cfg.rules),
        "trail_key_file": _resolve(base, cfg.trail_key_file) if cfg.trail_key_file else None,
        "trail_public_key_file": (_resolve(base, cfg.trail_public_key_file)
                                  if cfg.trail_public_key_file else None),
    })


def _resolve(base: Path, value: str) -> str:
    if value == ":memory:":
        return value
    p = Path(value).expanduser()
    return str(p if p.is_absolute() else base / p)


def resolve_store_url(base: Path, url: str) -> str:
    """Make a relative ``sqlite:///file`` URL absolute; leave other URLs alone."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != "sqlite://":
        return prefix + _resolve(base, url[len(prefix):])
    return url


def starter_config() -> str:
    """The ``crmgate.yaml`` that ``crmgate init`` writes."""
    return (
        "# crmgate configuration. Relative paths are relative to this file.\n"
        "crm: {kind: sandbox, path: sandbox.db}\n"
        "store: sqlite:///trail.db        # or postgresql://user@host/db for several workers\n"
        "rules: rules.yaml\n"
        "trail_key_file: trail.key        # Ed25519 private key; or set CRMGATE_TRAIL_KEY\n"
        "trail_public_key_file: trail.pub # all `crmgate trail verify` needs\n"
        "approvals: {ttl_hours: 72}\n"
    )
