"""The ``crmgate`` command line: one module per area, registered on the group in ``base``."""
from connector.cli import approvals_cmds, core, report_cmds, rollback_cmds, rules_cmds, trail_cmds  # noqa: F401
from connector.cli import routing_cmds, serve_cmds, tokens_cmds  # noqa: F401
from connector.cli.base import cli, main

__all__ = ["cli", "main"]
