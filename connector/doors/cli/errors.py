"""click's own usage errors (a missing option, a bad choice, a file that does not exist, an unknown
command) as crmgate's promised error: one JSON object on stderr, exit 2.

:class:`JsonErrorGroup` is the ``crmgate`` group's class: it re-raises every :class:`click.ClickException`
raised while parsing or running a command as a :class:`JsonUsageError`, whose ``show`` prints
``{"error": {"code", "message", "details"}}`` instead of click's usage text.
"""
from __future__ import annotations

import json
from typing import IO, Any

import click

_CODES: tuple[tuple[type[click.ClickException], str], ...] = (
    (click.NoSuchOption, "unknown_option"),
    (click.MissingParameter, "missing_parameter"),
    (click.BadParameter, "invalid_parameter"),
    (click.BadOptionUsage, "invalid_option"),
    (click.BadArgumentUsage, "invalid_argument"),
    (click.FileError, "file_error"),
    (click.UsageError, "usage_error"),
)


class JsonUsageError(click.ClickException):
    """A usage error rendered as crmgate's JSON error (exit 2: bad input, nothing was written)."""

    exit_code = 2

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error["message"])
        self.error = error

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(json.dumps({"error": self.error}, ensure_ascii=False, default=str), err=True)


def as_json(exc: click.ClickException) -> JsonUsageError:
    """The JSON form of one of click's exceptions: a stable code, click's message, and where to look."""
    if isinstance(exc, JsonUsageError):
        return exc
    code = next((c for cls, c in _CODES if isinstance(exc, cls)), "usage_error")
    details: dict[str, Any] = {}
    param = getattr(exc, "param", None)
    if param is not None and getattr(param, "name", None):
        details["parameter"] = (param.opts[0] if getattr(param, "opts", None) else param.name)
    if getattr(exc, "option_name", None):
        details["parameter"] = exc.option_name  # type: ignore[attr-defined]
    if isinstance(getattr(exc, "possibilities", None), list) and exc.possibilities:  # type: ignore[attr-defined]
        details["did_you_mean"] = sorted(exc.possibilities)  # type: ignore[attr-defined]
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        details["usage"] = ctx.get_usage()
        details["help"] = f"{ctx.command_path} --help"
    error: dict[str, Any] = {"code": code, "message": exc.format_message()}
    if details:
        error["details"] = details
    return JsonUsageError(error)


class JsonErrorGroup(click.Group):
    """A click group whose usage errors, and its subcommands', are crmgate's JSON errors."""

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.ClickException as exc:
            raise as_json(exc) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.ClickException as exc:
            raise as_json(exc) from None
