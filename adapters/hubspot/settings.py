"""The ``crm: {kind: hubspot, ...}`` settings, validated; the token comes from the environment.

::

    crm:
      kind: hubspot
      host: https://api.hubapi.com          # a loopback fake in tests
      token_env: HUBSPOT_TOKEN              # the variable holding the private-app token
      rate_limit: {requests: 190, per_seconds: 10, margin_s: 0.5}   # the app's window, see calls.py
      max_inflight: 8                        # calls in flight at once (within the window)
      retry: {attempts: 5, initial: 0.5, maximum: 30, max_retry_after: 120}
      timeout: 30                            # seconds per HTTP call
      recheck_after: 15                      # re-read before writing when the before-image is older
      verify: response                       # or: history (reads property history after writing)
      idempotency_property: crmgate_idempotency_key   # null: no key property on creates
      properties: {deals: [my_custom_prop]}  # read in addition to the defaults
      number_properties: {deals: [my_number]}

Every problem is an :class:`~crmgate.adapters.errors.AdapterConfigError` naming the setting; the token's
value never appears in a message.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from crmgate.adapters.errors import AdapterConfigError

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PROP_NAME = re.compile(r"^[a-z0-9_]+$")


class RateLimitSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    requests: int = Field(default=190, ge=1, le=100_000)
    per_seconds: float = Field(default=10.0, gt=0, le=86_400)
    #: seconds the window is held longer than HubSpot's: a call is counted when sent, HubSpot counts it on arrival
    margin_s: float = Field(default=0.5, ge=0, le=60)


class RetrySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    attempts: int = Field(default=5, ge=1, le=20)
    initial: float = Field(default=0.5, ge=0)
    maximum: float = Field(default=30.0, ge=0)
    jitter: float = Field(default=0.25, ge=0)
    max_retry_after: float = Field(default=120.0, ge=0)


class HubSpotSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    host: str = "https://api.hubapi.com"
    token_env: str = "HUBSPOT_TOKEN"
    rate_limit: RateLimitSettings = RateLimitSettings()
    retry: RetrySettings = RetrySettings()
    timeout: float = Field(default=30.0, gt=0, le=600)
    max_inflight: int = Field(default=8, ge=1, le=32)
    recheck_after: float = Field(default=15.0, ge=0)
    verify: Literal["response", "history"] = "response"
    idempotency_property: str | None = "crmgate_idempotency_key"
    properties: dict[str, list[str]] = Field(default_factory=dict)
    number_properties: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+(:\d+)?/?$", value):
            raise ValueError("must be a scheme and host such as https://api.hubapi.com")
        return value.rstrip("/")

    @field_validator("token_env")
    @classmethod
    def _env(cls, value: str) -> str:
        if not _ENV_NAME.match(value):
            raise ValueError("must be an environment variable name such as HUBSPOT_TOKEN")
        return value

    @field_validator("idempotency_property")
    @classmethod
    def _idem(cls, value: str | None) -> str | None:
        if value is not None and not _PROP_NAME.match(value):
            raise ValueError("must be a HubSpot property name (lowercase letters, digits, _)")
        return value

    @field_validator("properties", "number_properties")
    @classmethod
    def _props(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for obj, names in value.items():
            if obj not in ("contacts", "companies", "deals"):
                raise ValueError(f"unknown object {obj!r} (contacts, companies, deals)")
            bad = [n for n in names if not _PROP_NAME.match(n)]
            if bad:
                raise ValueError(f"{obj}: not HubSpot property names: {bad}")
        return value


def parse_settings(settings: Mapping[str, Any], env: Mapping[str, str]) -> tuple[HubSpotSettings, str]:
    """Validated settings and the token read from ``env[token_env]``."""
    if not isinstance(settings, Mapping):
        raise AdapterConfigError("hubspot settings must be a mapping")
    for secret in ("token", "access_token", "api_key", "private_app_token"):
        if secret in settings:
            raise AdapterConfigError(
                f"{secret}: never put the token in the configuration; set token_env to the name of "
                "the environment variable that holds it", details={"setting": secret})
    try:
        parsed = HubSpotSettings.model_validate(dict(settings))
    except ValidationError as exc:
        problems = [{"path": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
        first = problems[0]
        raise AdapterConfigError(f"hubspot setting {first['path']}: {first['message']}",
                                 details={"problems": problems}) from None
    token = env.get(parsed.token_env, "")
    if not isinstance(token, str) or not token.strip():
        raise AdapterConfigError(
            f"the environment variable {parsed.token_env} (crm.token_env) is not set: it must hold "
            "the HubSpot private-app token", code="missing_credentials", details={"token_env": parsed.token_env})
    return parsed, token.strip()
