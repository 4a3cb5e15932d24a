"""crmgate's HTTP API (FastAPI): see :mod:`connector.api.app`."""
from connector.api.app import create_app
from connector.api.server import build_service, open_service

__all__ = ["build_service", "create_app", "open_service"]
