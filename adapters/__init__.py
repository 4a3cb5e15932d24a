"""CRM adapters: the interface, the error tree, retries, and one subpackage per CRM
(``salesforce``, ``hubspot``, ``sandbox``).

Imports nothing of crmgate outside ``crmgate.adapters``: it only talks to CRMs.
"""
from crmgate.adapters.base import Adapter, CreateRequest, DeleteRequest, Record, UpdateRequest, WriteResult, WriteStatus
from crmgate.adapters.errors import (
    AuthenticationError,
    CRMError,
    CRMValidationError,
    NotFoundError,
    PermissionDeniedError,
    PreconditionFailedError,
    QuotaExhaustedError,
    RateLimitError,
    RecordError,
    ResponseError,
    TransportError,
    UnavailableError,
)
from crmgate.adapters.sandbox.adapter import REQUIRED_ON_CREATE, SandboxAdapter
from crmgate.adapters.sandbox.sample_data import seed_sample

__all__ = [
    "Adapter",
    "AuthenticationError",
    "CRMError",
    "CRMValidationError",
    "CreateRequest",
    "DeleteRequest",
    "NotFoundError",
    "PermissionDeniedError",
    "PreconditionFailedError",
    "QuotaExhaustedError",
    "REQUIRED_ON_CREATE",
    "RateLimitError",
    "Record",
    "RecordError",
    "ResponseError",
    "SandboxAdapter",
    "TransportError",
    "UnavailableError",
    "UpdateRequest",
    "WriteResult",
    "WriteStatus",
    "seed_sample",
]
