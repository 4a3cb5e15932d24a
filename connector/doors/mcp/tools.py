"""What the MCP tools say: their schemas and descriptions, generated from the rulebook for one
credential, and their results in words. Pure functions of the rulebook, the credential and the
service's result dicts; :mod:`crmgate.doors.mcp.server` runs the calls.

An agent knows only what these texts tell it, so a description states its boundaries before it
acts (objects, operations, fields with types, lengths and picklist values, mode, confidence floor,
what is risky) and a result states the outcome and the next step (on a rejection, every violation
with its fix). ``propose`` gives ``propose_change`` and ``check_change``; ``read`` gives
``get_record`` and ``get_change_status``. No tool approves, rejects, rolls back or exports,
whatever the credential's scopes: those are for people.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import mcp_types as types

from crmgate.adapters.errors import CRMError
from crmgate.doors.boundaries import Grant, describe_field, field_schema, grants_for
from crmgate.doors.credentials import Credential
from crmgate.errors import CrmgateError
from crmgate.rules.schema import RiskRule, Rulebook
from crmgate.trail import TrailStoreError

PROPOSE, CHECK, GET_RECORD, GET_STATUS = "propose_change", "check_change", "get_record", "get_change_status"
TOOLS = (PROPOSE, CHECK, GET_RECORD, GET_STATUS)
OPS = ("create", "update", "delete")
_MODES = {
    "enforce": "mode enforce: a valid change is applied at once, unless it is risky (see below)",
    "suggest": "mode suggest: every valid change waits for a person's approval; none is applied directly",
    "shadow": "mode shadow (a trial run): changes are checked and recorded, never written to the CRM",
}
_TIER_ACTIONS = {"approve": "held for a person's approval (you get a change id)",
                 "block": "blocked: only a person may make it", "apply": "applied"}
_CONDITIONS = {"in": "is one of", "not_in": "is none of", "eq": "is", "ne": "is not", "gt": ">",
               "gte": ">=", "lt": "<", "lte": "<="}
#: violations no fix of the agent's can cure: the change is outside its boundaries
_FINAL = frozenset({"object_not_allowed", "operation_not_allowed", "actor_not_allowed", "unknown_object",
                    "blocked_by_risk_tier"})


# -- what the agent sees before it acts -------------------------------------------------------
def tools_for(rulebook: Rulebook, cred: Credential) -> list[types.Tool]:
    """The tools ``cred`` may call, described for its actor."""
    grants = grants_for(rulebook, cred.actor)
    schema = change_schema(grants)
    writes = any(op in g.ops for g in grants for op in ("update", "delete"))
    tools: list[types.Tool] = []
    if "propose" in cred.scopes:
        tools.append(types.Tool(
            name=PROPOSE, title="Propose a CRM change", input_schema=schema,
            description=(f"Propose one change to one CRM record, as {cred.actor}. crmgate checks it against "
                         "the rulebook, then applies it, holds it for a person's approval, or rejects it and "
                         "says how to fix it; every proposal is recorded in an audit trail. You cannot "
                         "approve or roll back changes: people do that.\n\n"
                         + boundaries(rulebook, cred.actor, grants) + ("\n\n" + _HOW if grants else "")),
            annotations=types.ToolAnnotations(read_only_hint=False, destructive_hint=writes,
                                              idempotent_hint=False, open_world_hint=True)))
        tools.append(types.Tool(
            name=CHECK, title="Check a CRM change without writing", input_schema=schema,
            description=("Check a change without writing anything: the same arguments as propose_change, "
                         "and the outcome propose_change would give now (applied, held for a person, "
                         "rejected with a fix for each problem, or shadowed). Nothing is recorded or sent "
                         "to the CRM. The boundaries in propose_change's description apply."),
            annotations=types.ToolAnnotations(read_only_hint=True, open_world_hint=True)))
    if "read" in cred.scopes:
        tools.append(types.Tool(
            name=GET_RECORD, title="Read a CRM record", input_schema=_record_schema(rulebook),
            description=("Read one record as the CRM holds it now: its fields and version. Read it before "
                         "proposing an update, and again after a conflict. Objects: "
                         f"{', '.join(rulebook.objects)} (the ones the rulebook governs)."),
            annotations=types.ToolAnnotations(read_only_hint=True, open_world_hint=True)))
        tools.append(types.Tool(
            name=GET_STATUS, title="Get the status of a change", input_schema=_STATUS_SCHEMA,
            description=("Where one of your proposals stands now: applied, held for a person, approved, "
                         "rejected (by the rules or by a person, with the reason), rolled back by a person, "
                         "failed or in conflict. Give the change_id (or, for a rejected proposal, the "
                         "proposal_id) that propose_change returned. Only your own changes can be read."),
            annotations=types.ToolAnnotations(read_only_hint=True, open_world_hint=False)))
    return tools


_HOW = ("How to propose: send only the fields listed; record_id is required for update and delete and "
        "must be left out for create; read the record with get_record before an update; use check_change "
        "to see the outcome without writing. If a change is rejected, apply every fix and propose again, "
        "unless a fix says not to retry. Send confidence, reasons and the inputs you relied on: people "
        "reviewing the change read them.")


def boundaries(rulebook: Rulebook, actor: str, grants: list[Grant]) -> str:
    """What ``actor`` may change, per use case and object, and which of those changes are risky."""
    if not grants:
        return (f"{actor} has no use case in the rulebook: it may not change any record, and every proposal "
                f"will be rejected. Do not call this tool; ask an admin to add a use case for {actor}.")
    lines = [f"What {actor} may change (from the rulebook):"]
    for uc in dict.fromkeys(g.use_case for g in grants):
        own = [g for g in grants if g.use_case == uc]
        floor, about = own[0].min_confidence, rulebook.use_cases[uc].description
        lines.append(f"- Use case {uc}{f' ({about})' if about else ''}, {_MODES[own[0].mode]}."
                     + (f" Confidence floor {floor:g}: below it, or without a confidence, a change waits "
                        "for a person." if floor is not None else ""))
        for g in own:
            lines.append(f"  {g.object}: {', '.join(g.ops)}. Fields you may set:")
            lines += [f"    - {describe_field(name, spec)}" for name, spec in g.fields.items()] or ["    (none)"]
    for obj in dict.fromkeys(g.object for g in grants):
        for rw in rulebook.objects[obj].required_when:
            lines.append(f"- {obj}: when {_condition(rw.when)}, these must be set too: {', '.join(rw.fields)}.")
    return "\n".join(lines + _risk_lines(rulebook, grants))


def _condition(when: Mapping[str, Any]) -> str:
    parts = []
    for name, test in when.items():
        for op, value in (test.items() if isinstance(test, Mapping) else [("eq", test)]):
            if op == "present":
                parts.append(f"{name} is {'set' if value else 'empty'}")
            else:
                shown = f"({', '.join(map(str, value))})" if isinstance(value, list) else str(value)
                parts.append(f"{name} {_CONDITIONS.get(op, op)} {shown}")
    return " and ".join(parts)


def _risk_lines(rulebook: Rulebook, grants: list[Grant]) -> list[str]:
    actions = rulebook.risk.tiers.model_dump()
    allowed: dict[str, tuple[set[str], set[str]]] = {}
    for g in grants:
        ops, fields = allowed.setdefault(g.object, (set(), set()))
        ops.update(g.ops)
        fields.update(g.fields)
    lines = [f"  - {_rule_words(rule)}: {rule.tier} risk, {_TIER_ACTIONS[actions[rule.tier]]}."
             for rule in rulebook.risk.rules
             if actions[rule.tier] != "apply" and _concerns(rule, allowed)]
    default = rulebook.risk.default
    if actions[default] != "apply":
        lines.append(f"  - Any other change: {default} risk, {_TIER_ACTIONS[actions[default]]}.")
    if not lines:
        return ["Risky changes: no risk rule covers what you may change, so a valid change follows your mode."]
    return ["Risky changes (the rulebook's risk rules):", *lines]


def _concerns(rule: RiskRule, allowed: Mapping[str, tuple[set[str], set[str]]]) -> bool:
    return any(rule.object in (None, obj) and (rule.op is None or rule.op in ops)
               and (not rule.field_list or bool(set(rule.field_list) & fields))
               for obj, (ops, fields) in allowed.items())


def _rule_words(rule: RiskRule) -> str:
    if not rule.field_list:
        return f"Any {rule.op or 'change'}" + (f" of {rule.object}" if rule.object else "")
    names = " or ".join(f"{rule.object}.{f}" if rule.object else f for f in rule.field_list)
    if rule.to is not None:
        words = f"Setting {names} to {' or '.join(map(str, rule.to))}"
    elif rule.change_over_pct is not None:
        words = f"Changing {names} by more than {rule.change_over_pct:g}%"
    else:
        words = f"Changing {names}"
    return words + (f" (on {rule.op})" if rule.op else "")


def change_schema(grants: list[Grant]) -> dict[str, Any]:
    """The input schema of propose_change and check_change: the actor's objects, operations and
    fields (the union over its grants; a field's description names the object it belongs to)."""
    objects = list(dict.fromkeys(g.object for g in grants))
    seen: dict[str, list[tuple[str, Any]]] = {}
    for g in grants:
        for name, spec in g.fields.items():
            if (g.object, spec) not in seen.setdefault(name, []):
                seen[name].append((g.object, spec))
    props: dict[str, Any] = {}
    for name, specs in seen.items():
        schemas: list[dict[str, Any]] = []
        for _obj, spec in specs:
            if field_schema(spec) not in schemas:
                schemas.append(field_schema(spec))
        props[name] = {**(schemas[0] if len(schemas) == 1 else {"anyOf": schemas}),
                       "description": "; ".join(f"{o}: {describe_field(name, sp)}" for o, sp in specs)}
    obj: dict[str, Any] = ({"type": "string", "enum": objects, "description": "The CRM object to change."}
                           if objects else {"type": "string", "description": "None: you may change no object."})
    ops = [op for op in OPS if any(op in g.ops for g in grants)] or list(OPS)
    properties: dict[str, Any] = {
        "object": obj,
        "op": {"type": "string", "enum": ops,
               "description": "create a record, update fields of an existing one, or delete one."},
        "record_id": {"type": "string", "minLength": 1, "maxLength": 64,
                      "description": "The record's id: required for update and delete; leave it out for create."},
        "fields": {"type": "object", "properties": props, "additionalProperties": False,
                   "description": "The fields to set, name -> new value (null empties a field that is not "
                                  "required). For update, send only the fields that change; for delete, none."},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1,
                       "description": "How sure you are that this change is right, from 0 to 1."},
        "reasons": {"type": "array", "items": {"type": "string"},
                    "description": "Why you propose it, a sentence each; the people reviewing it read these."},
        "inputs": {"type": "object", "description": "The evidence you relied on (e.g. the form or email it "
                                                    "came from), recorded with the change."},
        "idempotency_key": {"type": "string", "minLength": 1, "maxLength": 200,
                            "description": "A key unique to this change. Sending the same key again returns "
                                           "the first outcome and does nothing, so a retry is always safe."},
    }
    if grants:
        properties["use_case"] = {"type": "string", "enum": list(dict.fromkeys(g.use_case for g in grants)),
                                  "description": "Optional: which of your use cases this change runs under "
                                                 "(default: the first that allows the object and operation)."}
    return {"type": "object", "properties": properties, "required": ["object", "op"],
            "additionalProperties": False}


def _record_schema(rulebook: Rulebook) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "required": ["object", "record_id"],
            "properties": {"object": {"type": "string", "enum": list(rulebook.objects)},
                           "record_id": {"type": "string", "minLength": 1, "maxLength": 64}}}


_STATUS_SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": False,
    "properties": {"change_id": {"type": "string", "minLength": 1, "maxLength": 64,
                                 "description": "The change_id a propose_change result named."},
                   "proposal_id": {"type": "string", "minLength": 1, "maxLength": 64,
                                   "description": "The proposal_id, for a proposal that has no change_id."}}}


# -- what the agent reads after it acts ----------------------------------------------------------
def tool_result(text: str, data: dict[str, Any], *, error: bool = False) -> types.CallToolResult:
    """A tool's result: ``text`` for the model, ``data`` as structured content (JSON-safe)."""
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)],
                                structured_content=json.loads(json.dumps(data, default=str)), is_error=error)


_HEADLINE = {
    "applied": "APPLIED: the {op} of {target} was written to the CRM.",
    "queued": "HELD FOR A PERSON: the {op} of {target} is not in the CRM yet; it waits for a person's approval.",
    "rejected": "REJECTED: nothing was written.",
    "shadowed": "SHADOWED: recorded, never written: use case {use_case} runs in shadow mode.",
    "failed": "FAILED: the CRM did not take the {op} of {target}; nothing was changed.",
    "conflict": "CONFLICT: {target} changed in the CRM after crmgate read it; nothing was written.",
    "unknown": "OUTCOME UNKNOWN: the {op} of {target} was sent to the CRM and may or may not have been applied.",
    "in_progress": "IN PROGRESS: the first attempt with this idempotency_key is still running.",
}
_CHECK_HEADLINE = {
    "applied": "WOULD BE APPLIED: the {op} of {target} would be written to the CRM at once.",
    "queued": "WOULD BE HELD FOR A PERSON: the {op} of {target} would wait for a person's approval.",
    "rejected": "WOULD BE REJECTED.",
    "shadowed": "WOULD BE SHADOWED: recorded, never written: use case {use_case} runs in shadow mode.",
    "failed": "CANNOT TELL: {target} could not be read from the CRM.",
}
_NEXT = {
    "applied": "Done: nothing more to do for this change.",
    "queued": "Do not propose it again: a person will approve or reject it. Follow it with get_change_status.",
    "shadowed": "Nothing more to do: shadow mode never writes, so do not retry.",
    "failed": "Read the record with get_record; if the change is still needed, propose it again later with a "
              "new idempotency_key.",
    "conflict": "Read the record again with get_record and propose again from its current values, with a new "
                "idempotency_key.",
    "unknown": "Do NOT propose it again under a new idempotency_key: that could write it twice. Wait, then ask "
               "again with the SAME idempotency_key (or follow it with get_change_status); crmgate reconcile "
               "finds out whether it landed.",
    "in_progress": "Wait a few seconds and ask again with the SAME idempotency_key. Never retry under a new key.",
}
_CHECK_NEXT = {
    "applied": "Call propose_change with the same arguments to make the change.",
    "queued": "propose_change with the same arguments would hold it for a person; do not expect it applied.",
    "shadowed": "propose_change would record it without writing it.",
    "failed": "Try again later.",
}
_WOULD = {"apply": "applied", "queue": "held for a person", "reject": "rejected"}


def outcome_text(out: Mapping[str, Any]) -> str:
    """A proposal's outcome, or a check's (``dry_run``), as an agent acts on it."""
    status, dry_run = out["status"], bool(out.get("dry_run"))
    target = f"{out['object']} {out['record_id']}" if out.get("record_id") else f"a new {out['object']}"
    headline = (_CHECK_HEADLINE if dry_run else _HEADLINE).get(status, status.upper())
    lines = [("CHECK ONLY, nothing was written. " if dry_run else "")
             + headline.format(op=out["op"], target=target, use_case=out.get("use_case"))]
    if out.get("replayed"):
        lines.append("This idempotency_key was used before: this is that first outcome; nothing new was done.")
    if out.get("change_id") or out.get("proposal_id"):
        lines.append(f"change_id: {out.get('change_id') or 'none'}; proposal_id: {out.get('proposal_id')}")
    if out.get("reason"):
        lines.append(f"Why: {out['reason']} [rule {out.get('rule')}; risk tier {out.get('tier') or 'none'}]")
    if out.get("would"):
        lines.append(f"In enforce mode it would have been {_WOULD.get(out['would'], out['would'])}.")
    if out.get("error"):
        lines.append(f"The CRM said: {out['error'].get('code')}: {out['error'].get('message')}")
    if out.get("changes") and status != "rejected":
        lines.append("Fields: " + "; ".join(f"{c['field']}: {_shown(c['before'])} -> {_shown(c['after'])}"
                                            for c in out["changes"]))
    violations = out.get("violations") or []
    if violations:
        lines.append(f"{len(violations)} problem(s):")
        for n, v in enumerate(violations, start=1):
            lines.append(f"{n}. {v['message']} [{v['code']}]\n   Fix: {v.get('fix') or 'see the message'}")
    if status == "rejected":
        final = any(v["code"] in _FINAL for v in violations)
        lines.append("Part of this change is outside what you may do: do not retry it as it is; a person must "
                     "make such a change." if final else
                     "Apply every fix above, then " + ("check or propose again." if dry_run else
                                                        "propose again (check_change first if unsure)."))
    else:
        lines.append((_CHECK_NEXT if dry_run else _NEXT).get(status, ""))
    return "\n".join(line for line in lines if line)


def record_text(record: Mapping[str, Any]) -> str:
    return (f"{record['object']} {record['id']} as the CRM holds it now (version {record['version']}):\n"
            + json.dumps(record["fields"], ensure_ascii=False, indent=1, default=str))


def _shown(value: Any) -> str:
    return "(empty)" if value is None else json.dumps(value, ensure_ascii=False, default=str)


_STATUS = {
    "applied": "applied: the change is in the CRM.",
    "queued": "held for a person's approval: not in the CRM yet. Ask again later; do not propose it again.",
    "approving": "approved by a person; the write is under way. Ask again shortly.",
    "rejected": "rejected: nothing was written.",
    "shadowed": "shadowed: recorded, never written (shadow mode).",
    "failed": "failed: the CRM did not take the write; nothing was changed.",
    "conflict": "in conflict: the record changed in the CRM first; nothing was written.",
    "unresolved": "unresolved: the write started but its result is not recorded yet. Wait and ask again; do "
                  "not propose it again under a new idempotency_key.",
    "unknown": "unknown: the write was sent and nobody can tell yet whether it landed. Wait and ask again "
               "(crmgate reconcile finds out); do not propose it again under a new idempotency_key.",
    "rolled_back": "rolled back by a person: the CRM holds the earlier values again. Do not propose it again "
                   "unless you are asked to.",
}


def status_text(view: Mapping[str, Any]) -> str:
    """Where a change stands now, as an agent acts on it."""
    target = f"{view.get('object')} {view.get('record_id') or '(new record)'}"
    lines = [f"Change {view.get('change_id') or 'none'} (proposal {view.get('proposal_id')}), the {view.get('op')} "
             f"of {target} by {view.get('actor')}, use case {view.get('use_case')}: "
             + _STATUS.get(view.get("status") or "", str(view.get("status")))]
    if view.get("reason"):
        lines.append(f"Decided by rule {view.get('rule')}: {view['reason']}")
    for who, at, what in (("approved_by", "approved_at", "Approved"), ("rejected_by", "rejected_at", "Rejected"),
                          ("rolled_back_by", "rolled_back_at", "Rolled back")):
        if view.get(who):
            lines.append(f"{what} by {view[who]} at {view.get(at)}"
                         + (f": {view['rejection_reason']}" if what == "Rejected" and view.get("rejection_reason")
                            else "."))
    if view.get("error"):
        lines.append(f"The CRM said: {view['error'].get('code')}: {view['error'].get('message')}")
    return "\n".join(lines)


_HINTS = {
    "missing_scope": "This token may not do that: ask an admin for a token with the scope it names.",
    "invalid_token": "This token is not valid: stop, and ask an admin for a new one.",
    "revoked_token": "This token was revoked: stop, and ask an admin.",
    "missing_token": "No token: the server must be started with one.",
    "rate_limited": "Too many calls: wait as long as it says before the next one.",
    "actor_mismatch": "Leave actor out: you always act as your token's actor.",
    "idempotency_key_in_use": "Choose another idempotency_key.",
    "invalid_proposal": "Correct the arguments as the tool's input schema says, then call again.",
    "invalid_arguments": "Correct the arguments as the tool's input schema says, then call again.",
}


def refusal(exc: CrmgateError | CRMError | TrailStoreError) -> types.CallToolResult:
    """A refused call as an MCP tool error: what was refused, why, and what to do."""
    err = dict(exc.to_dict())
    details = err.get("details")
    lines = [f"Refused ({err.get('code')}): {err.get('message')}"]
    problems = details.get("problems", []) if isinstance(details, dict) else []
    if len(problems) > 1:  # the message names the first one only
        lines += [f"- {p.get('path') or '(the change)'}: {p.get('message')}" for p in problems]
    if isinstance(exc, CRMError):
        lines.append("The CRM failed or refused the request; try again later.")
    elif isinstance(exc, TrailStoreError):
        lines.append("crmgate's store is unavailable; try again later.")
    elif err.get("code") in _HINTS:
        lines.append(_HINTS[err["code"]])
    return tool_result("\n".join(lines), {"error": err}, error=True)
