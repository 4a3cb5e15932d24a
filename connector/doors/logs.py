"""One logging pipeline for the programs crmgate runs (the CLI, ``crmgate serve`` and its workers).

crmgate's own events (structlog), the trail store's and uvicorn's (standard ``logging``) all end in
one :class:`structlog.stdlib.ProcessorFormatter` on one stderr handler: one JSON object a line, or
key=value lines for a person at a terminal. stdout stays for the commands' own output (and for the
MCP stdio protocol). Tracebacks are plain text: a renderer that prints frame locals would print
bearer tokens.

A library import configures nothing (``crmgate/__init__`` hands events to ``logging``, silent by
default); only :func:`configure_logging` does, and only programs call it.
"""
from __future__ import annotations

import logging
import logging.config
import os
import sys
from typing import Any, Literal

import structlog

FORMAT_ENV = "CRMGATE_LOG_FORMAT"
LEVEL_ENV = "CRMGATE_LOG_LEVEL"
FORMATS = ("json", "console")
LEVELS = ("debug", "info", "warning", "error")
LogFormat = Literal["json", "console"]

#: added to every event, crmgate's and foreign (stdlib) ones alike
SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to ``sys.stderr`` as it is at each record (a test's capture, a redirected stream),
    not as it was when logging was configured."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def default_format() -> LogFormat:
    """``console`` when stderr is a terminal, ``json`` otherwise (files, pipes, log collectors)."""
    try:
        return "console" if sys.stderr.isatty() else "json"
    except (AttributeError, ValueError):  # a closed or stand-in stream
        return "json"


def resolve(fmt: str | None = None, level: str | None = None) -> tuple[LogFormat, str]:
    """The format and level to use: the arguments, else ``$CRMGATE_LOG_FORMAT`` / ``$CRMGATE_LOG_LEVEL``,
    else the defaults (see :func:`default_format`; ``info``)."""
    fmt = (fmt or os.environ.get(FORMAT_ENV) or default_format()).lower()
    level = (level or os.environ.get(LEVEL_ENV) or "info").lower()
    if fmt not in FORMATS:
        fmt = default_format()
    if level not in LEVELS:
        level = "info"
    return fmt, level  # type: ignore[return-value]


def formatter(fmt: str = "json") -> structlog.stdlib.ProcessorFormatter:
    """The one formatter: renders structlog events and foreign ``logging`` records alike."""
    renderer: list[Any]
    if fmt == "console":
        renderer = [structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)]
    else:
        renderer = [structlog.processors.format_exc_info, structlog.processors.JSONRenderer(default=str)]
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=SHARED, processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer])


def dict_config(fmt: str, level: str) -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` that sends every logger, uvicorn's included, through
    :func:`formatter`. ``crmgate serve`` hands it to uvicorn, which applies it in each worker."""
    upper = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"crmgate": {"()": "crmgate.doors.logs.formatter", "fmt": fmt}},
        "handlers": {"stderr": {"()": "crmgate.doors.logs.StderrHandler", "formatter": "crmgate"}},
        "root": {"handlers": ["stderr"], "level": upper},
        "loggers": {name: {"handlers": [], "propagate": True, "level": upper}
                    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "crmgate")},
    }


def configure_logging(fmt: str | None = None, level: str | None = None) -> tuple[LogFormat, str]:
    """Route structlog and standard logging through one formatter on stderr; returns what was chosen."""
    chosen_fmt, chosen_level = resolve(fmt, level)
    logging.config.dictConfig(dict_config(chosen_fmt, chosen_level))
    structlog.configure(
        processors=[structlog.stdlib.filter_by_level, *SHARED, structlog.processors.StackInfoRenderer(),
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,  # a reconfigure (tests, `serve` workers) must reach existing loggers
    )
    return chosen_fmt, chosen_level


def export_to_env(fmt: str, level: str) -> None:
    """Put the choice where ``crmgate serve``'s worker processes find it (:func:`resolve` reads it)."""
    os.environ[FORMAT_ENV], os.environ[LEVEL_ENV] = fmt, level
