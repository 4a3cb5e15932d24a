"""The ``crmgate`` command line: one module per area, registered on the group in ``base``.

Part of the doors: may import anything in crmgate.
"""
from crmgate.doors.cli import (  # noqa: F401  # noqa: F401
    approvals_cmds,
    check_cmds,
    core,
    report_cmds,
    rollback_cmds,
    routing_cmds,
    reconcile_cmds,
    rules_cmds,
    serve_cmds,
    tokens_cmds,
    trail_cmds,
)
from crmgate.doors.cli.base import cli, main

__all__ = ["cli", "main"]
