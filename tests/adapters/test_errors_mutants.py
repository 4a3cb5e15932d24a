"""The adapter error tree's contract, class by class (crmgate.adapters.errors): the code each error
carries by default, whether trying again may help, whether the write may have landed, and the
per-record error that a failed write records in the trail."""
from __future__ import annotations

import dataclasses

import pytest

from crmgate.adapters import errors as E

#: class -> (default code, retryable, ambiguous)
CONTRACT = {
    E.CRMError: ("crm_error", False, False),
    E.AdapterConfigError: ("invalid_crm_config", False, False),
    E.TransportError: ("transport_error", True, True),
    E.ResponseError: ("malformed_response", False, True),
    E.AuthenticationError: ("authentication_failed", False, False),
    E.PermissionDeniedError: ("permission_denied", False, False),
    E.NotFoundError: ("not_found", False, False),
    E.PreconditionFailedError: ("precondition_failed", False, False),
    E.CRMValidationError: ("validation_failed", False, False),
    E.UnavailableError: ("unavailable", True, True),
    E.RateLimitError: ("rate_limited", True, False),
    E.QuotaExhaustedError: ("quota_exhausted", False, False),
}


@pytest.mark.parametrize("cls", list(CONTRACT), ids=lambda c: c.__name__)
def test_each_error_class_has_its_code_retry_and_ambiguity(cls):
    """Default code, retryable and ambiguous per class: a lost connection, a 5xx or an unreadable
    answer may have applied the write (ambiguous: recorded unknown); a throttle, a refusal or a
    validation error certainly did not; a spent daily quota is never retried."""
    err = cls("m")
    code, retryable, ambiguous = CONTRACT[cls]
    assert (err.code, err.retryable, err.ambiguous) == (code, retryable, ambiguous)
    rec = err.to_record_error()
    assert (rec.code, rec.retryable, rec.ambiguous) == (code, retryable, ambiguous)


def test_a_row_lock_is_never_ambiguous():
    """UNABLE_TO_LOCK_ROW refuses the write before applying it: even as an UnavailableError (5xx,
    otherwise ambiguous) it is certain, so the write is failed (and retryable), not unknown."""
    err = E.UnavailableError("locked", code="UNABLE_TO_LOCK_ROW", status=503)
    assert (err.ambiguous, err.retryable) == (False, True)
    assert E.UnavailableError("down", code="SERVER_UNAVAILABLE").ambiguous is True
    assert E.UnavailableError.ambiguous is True  # the class keeps its default for other codes


def test_the_record_error_keeps_everything_the_crm_said():
    """to_record_error carries code, message, status, fields, retryable, details and ambiguity;
    to_dict adds the error class name (support reads it)."""
    err = E.UnavailableError("down", code="X", status=502, fields=["A", "B"], details={"id": "c1"})
    rec = err.to_record_error()
    assert rec == E.RecordError("X", "down", 502, ("A", "B"), True, {"id": "c1"}, True)
    assert err.to_dict() == {"code": "X", "message": "down", "ambiguous": True, "status": 502,
                             "fields": ["A", "B"], "details": {"id": "c1"}, "error_class": "UnavailableError"}
    assert err.message == "down" and str(err) == "down"


def test_rate_limit_errors_keep_retry_after():
    """A throttle keeps the seconds the CRM asked to wait; a spent quota too, and stays unretried."""
    assert E.RateLimitError("slow", retry_after=2.5).retry_after == 2.5
    assert E.RateLimitError("slow").retry_after is None
    quota = E.QuotaExhaustedError("spent", retry_after=60.0, status=403)
    assert (quota.retry_after, quota.retryable, quota.status) == (60.0, False, 403)


def test_a_record_errors_dict_leaves_out_what_is_empty():
    """RecordError.to_dict: code and message always; ambiguous only when true; status when known
    (also 0); fields and details only when there are some."""
    assert E.RecordError("C", "m").to_dict() == {"code": "C", "message": "m"}
    assert E.RecordError("C", "m", status=0).to_dict() == {"code": "C", "message": "m", "status": 0}
    full = E.RecordError("C", "m", 412, ("F",), True, {"k": 1}, True)
    assert full.to_dict() == {"code": "C", "message": "m", "ambiguous": True, "status": 412, "fields": ["F"],
                              "details": {"k": 1}}
    assert "retryable" not in full.to_dict()


def test_a_record_error_is_certain_and_final_unless_said():
    """A per-record error built with only code and message is not retryable and not ambiguous (a
    refusal the CRM answered), with no status, fields or details."""
    rec = E.RecordError("C", "m")
    assert (rec.retryable, rec.ambiguous, rec.status, rec.fields, rec.details) == (False, False, None, (), {})


def test_certain_drops_only_the_ambiguity():
    """certain(): the same error known not to have applied anything; a certain error is returned
    as it is."""
    rec = E.RecordError("C", "m", 503, ("F",), True, {"k": 1}, ambiguous=True)
    assert rec.certain() == dataclasses.replace(rec, ambiguous=False)
    plain = E.RecordError("C", "m")
    assert plain.certain() is plain
    with pytest.raises(dataclasses.FrozenInstanceError):
        rec.ambiguous = False  # type: ignore[misc]
