"""The hand-written constructors of the value objects built once per proposal or field put each
argument in its own slot (they set the slots directly rather than through the frozen dataclass
``__init__``), keep the defaults, and still refuse assignment."""
from __future__ import annotations

import dataclasses

import pytest

from crmgate.rules.decision import Decision, FieldChange
from crmgate.rules.matching import Candidate


@pytest.mark.parametrize("cls", [Decision, FieldChange, Candidate])
def test_each_argument_lands_in_its_own_field(cls: type) -> None:
    """Positional and keyword construction give every field its own argument, in declaration order."""
    names = [f.name for f in dataclasses.fields(cls)]
    by_position = cls(*names)
    by_keyword = cls(**{n: n for n in names})
    assert [getattr(by_position, n) for n in names] == names
    assert by_keyword == by_position and hash(by_keyword) == hash(by_position)
    assert dataclasses.replace(by_position, **{names[0]: "other"}) == cls("other", *names[1:])
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(by_position, names[-1], "changed")


def test_defaults_are_those_declared() -> None:
    """Arguments left out take the declared defaults."""
    d = Decision("apply", "uc", "enforce", "low", "risk.default", "why", (), ())
    assert (d.would, d.risk_matches) == (None, ())
    assert Candidate("Lead", "00Q1", {}).in_batch is False
