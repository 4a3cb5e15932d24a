"""Who an actor is: an ``ai:`` actor is an AI workflow, anything else a person or a service."""
from __future__ import annotations

AI_PREFIX = "ai:"


def is_ai(actor: str | None) -> bool:
    """True for ``ai:...`` actors (case-insensitive, surrounding blanks ignored)."""
    return (actor or "").strip().lower().startswith(AI_PREFIX)
