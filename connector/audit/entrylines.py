"""The entries of an export read back line by line (JSONL: the export; CSV: its entries file).

Each line becomes an :class:`Item` for the offline verifier (:mod:`crmgate.audit.verify_export`):
its seq, the hashed body, ``prev_hash`` and ``hash``, or what is wrong with it. The CSV row check
(:mod:`crmgate.audit.csvcheck`) reads the entries file with the same functions, so a worker
process comparing the rows sees exactly the entries the verifier's walk sees.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from crmgate.audit.formats import canonical_body, content_of
from crmgate.trail.records import CONTENT_FIELDS


@dataclass(slots=True)
class Item:
    """One exported entry as read back: its seq, body text, hashes, and anything wrong with it."""

    seq: int
    body: str = ""
    prev_hash: str = ""
    hash: str = ""
    error: str | None = None
    edited: str | None = None


_TAIL = 154  # len(',"prev_hash":"' + 64 hex + '","hash":"' + 64 hex + '"}')


def _sliced(text: str) -> tuple[int, str] | None:
    """The seq and body of a line as the exporter writes it (``text``: without its newline), else None."""
    if text[-_TAIL:-140] == ',"prev_hash":"' and text[-76:-66] == '","hash":"' and text[-2:] == '"}':
        body = text[:-_TAIL] + "}"
        at = body.rfind(',"seq":') + 7
        digits = body[at:body.find(",", at)]
        if at > 6 and digits.isascii() and digits.isdigit():
            return int(digits), body
    return None


def jsonl_item(line: str, line_no: int) -> Item:
    """Read one JSONL line. A line as the exporter writes it (the hashed body, then the two hashes)
    is sliced, not parsed: the walk checks its hash; any other line is parsed and its body rebuilt."""
    text = line.rstrip("\n")
    sliced = _sliced(text)
    if sliced is not None:
        return Item(sliced[0], sliced[1], text[-140:-76], text[-66:-2])
    try:
        d = json.loads(line)
        seq = d["seq"]
        if not isinstance(seq, int) or isinstance(seq, bool):
            raise TypeError("seq")
        extra = set(d) - set(CONTENT_FIELDS) - {"prev_hash", "hash"}
        return Item(seq, canonical_body(content_of(d)), str(d.get("prev_hash")), str(d.get("hash")),
                    edited=f"unexpected keys {sorted(extra)}" if extra else None)
    except (ValueError, TypeError, KeyError, AttributeError):
        return Item(-line_no, error=f"line {line_no} is not an entry")


def jsonl_items(path: Path) -> Iterator[Item]:
    with open(path, encoding="utf-8", newline="") as fh:
        for line_no, line in enumerate(fh, start=1):
            yield jsonl_item(line, line_no)


def jsonl_bodies(path: Path) -> Iterator[tuple[str, str] | None]:
    """Each line's body and hash as :func:`jsonl_items` reads them (None for a line that is not an
    entry), without building the items: all the CSV row check needs."""
    with open(path, encoding="utf-8", newline="") as fh:
        for line_no, line in enumerate(fh, start=1):
            text = line.rstrip("\n")
            sliced = _sliced(text)
            if sliced is not None:
                yield sliced[1], text[-66:-2]
                continue
            item = jsonl_item(line, line_no)
            yield None if item.error is not None else (item.body, item.hash)
