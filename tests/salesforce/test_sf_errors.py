"""Every simple-salesforce exception and every per-record Collections error, translated (table tests)."""
from __future__ import annotations

import json

import pytest
import requests
import responses
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from crmgate.adapters import errors as E
from crmgate.adapters.base import UpdateRequest
from crmgate.adapters.salesforce.adapter import SalesforceAdapter
from crmgate.adapters.salesforce.errors import record_error, translate


def body(code, message="m", fields=()):
    return [{"errorCode": code, "message": message, "fields": list(fields)}]


U = "https://acme.my.salesforce.com/services/data/v59.0/x"
TABLE = [
    (SalesforceMalformedRequest(U, 400, "x", body("REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName]",
                                                    ["LastName"])), E.CRMValidationError, "REQUIRED_FIELD_MISSING", 400, False),
    (SalesforceMalformedRequest(U, 400, "x", body("INVALID_FIELD", fields=["Foo__c"])), E.CRMValidationError, "INVALID_FIELD", 400, False),
    (SalesforceMalformedRequest(U, 400, "x", body("FIELD_CUSTOM_VALIDATION_EXCEPTION")), E.CRMValidationError,
     "FIELD_CUSTOM_VALIDATION_EXCEPTION", 400, False),
    (SalesforceMalformedRequest(U, 400, "x", body("MALFORMED_ID")), E.CRMValidationError, "MALFORMED_ID", 400, False),
    (SalesforceMalformedRequest(U, 400, "x", body("UNABLE_TO_LOCK_ROW")), E.UnavailableError, "UNABLE_TO_LOCK_ROW", 400, True),
    (SalesforceMalformedRequest(U, 400, "x", body("ENTITY_IS_DELETED")), E.NotFoundError, "ENTITY_IS_DELETED", 400, False),
    (SalesforceMoreThanOneRecord(U, 300, "x", ["/a", "/b"]), E.CRMValidationError, "MALFORMED_REQUEST", 300, False),
    (SalesforceExpiredSession(U, 401, "x", body("INVALID_SESSION_ID")), E.AuthenticationError, "INVALID_SESSION_ID", 401, False),
    (SalesforceAuthenticationFailed("INVALID_LOGIN", "bad password"), E.AuthenticationError, "INVALID_LOGIN", 401, False),
    (SalesforceRefusedRequest(U, 403, "x", body("REQUEST_LIMIT_EXCEEDED")), E.QuotaExhaustedError,
     "REQUEST_LIMIT_EXCEEDED", 403, False),
    (SalesforceRefusedRequest(U, 403, "x", body("INSUFFICIENT_ACCESS")), E.PermissionDeniedError, "INSUFFICIENT_ACCESS", 403, False),
    (SalesforceResourceNotFound(U, 404, "x", body("NOT_FOUND")), E.NotFoundError, "NOT_FOUND", 404, False),
    (SalesforceResourceNotFound(U, 404, "x", body("ENTITY_IS_DELETED")), E.NotFoundError, "ENTITY_IS_DELETED", 404, False),
    (SalesforceGeneralError(U, 412, "x", body("PRECONDITION_FAILED")), E.PreconditionFailedError, "PRECONDITION_FAILED", 412, False),
    (SalesforceGeneralError(U, 429, "x", "slow down"), E.RateLimitError, "rate_limited", 429, True),
    (SalesforceGeneralError(U, 503, "x", body("SERVER_UNAVAILABLE")), E.UnavailableError, "SERVER_UNAVAILABLE", 503, True),
    (SalesforceGeneralError(U, 500, "x", "<html>oops</html>"), E.UnavailableError, "SERVER_UNAVAILABLE", 500, True),
    (SalesforceGeneralError(U, 409, "x", body("DUPLICATE_VALUE")), E.CRMError, "DUPLICATE_VALUE", 409, False),
    (SalesforceError(U, 418, "x", b""), E.CRMError, "salesforce_error", 418, False),
    (requests.ConnectionError("reset"), E.TransportError, "connection_error", None, True),
    (requests.ReadTimeout("slow"), E.TransportError, "timeout", None, True),
    (json.JSONDecodeError("Expecting value", "<html>", 0), E.ResponseError, "malformed_response", None, False),
]


@pytest.mark.parametrize(("exc", "cls", "code", "status", "retryable"), TABLE,
                         ids=[f"{type(r[0]).__name__}-{r[2]}" for r in TABLE])
def test_each_exception_maps_to_the_project_error(exc, cls, code, status, retryable):
    """The exception becomes exactly this crmgate error class with errorCode, status and retryability kept."""
    err = translate(exc)
    assert type(err) is cls
    assert (err.code, err.status, err.retryable) == (code, status, retryable)


def test_message_and_fields_are_kept():
    """The Salesforce message and fields survive; several errors are kept in details."""
    err = translate(SalesforceMalformedRequest(U, 400, "x", body("INVALID_FIELD", "No such column", ["A"]) +
                                               body("STRING_TOO_LONG", "too long", ["B"])))
    assert err.fields == ("A",) and "No such column" in err.message
    assert [e["errorCode"] for e in err.details["errors"]] == ["INVALID_FIELD", "STRING_TOO_LONG"]


RECORD_TABLE = [
    ("REQUIRED_FIELD_MISSING", ["LastName"], 400, False),
    ("INVALID_FIELD", ["Foo__c"], 400, False),
    ("FIELD_CUSTOM_VALIDATION_EXCEPTION", [], 400, False),
    ("ENTITY_IS_DELETED", [], 404, False),
    ("UNABLE_TO_LOCK_ROW", [], 503, True),
    ("MALFORMED_ID", ["Id"], 400, False),
    ("STRING_TOO_LONG", ["Title"], 400, False),
    ("DUPLICATE_VALUE", ["Email"], 400, False),
]


@pytest.mark.parametrize(("code", "fields", "status", "retryable"), RECORD_TABLE, ids=[r[0] for r in RECORD_TABLE])
def test_each_collections_record_error_maps_to_a_record_error(code, fields, status, retryable):
    """A per-record Collections error keeps its statusCode, message and fields."""
    err = record_error([{"statusCode": code, "message": f"msg {code}", "fields": fields}])
    assert (err.code, err.message, err.fields, err.status, err.retryable) == (
        code, f"msg {code}", tuple(fields), status, retryable)


# -- single calls whose exact shape matters, through `responses` -----------------------------------

BASE = "https://acme.my.salesforce.com/services/data/v59.0/"


@pytest.fixture
def sf(sleeps):
    adapter = SalesforceAdapter.from_settings(
        {"instance_url": "https://acme.my.salesforce.com", "fields": {"Lead": ["LastName"]}},
        env={"SALESFORCE_SESSION_ID": "sess"}, sleep=sleeps.append, jitter=lambda: 0.0)
    yield adapter
    adapter.close()


@responses.activate
def test_503_retry_after_http_date_and_header_shape(sf, sleeps):
    """A 503's Retry-After is read from the response headers (lost by the SDK's exception)."""
    url = BASE + "composite/sobjects"
    responses.add(responses.PATCH, url, status=503, json=body("SERVER_UNAVAILABLE"), headers={"Retry-After": "12"})
    responses.add(responses.PATCH, url, json=[{"id": "00Q000000000001EAA", "success": True, "errors": []}] * 2)
    results = sf.update_many("Lead", [UpdateRequest("00Q000000000001EAA", {"LastName": "A"}),
                                      UpdateRequest("00Q000000000002EAA", {"LastName": "B"})])
    assert [r.status for r in results] == ["ok", "ok"] and sleeps == [12.0]
    sent = json.loads(responses.calls[1].request.body)
    assert sent["allOrNone"] is False
    assert sent["records"][0] == {"attributes": {"type": "Lead"}, "LastName": "A", "id": "00Q000000000001EAA"}
    assert responses.calls[0].request.headers["Authorization"] == "Bearer sess"


@responses.activate
def test_a_short_collections_answer_is_a_response_error(sf):
    """A Collections answer with fewer results than records is refused, not misaligned."""
    responses.add(responses.PATCH, BASE + "composite/sobjects",
                  json=[{"id": "00Q000000000001EAA", "success": True, "errors": []}])
    with pytest.raises(E.ResponseError) as raised:
        sf.update_many("Lead", [UpdateRequest("00Q000000000001EAA", {"LastName": "A"}),
                                UpdateRequest("00Q000000000002EAA", {"LastName": "B"})])
    assert raised.value.code == "malformed_response"


@responses.activate
def test_a_non_json_answer_is_a_response_error(sf):
    """An HTML page where JSON was expected is a ResponseError."""
    responses.add(responses.POST, BASE + "composite/sobjects/Lead", body="<html>maintenance</html>", status=200)
    with pytest.raises(E.ResponseError) as raised:
        sf.get_many("Lead", ["00Q000000000001EAA"])
    assert raised.value.code == "malformed_response"


@responses.activate
def test_retrieve_sends_ids_and_fields_in_a_post_body(sf):
    """get_many is one POST with ids and the configured fields plus the system fields; nulls are absent."""
    responses.add(responses.POST, BASE + "composite/sobjects/Lead", json=[
        {"attributes": {"type": "Lead"}, "Id": "00Q000000000001EAA", "SystemModstamp": "2026-01-01T00:00:00.000+0000",
         "LastName": "Ng", "CreatedById": "005x"}, None])
    found = sf.get_many("Lead", ["00Q000000000001EAA", "00Q000000000002EAA", "not-an-id"])
    assert list(found) == ["00Q000000000001EAA"] and found["00Q000000000001EAA"].fields == {"LastName": "Ng"}
    sent = json.loads(responses.calls[0].request.body)
    assert sent["ids"] == ["00Q000000000001EAA", "00Q000000000002EAA"]
    assert sent["fields"][:2] == ["Id", "SystemModstamp"] and sent["fields"][-1] == "LastName"


@responses.activate
def test_expired_session_raises_authentication_error(sf):
    """401 INVALID_SESSION_ID is a whole-call AuthenticationError, not retried."""
    responses.add(responses.POST, BASE + "composite/sobjects/Lead", status=401, json=body("INVALID_SESSION_ID"))
    with pytest.raises(E.AuthenticationError) as raised:
        sf.get_many("Lead", ["00Q000000000001EAA"])
    assert raised.value.code == "INVALID_SESSION_ID"
    assert len(responses.calls) == 1


@responses.activate
def test_password_login_failure_is_an_authentication_error():
    """A SOAP login fault becomes AuthenticationError; the password is not in the message."""
    responses.add(responses.POST, "https://login.salesforce.com/services/Soap/u/59.0", status=500, body=(
        '<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
        "<soapenv:Body><soapenv:Fault><faultcode>INVALID_LOGIN</faultcode><faultstring>INVALID_LOGIN: Invalid "
        "username, password, security token; or user locked out.</faultstring></soapenv:Fault></soapenv:Body>"
        "</soapenv:Envelope>"))
    with pytest.raises(E.AuthenticationError) as info:
        SalesforceAdapter.from_settings({"instance_url": "https://acme.my.salesforce.com"}, env={
            "SALESFORCE_USERNAME": "u@example.com", "SALESFORCE_PASSWORD": "hunter2", "SALESFORCE_SECURITY_TOKEN": "s3cr3t-TOK"})
    assert info.value.code == "authentication_failed"
    shown = str(info.value.to_dict())
    assert "hunter2" not in shown and "s3cr3t-TOK" not in shown
    assert info.value.message == ("Salesforce login failed: INVALID_LOGIN: Invalid username, password, security "
                                  "token; or user locked out.")
