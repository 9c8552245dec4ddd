"""Small line charts as inline SVG, for training curves in ``report.html``.

Hand-written rather than drawn with matplotlib: a few polylines need no plotting library
(and none of its start-up time or dependencies), and inline SVG keeps the report one
self-contained file that scales crisply and prints. Axes get a handful of round ticks
with grid lines; the legend sits under the title, outside the plotted area, so that it
never hides a line.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")
WIDTH, PLOT_HEIGHT = 380, 170
LEFT, RIGHT, TITLE, BOTTOM = 58, 14, 22, 34
LEGEND_ROW = 15


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round values (steps of 1, 2 or 5 times a power of ten) from just
    below ``low`` to just above ``high``."""
    if not high > low:
        return [low]
    raw = (high - low) / max(1, count - 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first, last = math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9)
    return [round(k * step, 12) for k in range(first, last + 1)]


def tick_label(value: float, step: float) -> str:
    """``value`` with as many decimals as the tick step needs (never ``3.46e-10``)."""
    if value == 0 or abs(value) < step * 1e-6:
        return "0"
    if abs(value) >= 1e5 or abs(value) < 1e-4:
        return f"{value:.2g}"
    decimals = max(0, -math.floor(math.log10(step)) if step < 1 else 0)
    return f"{value:.{decimals}f}"


def _epoch_ticks(first: float, last: float) -> list[float]:
    """Every epoch up to ten of them, else round steps between the first and the last."""
    if last - first <= 10:
        return [float(e) for e in range(math.ceil(first), math.floor(last) + 1)]
    return [t for t in nice_ticks(first, last, 6) if first <= t <= last]


def line_chart(
    title: str,
    series: Mapping[str, Sequence[tuple[float, float]]],
    colours: Mapping[str, str] | None = None,
) -> str:
    """An SVG chart with one line per series of ``(x, y)`` points (e.g. epoch, loss).

    ``colours`` fixes a series' colour by name, so that a model keeps its colour in a
    chart where others have no line (GVE's reward); else by position."""
    colour_of = dict(colours or {})
    for index, name in enumerate(series):
        colour_of.setdefault(name, COLOURS[index % len(COLOURS)])
    points = [p for values in series.values() for p in values]
    if not points:
        return ""
    xs, ys = [x for x, _ in points], [y for _, y in points]
    y_ticks = nice_ticks(min(ys), max(ys))
    y0, y1 = min(y_ticks[0], min(ys)), max(y_ticks[-1], max(ys))
    if y1 == y0:
        y0, y1 = y0 - (abs(y0) * 0.05 or 1.0), y1 + (abs(y1) * 0.05 or 1.0)
        y_ticks = nice_ticks(y0, y1)
    x0, x1 = min(xs), max(xs)
    x1 = x1 if x1 > x0 else x0 + 1
    x_ticks = _epoch_ticks(x0, x1)
    top = TITLE + LEGEND_ROW * len(series) + 6
    height = top + PLOT_HEIGHT + BOTTOM

    def at(x: float, y: float) -> tuple[float, float]:
        return (
            LEFT + (x - x0) / (x1 - x0) * (WIDTH - LEFT - RIGHT),
            top + (y1 - y) / (y1 - y0) * PLOT_HEIGHT,
        )

    parts = [
        f"<svg width='{WIDTH}' height='{height}' viewBox='0 0 {WIDTH} {height}' role='img' "
        f"aria-label='{html.escape(title)}'>",
        f"<text x='4' y='15' font-size='13' font-weight='600'>{html.escape(title)}</text>",
    ]
    for index, name in enumerate(series):  # the legend, above the plot
        colour, y = colour_of[name], TITLE + LEGEND_ROW * index + 10
        parts.append(
            f"<line x1='{LEFT}' y1='{y - 4}' x2='{LEFT + 18}' y2='{y - 4}' "
            f"stroke='{colour}' stroke-width='2'/><text x='{LEFT + 24}' y='{y}' "
            f"font-size='11'>{html.escape(name)}</text>"
        )
    step = y_ticks[1] - y_ticks[0] if len(y_ticks) > 1 else 1.0
    for value in y_ticks:
        if not y0 <= value <= y1:
            continue
        _, py = at(x0, value)
        parts.append(
            f"<line x1='{LEFT}' y1='{py:.1f}' x2='{WIDTH - RIGHT}' y2='{py:.1f}' "
            f"stroke='#eee'/><text x='{LEFT - 5}' y='{py + 3.5:.1f}' font-size='10' "
            f"text-anchor='end'>{tick_label(value, step)}</text>"
        )
    for value in x_ticks:
        px, _ = at(value, y0)
        parts.append(
            f"<text x='{px:.1f}' y='{top + PLOT_HEIGHT + 14}' font-size='10' "
            f"text-anchor='middle'>{value:g}</text>"
        )
    parts.append(
        f"<rect x='{LEFT}' y='{top}' width='{WIDTH - LEFT - RIGHT}' "
        f"height='{PLOT_HEIGHT}' fill='none' stroke='#bbb'/>"
    )
    parts.append(
        f"<text x='{(LEFT + WIDTH - RIGHT) / 2:.0f}' y='{height - 4}' font-size='10' "
        "text-anchor='middle'>epoch</text>"
    )
    for name, values in series.items():
        colour = colour_of[name]
        xy = [at(x, y) for x, y in values]
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in xy)
        parts.append(f"<polyline points='{path}' fill='none' stroke='{colour}' stroke-width='2'/>")
        parts.extend(
            f"<circle cx='{px:.1f}' cy='{py:.1f}' r='2.5' fill='{colour}'/>" for px, py in xy
        )
    parts.append("</svg>")
    return "".join(parts)
