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


def rate_chart(title: str, labels: Sequence[str], series: dict[str, Sequence[float | None]], *,
               chart_id: str) -> Markup:
    """A line chart of rates (0..1) over ``labels`` (days), one line per series; gaps where None."""
    n = max(len(labels), 1)
    span_x, span_y = W - PAD_L - PAD_R, H - PAD_T - PAD_B

    def x(i: int) -> float:
        return PAD_L + (span_x * (i + 0.5) / n)

    def y(v: float) -> float:
        return PAD_T + span_y * (1 - v)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="100%" role="img" '
             f'aria-labelledby="{chart_id}-t {chart_id}-d"><title id="{chart_id}-t">{escape(title)}</title>']
    desc = "; ".join(f"{name}: " + ", ".join(f"{lab} {_pct(v)}" for lab, v in zip(labels, vals, strict=False))
                     for name, vals in series.items())
    parts.append(f'<desc id="{chart_id}-d">{escape(desc or "no data yet")}</desc>')
    for frac in (0, 0.25, 0.5, 0.75, 1):
        yy = y(frac)
        parts.append(f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#d0d0d0"/>'
                     f'<text x="{PAD_L - 6}" y="{yy + 4:.1f}" font-size="11" text-anchor="end" fill="#333">'
                     f'{int(frac * 100)}%</text>')
    step = max(1, n // 6)
    for i, lab in enumerate(labels):
        if i % step == 0 or i == n - 1:
            parts.append(f'<text x="{x(i):.1f}" y="{H - PAD_B + 16}" font-size="11" text-anchor="middle" '
                         f'fill="#333">{escape(lab[5:] if len(lab) == 10 else lab)}</text>')
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
                         f'<title>{escape(name)} {escape(labels[i])}: {_pct(v)}</title></circle>')
        if len(run) > 1:
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2.5" points="{" ".join(run)}"/>')
        lx = PAD_L + 130 * k
        parts.append(f'<rect x="{lx}" y="{H - 14}" width="12" height="12" fill="{colour}"/>'
                     f'<text x="{lx + 16}" y="{H - 4}" font-size="12" fill="#1a1a1a">{escape(name)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def shadow_chart(rows: Sequence[tuple[str, dict[str, int]]], *, chart_id: str) -> Markup:
    """Grouped bars per use case: what shadow mode would have done beside what enforce mode did."""
    keys = (("would_apply", "would apply (shadow)", "#9ab8e6"), ("applied", "applied (enforced)", "#0b4fa8"),
            ("would_queue", "would queue (shadow)", "#e6c99a"), ("queued", "queued (enforced)", "#7a4b00"),
            ("would_reject", "would reject (shadow)", "#e6a0a2"), ("rejected_by_rule", "rejected (enforced)", "#a4161a"))
    top = max([1] + [c.get(k, 0) for _n, c in rows for k, _l, _c in keys])
    height = PAD_T + 34 * max(len(rows), 1) * 1 + 60
    bar_w = (W - 170) / (len(keys) * 1.0)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {height}" width="100%" role="img" '
             f'aria-labelledby="{chart_id}-t {chart_id}-d"><title id="{chart_id}-t">Shadow would-haves beside '
             f'enforced outcomes, per use case</title>']
    desc = "; ".join(f"{name}: " + ", ".join(f"{label} {c.get(k, 0)}" for k, label, _ in keys) for name, c in rows)
    parts.append(f'<desc id="{chart_id}-d">{escape(desc or "no proposals yet")}</desc>')
    for r, (name, c) in enumerate(rows):
        y0 = PAD_T + 34 * r
        parts.append(f'<text x="0" y="{y0 + 18}" font-size="12" fill="#1a1a1a">{escape(name[:22])}</text>')
        for k, (key, label, colour) in enumerate(keys):
            v = c.get(key, 0)
            h = 26 * v / top
            xx = 160 + k * bar_w
            parts.append(f'<rect x="{xx:.1f}" y="{y0 + 26 - h:.1f}" width="{bar_w - 6:.1f}" height="{h:.1f}" '
                         f'fill="{colour}"><title>{escape(name)}: {label} {v}</title></rect>'
                         f'<text x="{xx + (bar_w - 6) / 2:.1f}" y="{y0 + 24}" font-size="10" text-anchor="middle" '
                         f'fill="#1a1a1a">{v}</text>')
    ly = PAD_T + 34 * max(len(rows), 1) + 10
    for k, (_key, label, colour) in enumerate(keys):
        lx, row = (k % 3) * 185, k // 3
        parts.append(f'<rect x="{lx}" y="{ly + row * 20}" width="12" height="12" fill="{colour}"/>'
                     f'<text x="{lx + 16}" y="{ly + row * 20 + 11}" font-size="12" fill="#1a1a1a">{escape(label)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
