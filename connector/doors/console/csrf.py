"""CSRF tokens for the console's forms.

Every POST carries ``csrf_token`` (a form field, or the ``X-CSRF-Token`` header htmx sends). Signed
in, the token is an HMAC of the session id, so it is valid for that session only and needs no
storage. On the sign-in form (no session yet) it is an HMAC of a random nonce held in a short-lived
cookie (double submit). Tokens are compared in constant time. SameSite=Strict cookies already keep
other sites' posts from carrying a session; the token also stops same-site injection.
"""
from __future__ import annotations

import hashlib
import hmac

FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
NONCE_COOKIE = "crmgate_signin"


def token_for(key: bytes, scope: str) -> str:
    """The token for ``scope`` (``session:<sid>`` or ``signin:<nonce>``)."""
    return hmac.new(key, scope.encode("utf-8"), hashlib.sha256).hexdigest()


def valid(key: bytes, scope: str | None, sent: str | None) -> bool:
    if not scope or not sent:
        return False
    return hmac.compare_digest(token_for(key, scope), sent)
