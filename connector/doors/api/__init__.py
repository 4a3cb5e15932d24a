"""crmgate's HTTP API (FastAPI) under ``/v1``: the app, its schemas, errors and body limits.

Part of the doors: may import the service, credentials and boundaries; see :mod:`crmgate.doors.api.app`.
"""
from crmgate.doors.api.app import create_app
from crmgate.doors.wiring import build_service, open_service

__all__ = ["build_service", "create_app", "open_service"]
