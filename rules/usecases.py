"""Which use case a proposal runs under, decided from its actor and (optionally) its named use case."""
from __future__ import annotations

from fnmatch import fnmatchcase
from functools import lru_cache

from crmgate.rules.proposal import Proposal
from crmgate.rules.schema import Rulebook, UseCase
from crmgate.rules.violations import Code, Violation


def actor_matches(use_case: UseCase, actor: str) -> bool:
    """True when ``actor`` matches one of the use case's fnmatch globs (case-sensitive)."""
    return _matches(tuple(use_case.actors), actor)


@lru_cache(maxsize=4096)  # a few actors propose thousands of times: each glob is tried once per actor
def _matches(patterns: tuple[str, ...], actor: str) -> bool:
    return any(fnmatchcase(actor, pattern) for pattern in patterns)


def resolve_use_case(proposal: Proposal, rulebook: Rulebook) -> tuple[str | None, Violation | None]:
    """Pick the use case for ``proposal``: ``(name, None)`` or ``(None, violation)``.

    Candidates are the use cases, in file order, whose ``actors`` globs match ``proposal.actor``
    (:func:`fnmatch.fnmatchcase`, so matching is case-sensitive).

    * ``proposal.use_case`` named: unknown name -> ``unknown_use_case``; actor not among the use
      case's actors -> ``actor_not_allowed``; otherwise that use case.
    * Not named: no candidate -> ``actor_not_allowed``; otherwise the first candidate whose
      ``allow`` covers the proposal's object and op, else the first candidate (whose ``allow``
      checks will then reject the proposal with a precise violation).
    """
    key = (proposal.actor, proposal.object, proposal.op, proposal.use_case)  # all the answer reads
    memo = rulebook.memo
    found = memo.get(key)
    if found is None:
        if len(memo) >= _MEMO_SIZE:
            memo.clear()
        found = memo[key] = _resolve(proposal, rulebook)
    return found


_MEMO_SIZE = 4096  # distinct (actor, object, op, use case) combinations kept per rulebook


def _resolve(proposal: Proposal, rulebook: Rulebook) -> tuple[str | None, Violation | None]:
    actor, obj = proposal.actor, proposal.object
    if proposal.use_case is not None:
        use_case = rulebook.use_cases.get(proposal.use_case)
        if use_case is None:
            known = ", ".join(rulebook.use_cases) or "none"
            return None, Violation(Code.UNKNOWN_USE_CASE.value, obj, None,
                                   f"use case {proposal.use_case!r} is not in the rulebook (known: {known})")
        if not actor_matches(use_case, actor):
            return None, Violation(Code.ACTOR_NOT_ALLOWED.value, obj, None,
                                   f"actor {actor!r} is not allowed for use case {proposal.use_case!r}")
        return proposal.use_case, None
    candidates = [name for name, uc in rulebook.use_cases.items() if actor_matches(uc, actor)]
    if not candidates:
        return None, Violation(Code.ACTOR_NOT_ALLOWED.value, obj, None,
                               f"actor {actor!r} is not allowed for any use case")
    for name in candidates:
        grant = rulebook.use_cases[name].allow.get(obj)
        if grant is not None and proposal.op.value in grant.ops:
            return name, None
    return candidates[0], None
