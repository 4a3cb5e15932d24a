"""Who an actor is: an ``ai:`` actor is an AI workflow, anything else a person or a service.

Look-alikes count: ``AI:x``, `` ai:x``, ``ai :x``, ``ａｉ:x`` (fullwidth), ``ai：x`` (fullwidth colon)
and ``\\u200bai:x`` (a zero-width space in front) are all AI actors, so no spelling slips an AI past
separation of duties. Credentials take only plain names (:func:`name_problem`).
"""
from __future__ import annotations

import unicodedata

AI_PREFIX = "ai:"
_INVISIBLE = ("C", "Z")  # control, format, unassigned... and every kind of space


def skeleton(actor: str | None) -> str:
    """The actor as compared: NFKC, without invisible characters or spaces, case-folded."""
    text = unicodedata.normalize("NFKC", actor or "")
    return "".join(ch for ch in text if unicodedata.category(ch)[0] not in _INVISIBLE).casefold()


def is_ai(actor: str | None) -> bool:
    """True for ``ai:...`` actors, however spelled (see the module docstring)."""
    return skeleton(actor).startswith(AI_PREFIX)


def name_problem(actor: str) -> str | None:
    """Why ``actor`` is not a plain actor name (NFKC, no spaces, controls or invisible characters),
    or None."""
    if not actor:
        return "an actor name cannot be empty"
    if len(actor) > 200:
        return "an actor name has at most 200 characters"
    if unicodedata.normalize("NFKC", actor) != actor:
        return "an actor name must be in Unicode NFKC form (no fullwidth or compatibility characters)"
    bad = next((ch for ch in actor if unicodedata.category(ch)[0] in _INVISIBLE), None)
    if bad is not None:
        return f"an actor name cannot hold spaces or invisible characters (U+{ord(bad):04X})"
    return None
