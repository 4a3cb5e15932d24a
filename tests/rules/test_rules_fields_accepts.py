"""The per-field fast test (``ObjectSchema.accepts``) passes exactly the values check_value's own fast path passes."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from crmgate.rules.fields import FieldSpec, ObjectSchema, check_value

SPECS = {
    "s": FieldSpec(type="string"), "s3": FieldSpec(type="string", max_length=3),
    "p": FieldSpec(type="picklist", values=["Hot", "Warm", "Très"]),
    "p2": FieldSpec(type="picklist", values=["Hot", "Warm"], max_length=3),
    "e": FieldSpec(type="email"), "e9": FieldSpec(type="email", max_length=9),
    "i": FieldSpec(type="integer"), "ir": FieldSpec(type="integer", min=0, max=10),
    "n": FieldSpec(type="number", min=0), "b": FieldSpec(type="boolean"), "d": FieldSpec(type="date"),
    "t": FieldSpec(type="datetime"), "r": FieldSpec(type="reference"),
}
SCHEMA = ObjectSchema(fields=SPECS)
VALUES = st.one_of(
    st.sampled_from(["", "Hot", "Warm", "Cold", "Très", "a@b.co", "ab@cd.example", "x" * 250 + "@b.co", "not mail",
                     "2026-01-31", "2026-02-30", "2026-01-31T09:30:00Z", " ", "005A"]),
    st.text(max_size=6), st.integers(-5, 15), st.booleans(), st.floats(allow_nan=True), st.just([1]))


def _fast_path(spec: FieldSpec, value: object) -> bool:
    """check_value's fast path, written out as its docstring says it: the common valid shapes."""
    longest_ok = not isinstance(value, str) or spec.max_length is None or len(value) <= spec.max_length
    if type(value) is str:
        return longest_ok and (spec.type == "string" or (spec.type == "picklist" and value in (spec.values or ()))
                               or (spec.type == "email" and check_value("O", "f", spec, value) is None))
    return (type(value) is int and spec.type == "integer" and check_value("O", "f", spec, value) is None)


@settings(max_examples=400, deadline=None)
@given(name=st.sampled_from(sorted(SPECS)), value=VALUES)
def test_accepts_only_what_check_value_passes(name, value):
    """A value the fast test accepts has no violation; every value of the fast shapes is accepted."""
    accepted = SCHEMA.accepts[name](value)
    if accepted:
        assert check_value("O", name, SPECS[name], value) is None
    assert accepted == _fast_path(SPECS[name], value)


def test_accepts_covers_every_field():
    """One test per field, so an unknown field is the only one without."""
    assert set(SCHEMA.accepts) == set(SPECS)
    assert SCHEMA.accepts["ir"](10) and not SCHEMA.accepts["ir"](11) and not SCHEMA.accepts["ir"](True)
    assert SCHEMA.accepts["s3"]("abc") and not SCHEMA.accepts["s3"]("abcd")
    assert not SCHEMA.accepts["p2"]("Warm") and not SCHEMA.accepts["e9"]("ab@cd.example")
