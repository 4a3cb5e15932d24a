"""Canonical JSON and the hash chain: the byte-exact form every trail hash and signature covers.

Contract (stable: auditors' exports depend on it):

* :func:`canonical_json` turns a value into JSON text with sorted keys, no insignificant
  whitespace and non-ASCII characters kept literally (the hash is over its UTF-8 bytes).
  ``datetime``/``date``/``time`` become ISO-8601 strings (``isoformat()``), ``Decimal`` becomes
  its ``str``, tuples become lists, sets become lists sorted by their canonical form, enums
  become their ``.value``, UUIDs their string. Mapping keys must be strings. NaN and infinities
  (float or Decimal) and strings that cannot be encoded as UTF-8 raise ``ValueError``; any other
  type raises ``TypeError``. Strings are not Unicode-normalised.
* :func:`entry_hash` is ``sha256(prev_hash + "\\n" + body)`` in lowercase hex; the first entry
  chains from :data:`GENESIS`.
* :func:`checkpoint_message` is the exact byte string a checkpoint signature covers.
* :func:`split_body` and :func:`splice_body` build an entry body in two steps, byte for byte
  the canonical JSON of the whole content: everything but ``seq`` and ``ts`` is serialised first
  (outside the trail's lock), the two are spliced in when the head is known. It relies on
  ``seq`` and ``ts`` being adjacent in sorted key order, with only ``use_case`` after them.
"""
from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum
from json.encoder import encode_basestring
from typing import Any
from uuid import UUID

import orjson

try:
    from json.encoder import c_make_encoder
except ImportError:  # pragma: no cover - CPython always has it
    c_make_encoder = None

GENESIS = "0" * 64


_PLAIN = frozenset({str, int, bool, type(None)})


def to_jsonable(value: Any) -> Any:
    """Return ``value`` as plain JSON types (dict/list/str/int/float/bool/None), per the contract."""
    # Fast path on exact types (the trail's hot loop); subclasses and the rest take the full path.
    # Plain leaves are copied inline: a call per leaf was most of the walk's cost.
    t = type(value)
    if t in _PLAIN:
        return value
    if t is dict:
        out = {}
        for key, item in value.items():
            if type(key) is not str:
                return _to_jsonable(value)
            out[key] = item if type(item) in _PLAIN else to_jsonable(item)
        return out
    if t is list or t is tuple:
        return [item if type(item) in _PLAIN else to_jsonable(item) for item in value]
    if t is float and math.isfinite(value):
        return value
    return _to_jsonable(value)


#: :func:`plain_kind` results (bit flags: ``PLAIN_FLOATS`` includes ``PLAIN``)
NOT_PLAIN, PLAIN, PLAIN_FLOATS = 0, 1, 3


def plain_kind(value: Any) -> int:
    """``PLAIN`` when ``value`` is already what :func:`to_jsonable` would return (exact dicts with
    str keys, lists, str, int, finite float, bool, None) and holds no float, ``PLAIN_FLOATS`` when
    it is and holds one, else ``NOT_PLAIN``. It walks without copying."""
    t = type(value)
    if t in _PLAIN:
        return PLAIN
    if t is dict:
        kind = PLAIN
        for key, item in value.items():
            if type(key) is not str:
                return NOT_PLAIN
            if type(item) not in _PLAIN:
                inner = plain_kind(item)
                if not inner:
                    return NOT_PLAIN
                kind |= inner
        return kind
    if t is list:
        kind = PLAIN
        for item in value:
            if type(item) not in _PLAIN:
                inner = plain_kind(item)
                if not inner:
                    return NOT_PLAIN
                kind |= inner
        return kind
    if t is float:
        return PLAIN_FLOATS if math.isfinite(value) else NOT_PLAIN
    return NOT_PLAIN


def is_plain_json(value: Any) -> bool:
    """True when ``value`` is already what :func:`to_jsonable` would return (see :func:`plain_kind`)."""
    return plain_kind(value) != NOT_PLAIN


def _to_jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, Enum):
        return to_jsonable(value.value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"canonical JSON rejects non-finite float {value!r}")
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"canonical JSON rejects non-finite Decimal {value!r}")
        return str(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(key, Enum):
                key = key.value
            if not isinstance(key, str):
                raise TypeError(f"canonical JSON needs string keys, got {type(key).__name__}")
            out[str(key)] = to_jsonable(item)
        return out
    if isinstance(value, (list, tuple)):
        return [to_jsonable(item) for item in value]
    if isinstance(value, (set, frozenset)):
        items = [to_jsonable(item) for item in value]
        return sorted(items, key=_dumps)
    raise TypeError(f"canonical JSON cannot encode {type(value).__name__}")


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


# The C encoder that json.dumps above builds on every call, built once. No cycle check (markers
# None): it only ever sees to_jsonable's output, a freshly built tree that cannot hold a cycle.
_STRICT = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_ENCODE = (c_make_encoder(None, _STRICT.default, encode_basestring, None, ":", ",", True, False, False)
           if c_make_encoder is not None else None)


_SORTED = orjson.OPT_SORT_KEYS


def _dumps_plain(value: Any, floats: bool = True) -> str:
    """``_dumps`` for plain JSON values, byte for byte, without rebuilding the encoder.

    ``floats=False`` promises ``value`` holds no float: then orjson writes it (~6x faster), whose
    output is byte for byte ``_dumps``'s for everything but floats (it writes ``1e-05`` as
    ``0.00001``); what it refuses (integers beyond 64 bits, lone surrogates, deep nesting) goes
    the ``json`` way, which writes or rejects it as the contract says."""
    if not floats:
        try:
            return orjson.dumps(value, option=_SORTED).decode("utf-8")
        except TypeError:  # orjson.JSONEncodeError is a TypeError
            pass
    if _ENCODE is None or type(value) is str:
        return _dumps(value)
    return "".join(_ENCODE(value, 0))


def canonical_json(value: Any, *, jsonable: bool = False, floats: bool = True) -> str:
    """Return the canonical JSON text of ``value`` (see the module contract).

    ``jsonable=True`` promises ``value`` already came from :func:`to_jsonable`, skipping the walk;
    with it, ``floats=False`` promises that it holds no float (:func:`plain_kind` tells).
    """
    text = _dumps_plain(value, floats) if jsonable else _dumps_plain(to_jsonable(value))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("canonical JSON rejects strings that are not valid Unicode (lone surrogates)") from exc
    return text


_MARK = ',"seq":0,"ts":""'


def split_body(content: dict[str, Any], *, floats: bool = True) -> tuple[str, str]:
    """The canonical JSON of ``content`` (an entry's content, plain JSON, holding ``seq`` and
    ``ts`` placeholders or not) cut where the values of ``seq`` and ``ts`` go.

    ``splice_body(*split_body(c), seq, ts) == canonical_json({**c, "seq": seq, "ts": ts})``
    for every content with a key sorting before ``"seq"``, none between ``"seq"`` and ``"ts"``, and
    only strings or None after ``"ts"`` (an entry's content has exactly that shape).
    Raises as :func:`canonical_json` does (e.g. lone surrogates); ``floats=False`` promises that
    ``content`` holds no float (see :func:`canonical_json`).
    """
    for k, v in content.items():
        if ("seq" < k < "ts") or (k > "ts" and v is not None and type(v) is not str):
            raise ValueError(f"split_body cannot cut around key {k!r}")
    if not any(k < "seq" for k in content):
        raise ValueError("split_body needs a key before 'seq'")
    text = canonical_json({**content, "seq": 0, "ts": ""}, jsonable=True, floats=floats)
    # Rightmost: after the mark come only strings or null, in which a quote is always escaped,
    # so the mark cannot occur there; it can inside "data".
    cut = text.rindex(_MARK)
    return text[:cut] + ',"seq":', '"' + text[cut + len(_MARK):]


def splice_body(before: str, after: str, seq: int, ts: str) -> str:
    """The entry body from :func:`split_body`'s parts; ``ts`` must need no JSON escaping (the
    store's ISO-8601 timestamps never do)."""
    return f'{before}{seq},"ts":"{ts}{after}'


def entry_hash(prev_hash: str, body: str) -> str:
    """Return the SHA-256 hex digest of ``prev_hash + "\\n" + body`` encoded as UTF-8."""
    return hashlib.sha256(f"{prev_hash}\n{body}".encode("utf-8")).hexdigest()


def checkpoint_message(seq: int, head_hash: str, ts: str, key_id: str) -> bytes:
    """Return the bytes a checkpoint's Ed25519 signature covers."""
    return canonical_json({"seq": seq, "head_hash": head_hash, "ts": ts, "key_id": key_id}).encode("utf-8")
