"""Salesforce settings and credentials: validated once, secrets only from the environment.

``crm:`` keys (all but ``instance_url`` optional)::

    instance_url: https://acme.my.salesforce.com   # http:// only for a loopback fake
    api_version: "59.0"
    domain: login                    # login | test: where username/password and JWT log in
    objects: [Account, Contact, Lead, Opportunity]
    fields: {Lead: [LastName, Company]}   # before-image fields; default: every writable field
    idempotency_field: Crmgate_Key__c     # External ID field for idempotent creates (upsert)
    batch_check: recent              # recent | reread  (see adapters/salesforce.py)
    max_check_age: 2.0               # seconds a before-image read counts as the check
    concurrency: 4                   # API calls of one adapter call in flight at once (1: one by one)
    timeout: 30
    retry: {attempts: 5, initial: 0.5, maximum: 30, jitter: 0.25, max_retry_after: 120}
    credentials_env: {session_id: SALESFORCE_SESSION_ID, ...}   # NAMES of env variables

Credentials: a session id, or username + password + security token, or username + consumer
key + private key file (JWT). They are read from the environment variables named in
``credentials_env`` (defaults below), never from the file, and never appear in a message or repr.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import requests

from crmgate.adapters.errors import AdapterConfigError
from crmgate.adapters.retry import RetryPolicy

DEFAULT_OBJECTS = ("Account", "Contact", "Lead", "Opportunity")
DEFAULT_ENV = {
    "session_id": "SALESFORCE_SESSION_ID",
    "username": "SALESFORCE_USERNAME",
    "password": "SALESFORCE_PASSWORD",
    "security_token": "SALESFORCE_SECURITY_TOKEN",
    "consumer_key": "SALESFORCE_CONSUMER_KEY",
    "private_key_file": "SALESFORCE_PRIVATE_KEY_FILE",
}
KNOWN_KEYS = frozenset({"instance_url", "api_version", "domain", "objects", "fields", "idempotency_field",
                        "batch_check", "max_check_age", "concurrency", "timeout", "retry", "credentials_env"})
#: requests keeps at most 10 connections per host by default; more lanes would just queue there
MAX_CONCURRENCY = 10
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Credentials:
    """One of the three login methods; secrets are excluded from ``repr``."""

    method: str  # session | password | jwt
    session_id: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    security_token: str | None = field(default=None, repr=False)
    consumer_key: str | None = field(default=None, repr=False)
    private_key_file: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str], names: Mapping[str, str]) -> Credentials:
        got = {key: (env.get(var) or None) for key, var in names.items()}
        if got["session_id"]:
            return cls("session", session_id=got["session_id"])
        if got["username"] and got["password"] and got["security_token"] is not None:
            return cls("password", username=got["username"], password=got["password"],
                       security_token=got["security_token"])
        if got["username"] and got["consumer_key"] and got["private_key_file"]:
            return cls("jwt", username=got["username"], consumer_key=got["consumer_key"],
                       private_key_file=got["private_key_file"])
        raise AdapterConfigError(
            "no Salesforce credentials in the environment: set "
            f"{names['session_id']}, or {names['username']} + {names['password']} + "
            f"{names['security_token']}, or {names['username']} + {names['consumer_key']} + "
            f"{names['private_key_file']}",
            code="missing_credentials", details={"variables": sorted(names.values())})

    def client_kwargs(self) -> dict[str, Any]:
        if self.method == "session":
            return {"session_id": self.session_id}
        if self.method == "password":
            return {"username": self.username, "password": self.password,
                    "security_token": self.security_token}
        return {"username": self.username, "consumer_key": self.consumer_key,
                "privatekey_file": self.private_key_file}


@dataclass(frozen=True)
class Settings:
    instance_url: str
    api_version: str = "59.0"
    domain: str = "login"
    objects: tuple[str, ...] = DEFAULT_OBJECTS
    fields: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    idempotency_field: str | None = None
    batch_check: str = "recent"
    max_check_age: float = 2.0
    concurrency: int = 4
    timeout: float = 30.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    env_names: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_ENV))

    @property
    def loopback(self) -> bool:
        return urlparse(self.instance_url).scheme == "http"


def _fail(key: str, expected: str, got: Any) -> AdapterConfigError:
    shown = repr(got) if not isinstance(got, (dict, list)) else type(got).__name__
    return AdapterConfigError(f"salesforce setting {key}: expected {expected}; got {shown}",
                              code="invalid_crm_config", details={"setting": key})


def parse_settings(raw: Mapping[str, Any]) -> Settings:
    """Validate the ``crm:`` mapping (minus ``kind``); every problem is an AdapterConfigError."""
    if not isinstance(raw, Mapping):
        raise _fail("crm", "a mapping", raw)
    unknown = sorted(set(raw) - KNOWN_KEYS)
    if unknown:
        raise AdapterConfigError(f"unknown salesforce setting(s) {unknown}; known: {sorted(KNOWN_KEYS)}",
                                 code="invalid_crm_config", details={"unknown": unknown})
    url = raw.get("instance_url")
    if not isinstance(url, str) or not url.strip():
        raise _fail("instance_url", "the org URL, e.g. https://acme.my.salesforce.com", url)
    parsed = urlparse(url.strip())
    if parsed.scheme not in ("https", "http") or not parsed.hostname:
        raise _fail("instance_url", "an https:// URL", url)
    if parsed.scheme == "http" and parsed.hostname not in LOOPBACK_HOSTS:
        raise _fail("instance_url", "https:// (plain http is only for a loopback fake on 127.0.0.1)", url)
    version = raw.get("api_version", "59.0")
    if isinstance(version, (int, float)) and not isinstance(version, bool):
        version = f"{float(version):.1f}"
    if not isinstance(version, str) or not re.fullmatch(r"\d{2,3}\.0", version):
        raise _fail("api_version", 'a version string like "59.0"', version)
    domain = raw.get("domain", "login")
    if not isinstance(domain, str) or not re.fullmatch(r"[A-Za-z0-9.-]+", domain):
        raise _fail("domain", "login, test or a My Domain prefix", domain)
    objects = raw.get("objects", list(DEFAULT_OBJECTS))
    if not isinstance(objects, list) or not objects or not all(isinstance(o, str) and _NAME.match(o) for o in objects):
        raise _fail("objects", "a non-empty list of sObject API names", objects)
    fields = raw.get("fields", {})
    if not isinstance(fields, Mapping) or not all(
            isinstance(v, list) and v and all(isinstance(f, str) and _NAME.match(f) for f in v) for v in fields.values()):
        raise _fail("fields", "a mapping of object -> non-empty list of field API names", fields)
    idem = raw.get("idempotency_field")
    if idem is not None and (not isinstance(idem, str) or not _NAME.match(idem)):
        raise _fail("idempotency_field", "the API name of an External ID text field", idem)
    check = raw.get("batch_check", "recent")
    if check not in ("recent", "reread"):
        raise _fail("batch_check", "recent or reread", check)
    age = _number(raw, "max_check_age", 2.0, minimum=0.0)
    lanes = raw.get("concurrency", 4)
    if isinstance(lanes, bool) or not isinstance(lanes, int) or not 1 <= lanes <= MAX_CONCURRENCY:
        raise _fail("concurrency", f"a whole number from 1 (one call at a time) to {MAX_CONCURRENCY}", lanes)
    timeout = _number(raw, "timeout", 30.0, minimum=0.001)
    retry = _retry_policy(raw.get("retry", {}))
    names = raw.get("credentials_env", {})
    if not isinstance(names, Mapping) or set(names) - set(DEFAULT_ENV) or not all(
            isinstance(v, str) and v for v in names.values()):
        raise _fail("credentials_env", f"a mapping from {sorted(DEFAULT_ENV)} to variable names", names)
    return Settings(instance_url=url.strip().rstrip("/"), api_version=version, domain=domain,
                    objects=tuple(objects), fields={k: tuple(v) for k, v in fields.items()},
                    idempotency_field=idem, batch_check=check, max_check_age=age, concurrency=lanes, timeout=timeout,
                    retry=retry, env_names={**DEFAULT_ENV, **names})


def _number(raw: Mapping[str, Any], key: str, default: float, *, minimum: float) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise _fail(key, f"a number >= {minimum}", value)
    return float(value)


def _retry_policy(raw: Any) -> RetryPolicy:
    if not isinstance(raw, Mapping):
        raise _fail("retry", "a mapping", raw)
    allowed = {"attempts", "initial", "maximum", "jitter", "max_retry_after"}
    if set(raw) - allowed:
        raise _fail("retry", f"keys among {sorted(allowed)}", sorted(set(raw) - allowed))
    values = {k: _number(raw, k, 0, minimum=0.0) for k in raw}
    if "attempts" in values:
        if values["attempts"] < 1 or values["attempts"] != int(values["attempts"]):
            raise _fail("retry.attempts", "a whole number >= 1", raw["attempts"])
        values["attempts"] = int(values["attempts"])
    return RetryPolicy(**values)


class LoopbackSession(requests.Session):
    """simple-salesforce builds every URL as ``https://host/...``; a loopback fake speaks plain
    HTTP, so this session rewrites ``https://<loopback host:port>`` to ``http://``. Nothing else."""

    def __init__(self, netloc: str) -> None:
        super().__init__()
        self._https, self._http = f"https://{netloc}/", f"http://{netloc}/"

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        if isinstance(url, str) and url.startswith(self._https):
            url = self._http + url[len(self._https):]
        return super().request(method, url, *args, **kwargs)
