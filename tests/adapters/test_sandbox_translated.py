"""The sandbox's error edge: sqlite3 and Unicode errors leave as CRMErrors, anything else untouched."""
from __future__ import annotations

import pytest

from crmgate.adapters.errors import CRMValidationError
from crmgate.adapters.sandbox.adapter import SandboxAdapter
from crmgate.adapters.sandbox.faults import translated


def test_a_lone_surrogate_in_an_id_is_a_validation_error(tmp_path, clock) -> None:
    """SQLite stores only UTF-8: an id it cannot encode is a 400 invalid_text, caused by the UnicodeError."""
    with SandboxAdapter(tmp_path / "crm.db", clock=clock) as sandbox, pytest.raises(CRMValidationError) as raised:
        sandbox.get_many("Lead", ["00Q\ud800"])
    assert (raised.value.code, raised.value.status) == ("invalid_text", 400)
    assert isinstance(raised.value.__cause__, UnicodeError)


def test_other_errors_pass_through_and_nothing_is_swallowed() -> None:
    """A KeyError is not the database's: it leaves as it came; a clean block raises nothing."""
    with pytest.raises(KeyError):
        with translated():
            raise KeyError("x")
    with translated():
        pass
