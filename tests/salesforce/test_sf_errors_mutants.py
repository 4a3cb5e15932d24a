"""Salesforce answers mapped to crmgate's errors and results, pinned value by value where the
mutation campaign found the table tests silent: error bodies of every documented shape, the
fallback codes per status, Retry-After, the API usage header, Collections results, and the org's
spent API allowance shared by workers through the budget."""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

import pytest
import requests
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from crmgate.adapters import errors as E
from crmgate.adapters.base import WriteResult
from crmgate.adapters.budget import WindowBudget
from crmgate.adapters.salesforce.errors import Allowance, error_items, parse_limit_info, record_error, translate
from crmgate.adapters.salesforce.results import Checks, collection_results, key_value

U = "https://acme.my.salesforce.com/services/data/v59.0/x"


def answer(headers: dict[str, str]) -> requests.Response:
    r = requests.Response()
    r.status_code, r.headers = 200, requests.structures.CaseInsensitiveDict(headers)
    return r


# -- error bodies -------------------------------------------------------------------------------

def test_error_bodies_of_every_documented_shape():
    """The REST list, one object, Collections' statusCode, OAuth's error/error_description, bytes
    and plain text all give ``[{errorCode, message, fields}]``; blank text, other types and
    non-object items give nothing; a non-list ``fields`` is empty; text is cut at 500."""
    assert error_items([{"errorCode": "A", "message": "m", "fields": ["F", 1]}]) == [
        {"errorCode": "A", "message": "m", "fields": ["F", "1"]}]
    assert error_items({"statusCode": "B", "message": "n", "fields": "F"}) == [
        {"errorCode": "B", "message": "n", "fields": []}]
    assert error_items({"error": "invalid_grant", "error_description": "expired"}) == [
        {"errorCode": "invalid_grant", "message": "expired", "fields": []}]
    assert error_items(b'  down for maintenance ') == [{"errorCode": None, "message": "down for maintenance",
                                                          "fields": []}]
    assert error_items("x" * 600)[0]["message"] == "x" * 500
    assert error_items("   ") == [] and error_items(None) == [] and error_items(42) == []
    assert error_items(["text", {"errorCode": 7}]) == [{"errorCode": "7", "message": "", "fields": []}]
    assert error_items([{"errorCode": "", "statusCode": "", "message": None}]) == [
        {"errorCode": None, "message": "", "fields": []}]


def test_a_record_error_without_detail_is_unknown_error_400():
    """A failed Collections item with no usable error is UNKNOWN_ERROR (status 400, not
    retryable); a code without a message uses the code as message; one error has no details,
    several are all kept."""
    assert record_error([]) == E.RecordError("UNKNOWN_ERROR", "no error detail", 400)
    assert record_error(None).code == "UNKNOWN_ERROR"
    assert record_error([{"message": "odd"}]) == E.RecordError("UNKNOWN_ERROR", "odd", 400)
    assert record_error([{"statusCode": "X"}]) == E.RecordError("X", "X", 400)
    one = record_error([{"statusCode": "PRECONDITION_FAILED", "message": "changed"}])
    assert (one.status, one.details) == (412, {})
    two = record_error([{"statusCode": "REQUEST_LIMIT_EXCEEDED", "message": "a"}, {"statusCode": "Y", "message": "b"}])
    assert (two.code, two.status, two.retryable) == ("REQUEST_LIMIT_EXCEEDED", 403, False)
    assert [e["errorCode"] for e in two.details["errors"]] == ["REQUEST_LIMIT_EXCEEDED", "Y"]


# -- whole-call errors --------------------------------------------------------------------------

@pytest.mark.parametrize(("exc", "cls", "code"), [
    (SalesforceResourceNotFound(U, 404, "x", b""), E.NotFoundError, "NOT_FOUND"),
    (SalesforceGeneralError(U, 404, "x", b""), E.NotFoundError, "NOT_FOUND"),
    (SalesforceGeneralError(U, 412, "x", b""), E.PreconditionFailedError, "PRECONDITION_FAILED"),
    (SalesforceExpiredSession(U, 401, "x", b""), E.AuthenticationError, "INVALID_SESSION_ID"),
    (SalesforceGeneralError(U, 401, "x", b""), E.AuthenticationError, "INVALID_SESSION_ID"),
    (SalesforceRefusedRequest(U, 403, "x", b""), E.PermissionDeniedError, "FORBIDDEN"),
    (SalesforceGeneralError(U, 403, "x", b""), E.PermissionDeniedError, "FORBIDDEN"),
    (SalesforceMalformedRequest(U, 400, "x", b""), E.CRMValidationError, "MALFORMED_REQUEST"),
    (SalesforceGeneralError(U, 400, "x", b""), E.CRMValidationError, "MALFORMED_REQUEST"),
    (SalesforceGeneralError(U, 300, "x", b""), E.CRMValidationError, "MALFORMED_REQUEST"),
    (SalesforceGeneralError(U, 499, "x", b""), E.CRMError, "salesforce_error"),
    (SalesforceGeneralError(U, 500, "x", b""), E.UnavailableError, "SERVER_UNAVAILABLE"),
    (SalesforceGeneralError(U, 501, "x", b""), E.UnavailableError, "SERVER_UNAVAILABLE"),
    (SalesforceGeneralError(U, 428, "x", b""), E.CRMError, "salesforce_error"),
    (SalesforceGeneralError(U, 430, "x", b""), E.CRMError, "salesforce_error"),
    (SalesforceGeneralError(U, "nope", "x", b""), E.CRMError, "salesforce_error"),
])
def test_an_answer_without_an_error_code_gets_its_statuss_code(exc, cls, code):
    """With no errorCode in the body, the status alone decides the class and the fallback code."""
    err = translate(exc)
    assert (type(err), err.code) == (cls, code)


def test_the_message_names_code_or_status_and_what_salesforce_said():
    """``Salesforce <errorCode or status>: <message or the exception's class>``; a bad status is None."""
    assert translate(SalesforceGeneralError(U, 409, "x", [{"errorCode": "DUP", "message": "dup"}])).message == \
        "Salesforce DUP: dup"
    assert translate(SalesforceGeneralError(U, 418, "x", b"")).message == "Salesforce 418: SalesforceGeneralError"
    odd = translate(SalesforceGeneralError(U, "418", "x", b""))
    assert odd.status is None and odd.message == "Salesforce None: SalesforceGeneralError"


def test_retry_after_comes_from_the_last_answers_headers():
    """Quota, throttling and 5xx answers keep Retry-After from the response the session hook kept
    (simple-salesforce's exceptions drop headers); without a response it is None."""
    got = answer({"Retry-After": "7"})
    quota = translate(SalesforceRefusedRequest(U, 403, "x", [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "m"}]),
                      got)
    assert (type(quota), quota.retry_after) == (E.QuotaExhaustedError, 7.0)
    assert "the org's API allowance is spent; stopping" in quota.message
    assert translate(SalesforceGeneralError(U, 429, "x", b""), got).retry_after == 7.0
    assert translate(SalesforceGeneralError(U, 503, "x", b""), got).retry_after == 7.0
    assert translate(SalesforceGeneralError(U, 503, "x", b"")).retry_after is None


def test_a_throttle_keeps_salesforces_own_code():
    """A 429 carrying an errorCode keeps that code; only a bare 429 is ``rate_limited``; a
    per-record NOT_FOUND has the status a single call would have had, 404."""
    err = translate(SalesforceGeneralError(U, 429, "x", [{"errorCode": "API_CONCURRENT_LIMIT", "message": "m"}]))
    assert (type(err), err.code) == (E.RateLimitError, "API_CONCURRENT_LIMIT")
    assert record_error([{"statusCode": "NOT_FOUND", "message": "m"}]).status == 404


def test_an_unlocked_row_code_is_retried_whatever_the_status():
    """UNABLE_TO_LOCK_ROW is an UnavailableError (retried, certain) even on a 400."""
    err = translate(SalesforceGeneralError(U, 400, "x", [{"errorCode": "UNABLE_TO_LOCK_ROW", "message": "m"}]))
    assert (type(err), err.retryable, err.ambiguous) == (E.UnavailableError, True, False)


def test_login_failures_read_the_soap_fault_and_hide_nothing_else():
    """A SOAP login answer gives its faultstring (cut at 300); a plain one its text; no text
    gives the code; the code defaults to authentication_failed; the status is 401."""
    soap = "<soapenv:Fault><faultstring>INVALID_LOGIN: Invalid username,\npassword</faultstring></soapenv:Fault>"
    err = translate(SalesforceAuthenticationFailed("INVALID_LOGIN", soap))
    assert err.message == "Salesforce login failed: INVALID_LOGIN: Invalid username,\npassword"
    assert (type(err), err.code, err.status) == (E.AuthenticationError, "INVALID_LOGIN", 401)
    assert translate(SalesforceAuthenticationFailed("X", "y" * 400)).message == "Salesforce login failed: " + "y" * 300
    assert translate(SalesforceAuthenticationFailed("X", None)).message == "Salesforce login failed: X"
    assert translate(SalesforceAuthenticationFailed(None, "bad")).code == "authentication_failed"


def test_transport_and_foreign_errors():
    """A CRMError passes through as it is; another requests error is a transport error; anything
    else is unexpected_error naming its class."""
    mine = E.NotFoundError("gone")
    assert translate(mine) is mine
    other = translate(requests.TooManyRedirects("loop"))
    assert (type(other), other.code) == (E.TransportError, "transport_error")
    foreign = translate(KeyError("k"))
    assert (type(foreign), foreign.code) == (E.CRMError, "unexpected_error") and "KeyError" in foreign.message


def test_the_api_usage_header():
    """``Sforce-Limit-Info`` gives (used, limit) from its api-usage part, among others; absent,
    empty or unreadable gives None."""
    assert parse_limit_info("api-usage=18/15000") == (18, 15000)
    assert parse_limit_info("per-app-api-usage=1/2(appName=x), api-usage=30/100") == (30, 100)
    assert parse_limit_info(None) is None and parse_limit_info("") is None
    assert parse_limit_info("api-usage=a/100") is None and parse_limit_info("api-usage=1/b") is None
    assert parse_limit_info("other=1/2") is None


# -- Collections results ------------------------------------------------------------------------

def test_collections_results_in_request_order():
    """Each item becomes a WriteResult: ok with its id (the sent id when the answer has none, or
    a non-string one), a replayed upsert (``created: false``) flagged, a 412 a conflict, any other
    error failed."""
    body = [{"success": True, "id": "001A", "created": True},
            {"success": True, "created": False},
            {"success": True, "id": 5},
            {"success": False, "errors": [{"statusCode": "PRECONDITION_FAILED", "message": "changed"}]},
            {"success": False, "id": "001E", "errors": [{"statusCode": "REQUIRED_FIELD_MISSING", "message": "m"}]}]
    got = collection_results(body, ["s1", "s2", "s3", "s4", None])
    assert [(r.status, r.id, r.info) for r in got] == [
        ("ok", "001A", {}), ("ok", "s2", {"idempotent_replay": True}), ("ok", "s3", {}),
        ("conflict", "s4", {}), ("failed", "001E", {})]
    assert (got[3].error.code, got[4].error.code) == ("PRECONDITION_FAILED", "REQUIRED_FIELD_MISSING")


def test_a_collections_answer_of_the_wrong_shape_is_a_response_error():
    """Not a list, the wrong length, or an item without a boolean success: ResponseError, saying
    what came."""
    with pytest.raises(E.ResponseError) as raised:
        collection_results({"a": 1}, ["x"])
    assert raised.value.code == "malformed_response"
    assert raised.value.message == "Collections: expected 1 results in a list; got dict"
    with pytest.raises(E.ResponseError) as raised:
        collection_results([], ["x"])
    assert raised.value.code == "malformed_response"
    assert raised.value.message == "Collections: expected 1 results in a list; got list of 0"
    with pytest.raises(E.ResponseError) as raised:
        collection_results([{"success": "true"}], ["x"])
    assert raised.value.code == "malformed_response"
    assert raised.value.message == "Collections: a result without a boolean 'success'"
    with pytest.raises(E.ResponseError) as raised:
        collection_results(["ok"], ["x"])
    assert raised.value.code == "malformed_response"


def test_the_version_check_age_reaches_each_result():
    """annotate() adds how each request's version was checked and how many ms before the write
    (rounded to 0.1 ms) to that request's result only, keeping what info it had."""
    checks, t0 = Checks(), datetime(2026, 12, 7, 9, 0, tzinfo=timezone.utc)
    checks.checked_at[1] = ("retrieve", t0)
    got = checks.annotate([0, 1], [WriteResult("ok", "a"), WriteResult("ok", "b", info={"k": 1})],
                          t0 + timedelta(microseconds=12_345))
    assert got[0].info == {}
    assert got[1].info == {"k": 1, "version_check": "retrieve", "check_age_ms": 12.3}


def test_keys_longer_than_the_external_id_field_are_hashed():
    """An idempotency key of up to 80 characters is stored as it is; a longer one as ``h-`` and
    its SHA-256 (fits Text(80)); no key is empty."""
    assert key_value("k" * 80) == "k" * 80
    assert key_value("k" * 81) == "h-" + hashlib.sha256(b"k" * 81).hexdigest()
    assert key_value(None) == "" and key_value("") == ""


# -- the org's API allowance, shared by workers through the budget ----------------------------------

def _spent() -> E.QuotaExhaustedError:
    return E.QuotaExhaustedError("Salesforce REQUEST_LIMIT_EXCEEDED: spent", code="REQUEST_LIMIT_EXCEEDED", status=403)


def test_a_spent_allowance_stops_this_worker_and_others_for_an_hour():
    """Told REQUEST_LIMIT_EXCEEDED, the worker raises that very error from then on; another worker on
    the budget is stopped for the default hour (403, REQUEST_LIMIT_EXCEEDED), a new one after it is not."""
    now = [1000.0]
    budget = WindowBudget.memory(lambda: now[0])
    one, two = Allowance(budget, "https://org"), Allowance(budget, "https://org")
    one.check()
    err = _spent()
    one.spent(err)
    with pytest.raises(E.QuotaExhaustedError) as mine:
        one.check()
    assert mine.value is err
    now[0] += 3599.9
    with pytest.raises(E.QuotaExhaustedError) as theirs:
        two.check()
    assert (theirs.value.code, theirs.value.status) == ("REQUEST_LIMIT_EXCEEDED", 403)
    now[0] += 0.6
    Allowance(budget, "https://org").check()
    with pytest.raises(E.QuotaExhaustedError):
        two.check()  # a worker that met the stop keeps it


def test_other_errors_do_not_spend_the_allowance():
    """A rate limit or an outage is not the spent allowance: no stop for anyone."""
    budget = WindowBudget.memory(lambda: 1000.0)
    one = Allowance(budget, "https://org")
    one.spent(E.RateLimitError("slow down", code="rate_limited", status=429))
    one.spent(E.UnavailableError("down", code="SERVER_UNAVAILABLE", status=503))
    one.check()
    Allowance(budget, "https://org").check()


def test_without_a_budget_the_stop_is_this_workers_own():
    """No shared budget: the worker still stops itself once told, and checks nothing else before."""
    alone = Allowance(None, "https://org")
    alone.check()
    alone.spent(_spent())
    with pytest.raises(E.QuotaExhaustedError):
        alone.check()
