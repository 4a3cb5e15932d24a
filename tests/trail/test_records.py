"""NewEntry's own checks: a bad id, kind or data is refused when the entry is made."""
from __future__ import annotations

from types import MappingProxyType

import pytest

from crmgate.trail import NewEntry
from crmgate.trail.records import ID_FIELDS


@pytest.mark.parametrize("name", ID_FIELDS)
def test_a_non_string_id_is_refused_by_name(name):
    """Each id field takes a str or None; anything else is a TypeError that names the field."""
    with pytest.raises(TypeError, match=rf"^NewEntry\.{name} must be a string or None, got int$"):
        NewEntry(kind="k", **{name: 7}, data={})


def test_a_subclass_of_str_and_a_read_only_mapping_are_accepted():
    """The checks are isinstance checks: str subclasses and any Mapping pass, as before."""

    class Text(str):
        pass

    made = NewEntry(kind="k", actor=Text("ai:x"), data=MappingProxyType({"a": 1}))
    assert made.actor == "ai:x" and dict(made.data) == {"a": 1}


def test_data_that_is_not_a_mapping_and_an_empty_kind_are_refused():
    """``data`` must be a mapping and ``kind`` a non-empty string."""
    with pytest.raises(TypeError, match="^NewEntry.data must be a mapping$"):
        NewEntry(kind="k", data=[1])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="^NewEntry.kind must be a non-empty string$"):
        NewEntry(kind="", data={})
