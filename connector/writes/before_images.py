"""Reading the before-images of a batch of proposals: one ``get_many`` per object.

What a before-image holds: the record's version (the conflict check), and the fields a decision
can look at. The rulebook's semantic checks make every field that ``required_when``, ``when``,
``allow``, risk rules, routing, enrichment and matching name a field of the object's schema, and
validation refuses a proposal field the schema lacks, so a decision reads nothing outside
``objects[Obj].fields`` and the proposal's own fields. Those are all an update asks for, from an
adapter whose ``get_many`` takes ``fields=`` (Salesforce, where reading every field of a Lead
costs more than the write). Two cases read every field:

* an object with a delete in the batch: a delete's changes (and a rollback's re-create) are every
  current field;
* an object with an ``enrichment`` section: its provider is handed the whole record.
"""
from __future__ import annotations

import inspect
from collections import defaultdict
from collections.abc import Collection, Iterable

import structlog

from crmgate.adapters.base import Adapter, Record
from crmgate.adapters.errors import CRMError
from crmgate.rules.proposal import Op, Proposal
from crmgate.rules.schema import Rulebook

log = structlog.get_logger("crmgate.pipeline")

Found = dict[tuple[str, str], Record]
_NARROWS: dict[type, bool] = {}


def narrows(adapter: Adapter) -> bool:
    """Whether ``adapter.get_many`` takes ``fields=`` (the interface's older form does not)."""
    kind = type(adapter)
    if kind not in _NARROWS:
        try:
            _NARROWS[kind] = "fields" in inspect.signature(adapter.get_many).parameters
        except (TypeError, ValueError):
            _NARROWS[kind] = False
    return _NARROWS[kind]


def read_before_images(adapter: Adapter, rulebook: Rulebook, crm_objects: Collection[str],
                       proposals: Iterable[Proposal]) -> tuple[Found, dict[str, CRMError]]:
    """The current record of every update and delete whose object the CRM and the rulebook know.

    Returns ``(found, errors)``: records keyed by ``(object, record_id)`` (a missing record is
    simply absent), and the CRM error of each object whose read failed (its proposals cannot be
    decided).
    """
    wanted: dict[str, list[str]] = defaultdict(list)
    names: dict[str, set[str] | None] = {}
    for p in proposals:
        if p.op is not Op.CREATE and p.object in crm_objects and p.object in rulebook.objects:
            obj = p.object
            wanted[obj].append(p.record_id)  # type: ignore[arg-type]
            if obj not in names:
                names[obj] = None if obj in rulebook.enrichment else set(rulebook.objects[obj].fields)
            known = names[obj]
            if p.op is Op.DELETE:
                names[obj] = None
            elif known is not None:
                known.update(p.fields)
    narrow = narrows(adapter)
    found: Found = {}
    errors: dict[str, CRMError] = {}
    for obj, ids in wanted.items():
        fields = names[obj]
        try:
            got = (adapter.get_many(obj, list(dict.fromkeys(ids)), fields=fields)  # type: ignore[call-arg]
                   if narrow and fields is not None else adapter.get_many(obj, list(dict.fromkeys(ids))))
            for rid, rec in got.items():
                found[(obj, rid)] = rec
        except CRMError as exc:
            errors[obj] = exc
            log.warning("before_image.failed", object=obj, code=exc.code)
    return found, errors
