"""``crmgate demo``: the governed write path end to end, offline, in a throwaway directory."""
from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from crmgate.config import load_config
from crmgate.gate import Gate
from crmgate.project.scaffold import init_project
from crmgate.trail import TrailStore, load_public_key, verify_store

Echo = Callable[[str], Any]


class _Steps:
    def __init__(self, echo: Echo) -> None:
        self.echo, self.n, self.ok = echo, 0, True

    def check(self, title: str, got: str, want: str, detail: str = "") -> None:
        self.n += 1
        mark = "ok " if got == want else "BAD"
        self.ok &= got == want
        self.echo(f"{mark} {self.n:>2}. {title:<62} {got:<9} {detail}")


def run_demo(echo: Echo, workdir: Path | None = None) -> bool:
    """Run the walkthrough, printing each step; True when every step did what it should."""
    tmp = None
    if workdir is None:
        tmp = tempfile.mkdtemp(prefix="crmgate-demo-")
        workdir = Path(tmp)
    try:
        return _walkthrough(echo, workdir)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def _walkthrough(echo: Echo, workdir: Path) -> bool:
    init_project(workdir)
    config = load_config(workdir / "crmgate.yaml")
    echo(f"crmgate demo: an embedded sandbox CRM, the example rulebook and a signed trail in {workdir}\n")
    s = _Steps(echo)
    with Gate.from_config(config) as gate:
        def one(**p: Any):
            return gate.propose(p)[0]

        lead = one(object="Lead", op="create", actor="ai:lead-intake-1",
                   fields={"LastName": "Okafor", "Company": "Nordwind GmbH", "Country": "DE",
                           "Email": "a.okafor@nordwind.example", "NumberOfEmployees": 1200})
        s.check("ai:lead-intake-1 creates a Lead", lead.status, "applied", f"Lead {lead.record_id}")
        blank = one(object="Lead", op="update", record_id=lead.record_id, actor="ai:lead-intake-1",
                    fields={"Company": ""})
        s.check("ai:lead-intake-1 blanks the Lead's Company", blank.status, "rejected",
                _codes(blank))
        shadow = one(object="Lead", op="update", record_id=lead.record_id, actor="ai:lead-scorer-2",
                     fields={"Rating": "Hot"}, confidence=0.93)
        s.check("ai:lead-scorer-2 sets Rating (use case in shadow mode)", shadow.status, "shadowed",
                f"would {shadow.would}; CRM untouched")
        opp = one(object="Opportunity", op="create", actor="ai:deal-intake",
                  fields={"Name": "Nordwind expansion", "StageName": "Proposal", "CloseDate": "2027-01-29"})
        s.check("ai:deal-intake creates an Opportunity", opp.status, "applied", f"Opportunity {opp.record_id}")
        hyg = {"object": "Opportunity", "op": "update", "record_id": opp.record_id, "actor": "ai:deal-hygiene"}
        nego = one(**hyg, fields={"StageName": "Negotiation"}, confidence=0.95)
        s.check("ai:deal-hygiene moves it to Negotiation without Amount/NextStep", nego.status,
                "rejected", _codes(nego))
        fc = one(**hyg, fields={"ForecastCategoryName": "Commit"}, confidence=0.95)
        s.check("ai:deal-hygiene changes ForecastCategoryName (high risk)", fc.status, "queued", f"rule {fc.rule}")
        low = one(**hyg, fields={"NextStep": "Send pricing"}, confidence=0.5)
        s.check("ai:deal-hygiene with confidence 0.5 (threshold 0.7)", low.status, "queued", f"rule {low.rule}")
        dele = one(object="Opportunity", op="delete", record_id=opp.record_id, actor="ai:deal-hygiene",
                   confidence=0.99)
        s.check("ai:deal-hygiene deletes the Opportunity (critical)", dele.status, "rejected", _codes(dele))
        close = one(**hyg, fields={"CloseDate": "2027-03-31"}, confidence=0.9)
        s.check("ai:deal-hygiene moves CloseDate", close.status, "applied", f"change {close.change_id}")
        step = one(**hyg, fields={"NextStep": "Book a call with procurement"}, confidence=0.9)
        s.check("ai:deal-hygiene sets NextStep", step.status, "applied", f"change {step.change_id}")

        rb = gate.rollback(close.change_id, by="admin:demo")
        now = gate.record("Opportunity", opp.record_id)
        s.check("admin rolls back the CloseDate change", rb.status, "reverted",
                f"CloseDate is {now.fields.get('CloseDate') if now else '?'} again")
        gate.adapter.edit("Opportunity", opp.record_id, {"NextStep": "Waiting on legal"}, actor="person:rep")  # type: ignore[attr-defined]
        rb2 = gate.rollback(step.change_id, by="admin:demo")
        now = gate.record("Opportunity", opp.record_id)
        s.check("a rep edits NextStep; admin rolls back the AI's NextStep", rb2.status, "conflict",
                f"kept the rep's {now.fields.get('NextStep') if now else '?'!r}")
        stale = _conflicting_write(gate, opp.record_id)
        s.check("a rep edits between before-image and write", stale.status, "conflict",
                "nothing overwritten")
        _approvals_part(s, gate, fc, low, hyg)
        _duplicates_part(s, gate)
        queued = gate.approvals(status="pending")
        echo(f"\n   approval queue: {len(queued)} pending ({', '.join(q.rule or '' for q in queued)})")

    _routing_part(s, config, workdir)
    _doors_part(s, config)

    key = load_public_key(config.public_key_path)
    store = TrailStore(config.store)
    report = verify_store(store, key)
    store.close()
    s.check(f"trail verify ({report.entries} entries, {report.checkpoints} signed checkpoints)",
            "valid" if report.ok else "INVALID", "valid")
    tampered = _tamper_copy(config.store, workdir)
    store = TrailStore(tampered)
    bad = verify_store(store, key)
    store.close()
    s.check("someone edits one trail row in the database", "detected" if not bad.ok else "missed",
            "detected", f"first bad seq {bad.first_bad_seq}")
    echo("\nall steps behaved as the rulebook says." if s.ok else "\nSOME STEPS DID NOT BEHAVE AS EXPECTED.")
    return s.ok


def _routing_part(s: _Steps, config: Any, workdir: Path) -> None:
    """Enrichment then routing, with the example sections and the packaged offline provider."""
    from crmgate.project.scaffold import example_rulebook, routing_example

    rules = workdir / "rules-routing.yaml"
    rules.write_text(example_rulebook() + "\n" + routing_example(), encoding="utf-8")
    s.echo("\n   with routing and enrichment (crmgate init --with-routing):")
    with Gate.from_config(config.model_copy(update={"rules": str(rules)})) as gate:
        def lead(company: str) -> Any:
            return gate.propose({"object": "Lead", "op": "create", "actor": "ai:lead-intake-1",
                                 "fields": {"LastName": "Ibe", "Company": company}})[0]

        big = lead("Nordwind GmbH")
        r = big.to_dict().get("routing") or {}
        s.check("a Lead at Nordwind GmbH: enriched (DE, 4200 people), then routed", big.status, "applied",
                f"{r.get('winner')} by {r.get('step')} -> {r.get('owner')}")
        named = lead("Acme Corp")
        r = named.to_dict().get("routing") or {}
        s.check("a Lead at Acme Corp (a named account)", r.get("step", "?"), "guardrail",
                f"{r.get('winner')} -> {r.get('owner')}")
        unknown = lead("Nobody Ltd")
        s.check("a Lead the provider knows nothing about (Country: hold)", unknown.status, "queued",
                f"rule {unknown.rule}")


def _doors_part(s: _Steps, config: Any) -> None:
    """What `crmgate serve` and `crmgate mcp` enforce, through the service both doors share."""
    from crmgate.doors.wiring import open_service
    from crmgate.errors import CrmgateError

    def refused(call: Callable[[], Any]) -> str:
        try:
            call()
        except CrmgateError as exc:
            return exc.code
        return "allowed"

    s.echo("\n   agents through the HTTP API and MCP (crmgate tokens create, crmgate serve, crmgate mcp):")
    with open_service(config) as service:
        cred, token = service.credentials.create("ai:lead-intake-1", ["propose", "read"], by="admin:demo")
        agent, _ = service.admit(token, action="demo")
        new = {"object": "Lead", "op": "create", "fields": {"LastName": "Sato", "Company": "Kumo KK"}}
        [made] = service.propose(agent, [new])
        s.check("ai:lead-intake-1's token proposes a Lead (no actor given)", made.status, "applied",
                f"actor {made.actor}, from the token")
        s.check("the same token proposes as ai:deal-hygiene",
                refused(lambda: service.propose(agent, [{**new, "actor": "ai:deal-hygiene"}])),
                "actor_mismatch", "refused; nothing written")
        s.check("a token that lets ai:deal-hygiene approve",
                refused(lambda: service.credentials.create("ai:deal-hygiene", ["approve"], by="admin:demo")),
                "scope_not_allowed", "refused at creation")
        service.credentials.revoke(cred.id, by="admin:demo")
        s.check("the revoked token, one request later", refused(lambda: service.admit(token, action="demo")),
                "revoked_token", "401")


def _approvals_part(s: _Steps, gate: Gate, fc: Any, low: Any, hyg: dict[str, Any]) -> None:
    """Separation of duties, a stale approval, an edited approval, then a rollback by actor."""
    from crmgate.errors import ApprovalError

    try:
        gate.approve(fc.change_id, by="ai:deal-hygiene")
        refused, code = "approved", ""
    except ApprovalError as exc:
        refused, code = "refused", exc.code
    s.check("ai:deal-hygiene approves its own queued change", refused if code == "approver_is_proposer"
            else code or refused, "refused", "approver_is_proposer")
    stale = gate.approve(low.change_id, by="admin:demo")
    s.check("admin approves a NextStep change queued before a rep set NextStep", stale.status, "stale",
            f"{stale.recheck['check'] if stale.recheck else '?'} moved; nothing written")
    fresh = gate.propose({**hyg, "fields": {"ForecastCategoryName": "Commit"}, "confidence": 0.95})[0]
    edited = gate.approve(fresh.change_id, by="admin:demo", note="rep confirmed",
                          edits={"ForecastCategoryName": "Best Case"})
    s.check("admin approves a new forecast change, edited to Best Case", edited.status, "applied",
            "trail keeps Commit and Best Case")
    bulk = gate.rollback_many(actor="ai:deal-hygiene", by="admin:demo").summary
    s.check("admin rolls back all of ai:deal-hygiene's changes",
            f"{bulk['reverted']}/{bulk['conflicts']}/{bulk['skipped']}", "1/1/1",
            "reverted/conflicts/skipped: the rep's NextStep kept")


def _codes(outcome: Any) -> str:
    return ", ".join(sorted({v.code for v in outcome.violations}))


def _conflicting_write(gate: Gate, record_id: str):
    """Read a before-image, let a person edit, then write: the conditional write must refuse."""
    from crmgate.adapters.base import UpdateRequest

    before = gate.record("Opportunity", record_id)
    gate.adapter.edit("Opportunity", record_id, {"NextStep": "Rep's own plan"}, actor="person:rep")  # type: ignore[attr-defined]
    return gate.adapter.update_many("Opportunity", [
        UpdateRequest(record_id, {"NextStep": "AI plan"}, expected_version=before.version if before else None)])[0]


def _tamper_copy(store_url: str, workdir: Path) -> str:
    src = Path(store_url.removeprefix("sqlite:///"))
    dst = workdir / "tampered-trail.db"
    shutil.copy(src, dst)
    with sqlite3.connect(dst) as conn:
        conn.execute("UPDATE trail_entries SET body = replace(body, 'Okafor', 'Okafour') WHERE seq = 1")
    return f"sqlite:///{dst}"


def _duplicates_part(s: _Steps, gate: Gate) -> None:
    """The duplicate guard with the example rulebook's default matching rules."""
    def create(obj: str, **fields: Any):
        return gate.propose({"object": obj, "op": "create", "actor": "ai:intake-1", "fields": fields})[0]

    create("Contact", FirstName="Ada", LastName="Lovelace", Email="ada@analytical.example")
    again = create("Contact", FirstName="Ada", LastName="Lovelace", Email="ADA@Analytical.example")
    s.check("ai:intake-1 adds Ada again, email in other case", again.status, "rejected", _codes(again))
    acme = create("Account", Name="Acme Inc")
    dup = create("Account", Name="ACME, Inc.")
    best = (dup.extra.get("duplicates") or {}).get("candidates", [{}])[0]
    s.check('ai:intake-1 adds "ACME, Inc." beside "Acme Inc"', dup.status, "queued",
            f"candidate {best.get('id')} score {best.get('score')} (is {acme.record_id})")
