"""Charts drawn on the server as SVG: they render offline, print, and need no script.

Each chart is an ``<svg role="img">`` with a ``<title>`` and a ``<desc>`` that reads the values out,
so a screen reader gets the numbers the picture shows. Markup is built with Jinja2's escaping.
"""
from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

W, H, PAD_L, PAD_R, PAD_T, PAD_B = 560, 220, 44, 16, 14, 40
COLOURS = ("#0b4fa8", "#a4161a", "#1e6b2f", "#7a4b00", "#5b2a86", "#00606b")


def _pct(v: float | None) -> str:
    return "no data" if v is None else f"{v * 100:.0f}%"


def _short(label: str) -> str:
    """``2026-11-22`` -> ``11-22``; ``2026-11-22T09`` -> ``09:00``."""
    if len(label) == 13:
        return label[11:] + ":00"
    return label[5:] if len(label) == 10 else label


def _long(label: str) -> str:
    return label.replace("T", " ") + ":00" if len(label) == 13 else label


def rate_chart(title: str, labels: Sequence[str], series: dict[str, Sequence[float | None]], *,
               chart_id: str) -> Markup:
    """A line chart of rates (0..1) over ``labels`` (days), one line per series; gaps where None."""
    n = max(len(labels), 1)
    span_x, span_y = W - PAD_L - PAD_R, H - PAD_T - PAD_B
    full_h = H + 18 * ((len(series) - 1) // 3)  # a legend row per three series

    def x(i: int) -> float:
        return PAD_L + (span_x * (i + 0.5) / n)

    def y(v: float) -> float:
        return PAD_T + span_y * (1 - v)

    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {full_h}" width="{W}" height="{full_h}" role="img" '
              f'aria-labelledby="{chart_id}-t {chart_id}-d"><title id="{chart_id}-t">{escape(title)}</title>')]
    desc = "; ".join(f"{name}: " + ", ".join(f"{_long(lab)} {_pct(v)}" for lab, v in zip(labels, vals, strict=False))
                     for name, vals in series.items())
    parts.append(f'<desc id="{chart_id}-d">{escape(desc or "no data yet")}</desc>')
    for frac in (0, 0.25, 0.5, 0.75, 1):
        yy = y(frac)
        parts.append(f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#d0d0d0"/>'
                     f'<text x="{PAD_L - 6}" y="{yy + 4:.1f}" font-size="12" text-anchor="end" fill="#333">'
                     f'{int(frac * 100)}%</text>')
    step = max(1, n // 6)
    for i, lab in enumerate(labels):
        if i % step == 0 or i == n - 1:
            parts.append(f'<text x="{x(i):.1f}" y="{H - PAD_B + 16}" font-size="11" text-anchor="middle" '
                         f'fill="#333">{escape(_short(lab))}</text>')
    for k, (name, vals) in enumerate(series.items()):
        colour = COLOURS[k % len(COLOURS)]
        run: list[str] = []
        for i, v in enumerate(vals):
            if v is None:
                if len(run) > 1:
                    parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2.5" points="{" ".join(run)}"/>')
                run = []
                continue
            run.append(f"{x(i):.1f},{y(v):.1f}")
            parts.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3.5" fill="{colour}">'
                         f'<title>{escape(name)} {escape(_long(labels[i]))}: {_pct(v)}</title></circle>')
        if len(run) > 1:
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2.5" points="{" ".join(run)}"/>')
        lx, ly = PAD_L + 170 * (k % 3), H - 14 + 18 * (k // 3)
        parts.append(f'<rect x="{lx}" y="{ly}" width="12" height="12" fill="{colour}"/>'
                     f'<text x="{lx + 16}" y="{ly + 10}" font-size="12" fill="#1a1a1a">{escape(name[:20])}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def shadow_chart(rows: Sequence[tuple[str, dict[str, int]]], *, chart_id: str) -> Markup:
    """Per use case, pairs of bars: what shadow mode would have done beside what enforce mode did
    (apply, queue, reject), so promoting a use case is judged on its numbers."""
    pairs = (("apply", "would_apply", "applied"), ("queue", "would_queue", "queued"),
             ("reject", "would_reject", "rejected_by_rule"))
    shadow_c, enforced_c = "#6b8fc9", "#14213d"
    top = max([1] + [c.get(k, 0) for _n, c in rows for _l, a, b in pairs for k in (a, b)])
    row_h, label_w, bar_w, gap = 70, 170, 34, 30
    height = PAD_T + row_h * max(len(rows), 1) + 40
    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {height}" width="{W}" height="{height}" '
              f'role="img" aria-labelledby="{chart_id}-t {chart_id}-d"><title id="{chart_id}-t">Shadow would-haves '
              f'beside enforced outcomes, per use case</title>')]
    desc = "; ".join(f"{name}: " + ", ".join(f"{label}: would {c.get(a, 0)}, enforced {c.get(b, 0)}"
                                             for label, a, b in pairs) for name, c in rows)
    parts.append(f'<desc id="{chart_id}-d">{escape(desc or "no proposals yet")}</desc>')
    for r, (name, c) in enumerate(rows):
        base = PAD_T + row_h * r + 50
        parts.append(f'<text x="0" y="{base - 8}" font-size="13" fill="#1a1a1a">{escape(name[:22])}</text>'
                     f'<line x1="{label_w}" x2="{W}" y1="{base}" y2="{base}" stroke="#9a9a9a"/>')
        for k, (label, would, did) in enumerate(pairs):
            x0 = label_w + k * (2 * bar_w + gap + 20)
            for j, (key, colour) in enumerate(((would, shadow_c), (did, enforced_c))):
                v = c.get(key, 0)
                h = 38 * v / top
                xx = x0 + j * (bar_w + 2)
                parts.append(f'<rect x="{xx}" y="{base - h:.1f}" width="{bar_w}" height="{h:.1f}" fill="{colour}">'
                             f'<title>{escape(name)}: {"would " if j == 0 else ""}{label} {v}</title></rect>'
                             f'<text x="{xx + bar_w / 2}" y="{base - h - 3:.1f}" font-size="11" text-anchor="middle" '
                             f'fill="#1a1a1a">{v}</text>')
            parts.append(f'<text x="{x0 + bar_w + 1}" y="{base + 14}" font-size="12" text-anchor="middle" '
                         f'fill="#1a1a1a">{label}</text>')
    ly = height - 16
    for k, (label, colour) in enumerate((("shadow: would have", shadow_c), ("enforced: did", enforced_c))):
        parts.append(f'<rect x="{label_w + k * 190}" y="{ly}" width="12" height="12" fill="{colour}"/>'
                     f'<text x="{label_w + k * 190 + 16}" y="{ly + 11}" font-size="12" fill="#1a1a1a">{label}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
