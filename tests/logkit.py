"""Helpers for tests that configure logging in-process: put the library's defaults back afterwards."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import structlog

NAMES = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "crmgate")


@contextmanager
def restored_logging() -> Iterator[None]:
    """structlog's configuration and the handlers and levels of the loggers crmgate configures, as they were."""
    saved = structlog.get_config()
    loggers = {name: logging.getLogger(name) for name in NAMES}
    state = {name: (lg.handlers[:], lg.level, lg.propagate) for name, lg in loggers.items()}
    try:
        yield
    finally:
        structlog.configure(**saved)
        for name, lg in loggers.items():
            lg.handlers[:], lg.level, lg.propagate = state[name]
