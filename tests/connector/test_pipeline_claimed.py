"""The stored outcome of a claimed idempotency key is replaced in place (``inflight.save_claimed``):
no look-up first, and a row that turns out missing is still stored, on SQLite and PostgreSQL."""
from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from crmgate import tables
from crmgate.writes import inflight
from crmgate.writes.outcome import Outcome


def _outcome(status: str, record_id: str | None = None) -> Outcome:
    return Outcome(status=status, proposal_id="prp_1", batch_id="bat_1", object="Lead", op="create",  # type: ignore[arg-type]
                   actor="ai:x", record_id=record_id)


def _stored(engine) -> dict[str, tuple[str, dict]]:
    with engine.connect() as conn:
        return {r.key: (r.proposal_id, json.loads(r.outcome)) for r in conn.execute(sa.select(tables.idempotency))}


def test_claimed_keys_get_their_own_outcome_in_place(engine):
    """Each claimed key gets its own outcome (not a neighbour's), keeping the claiming proposal id;
    other keys' rows are untouched; an empty list writes nothing."""
    with engine.begin() as conn:
        assert inflight.claim_keys(conn, {"k1": "prp_1", "k2": "prp_1", "other": "prp_9"}) == {"k1", "k2", "other"}
        inflight.save_claimed(conn, [])
        inflight.save_claimed(conn, [("k1", "prp_1", _outcome("in_progress")),
                                     ("k2", "prp_1", _outcome("queued"))])
    with engine.begin() as conn:
        inflight.save_claimed(conn, [("k1", "prp_1", _outcome("applied", "00Q1"))])
    assert _stored(engine) == {"k1": ("prp_1", _outcome("applied", "00Q1").to_dict()),
                               "k2": ("prp_1", _outcome("queued").to_dict()),
                               "other": ("prp_9", {})}


def test_a_key_whose_row_is_missing_is_still_stored(engine):
    """Should a claimed row be gone, the outcomes are stored anyway (inserted), the present one
    replaced: nothing is silently dropped."""
    with engine.begin() as conn:
        inflight.claim_keys(conn, {"k1": "prp_1"})
        inflight.save_claimed(conn, [("k1", "prp_1", _outcome("applied", "00Q1")),
                                     ("gone", "prp_2", _outcome("rejected"))])
    stored = _stored(engine)
    assert stored == {"k1": ("prp_1", _outcome("applied", "00Q1").to_dict()),
                      "gone": ("prp_2", _outcome("rejected").to_dict())}


def test_claimed_keys_are_saved_without_a_look_up(engine):
    """Keys whose rows exist are replaced on the driver alone: no SQLAlchemy statement at all
    (neither save_outcomes' look-up nor its UPDATE/INSERT), while a missing row takes that path."""
    seen: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    with engine.begin() as conn:
        inflight.claim_keys(conn, {"k1": "prp_1", "k2": "prp_1"})
        seen.clear()
        inflight.save_claimed(conn, [("k1", "prp_1", _outcome("queued")), ("k2", "prp_1", _outcome("rejected"))])
        assert seen == []
        inflight.save_claimed(conn, [("k3", "prp_1", _outcome("queued"))])
        assert seen  # the fallback: looked up, then inserted
    assert _stored(engine)["k2"] == ("prp_1", _outcome("rejected").to_dict())
