"""CRM adapters: the interface, the error tree, and the embedded sandbox CRM.

``adapters`` never imports ``connector`` or ``rules``: it only talks to CRMs.
"""
from adapters.base import Adapter, CreateRequest, DeleteRequest, Record, UpdateRequest, WriteResult, WriteStatus
from adapters.errors import (
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
from adapters.sample_data import seed_sample
from adapters.sandbox import REQUIRED_ON_CREATE, SandboxAdapter

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
