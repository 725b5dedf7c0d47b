"""Inline SVG charts drawn by the page itself (no chart library, nothing fetched from a CDN).

The experiments dashboard shows one horizontal bar per variant: the bar is the click-through
rate, the whisker its confidence interval, so overlapping whiskers read as "no clear winner".
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from online.schemas import VariantReport

PALETTE = ("#3fa7d6", "#f29e4c", "#59cd90", "#ee6352", "#b07bff", "#f7d154")
ROW_HEIGHT = 44
LABEL_WIDTH = 130
PLOT_WIDTH = 420
RIGHT_PAD = 90


def _nice_max(value: float) -> float:
    """A round axis maximum at or above ``value`` (0.05, 0.1, 0.2, 0.25, 0.5, 1.0)."""
    for step in (0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0):
        if value <= step:
            return step
    return 1.0


def ctr_chart(variants: Sequence[VariantReport], title: str) -> Markup:
    """SVG markup of CTR bars with confidence-interval whiskers, one row per variant."""
    # a variant without exposures has the uninformative interval 0..1: it must not set the scale
    measured = [v for v in variants if v.exposures > 0]
    axis_max = _nice_max(max([v.ci_high for v in measured] + [v.ctr for v in measured] + [0.01]))
    height = 30 + ROW_HEIGHT * max(len(variants), 1) + 30
    width = LABEL_WIDTH + PLOT_WIDTH + RIGHT_PAD

    def x_of(rate: float) -> float:
        return LABEL_WIDTH + PLOT_WIDTH * min(max(rate, 0.0), axis_max) / axis_max

    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for i in range(5):  # vertical grid lines with tick labels
        rate = axis_max * i / 4
        x = x_of(rate)
        parts.append(f'<line x1="{x:.1f}" y1="24" x2="{x:.1f}" y2="{height - 26}" class="grid"/>')
        parts.append(f'<text x="{x:.1f}" y="{height - 8}" class="tick" text-anchor="middle">{rate * 100:g}%</text>')
    for row, variant in enumerate(variants):
        y = 30 + row * ROW_HEIGHT
        colour = PALETTE[row % len(PALETTE)]
        bar_w = x_of(variant.ctr) - LABEL_WIDTH
        low, high = x_of(variant.ci_low), x_of(variant.ci_high)
        mid = y + 14
        label = f'<text x="{LABEL_WIDTH - 10}" y="{mid + 5}" class="label" text-anchor="end">{escape(variant.name)}</text>'
        if variant.exposures == 0:
            parts += [label, f'<text x="{LABEL_WIDTH + 8}" y="{mid + 5}" class="tick">no exposures yet</text>']
            continue
        parts += [
            label,
            f'<rect x="{LABEL_WIDTH}" y="{y}" width="{bar_w:.1f}" height="28" rx="4" fill="{colour}" '
            f'data-variant="{escape(variant.name)}"/>',
            f'<line x1="{low:.1f}" y1="{mid}" x2="{high:.1f}" y2="{mid}" class="whisker"/>',
            f'<line x1="{low:.1f}" y1="{mid - 8}" x2="{low:.1f}" y2="{mid + 8}" class="whisker"/>',
            f'<line x1="{high:.1f}" y1="{mid - 8}" x2="{high:.1f}" y2="{mid + 8}" class="whisker"/>',
            f'<text x="{max(high, x_of(variant.ctr)) + 8:.1f}" y="{mid + 5}" class="value">'
            f"{variant.ctr * 100:.1f}%</text>",
        ]
    parts.append("</svg>")
    return Markup("".join(parts))
