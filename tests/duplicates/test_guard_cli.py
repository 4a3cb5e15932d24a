"""The issue's done-when scenarios through the CLI on the sandbox, with the default matching rules."""
from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.duplicates.conftest import intake, lines, propose


def test_an_email_differing_only_in_case_is_blocked(run):
    first = propose(run, intake("Contact", FirstName="Ada", LastName="Lovelace", Email="ada@analytical.example"))
    assert first[0]["status"] == "applied"
    again = propose(run, intake("Contact", FirstName="Ada", LastName="Lovelace", Email="ADA@Analytical.Example"))[0]
    assert again["status"] == "rejected"
    assert again["rule"] == "matching.Contact.same_email"
    assert [v["code"] for v in again["violations"]] == ["duplicate"]
    dup = again["duplicates"]
    assert dup["effect"] == "blocked"
    assert dup["candidates"] == [{"object": "Contact", "id": first[0]["record_id"], "score": 100.0}]


def test_acme_inc_is_queued_with_the_candidate_shown(run):
    existing = propose(run, intake("Account", Name="Acme Inc"))[0]
    assert existing["status"] == "applied"
    out = propose(run, intake("Account", Name="ACME, Inc.", Industry="Manufacturing"))[0]
    assert out["status"] == "queued"
    assert out["rule"] == "matching.Account.similar_name"
    assert out["duplicates"]["candidates"][0] == {"object": "Account", "id": existing["record_id"], "score": 100.0}
    listed = json.loads(run("approvals", "list").stdout)
    mine = [q for q in listed if q["change_id"] == out["change_id"]]
    assert mine[0]["duplicates"]["candidates"][0]["id"] == existing["record_id"]
    shown = json.loads(run("approvals", "show", out["change_id"]).stdout)
    assert shown["duplicates"]["candidates"][0]["id"] == existing["record_id"]


def test_check_previews_a_match_and_writes_nothing(run, project):
    existing = propose(run, intake("Account", Name="Acme Inc"))[0]
    before = run("trail", "verify").stdout
    preview = lines(run("check", "-", input=json.dumps(intake("Account", Name="ACME, Inc."))))[0]
    assert preview["dry_run"] is True and preview["status"] == "queued"
    assert preview["duplicates"]["candidates"][0]["id"] == existing["record_id"]
    assert run("trail", "verify").stdout == before
    assert json.loads(run("approvals", "list").stdout) == []


def test_two_creates_of_one_person_in_one_batch_give_one_record(run, project):
    person = intake("Lead", FirstName="Grace", LastName="Hopper", Company="Navy Labs", Email="grace@navylabs.example")
    twin = intake("Lead", FirstName="Grace", LastName="Hopper", Company="Navy Labs", Email="Grace@NavyLabs.example")
    out = propose(run, person, twin)
    assert [o["status"] for o in out] == ["applied", "rejected"]
    assert out[1]["duplicates"]["candidates"] == [{"object": "Lead", "id": f"batch:{out[0]['proposal_id']}",
                                                  "score": 100.0, "in_batch": True}]
    import sqlite3
    with sqlite3.connect(project / "sandbox.db") as conn:
        n = conn.execute("SELECT count(*) FROM sandbox_records WHERE object='Lead' AND "
                         "lower(json_extract(fields, '$.Email')) = 'grace@navylabs.example'").fetchone()[0]
    assert n == 1


def _merge_rule(project: Path, overwrite: bool = False) -> None:
    path = project / "rules.yaml"
    rb = yaml.safe_load(path.read_text(encoding="utf-8"))
    rule = {"id": "same_email", "keys": [{"kind": "email", "fields": ["Email"]}], "action": "update_existing"}
    if overwrite:
        rule["overwrite"] = True
    rb["matching"]["Contact"]["rules"][0] = rule
    path.write_text(yaml.safe_dump(rb, allow_unicode=True, sort_keys=False), encoding="utf-8")


def test_update_existing_fills_only_the_empty_fields(run, project):
    _merge_rule(project)
    first = propose(run, intake("Contact", FirstName="Alan", LastName="Turing", Email="alan@bletchley.example"))[0]
    out = propose(run, intake("Contact", FirstName="Alan M.", LastName="Turing", Email="ALAN@bletchley.example",
                              Phone="+44 20 7946 0000"))[0]
    assert out["status"] == "applied"
    assert out["op"] == "update" and out["record_id"] == first["record_id"]
    assert out["duplicates"]["effect"] == "merged" and out["duplicates"]["merged_into"] == first["record_id"]
    assert out["changes"] == [{"field": "Phone", "before": None, "after": "+44 20 7946 0000"}]
    assert out["duplicates"]["proposed_fields"]["FirstName"] == "Alan M."  # the create as sent, for the trail
    fields = json.loads(run("records", "get", "Contact", first["record_id"]).stdout)["fields"]
    assert fields == {"FirstName": "Alan", "LastName": "Turing", "Email": "alan@bletchley.example",
                      "Phone": "+44 20 7946 0000"}


def test_update_existing_with_overwrite_replaces_values(run, project):
    _merge_rule(project, overwrite=True)
    first = propose(run, intake("Contact", FirstName="Alan", LastName="Turing", Email="alan@bletchley.example"))[0]
    out = propose(run, intake("Contact", FirstName="Alan M.", LastName="Turing", Email="alan@bletchley.example"))[0]
    assert out["status"] == "applied" and out["record_id"] == first["record_id"]
    assert out["changes"] == [{"field": "FirstName", "before": "Alan", "after": "Alan M."}]


def test_a_lead_for_someone_already_a_contact_is_blocked(run):
    contact = propose(run, intake("Contact", FirstName="Mary", LastName="Jackson", Email="mary+crm@nasa.example"))[0]
    lead = propose(run, intake("Lead", FirstName="Mary", LastName="Jackson", Company="NASA",
                               Email="MARY@nasa.example"))[0]
    assert lead["status"] == "rejected"
    assert lead["rule"] == "matching.Lead.same_email"
    assert lead["duplicates"]["candidates"][0]["id"] == contact["record_id"]


def test_the_report_counts_duplicates_per_use_case(run, project):
    propose(run, intake("Account", Name="Acme Inc"), intake("Contact", LastName="Ng", Email="ng@initech.example"))
    propose(run, intake("Account", Name="ACME, Inc."), intake("Contact", LastName="Ng", Email="NG@initech.example"))
    _merge_rule(project)
    propose(run, intake("Contact", LastName="Ng", Email="ng@initech.example", Phone="+1 415 555 0100"))
    data = json.loads(run("report", "--json").stdout)["by_use_case"]["intake"]
    assert (data["duplicates_blocked"], data["duplicates_queued"], data["duplicates_merged"]) == (1, 1, 1)
    table = run("report", "--output", "table").stdout
    assert "duplicates by use case" in table and "intake" in table.split("duplicates by use case")[1]


def test_a_failed_candidate_look_up_fails_the_create_and_writes_nothing(tmp_path):
    """Deciding without the check would let a duplicate through silently: the create fails instead."""
    from crmgate.adapters.sandbox.adapter import SandboxAdapter
    from crmgate.gate import Gate
    from crmgate.project.scaffold import example_rulebook
    from crmgate.rules.loader import parse_rulebook
    from crmgate.trail import TrailStore, generate_keypair, load_signer

    generate_keypair(tmp_path / "k", tmp_path / "k.pub")
    store = TrailStore(f"sqlite:///{tmp_path / 't.db'}", signer=load_signer(tmp_path / "k", env={}))
    crm = SandboxAdapter(tmp_path / "crm.db")
    gate = Gate(rulebook=parse_rulebook(example_rulebook()), adapter=crm, store=store)
    crm.inject_fault("find_candidates", code="unavailable", status=503, whole_call=True)
    [out] = gate.propose([intake("Contact", LastName="Ng", Email="ng@initech.example")])
    assert out.status == "failed" and out.reason == "the duplicate candidates could not be read"
    assert out.error["code"] == "unavailable"
    assert not [c for c in crm.calls if c[0] == "create_many"]
    [decided] = [e for e in store.entries_for(proposal_id=out.proposal_id)]
    assert decided.kind == "proposal.decided" and decided.data["status"] == "failed"
    crm.close()
    store.close()
