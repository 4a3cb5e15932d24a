"""Ids from :func:`crmgate.clock.new_id`: ``prefix_`` + 26 Crockford digits, time first, unique."""
from __future__ import annotations

import base64
import re
import time

from crmgate.clock import new_id

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _bits(text: str) -> int:
    """The 128-bit value an id's 26 digits hold (left-aligned base32, as base64.b32encode writes it)."""
    rfc = text.translate(str.maketrans(_CROCKFORD, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"))
    return int.from_bytes(base64.b32decode(rfc + "======"), "big")


def test_ids_have_the_ulid_shape_carry_the_time_and_sort_by_it():
    before = int(time.time() * 1000)
    first = [new_id("chg") for _ in range(2000)]
    after = int(time.time() * 1000)
    assert all(re.fullmatch(r"chg_[0-9A-HJKMNP-TV-Z]{26}", i) for i in first)
    assert len(set(first)) == len(first)
    assert all(before <= _bits(i[4:]) >> 80 <= after for i in first)
    assert sorted(first) == sorted(first, key=lambda i: _bits(i[4:]))  # text order is value order
    assert new_id("prp").startswith("prp_")
