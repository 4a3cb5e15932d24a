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
    def __init__(self, config_path: str | None, log_settings: tuple[str, str] | None = None) -> None:
        self.config_path = config_path
        self.log_settings = log_settings  # (format, level) when this run configured logging

    def config(self):
        return load_config(self.config_path)

    def gate(self):
        from crmgate.gate import Gate

        return Gate.from_config(self.config())


pass_ctx = click.make_pass_decorator(Ctx)


#: ``main`` passes this as the context object: run as the program, the group configures logging
#: (an in-process ``cli`` call, as in tests, leaves the host's logging alone unless asked)
RUN_AS_PROGRAM = object()


@click.group(cls=JsonErrorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="Config file (default: $CRMGATE_CONFIG, else ./crmgate.yaml).")
@click.option("--log-format", type=click.Choice(["json", "console"], case_sensitive=False), default=None,
              help="Logs on stderr: one JSON object a line, or key=value lines "
                   "(default: $CRMGATE_LOG_FORMAT, else console on a terminal and json otherwise).")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
              default=None, help="Least severe level logged (default: $CRMGATE_LOG_LEVEL, else info).")
@click.version_option(package_name="crmgate")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, log_format: str | None, log_level: str | None) -> None:
    """crmgate: the governed door between AI workflows and your CRM.

    Proposals are validated against a rulebook, tiered by risk, written reversibly and recorded in a
    signed, hash-chained change trail. Logs go to stderr; stdout carries only the command's output.
    """
    settings = None
    if ctx.obj is RUN_AS_PROGRAM or log_format or log_level:
        from crmgate.doors.logs import configure_logging as _configure

        settings = _configure(log_format, log_level)
    ctx.obj = Ctx(config_path, settings)


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


def configure_logging(fmt: str | None = None, level: str | None = None) -> None:
    """Logs go to stderr (see :mod:`crmgate.doors.logs`): stdout carries only the command's JSON."""
    from crmgate.doors.logs import configure_logging as _configure

    _configure(fmt, level)


def main() -> None:
    cli(prog_name="crmgate", obj=RUN_AS_PROGRAM)
