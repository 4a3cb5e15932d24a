"""What one change's rollback did, or would do in a dry run, in words a person can act on.

Said per change, from that change's own field plans (several changes to one record share one
CRM write, but each is told what happened to ITS fields): ``reverted`` fields, fields ``kept``
because they changed since crmgate wrote them, ``record deleted`` (undoing a create), ``record
re-created`` (undoing a delete), or ``nothing written`` and why. A dry run says ``would``.
"""
from __future__ import annotations

from collections.abc import Sequence

from crmgate.rollback.plan import FieldPlan


def _names(fields: Sequence[FieldPlan], *actions: str) -> list[str]:
    return sorted({f.field for f in fields if f.action in actions})


def _kept(fields: Sequence[FieldPlan]) -> str:
    kept = _names(fields, "conflict")
    if not kept:
        return ""
    return f"kept {', '.join(kept)} because {'it' if len(kept) == 1 else 'they'} changed since crmgate wrote " \
           f"{'it' if len(kept) == 1 else 'them'} (a conflict)"


def rollback_message(status: str, op: str, write_op: str | None, fields: Sequence[FieldPlan], *,
                     dry_run: bool, reason: str = "", new_record_id: str | None = None,
                     error: str | None = None) -> str:
    """The message of one change's rollback report (``status`` as in ``RollbackReport``).

    ``op``: the change's own operation; ``write_op``: what the record's rollback write is (update,
    delete, create or None); ``reason``: the record plan's own words when nothing is written.
    """
    kept = _kept(fields)
    if status == "noop":
        return f"nothing written: {reason or 'nothing to undo'}"
    if status == "failed":
        return f"nothing written: the CRM refused the write: {error or 'no reason given'}"
    if status == "conflict" and write_op is not None and not dry_run and not kept:
        return "nothing written: the record changed between the rollback's read and its write"
    if status == "conflict":
        if "exist" in reason:  # the record is gone, or a deleted one is back: no field is to blame
            return f"nothing written: {reason}"
        if op == "create" and kept:
            return f"nothing written: the created record is not deleted; {kept}"
        return f"nothing written: {kept or reason or 'a conflict'}"
    verb = "would " if dry_run else ""
    prefix = "dry run, nothing written: " if dry_run else ""
    if write_op == "delete":
        return f"{prefix}{verb}{'delete the created record' if dry_run else 'record deleted'}"
    if write_op == "create":
        if dry_run:
            return f"{prefix}would re-create the deleted record from its before-image (it gets a new id)"
        return f"record re-created from its before-image as {new_record_id or 'a new record'}"
    back = _names(fields, "revert", "force")
    forced = _names(fields, "force")
    done = f"{'would revert' if dry_run else 'reverted'} {', '.join(back)} to the value before the change"
    if forced:
        done += f" ({', '.join(forced)} forced over a later edit)"
    return prefix + done + (f"; {'would keep' if dry_run else 'kept'}{kept[4:]}" if kept else "")
