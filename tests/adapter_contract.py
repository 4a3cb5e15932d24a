"""The adapter contract (see ``adapters/base.py``) as tests every adapter's suite subclasses.

A subclass provides an ``adapter`` fixture and :meth:`AdapterContract.person_edit`, and overrides
the field hooks when its CRM uses other names (HubSpot)::

    class TestSandboxContract(AdapterContract):
        @pytest.fixture
        def adapter(self, tmp_path, clock):
            with SandboxAdapter(tmp_path / "crm.db", clock=clock) as sandbox:
                yield sandbox

        def person_edit(self, adapter, object, id, fields):
            adapter.edit(object, id, fields)

CRMs whose version token has 1-second resolution override :meth:`advance_clock` to move their
fake's clock; it is called wherever a test needs a new version. The adapter must expose
``max_batch`` (its chunk size); a subclass fixture may lower it to keep the batch test fast.
"""
from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import pytest

from crmgate.adapters.base import Adapter, CreateRequest, DeleteRequest, Record, UpdateRequest, WriteResult
from crmgate.adapters.errors import CRMError


class AdapterContract:
    """Contract tests; not collected itself (no ``Test`` prefix), only through subclasses."""

    #: the object most tests write; ``objects_under_test`` are all round-tripped
    object_name: str = "Lead"
    objects_under_test: tuple[str, ...] = ("Lead", "Opportunity")

    # -- hooks -------------------------------------------------------------------------------------

    def person_edit(self, adapter: Adapter, object: str, id: str, fields: Mapping[str, Any]) -> None:
        """Change a record the way a person in the CRM's UI would, outside crmgate."""
        raise NotImplementedError("subclasses say how a person edits a record in this CRM")

    def advance_clock(self, adapter: Adapter, seconds: float) -> None:
        """Let time pass in the CRM; a no-op for CRMs whose versions change on every write anyway."""

    def sample_fields(self, object: str) -> dict[str, Any]:
        """Valid create fields for ``object`` (Salesforce names by default)."""
        samples = {
            "Lead": {"LastName": "Kim", "Company": "Hanbit Logistics", "Email": "kim@example.com", "Country": "KR"},
            "Opportunity": {"Name": "Hanbit - Fleet", "StageName": "Prospecting", "CloseDate": "2026-12-31",
                            "Amount": 48000.5},
            "Account": {"Name": "Acme Logistics GmbH"},
            "Contact": {"LastName": "Müller", "Email": "jm@example.com"},
        }
        return dict(samples[object])

    def awkward_fields(self, object: str) -> dict[str, Any]:
        """Create fields full of text that breaks naive encoders and type sniffers."""
        if object == "Lead":
            return {"LastName": "O'Brien-김", "Company": "北京星河数据 · 주식회사 한빛 🚀", "Title": "-1E02 m² x³ ‰"}
        return self.sample_fields(object)

    def invalid_create_fields(self, object: str) -> dict[str, Any]:
        """Fields the CRM itself rejects for one record (default: a Lead with no LastName/Company)."""
        return {"Email": "nobody@example.com"} if object == "Lead" else {}

    def field_to_change(self, object: str) -> tuple[str, Any, Any]:
        """A nullable field absent from :meth:`sample_fields` and two distinct string values for it."""
        return ("Title", "Head of Data", "Chief Revenue Officer")

    def numbered_fields(self, object: str, n: int) -> dict[str, Any]:
        """Valid create fields that tell record ``n`` apart from the others."""
        name, first, _ = self.field_to_change(object)
        return {**self.sample_fields(object), name: f"{first} #{n}"}

    # -- helpers -----------------------------------------------------------------------------------

    def create(self, adapter: Adapter, fields: Mapping[str, Any] | None = None, key: str | None = None) -> Record:
        fields = self.sample_fields(self.object_name) if fields is None else fields
        [result] = adapter.create_many(self.object_name, [CreateRequest(fields, idempotency_key=key)])
        assert result.status == "ok", result.error
        assert result.id
        return self.get(adapter, result.id)

    def get(self, adapter: Adapter, id: str) -> Record:
        found = adapter.get_many(self.object_name, [id])
        assert id in found, f"{id} not readable"
        return found[id]

    def update(self, adapter: Adapter, id: str, fields: Mapping[str, Any], version: str | None = None) -> WriteResult:
        [result] = adapter.update_many(self.object_name, [UpdateRequest(id, fields, expected_version=version)])
        return result

    @staticmethod
    def present(fields: Mapping[str, Any]) -> dict[str, Any]:
        """Fields with a value: CRMs differ on whether a cleared field is absent or ``None``."""
        return {name: value for name, value in fields.items() if value is not None}

    # -- tests -------------------------------------------------------------------------------------

    def test_objects_include_the_objects_under_test(self, adapter: Adapter) -> None:
        """The adapter announces every object this suite writes."""
        assert set(self.objects_under_test) | {self.object_name} <= set(adapter.objects())

    def test_write_lanes_is_a_count_of_calls_in_flight(self, adapter: Adapter) -> None:
        """``write_lanes`` says how many write calls a caller may keep in flight: a whole number, 0 or more."""
        lanes = adapter.write_lanes
        assert isinstance(lanes, int) and not isinstance(lanes, bool) and lanes >= 0

    def test_create_then_get_round_trips_fields(self, adapter: Adapter) -> None:
        """What is created is read back exactly, for every object under test."""
        for object in self.objects_under_test:
            sent = self.sample_fields(object)
            [result] = adapter.create_many(object, [CreateRequest(sent)])
            assert result.status == "ok" and result.id, result.error
            record = adapter.get_many(object, [result.id])[result.id]
            assert (record.object, record.id) == (object, result.id)
            assert {name: record.fields.get(name) for name in sent} == sent
            assert isinstance(record.version, str) and record.version

    def test_awkward_unicode_round_trips_exactly(self, adapter: Adapter) -> None:
        """Korean, Chinese, emoji, superscripts and number-like strings come back unchanged as strings."""
        sent = self.awkward_fields(self.object_name)
        record = self.create(adapter, sent)
        assert {name: record.fields.get(name) for name in sent} == sent

    def test_results_come_back_one_per_request_in_order(self, adapter: Adapter) -> None:
        """A mixed batch yields ok/failed/ok in request order, each ok id holding its own values."""
        name = self.field_to_change(self.object_name)[0]
        requests = [
            CreateRequest(self.numbered_fields(self.object_name, 1)),
            CreateRequest(self.invalid_create_fields(self.object_name)),
            CreateRequest(self.numbered_fields(self.object_name, 3)),
        ]
        results = adapter.create_many(self.object_name, requests)
        assert [r.status for r in results] == ["ok", "failed", "ok"]
        assert results[1].error is not None and results[1].error.code
        found = adapter.get_many(self.object_name, [results[0].id, results[2].id])
        assert found[results[0].id].fields[name] == requests[0].fields[name]
        assert found[results[2].id].fields[name] == requests[2].fields[name]

    def test_failed_record_does_not_stop_the_others(self, adapter: Adapter) -> None:
        """An update failing first in a batch still lets the following update be written."""
        name, first, _ = self.field_to_change(self.object_name)
        gone, live = self.create(adapter), self.create(adapter)
        [deleted] = adapter.delete_many(self.object_name, [DeleteRequest(gone.id)])
        assert deleted.ok, deleted.error
        results = adapter.update_many(
            self.object_name, [UpdateRequest(gone.id, {name: first}), UpdateRequest(live.id, {name: first})]
        )
        assert [r.status for r in results] == ["failed", "ok"]
        assert [r.id for r in results] == [gone.id, live.id]
        assert self.get(adapter, live.id).fields[name] == first

    def test_get_many_returns_several_and_omits_missing(self, adapter: Adapter) -> None:
        """One get returns every live record asked for, keyed by id, and leaves out a deleted one."""
        a, gone, b = self.create(adapter), self.create(adapter), self.create(adapter)
        adapter.delete_many(self.object_name, [DeleteRequest(gone.id)])
        found = adapter.get_many(self.object_name, [a.id, gone.id, b.id])
        assert set(found) == {a.id, b.id}
        assert all(record.id == id and record.object == self.object_name for id, record in found.items())
        assert adapter.get_many(self.object_name, []) == {}

    def test_get_many_with_fields_holds_at_least_those(self, adapter: Adapter) -> None:
        """An adapter whose get_many takes fields= returns those fields that are set, and the version."""
        if "fields" not in inspect.signature(adapter.get_many).parameters:
            pytest.skip("this adapter's get_many reads every field")
        record = self.create(adapter)
        sample = self.sample_fields(self.object_name)
        name = next(iter(sample))
        got = adapter.get_many(self.object_name, [record.id], fields=[name])[record.id]  # type: ignore[call-arg]
        assert got.version == record.version and got.fields[name] == sample[name]

    def test_update_changes_the_version(self, adapter: Adapter) -> None:
        """Every write gives the record a new version, and the result carries the written values."""
        name, first, _ = self.field_to_change(self.object_name)
        before = self.create(adapter)
        self.advance_clock(adapter, 1)
        result = self.update(adapter, before.id, {name: first})
        assert result.ok, result.error
        after = self.get(adapter, before.id)
        assert after.version != before.version
        assert after.fields[name] == first
        if result.record is not None:
            assert result.record.fields[name] == first

    def test_conditional_update_with_current_version_succeeds(self, adapter: Adapter) -> None:
        """An update carrying the version just read is written."""
        name, first, second = self.field_to_change(self.object_name)
        record = self.create(adapter, {**self.sample_fields(self.object_name), name: first})
        self.advance_clock(adapter, 1)
        result = self.update(adapter, record.id, {name: second}, version=record.version)
        assert result.status == "ok", result.error
        assert self.get(adapter, record.id).fields[name] == second

    def test_conditional_update_with_stale_version_conflicts(self, adapter: Adapter) -> None:
        """After a person's edit, an update carrying the old version is a conflict and writes nothing."""
        name, first, second = self.field_to_change(self.object_name)
        record = self.create(adapter)
        self.advance_clock(adapter, 1)
        self.person_edit(adapter, self.object_name, record.id, {name: second})
        result = self.update(adapter, record.id, {name: first}, version=record.version)
        assert (result.status, result.id) == ("conflict", record.id)
        assert self.get(adapter, record.id).fields[name] == second

    def test_conditional_delete_with_stale_version_conflicts(self, adapter: Adapter) -> None:
        """After a person's edit, a delete carrying the old version is a conflict and the record stays."""
        name, _, second = self.field_to_change(self.object_name)
        record = self.create(adapter)
        self.advance_clock(adapter, 1)
        self.person_edit(adapter, self.object_name, record.id, {name: second})
        [result] = adapter.delete_many(self.object_name, [DeleteRequest(record.id, expected_version=record.version)])
        assert (result.status, result.id) == ("conflict", record.id)
        assert self.get(adapter, record.id).fields[name] == second

    def test_conditional_delete_with_current_version_removes_the_record(self, adapter: Adapter) -> None:
        """A delete carrying the version just read succeeds and the record can no longer be read."""
        record = self.create(adapter)
        [result] = adapter.delete_many(self.object_name, [DeleteRequest(record.id, expected_version=record.version)])
        assert (result.status, result.id) == ("ok", record.id)
        assert adapter.get_many(self.object_name, [record.id]) == {}

    def test_writes_to_a_deleted_record_fail_without_raising(self, adapter: Adapter) -> None:
        """Updating or deleting an already deleted record is a failed result, not an exception."""
        name, first, _ = self.field_to_change(self.object_name)
        record = self.create(adapter)
        adapter.delete_many(self.object_name, [DeleteRequest(record.id)])
        updated = self.update(adapter, record.id, {name: first})
        [deleted] = adapter.delete_many(self.object_name, [DeleteRequest(record.id, expected_version=record.version)])
        assert (updated.status, updated.id) == ("failed", record.id)
        assert (deleted.status, deleted.id) == ("failed", record.id)
        assert updated.error is not None and deleted.error is not None

    def test_same_idempotency_key_creates_one_record(self, adapter: Adapter) -> None:
        """A create retried with its idempotency key returns the first record; a new key makes a new one."""
        first = self.create(adapter, key="contract-key-1")
        [again] = adapter.create_many(
            self.object_name, [CreateRequest(self.sample_fields(self.object_name), idempotency_key="contract-key-1")]
        )
        assert (again.status, again.id) == ("ok", first.id)
        other = self.create(adapter, key="contract-key-2")
        assert other.id != first.id

    def test_more_requests_than_max_batch_all_succeed_in_order(self, adapter: Adapter) -> None:
        """Creates, conditional updates and deletes beyond one batch all succeed, results in order."""
        name = self.field_to_change(self.object_name)[0]
        count = adapter.max_batch + 1  # type: ignore[attr-defined]  # every adapter chunks at max_batch
        creates = [CreateRequest(self.numbered_fields(self.object_name, n)) for n in range(count)]
        created = adapter.create_many(self.object_name, creates)
        assert [r.status for r in created] == ["ok"] * count
        ids = [r.id for r in created]
        records = adapter.get_many(self.object_name, ids)
        assert [records[id].fields[name] for id in ids] == [c.fields[name] for c in creates]
        self.advance_clock(adapter, 1)
        updates = [UpdateRequest(id, {name: f"v2 {n}"}, records[id].version) for n, id in enumerate(ids)]
        updated = adapter.update_many(self.object_name, updates)
        assert [(r.status, r.id) for r in updated] == [("ok", id) for id in ids]
        records = adapter.get_many(self.object_name, ids)
        assert [records[id].fields[name] for id in ids] == [f"v2 {n}" for n in range(count)]
        deleted = adapter.delete_many(self.object_name, [DeleteRequest(id) for id in ids])
        assert [(r.status, r.id) for r in deleted] == [("ok", id) for id in ids]
        assert adapter.get_many(self.object_name, ids) == {}

    def test_rollback_round_trip_restores_the_original(self, adapter: Adapter) -> None:
        """Writing new values, then the before-values back conditionally, leaves the record as it was."""
        name, first, _ = self.field_to_change(self.object_name)
        original = self.create(adapter)
        kept = next(k for k, v in self.sample_fields(self.object_name).items() if isinstance(v, str))
        change = {name: first, kept: f"{original.fields[kept]} (changed)"}
        before = {field: original.fields.get(field) for field in change}
        self.advance_clock(adapter, 1)
        written = self.update(adapter, original.id, change, version=original.version)
        assert written.ok, written.error
        changed = self.get(adapter, original.id)
        assert self.present(changed.fields) != self.present(original.fields)
        self.advance_clock(adapter, 1)
        restored = self.update(adapter, original.id, before, version=changed.version)
        assert restored.ok, restored.error
        assert self.present(self.get(adapter, original.id).fields) == self.present(original.fields)

    def test_setting_a_field_to_none_clears_it(self, adapter: Adapter) -> None:
        """Writing ``None`` to a field empties it."""
        name, first, _ = self.field_to_change(self.object_name)
        record = self.create(adapter, {**self.sample_fields(self.object_name), name: first})
        result = self.update(adapter, record.id, {name: None})
        assert result.ok, result.error
        assert self.get(adapter, record.id).fields.get(name) is None

    def test_close_twice_is_safe(self, adapter: Adapter) -> None:
        """``close`` may be called more than once, and a call after it fails as a CRMError (the
        project's tree), never as an AttributeError from a dropped connection."""
        assert adapter.close() is None
        assert adapter.close() is None
        with pytest.raises(CRMError) as exc:
            adapter.create_many(self.object_name, [CreateRequest(self.sample_fields(self.object_name))])
        assert exc.value.code == "closed"
