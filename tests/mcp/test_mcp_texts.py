"""The words of results the end-to-end tests cannot easily provoke: a conflict and a replayed key."""
from __future__ import annotations

from crmgate.doors.mcp.tools import outcome_text

CONFLICT = {"status": "conflict", "object": "Lead", "op": "update", "record_id": "00Q1", "change_id": "chg_1",
            "proposal_id": "prp_1", "reason": "the record changed since it was read", "rule": "risk.default",
            "tier": "low", "violations": [], "changes": [{"field": "Rating", "before": "Warm", "after": "Hot"}],
            "error": {"code": "conflict", "message": "LastModifiedDate moved"}}


def test_a_conflict_says_to_read_the_record_again_and_propose_from_its_current_values():
    """The agent is told nothing was written, what the CRM said, and to re-read before proposing again."""
    text = outcome_text(CONFLICT)
    assert text.startswith("CONFLICT: Lead 00Q1 changed in the CRM after crmgate read it; nothing was written.")
    assert "The CRM said: conflict: LastModifiedDate moved" in text
    assert text.endswith("Read the record again with get_record and propose again from its current values, "
                         "with a new idempotency_key.")


def test_a_replayed_key_says_nothing_new_was_done():
    """A repeated idempotency key returns the first outcome, and the text says no new change was made."""
    text = outcome_text({**CONFLICT, "status": "applied", "error": None, "replayed": True})
    assert text.startswith("APPLIED: the update of Lead 00Q1 was written to the CRM.\n"
                           "This idempotency_key was used before: this is that first outcome; nothing new was done.")


def test_unknown_and_in_progress_say_wait_and_keep_the_key():
    """An unknown write and a key in flight: the agent is told to wait and ask again with the SAME key,
    never to retry under a new one (that could write twice)."""
    unknown = outcome_text({**CONFLICT, "status": "unknown"})
    assert unknown.startswith("OUTCOME UNKNOWN: the update of Lead 00Q1 was sent to the CRM")
    assert "Do NOT propose it again under a new idempotency_key" in unknown
    waiting = outcome_text({**CONFLICT, "status": "in_progress", "replayed": True})
    assert waiting.startswith("IN PROGRESS")
    assert waiting.endswith("Wait a few seconds and ask again with the SAME idempotency_key. Never retry under a new key.")
