"""Duplicate candidates for a batch: ONE ``find_candidates`` call per candidate object, then the
creates screened in submission order, each also against the creates before it in the batch.

A candidate object whose look-up fails is an error for every create that needed it (it is not
decided: deciding without the check would let a duplicate through silently).
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence

import structlog

from crmgate.adapters.base import Adapter, Record
from crmgate.adapters.errors import CRMError
from crmgate.decide.duplicates import DuplicateCheck, screen
from crmgate.rules.lookups import Asks, candidate_asks
from crmgate.rules.matching import Candidate, CandidatePool
from crmgate.rules.proposal import Op, Proposal
from crmgate.rules.schema import Rulebook

log = structlog.get_logger("crmgate.pipeline")


class BatchGuard:
    """The candidates of one batch (or one round of it) and the creates already screened."""

    def __init__(self, rulebook: Rulebook, records: Sequence[Record] = (),
                 errors: dict[str, CRMError] | None = None) -> None:
        self.rulebook = rulebook
        self.records = {(r.object, r.id): r for r in records}
        self.pool = CandidatePool(Candidate(r.object, r.id, r.fields) for r in records)
        self.errors = errors or {}

    @classmethod
    def prepare(cls, adapter: Adapter, rulebook: Rulebook, crm_objects: Collection[str],
                proposals: Sequence[Proposal]) -> BatchGuard:
        """Fetch the candidates every create of ``proposals`` may match: one call per object."""
        if not rulebook.matching:
            return cls(rulebook)
        by_object: dict[str, list[Proposal]] = defaultdict(list)
        for p in proposals:
            if p.op is Op.CREATE and p.object in rulebook.matching and p.object in rulebook.objects:
                by_object[p.object].append(p)
        asks = [candidate_asks(obj, rulebook.matching[obj], [p.fields for p in group])
                for obj, group in by_object.items()]
        asked = asks[0] if len(asks) == 1 else _merged(asks)  # (one object's: merged and sorted already)
        records: list[Record] = []
        errors: dict[str, CRMError] = {}
        for target in sorted(asked):
            if target not in crm_objects:
                continue
            try:
                records += adapter.find_candidates(target, *asked[target])
            except CRMError as exc:
                errors[target] = exc
                log.warning("duplicates.candidates_failed", object=target, code=exc.code)
        return cls(rulebook, records, errors)

    def error(self, proposal: Proposal) -> CRMError | None:
        """The failed look-up this create depended on, if any."""
        section = self.rulebook.matching.get(proposal.object)
        if proposal.op is not Op.CREATE or section is None or not self.errors:
            return None
        for rule in section.rules:
            for target in rule.targets(proposal.object):
                if target in self.errors:
                    return self.errors[target]
        return None

    def screen(self, proposal: Proposal) -> tuple[DuplicateCheck | None, Proposal, Record | None]:
        """The match, the proposal to decide on (an update for a merge) and that update's before-image."""
        check, effective = screen(proposal, self.rulebook, self.pool)
        before = None
        if check is not None and check.merged_into is not None:
            before = self.records.get((check.match.best.object, check.merged_into))
        return check, effective, before

    def remember(self, proposal: Proposal, proposal_id: str, action: str) -> None:
        """A create that will exist (applied or queued): later creates of the batch match it too."""
        if proposal.op is Op.CREATE and action in ("apply", "queue"):
            self.pool.add(Candidate(proposal.object, f"batch:{proposal_id}", proposal.fields, in_batch=True))


def _merged(asks: Sequence[Asks]) -> Asks:
    """Several objects' look-ups as one per candidate object: each field's values joined and sorted."""
    equals: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    starts: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for ask in asks:
        for target, (eq, pre) in ask.items():
            for f, values in eq.items():
                equals[target][f].update(values)
            for f, values in pre.items():
                starts[target][f].update(values)
    return {target: ({f: sorted(v) for f, v in equals[target].items()},
                     {f: sorted(v) for f, v in starts[target].items()})
            for target in sorted(set(equals) | set(starts))}
