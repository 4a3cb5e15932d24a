"""The governance report: is each AI use case, actor and field earning its autonomy?

Computed by streaming the trail once (pages of entries with ``ts >= since``). Every count is
attributed to the PROPOSAL it concerns (its use case, its proposing actor, and each field it
changes as ``Object.Field``; a delete counts once as ``Object:delete``), whoever wrote the entry:
a rollback by an admin counts against the AI actor whose change it undid. An event about a change
proposed before ``since`` is attributed by looking that change up in the trail. Memory grows with
the number of changes in the window (a few hundred bytes each), not with the number of entries.

Counters (per proposal unless said otherwise):

``proposals``            ``proposal.decided`` entries
``applied``              auto-applied by the rules and written ``ok`` (and updates that changed nothing)
``queued``               queued for a person
``approved``             ``approval.approved`` entries; ``approved_with_edits`` those with ``edits``
                         (per field: approvals in which that field was edited)
``rejected_by_rule``     rejected by validation, use case or a blocking risk tier
``rejected_by_person``   ``approval.rejected`` entries
``shadowed``             decided in shadow mode; ``would_apply``/``would_queue``/``would_reject`` what
                         enforce mode would have done
``written``              ``write.result`` ok (auto-applied or approved changes)
``rolled_back``          changes undone by a ``rollback.result`` ok (each change once)
``conflicts``            ``write.result`` conflict; ``failures``: ``write.result`` failed, plus
                         decisions that failed because the before-image could not be read
``write_attempts``       ``write.result`` entries plus those failed decisions
``unknown``              ``write.result`` unknown (sent, effect not known); ``reconciled``: changes
                         ``crmgate reconcile`` later found applied (counted as written too)
``feedback_correct`` / ``feedback_incorrect``   the latest ``feedback.recorded`` per change
``duplicates_blocked`` / ``duplicates_queued`` / ``duplicates_merged``   creates the duplicate guard
                         rejected, held for a person, or turned into an update of the match

Rates (``null`` when the denominator is 0):

``acceptance``   (applied + approved) / (applied + approved + rejected_by_rule + rejected_by_person)
``override``     (approved_with_edits + rejected_by_person) / (approved + rejected_by_person)
``rollback``     rolled_back / written
``exception``    (conflicts + failures) / write_attempts
``feedback_accuracy``   feedback_correct / (feedback_correct + feedback_incorrect)
``would_apply``  (shadow) would_apply / shadowed
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from crmgate.trail import Entry, TrailStore

COUNTERS: tuple[str, ...] = (
    "proposals", "applied", "queued", "approved", "approved_with_edits", "rejected_by_rule",
    "rejected_by_person", "shadowed", "would_apply", "would_queue", "would_reject", "written",
    "rolled_back", "conflicts", "failures", "write_attempts", "feedback_correct", "feedback_incorrect",
    "unknown", "reconciled",
    "duplicates_blocked", "duplicates_queued", "duplicates_merged",
)
NONE = "-"


def rates(c: Mapping[str, int]) -> dict[str, float | None]:
    """Return the rates of one group of counters (definitions in the module docstring)."""
    def ratio(num: int, den: int) -> float | None:
        return round(num / den, 4) if den else None

    decided = c["applied"] + c["approved"] + c["rejected_by_rule"] + c["rejected_by_person"]
    return {
        "acceptance": ratio(c["applied"] + c["approved"], decided),
        "override": ratio(c["approved_with_edits"] + c["rejected_by_person"], c["approved"] + c["rejected_by_person"]),
        "rollback": ratio(c["rolled_back"], c["written"]),
        "exception": ratio(c["conflicts"] + c["failures"], c["write_attempts"]),
        "feedback_accuracy": ratio(c["feedback_correct"], c["feedback_correct"] + c["feedback_incorrect"]),
        "would_apply": ratio(c["would_apply"], c["shadowed"]),
    }


def _zero() -> dict[str, int]:
    return dict.fromkeys(COUNTERS, 0)


@dataclass(slots=True)
class _Change:
    use_case: str
    actor: str
    fields: tuple[str, ...]
    approved: bool = False
    rolled_back: bool = False
    feedback: bool | None = None


@dataclass
class Report:
    """Counters and rates in total and per use case, actor and field; ``to_dict`` for ``--json``."""

    since: str | None = None
    entries: int = 0
    totals: dict[str, int] = field(default_factory=_zero)
    by_use_case: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(_zero))
    by_actor: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(_zero))
    by_field: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(_zero))

    def to_dict(self) -> dict[str, Any]:
        def group(g: Mapping[str, Mapping[str, int]]) -> dict[str, Any]:
            return {k: {**g[k], "rates": rates(g[k])} for k in sorted(g)}

        shadow = {uc: {k: c[k] for k in ("shadowed", "would_apply", "would_queue", "would_reject")}
                  | {"would_apply_rate": rates(c)["would_apply"]}
                  for uc, c in sorted(self.by_use_case.items()) if c["shadowed"]}
        return {"since": self.since, "entries": self.entries,
                "totals": {**self.totals, "rates": rates(self.totals)},
                "by_use_case": group(self.by_use_case), "by_actor": group(self.by_actor),
                "by_field": group(self.by_field), "shadow": shadow}


Lookup = Callable[[str, int], "_Change | None"]


class _Builder:
    def __init__(self, report: Report, lookup: Lookup | None) -> None:
        self.r = report
        self.changes: dict[str, _Change] = {}
        self.lookup = lookup

    def bump(self, ch: _Change, counter: str, fields: Iterable[str] | None = None) -> None:
        for group in (self.r.totals, self.r.by_use_case[ch.use_case], self.r.by_actor[ch.actor]):
            group[counter] += 1
        for name in ch.fields if fields is None else fields:
            self.r.by_field[name][counter] += 1

    def change(self, change_id: str | None, seq: int) -> _Change | None:
        if change_id is None:
            return None
        ch = self.changes.get(change_id)
        if ch is None and self.lookup is not None:
            ch = self.lookup(change_id, seq)
            if ch is not None:
                self.changes[change_id] = ch
        return ch

    def add(self, e: Entry) -> None:
        self.r.entries += 1
        handler = getattr(self, "_" + e.kind.replace(".", "_"), None)
        if handler is not None:
            handler(e)

    def _proposal_decided(self, e: Entry) -> None:
        ch = change_of(e)
        status = e.data.get("status")
        if e.change_id:
            self.changes[e.change_id] = ch
        self.bump(ch, "proposals")
        counter = {"applied": "applied", "queued": "queued", "rejected": "rejected_by_rule",
                   "shadowed": "shadowed", "failed": "failures"}.get(str(status))
        if counter:
            self.bump(ch, counter)
        if status == "failed":
            self.bump(ch, "write_attempts")
        effect = (e.data.get("duplicates") or {}).get("effect")
        if effect in ("blocked", "queued", "merged"):
            self.bump(ch, f"duplicates_{effect}", fields=())
        if status == "shadowed":
            would = (e.data.get("decision") or {}).get("would")
            if would in ("apply", "queue", "reject"):
                self.bump(ch, f"would_{would}")

    def _write_result(self, e: Entry) -> None:
        ch = self.change(e.change_id, e.seq)
        if ch is None:
            return
        self.bump(ch, "write_attempts")
        status = e.data.get("status")
        if status == "ok":
            self.bump(ch, "written")
            if not ch.approved:
                self.bump(ch, "applied")
        elif status in ("conflict", "failed"):
            self.bump(ch, "conflicts" if status == "conflict" else "failures")
        elif status == "unknown":
            self.bump(ch, "unknown")

    def _write_reconciled(self, e: Entry) -> None:
        ch = self.change(e.change_id, e.seq)
        if ch is not None and e.data.get("status") == "ok":
            self.bump(ch, "reconciled")
            self.bump(ch, "written")
            if not ch.approved:
                self.bump(ch, "applied")

    def _approval_approved(self, e: Entry) -> None:
        ch = self.change(e.change_id, e.seq)
        if ch is None:
            return
        ch.approved = True
        self.bump(ch, "approved")
        edits = e.data.get("edits") or {}
        if edits:
            self.bump(ch, "approved_with_edits", fields=[f"{e.object}.{name}" for name in edits])

    def _approval_rejected(self, e: Entry) -> None:
        ch = self.change(e.change_id, e.seq)
        if ch is not None:
            self.bump(ch, "rejected_by_person")

    def _rollback_result(self, e: Entry) -> None:
        ch = self.change(e.data.get("reverts"), e.seq)
        if ch is not None and e.data.get("status") == "ok" and not ch.rolled_back:
            ch.rolled_back = True
            self.bump(ch, "rolled_back")

    def _feedback_recorded(self, e: Entry) -> None:
        ch = self.change(e.change_id, e.seq)
        if ch is not None:
            ch.feedback = bool(e.data.get("correct"))

    def finish(self) -> Report:
        for ch in self.changes.values():
            if ch.feedback is not None:
                self.bump(ch, "feedback_correct" if ch.feedback else "feedback_incorrect")
        return self.r


def change_of(decided: Entry) -> _Change:
    """Return the attribution of a ``proposal.decided`` entry: use case, actor and fields."""
    decision = decided.data.get("decision") or {}
    obj = decided.object or NONE
    if decided.op == "delete":
        fields: tuple[str, ...] = (f"{obj}:delete",)
    else:
        fields = tuple(f"{obj}.{c['field']}" for c in decision.get("changes") or [] if isinstance(c, Mapping))
    return _Change(decided.use_case or decision.get("use_case") or NONE, decided.actor or NONE, fields)


def build_report(entries: Iterable[Entry], *, since: str | None = None, lookup: Lookup | None = None) -> Report:
    """Build the report from entries in seq order; ``lookup`` attributes changes decided earlier."""
    builder = _Builder(Report(since=since), lookup)
    for e in entries:
        builder.add(e)
    return builder.finish()


def _pages(store: TrailStore, since: str | None, page: int) -> Iterator[Entry]:
    start = 1
    while True:
        batch = store.query(since=since, start=start, limit=page)
        yield from batch
        if len(batch) < page:
            return
        start = batch[-1].seq + 1


def _store_lookup(store: TrailStore) -> Lookup:
    """Attribute a change decided before the window, with what happened to it before ``before_seq``."""
    def lookup(change_id: str, before_seq: int) -> _Change | None:
        decided = next((e for e in store.entries_for(change_id=change_id) if e.kind == "proposal.decided"), None)
        if decided is None or decided.proposal_id is None:
            return None
        ch = change_of(decided)
        for e in store.entries_for(proposal_id=decided.proposal_id):  # rollbacks share the proposal id
            if e.seq >= before_seq:
                break
            if e.kind == "approval.approved" and e.change_id == change_id:
                ch.approved = True
            elif e.kind == "rollback.result" and e.data.get("reverts") == change_id and e.data.get("status") == "ok":
                ch.rolled_back = True
        return ch
    return lookup


def governance_report(store: TrailStore, *, since: str | None = None, page: int = 5000) -> Report:
    """Stream the trail from ``since`` (inclusive, stored time form) and build the report."""
    return build_report(_pages(store, since, page), since=since, lookup=_store_lookup(store))


_TABLE = (("proposals", "prop"), ("applied", "appl"), ("queued", "queue"), ("approved", "apprv"),
          ("approved_with_edits", "edits"), ("rejected_by_rule", "rej.rule"), ("rejected_by_person", "rej.pers"),
          ("shadowed", "shadow"), ("rolled_back", "rolled"), ("conflicts", "confl"), ("failures", "fail"))
_RATES = (("acceptance", "accept"), ("override", "override"), ("rollback", "rollbk"), ("exception", "except"),
          ("feedback_accuracy", "accuracy"))


def render_table(report: Report) -> str:
    """Return the report as plain-text tables (what ``crmgate report`` prints by default)."""
    lines = [(f"governance report{' since ' + report.since if report.since else ''}: "
             f"{report.entries} trail entries")]
    for title, groups in (("use case", report.by_use_case), ("actor", report.by_actor),
                          ("field", report.by_field)):
        rows = [(k, groups[k]) for k in sorted(groups)] + [("TOTAL", report.totals)]
        width = max(len(title), *(len(k) for k, _ in rows))
        lines += ["", f"{title:<{width}}  " + "  ".join(f"{h:>8}" for _, h in _TABLE + _RATES)]
        for key, c in rows:
            r = rates(c)
            cells = [f"{c[k]:>8}" for k, _ in _TABLE] + [
                f"{'-' if r[k] is None else f'{r[k]:.0%}':>8}" for k, _ in _RATES]
            lines.append(f"{key:<{width}}  " + "  ".join(cells))
    shadow = [(uc, c) for uc, c in sorted(report.by_use_case.items()) if c["shadowed"]]
    if shadow:
        width = max(len("shadow use case"), *(len(uc) for uc, _ in shadow))
        lines += ["", (f"{'shadow use case':<{width}}  {'shadowed':>8}  {'w.apply':>8}  {'w.queue':>8}  "
                      f"{'w.reject':>8}  {'w.apply%':>8}")]
        for uc, c in shadow:
            rate = rates(c)["would_apply"]
            lines.append(f"{uc:<{width}}  {c['shadowed']:>8}  {c['would_apply']:>8}  {c['would_queue']:>8}  "
                         f"{c['would_reject']:>8}  {'-' if rate is None else f'{rate:.0%}':>8}")
    dups = [(uc, c) for uc, c in sorted(report.by_use_case.items())
            if c["duplicates_blocked"] + c["duplicates_queued"] + c["duplicates_merged"]]
    if dups:
        width = max(len("duplicates by use case"), *(len(uc) for uc, _ in dups))
        lines += ["", f"{'duplicates by use case':<{width}}  {'blocked':>8}  {'queued':>8}  {'merged':>8}"]
        lines += [f"{uc:<{width}}  {c['duplicates_blocked']:>8}  {c['duplicates_queued']:>8}  "
                  f"{c['duplicates_merged']:>8}" for uc, c in dups]
    return "\n".join(lines)
