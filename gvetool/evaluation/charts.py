"""Small line charts as inline SVG, for training curves in ``report.html``.

Hand-written rather than drawn with matplotlib: a few polylines need no plotting library
(and none of its start-up time or dependencies), and inline SVG keeps the report one
self-contained file that scales crisply and prints.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")
WIDTH, HEIGHT = 380, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 28, 34


def line_chart(title: str, series: Mapping[str, Sequence[tuple[float, float]]]) -> str:
    """An SVG chart with one line per series of ``(x, y)`` points (e.g. epoch, loss)."""
    points = [p for values in series.values() for p in values]
    if not points:
        return ""
    xs, ys = [x for x, _ in points], [y for _, y in points]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    pad = (y1 - y0) * 0.05 or abs(y1) * 0.05 or 1.0
    y0, y1 = y0 - pad, y1 + pad
    x1 = x1 if x1 > x0 else x0 + 1

    def at(x: float, y: float) -> tuple[float, float]:
        return (
            LEFT + (x - x0) / (x1 - x0) * (WIDTH - LEFT - RIGHT),
            TOP + (y1 - y) / (y1 - y0) * (HEIGHT - TOP - BOTTOM),
        )

    parts = [
        f"<svg width='{WIDTH}' height='{HEIGHT}' "
        f"viewBox='0 0 {WIDTH} {HEIGHT}' role='img' aria-label='{html.escape(title)}'>",
        f"<text x='{LEFT}' y='16' font-size='13' font-weight='600'>{html.escape(title)}</text>",
        f"<rect x='{LEFT}' y='{TOP}' width='{WIDTH - LEFT - RIGHT}' "
        f"height='{HEIGHT - TOP - BOTTOM}' fill='none' stroke='#bbb'/>",
    ]
    for value in (y1 - pad, y0 + pad):  # the data's range on the y axis
        parts.append(f"<text x='{LEFT - 4}' y='{at(x0, value)[1] + 4:.1f}' font-size='10' "
                     f"text-anchor='end'>{value:.3g}</text>")  # fmt: skip
    for value in (x0, x1):
        parts.append(f"<text x='{at(value, y0)[0]:.1f}' y='{HEIGHT - BOTTOM + 14}' "
                     f"font-size='10' text-anchor='middle'>{value:g}</text>")  # fmt: skip
    parts.append(f"<text x='{(LEFT + WIDTH - RIGHT) / 2:.0f}' y='{HEIGHT - 4}' font-size='10' "
                 "text-anchor='middle'>epoch</text>")  # fmt: skip
    for index, (name, values) in enumerate(series.items()):
        colour = COLOURS[index % len(COLOURS)]
        xy = [at(x, y) for x, y in values]
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in xy)
        parts.append(f"<polyline points='{path}' fill='none' stroke='{colour}' stroke-width='2'/>")
        parts.extend(f"<circle cx='{px:.1f}' cy='{py:.1f}' r='2.5' fill='{colour}'/>"
                     for px, py in xy)  # fmt: skip
        parts.append(f"<text x='{WIDTH - RIGHT - 4}' y='{TOP + 14 + 13 * index}' font-size='11' "
                     f"text-anchor='end' fill='{colour}'>{html.escape(name)}</text>")  # fmt: skip
    parts.append("</svg>")
    return "".join(parts)
