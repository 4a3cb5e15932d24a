"""The Salesforce adapter on simple-salesforce, one module per concern: settings and
credentials, error translation, chunking, Collections results, SystemModstamp versions, describe.

Imports only ``crmgate.adapters`` (base, errors, retry, budget) and its own modules.
"""
from crmgate.adapters.salesforce.adapter import SalesforceAdapter

__all__ = ["SalesforceAdapter"]
