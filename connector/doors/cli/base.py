"""The ``crmgate`` command line. Every command has ``--help``.

Exit codes: 0 success (for ``propose``: every proposal got an outcome, whatever its status);
1 the operation ran and failed (``trail verify`` found tampering, the CRM refused a call);
2 bad input (malformed proposal, rulebook or config; unknown change; click's usage errors such
as a missing option or a bad choice) — nothing was written.
Errors go to stderr as one JSON object: ``{"error": {"code", "message", "details"?}}``.
"""
from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any

import click

from crmgate.adapters.errors import CRMError
from crmgate.config import load_config
from crmgate.doors.cli.errors import JsonErrorGroup
from crmgate.errors import CrmgateError
from crmgate.rules.loader import RulebookError
from crmgate.trail import KeyFileError, TrailStoreError

USER_ERRORS = (CrmgateError, RulebookError, KeyFileError)


def _emit_error(err: dict[str, Any], code: int) -> None:
    click.echo(json.dumps({"error": err}, ensure_ascii=False, default=str), err=True)
    sys.exit(code)


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Render known errors as structured JSON on stderr instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except USER_ERRORS as exc:
            _emit_error(exc.to_dict(), 2)
        except CRMError as exc:
            _emit_error(exc.to_dict(), 1)
        except TrailStoreError as exc:
            _emit_error(exc.to_dict(), 1)

    return wrapper


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


class Ctx:
    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path

    def config(self):
        return load_config(self.config_path)

    def gate(self):
        from crmgate.gate import Gate

        return Gate.from_config(self.config())


pass_ctx = click.make_pass_decorator(Ctx)


@click.group(cls=JsonErrorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="Config file (default: $CRMGATE_CONFIG, else ./crmgate.yaml).")
@click.version_option(package_name="crmgate")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """crmgate: the governed door between AI workflows and your CRM.

    Proposals are validated against a rulebook, tiered by risk, written reversibly and recorded in a
    signed, hash-chained change trail.
    """
    ctx.obj = Ctx(config_path)


def parse_assignments(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``FIELD=VALUE``: VALUE is read as JSON when it parses (numbers, null, true), else as text."""
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"expected FIELD=VALUE, got {pair!r}")
        try:
            out[name] = json.loads(raw)
        except json.JSONDecodeError:
            out[name] = raw
    return out


def configure_logging() -> None:
    """Logs go to stderr as key=value lines: stdout carries only the command's JSON."""
    import logging

    import structlog

    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.TimeStamper(fmt="iso"),
                    # plain tracebacks: a renderer that prints frame locals would print bearer tokens
                    structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )


def main() -> None:
    configure_logging()
    cli(prog_name="crmgate")
