"""The sandbox's version stamps: ISO-8601 UTC with milliseconds, as Salesforce's SystemModstamp."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from crmgate.adapters.sandbox.schema import format_stamp, next_stamp


def test_stamps_keep_milliseconds_cut_not_rounded_in_utc():
    """Three fraction digits even at 0, the rest cut off; naive means UTC; offsets turn into UTC."""
    assert format_stamp(datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc)) == "2026-11-22T09:00:00.000Z"
    assert format_stamp(datetime(2026, 11, 22, 9, 0, 0, 999_999, tzinfo=timezone.utc)) == "2026-11-22T09:00:00.999Z"
    assert format_stamp(datetime(2026, 11, 22, 9, 0, 0, 1_999)) == "2026-11-22T09:00:00.001Z"
    assert format_stamp(datetime(2026, 11, 22, 10, 0, 0, 5_000, tzinfo=timezone(timedelta(hours=1)))) \
        == "2026-11-22T09:00:00.005Z"


def test_a_stamp_on_a_frozen_clock_moves_one_millisecond_past_the_last():
    """The version changes on every write even when the clock stands still."""
    now = datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc)
    assert next_stamp(now, None) == "2026-11-22T09:00:00.000Z"
    assert next_stamp(now, "2026-11-22T09:00:00.000Z") == "2026-11-22T09:00:00.001Z"
