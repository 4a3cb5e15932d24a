"""The embedded sandbox CRM (one SQLite file): the adapter, its schema and ids, rows and value
checks, injected faults, and the deterministic sample data the demo and tests seed.

Imports only ``crmgate.adapters`` (base, errors) and its own modules.
"""
from crmgate.adapters.sandbox.adapter import SandboxAdapter

__all__ = ["SandboxAdapter"]
