"""Ids from :func:`crmgate.clock.new_id`: ``prefix_`` + 26 Crockford digits, time first, unique."""
from __future__ import annotations

import base64
import os
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


def test_the_80_random_bits_are_all_drawn():
    """Every random digit takes many values, the 10th digit's 2 random bits and the last digit's 3
    bits too (4 and 8 values), and the last digit's 2 low bits stay zero as base32 writes them."""
    ids = [new_id("chg")[4:] for _ in range(3000)]
    assert all(len({i[d] for i in ids}) == 32 for d in range(10, 25))
    assert len({_CROCKFORD.index(i[9]) & 3 for i in ids}) == 4
    assert {_CROCKFORD.index(i[25]) for i in ids} == set(range(0, 32, 4))


def test_a_forked_child_draws_other_random_bits_than_its_parent():
    """Random bytes are read ahead; a child forked with some left over must not reuse them."""
    new_id("chg")  # the pool now holds bytes for ids to come
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids' random digits, then leave at once
        os.write(write, " ".join(new_id("chg")[14:] for _ in range(5)).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = set(os.read(read, 4096).decode().split())
    os.close(read)
    assert len(child) == 5
    assert not child & {new_id("chg")[14:] for _ in range(5)}


def test_iso_writes_microseconds_and_z_for_every_kind_of_datetime():
    """The trail's time text: six fraction digits even at 0, any offset turned into UTC."""
    from datetime import datetime, timedelta, timezone

    from crmgate.clock import iso

    assert iso(datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc)) == "2026-11-22T09:00:00.000000Z"
    assert iso(datetime(2026, 11, 22, 9, 0, 5, 7, tzinfo=timezone.utc)) == "2026-11-22T09:00:05.000007Z"
    assert iso(datetime(2026, 11, 22, 10, 30, 0, 123456, tzinfo=timezone(timedelta(hours=1)))) \
        == "2026-11-22T09:30:00.123456Z"
