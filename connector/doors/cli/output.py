"""Output for people and for scripts: ``--output table|json``.

A table (built with ``rich``) when stdout is a terminal, JSON when it is piped or redirected, unless
``--output`` says otherwise. JSON output is unchanged by this module: scripts keep what they parse.
Empty values read ``empty`` in tables, never ``None``.
"""
from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

F = TypeVar("F", bound=Callable[..., Any])
OUTPUTS = ("table", "json")


def output_option(fn: F) -> F:
    """``--output table|json`` (default: table on a terminal, JSON when piped)."""
    return click.option("--output", "output", type=click.Choice(OUTPUTS), default=None,
                        help="table (the default on a terminal) or json (the default when piped).")(fn)  # type: ignore[return-value]


def wants_table(output: str | None) -> bool:
    return output == "table" if output else sys.stdout.isatty()


def console() -> Console:
    """A console on the current stdout (click's test runner swaps it); wide when not a terminal."""
    tty = sys.stdout.isatty()
    return Console(file=sys.stdout, width=None if tty else 200, highlight=False, soft_wrap=not tty,
                   color_system="auto" if tty else None)


def show(value: Any) -> str:
    """A value in a table cell: ``empty`` for None or blank text, JSON for structures."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return "empty"
    if isinstance(value, (dict, list, bool)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]], *,
          caption: str | None = None) -> Table:
    t = Table(title=title, caption=caption, show_lines=False, header_style="bold", title_justify="left",
              caption_justify="left")
    for i, name in enumerate(columns):
        t.add_column(name, overflow="fold", no_wrap=i == 0)  # ids stay whole: people copy them
    for row in rows:
        t.add_row(*(c if isinstance(c, str) else show(c) for c in row))
    return t


def print_tables(*tables: Table | str) -> None:
    out = console()
    for t in tables:
        out.print(t)


def changes_text(changes: Iterable[Mapping[str, Any]]) -> str:
    return "\n".join(f"{c['field']}: {show(c.get('before'))} → {show(c.get('after'))}" for c in changes) or "-"


def violations_text(violations: Iterable[Mapping[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"✗ {v.get('field') or v.get('object')}: {v['message']}")
        if v.get("fix"):
            lines.append(f"  fix: {v['fix']}")
    return "\n".join(lines)


def outcomes_table(items: Sequence[Mapping[str, Any]], *, title: str = "outcomes") -> Table:
    """One row per outcome (or check): status, what, the change id, why (violations with their fix)."""
    rows = []
    for i, o in enumerate(items, start=1):
        why = o.get("reason") or ""
        if o.get("violations"):
            why += "\n" + violations_text(o["violations"])
        if o.get("error") and o.get("status") in ("failed", "conflict"):
            why += f"\n{o['error'].get('code')}: {o['error'].get('message')}"
        rows.append((str(i), o["status"], f"{o['op']} {o['object']} {o.get('record_id') or ''}".strip(),
                     changes_text(o.get("changes") or []), o.get("change_id") or "-", why.strip()))
    return table(title, ("#", "status", "what", "changes", "change id", "why"), rows)


def approvals_table(items: Sequence[Mapping[str, Any]], *, status: str | None) -> Table:
    rows = [(q["change_id"], q["status"], q["actor"], f"{q['op']} {q['object']} {q.get('record_id') or ''}".strip(),
             changes_text(q.get("changes") or []), f"{q.get('tier') or '-'}\n{q.get('rule') or ''}",
             q["queued_at"][:16].replace("T", " "), q["expires_at"][:16].replace("T", " "))
            for q in items]
    caption = (f"{len(items)} {status or ''} change{'s' if len(items) != 1 else ''}".replace("  ", " ")
               + ("; approve: crmgate approvals approve ID --by NAME" if status == "pending" and items else ""))
    return table(f"approval queue ({status or 'every status'})",
                 ("change", "status", "proposed by", "what", "changes", "tier / rule", "queued (UTC)",
                  "expires (UTC)"), rows, caption=caption)


def three_values_table(fields: Sequence[Mapping[str, Any]]) -> Table:
    """A stale change's fields: the value at queueing, now and proposed."""
    return table("fields this change writes", ("field", "at queueing", "now", "proposed", "moved"),
                 [(f["field"], f.get("queued"), f.get("now"), f.get("proposed"),
                   "yes" if f.get("changed") else "no") for f in fields])


def result_tables(result: Mapping[str, Any]) -> list[Table | str]:
    """An approval decision (approve, reject, requeue) for a person."""
    out: list[Table | str] = [table(None, ("change", "status", "by", "message"), [(
        result["change_id"], result["status"], result.get("by") or result.get("requeued_by") or "-",
        result.get("message") or "")])]
    check = result.get("recheck") or {}
    fields = check.get("fields") if check.get("result") == "stale" else result.get("fields")
    if fields:
        out.append(three_values_table(fields))
    if check.get("result") == "stale":
        out.append(f"stale ({check.get('check')} check): requeue it with "
                   f"crmgate approvals requeue {result['change_id']} --by NAME")
    return out


def records_table(obj: str, records: Sequence[Mapping[str, Any]], *, limit: int) -> Table:
    names: list[str] = []
    for r in records:
        names += [k for k in r["fields"] if k not in names]
    rows = [(r["id"], *(r["fields"].get(n) for n in names)) for r in records]
    more = "; there may be more: raise --limit" if len(records) >= limit else ""
    return table(f"{obj} records", ("id", *names), rows, caption=f"{len(records)} shown{more}")
