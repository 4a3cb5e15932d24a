"""User-facing errors of the connector. Each carries a stable ``code`` and renders as structured JSON.

::

    CrmgateError          base: ``code``, ``message``, ``details``; ``to_dict()`` for the CLI's stderr
    ├── ConfigError       the configuration file is missing or wrong
    ├── ProposalError     a proposal is malformed (not a rule violation: it never reached the rules)
    ├── RollbackError     a rollback cannot be planned (unknown change, never applied...)
    ├── ApprovalError     an approval action is refused (unknown id...)
    ├── credentials.AccessError      a request refused for who sent it (401/403/429 in ``status``)
    ├── credentials.CredentialError  a credential cannot be created or revoked as asked
    ├── service.NotFound             an id unknown, or not one this credential may read
    └── mcp_server.ToolError         an MCP tool called with bad arguments, or an unknown tool

Rulebook errors are ``rules.RulebookError``; CRM errors are ``crmgate.adapters.errors.CRMError``; trail
errors are ``crmgate.trail.TrailStoreError``. The CLI renders all of them the same way.
"""
from __future__ import annotations

from typing import Any


class CrmgateError(Exception):
    code = "crmgate_error"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            out["details"] = self.details
        return out


class ConfigError(CrmgateError):
    code = "invalid_config"


class ProposalError(CrmgateError):
    code = "invalid_proposal"


class RollbackError(CrmgateError):
    code = "rollback_refused"


class ApprovalError(CrmgateError):
    code = "approval_refused"
