"""Every hubspot-api-client exception class, and every error answer of the fake, maps into crmgate.adapters.errors."""
from __future__ import annotations

import importlib
import inspect
import json
import pkgutil

import hubspot.crm
import pytest
import urllib3

from crmgate.adapters.errors import (
    AdapterConfigError,
    AuthenticationError,
    CRMValidationError,
    NotFoundError,
    PermissionDeniedError,
    PreconditionFailedError,
    QuotaExhaustedError,
    RateLimitError,
    ResponseError,
    TransportError,
    UnavailableError,
)
from crmgate.adapters.hubspot.adapter import HubSpotAdapter
from crmgate.adapters.hubspot.errors import translate


def _api_exception_classes() -> list[type]:
    found = []
    for info in pkgutil.walk_packages(hubspot.crm.__path__, "hubspot.crm."):
        if info.name.endswith(".exceptions"):
            module = importlib.import_module(info.name)
            found += [c for _, c in inspect.getmembers(module, inspect.isclass)
                      if c.__module__ == module.__name__ and issubclass(c, module.ApiException)]
    return found


CLASSES = _api_exception_classes()
TABLE = [  # status, body, headers, expected class, expected code, retry_after
    (400, {"category": "VALIDATION_ERROR", "message": "bad"}, {}, CRMValidationError, "VALIDATION_ERROR", None),
    (401, {"category": "INVALID_AUTHENTICATION"}, {}, AuthenticationError, "INVALID_AUTHENTICATION", None),
    (403, {"category": "MISSING_SCOPES"}, {}, PermissionDeniedError, "MISSING_SCOPES", None),
    (404, {"category": "OBJECT_NOT_FOUND"}, {}, NotFoundError, "OBJECT_NOT_FOUND", None),
    (409, {"category": "OBJECT_ALREADY_EXISTS"}, {}, CRMValidationError, "OBJECT_ALREADY_EXISTS", None),
    (412, {}, {}, PreconditionFailedError, "HTTP_412", None),
    (429, {"policyName": "TEN_SECONDLY_ROLLING", "category": "RATE_LIMITS"}, {"Retry-After": "3"},
     RateLimitError, "TEN_SECONDLY_ROLLING", 3.0),
    (429, {"policyName": "DAILY", "category": "RATE_LIMITS"}, {}, QuotaExhaustedError, "DAILY", None),
    (500, {"category": "INTERNAL_ERROR"}, {}, UnavailableError, "INTERNAL_ERROR", None),
    (502, "<html>bad gateway</html>", {"Retry-After": "4"}, UnavailableError, "HTTP_502", 4.0),
]


def test_every_crm_module_is_covered():
    """The walk finds the ApiException trees of many CRM modules (objects, contacts, deals, companies...)."""
    modules = {c.__module__ for c in CLASSES}
    assert {"hubspot.crm.objects.exceptions", "hubspot.crm.contacts.exceptions", "hubspot.crm.deals.exceptions",
            "hubspot.crm.companies.exceptions", "hubspot.crm.properties.exceptions"} <= modules
    assert len(CLASSES) >= 5 * len(modules)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: f"{c.__module__.split('.')[2]}.{c.__name__}")
def test_api_exceptions_translate_by_status_and_body(cls):
    """Any module's ApiException subclass is translated by its status, body and headers, not its class."""
    for status, body, headers, expected, code, retry_after in TABLE:
        exc = cls(status=status, reason="Reason")
        exc.body = body if isinstance(body, str) else json.dumps({**body, "correlationId": "c-9", "message": "m"})
        exc.headers = headers
        err = translate(exc)
        assert (type(err), err.code, err.status) == (expected, code, status)
        assert getattr(err, "retry_after", None) == retry_after
        if not isinstance(body, str):
            assert err.details["correlationId"] == "c-9"
            assert err.details.get("category") == body.get("category")


def test_transport_and_garbage_translate():
    """urllib3 failures are TransportError (retryable); SDK value errors are ResponseError; status 0 is transport."""
    assert isinstance(translate(urllib3.exceptions.ProtocolError("reset")), TransportError)
    assert isinstance(translate(urllib3.exceptions.NewConnectionError(None, "refused")), TransportError)
    from hubspot.crm.objects.exceptions import ApiException, ApiValueError
    assert isinstance(translate(ApiValueError("Invalid value for `id`")), ResponseError)
    assert isinstance(translate(ApiException(status=0, reason="SSL")), TransportError)
    assert translate(KeyError("ours")) is None


@pytest.mark.parametrize("status,expected", [(400, CRMValidationError), (401, AuthenticationError),
                                             (403, PermissionDeniedError), (404, NotFoundError),
                                             (409, CRMValidationError), (500, UnavailableError)])
def test_fake_error_answers_arrive_translated(fake, make_hs, status, expected):
    """Through the real SDK: the fake's error answers reach the caller as crmgate errors with correlationId."""
    hs = make_hs()
    fake.inject(status, match="batch/read", times=5)
    with pytest.raises(expected) as info:
        hs.get_many("deals", ["1"])
    assert info.value.details["correlationId"].startswith("corr-")
    assert "pat-test-token" not in str(info.value) + repr(info.value.details)


def test_unreachable_host_is_a_transport_error(make_hs, hs_clock):
    """Nothing listening: the call fails as TransportError after the policy's retries, all waits injected."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    hs = make_hs(host=f"http://127.0.0.1:{port}")
    with pytest.raises(TransportError) as raised:
        hs.get_many("deals", ["1"])
    assert raised.value.code == "transport_error"
    assert len(hs_clock.sleeps) == 4


def test_garbage_answer_is_a_response_error(fake, make_hs):
    """A 200 with a body the SDK cannot read is a ResponseError, not a crash."""
    hs = make_hs()
    fake.inject(200, match="batch/read", body={"results": "nope"})
    with pytest.raises(ResponseError) as info:
        hs.get_many("deals", ["1"])
    assert info.value.code == "malformed_response" and not isinstance(info.value, TransportError)


ENV = {"HUBSPOT_TOKEN": "pat-secret-123"}


@pytest.mark.parametrize("settings,env,words", [
    ({}, {}, "HUBSPOT_TOKEN"),
    ({"token_env": "MY_HS"}, ENV, "MY_HS"),
    ({"token": "pat-secret-123"}, ENV, "never put the token"),
    ({"rate_limit": {"requests": 0}}, ENV, "rate_limit.requests"),
    ({"rate_limit": {"per_second": 10}}, ENV, "rate_limit.per_second"),
    ({"host": "not a url"}, ENV, "host"),
    ({"verify": "sometimes"}, ENV, "verify"),
    ({"colour": "blue"}, ENV, "colour"),
    ({"properties": {"tickets": ["x"]}}, ENV, "tickets"),
])
def test_bad_settings_are_clear_config_errors(settings, env, words):
    """Missing token, inline token, bad limits, unknown keys: AdapterConfigError naming the setting, no secret."""
    with pytest.raises(AdapterConfigError) as info:
        HubSpotAdapter.from_settings(settings, env=env)
    # a token that is not there is missing_credentials; anything else wrong is invalid_crm_config
    assert info.value.code == ("missing_credentials" if words in ("HUBSPOT_TOKEN", "MY_HS") else "invalid_crm_config")
    text = info.value.message + json.dumps(info.value.details)
    assert words in text and "pat-secret-123" not in text


def test_from_settings_reads_everything(fake):
    """Every documented setting is taken; the token stays out of repr."""
    hs = HubSpotAdapter.from_settings(
        {"host": fake.url, "token_env": "HS", "rate_limit": {"requests": 50, "per_seconds": 5},
         "recheck_after": 3, "verify": "history", "idempotency_property": None,
         "properties": {"deals": ["custom_x"]}, "retry": {"attempts": 2}}, env={"HS": "pat-test-token"})
    assert (hs.calls.requests, hs.calls.per_seconds, hs.recheck_after, hs.verify) == (50, 5.0, 3, "history")
    assert hs.idempotency_property is None and "custom_x" in hs._read_props["deals"]
    assert "pat-test-token" not in repr(hs) and hs.get_many("deals", []) == {}
