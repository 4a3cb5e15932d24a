"""Reading the before-images of a batch of proposals: one ``get_many`` per object."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable

import structlog

from crmgate.adapters.base import Adapter, Record
from crmgate.adapters.errors import CRMError
from crmgate.rules.proposal import Op, Proposal
from crmgate.rules.schema import Rulebook

log = structlog.get_logger("crmgate.pipeline")

Found = dict[tuple[str, str], Record]


def read_before_images(adapter: Adapter, rulebook: Rulebook, crm_objects: Collection[str],
                       proposals: Iterable[Proposal]) -> tuple[Found, dict[str, CRMError]]:
    """The current record of every update and delete whose object the CRM and the rulebook know.

    Returns ``(found, errors)``: records keyed by ``(object, record_id)`` (a missing record is
    simply absent), and the CRM error of each object whose read failed (its proposals cannot be
    decided).
    """
    wanted: dict[str, list[str]] = defaultdict(list)
    for p in proposals:
        if p.op is not Op.CREATE and p.object in crm_objects and p.object in rulebook.objects:
            wanted[p.object].append(p.record_id)  # type: ignore[arg-type]
    found: Found = {}
    errors: dict[str, CRMError] = {}
    for obj, ids in wanted.items():
        try:
            for rid, rec in adapter.get_many(obj, list(dict.fromkeys(ids))).items():
                found[(obj, rid)] = rec
        except CRMError as exc:
            errors[obj] = exc
            log.warning("before_image.failed", object=obj, code=exc.code)
    return found, errors
