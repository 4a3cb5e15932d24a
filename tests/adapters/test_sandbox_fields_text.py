"""The sandbox stores a record's fields as exactly the text json.dumps gives, and reads back what
json.loads would (errors included), through the C encoder and scanner directly."""
from __future__ import annotations

import json

import pytest

from crmgate.adapters.sandbox.rows import dump_fields, load_fields

SAMPLES = [
    {},
    {"LastName": "O'Brien-김", "Company": "北京 · 🚀", "Quote": 'say "hi"\n\t\\'},
    {"n": 10**30, "f": 1e100, "neg": -0.0, "half": 0.5, "t": True, "f2": False, "none": None, "i": -7},
]


@pytest.mark.parametrize("fields", SAMPLES)
def test_fields_text_is_json_dumps_and_reads_back(fields):
    """Byte for byte what json.dumps writes (other readers of the file parse it), and read back equal."""
    assert dump_fields(fields) == json.dumps(fields)
    assert load_fields(dump_fields(fields)) == fields
    assert load_fields(json.dumps(fields, indent=1)) == fields  # text written by hand, with whitespace


@pytest.mark.parametrize("text", ["", "{", '{"a": 1} x', "nope"])
def test_bad_text_fails_as_json_loads_does(text):
    """Text that is not one JSON value raises json.loads' own error, never a half-read value."""
    with pytest.raises(json.JSONDecodeError):
        load_fields(text)
