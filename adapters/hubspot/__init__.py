"""The HubSpot adapter on hubspot-api-client, one module per concern: settings, error
translation, property encoding, check-then-write, idempotent batch creates.

Imports only ``crmgate.adapters`` (base, errors, retry, budget) and its own modules.
"""
from crmgate.adapters.hubspot.adapter import HubSpotAdapter

__all__ = ["HubSpotAdapter"]
