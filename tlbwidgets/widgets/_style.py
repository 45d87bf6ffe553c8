"""Colours, axis helpers and small HTML pieces shared by every view.

Colours come from the Okabe-Ito palette (Okabe & Ito, "Color Universal
Design", 2008), chosen because its eight colours stay distinct under the
common forms of colour blindness.  Red (vermillion) is reserved for
violations so it always means "wrong".
"""

import html

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from .._tables import (ST_USER, ST_HANDLER, ST_WAIT, ST_IRQ_OFF, ST_IDLE, ST_KERNEL,
                       STATE_NAMES)

__all__ = [
    "OKABE_ITO", "SERIES_COLORS", "STATE_COLORS", "NOT_LOGGED_COLOR", "PHASE_COLORS",
    "VIOLATION_COLOR", "TLB_COLORS", "ACK_TEXT", "NEUTRAL_INK", "TICK_FONT_PX", "Y_LABEL_OFFSET_PX",
    "FIGURE_MIN_WIDTH_PX", "MAX_TICKS", "series_color", "axis", "figure", "wrap_row",
    "tick_step", "nice_ticks", "fit_ticks", "tooltip", "legend_html", "table_html",
    "STATE_LEGEND",
]

OKABE_ITO = {
    "black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9",
    "bluish_green": "#009E73", "yellow": "#F0E442", "blue": "#0072B2",
    "vermillion": "#D55E00", "reddish_purple": "#CC79A7",
}
SERIES_COLORS = (OKABE_ITO["blue"], OKABE_ITO["orange"], OKABE_ITO["bluish_green"],
                 OKABE_ITO["reddish_purple"], OKABE_ITO["sky_blue"], OKABE_ITO["black"])
"""One colour per compared protocol, in order."""
VIOLATION_COLOR = OKABE_ITO["vermillion"]

STATE_COLORS = {
    ST_USER: "#A6D3EE",                      # light sky blue: ordinary work, background
    ST_HANDLER: OKABE_ITO["vermillion"],     # interrupted: time lost to someone else
    ST_WAIT: OKABE_ITO["orange"],            # spinning for ACKs or a lock
    ST_IRQ_OFF: OKABE_ITO["reddish_purple"], # interrupts off: IPIs pile up
    ST_IDLE: "#CCCCCC",
    ST_KERNEL: OKABE_ITO["blue"],            # initiator's own shootdown work
}
NOT_LOGGED_COLOR = "#F2F2F2"
"""Timeline lanes past the end of a truncated event log: nothing is known there."""
PHASE_COLORS = (OKABE_ITO["blue"], OKABE_ITO["sky_blue"], OKABE_ITO["bluish_green"],
                OKABE_ITO["orange"])
"""Colours of the initiator breakdown phases (analysis.BREAKDOWN_PHASES order)."""
TLB_COLORS = ("#EEEEEE", OKABE_ITO["bluish_green"], OKABE_ITO["yellow"], "#888888")
"""Stepper TLB cells by analysis.TLB_* code: not cached, valid, stale, invalidated.
Yellow means stale and nothing else on the board (orange is a CPU spinning)."""
ACK_TEXT = ("–", "0", "1")
"""Stepper ACK flag by analysis.ACK_* code (unknown, false, true), written as the
flag's value in neutral ink: a flag needs no colour, and colours stay free to
mean one thing each (green is a valid TLB entry, never "ACK true")."""
NEUTRAL_INK = "#222222"
"""Text that names things (CPU names, column headers): never a semantic colour."""


def series_color(i):
    """Colour of the i-th compared series (cycles through SERIES_COLORS)."""
    return SERIES_COLORS[i % len(SERIES_COLORS)]


TICK_FONT_PX = 14
"""Tick labels at 14 px stay legible on a projector from the back of a room."""
Y_LABEL_OFFSET_PX = 56
"""A vertical axis' label this far from the line: clear of tick labels of up to
five characters, inside the figures' 78 px left margin."""
FIGURE_MIN_WIDTH_PX = 300
"""Figures shrink to this before they wrap below their neighbour (1024 px screens)."""


def axis(scale, label, orientation="horizontal", **kw):
    """An axis that always carries a label (with its unit), a light grid and
    tick labels of ``TICK_FONT_PX``.  Views call :func:`fit_ticks` after each
    redraw so numeric axes carry a few round ticks that do not crowd."""
    if not label:
        raise ValueError("every axis needs a label with its unit")
    if orientation == "vertical":
        # bqplot's default puts a vertical axis' label about 3 em from the
        # line, where four-character tick labels at 14 px ("0.02", "1000")
        # already reach: keep it clear of them, inside the figure's margin.
        kw.setdefault("label_offset", f"{Y_LABEL_OFFSET_PX}px")
    return bq.Axis(scale=scale, label=label, orientation=orientation,
                   grid_color="#EEEEEE", tick_style={"font-size": f"{TICK_FONT_PX}px"}, **kw)


def figure(marks, axes, title, height_px=300, **kw):
    """A bqplot Figure with a title and room for axis labels and 14 px ticks.

    It takes the width its box gives it (at least ``FIGURE_MIN_WIDTH_PX``), so
    two figures side by side share a 1024 px screen and wrap below one
    another when there is no room.
    """
    fig = bq.Figure(marks=marks, axes=axes, title=title,
                    fig_margin={"top": 40, "bottom": 56, "left": 78, "right": 24},
                    title_style={"font-size": "15px"}, **kw)
    fig.layout.height = f"{height_px}px"
    fig.layout.min_width = f"{FIGURE_MIN_WIDTH_PX}px"
    fig.layout.width = "auto"
    return fig


def wrap_row(children, **kw):
    """A row of figures (or boxes) sharing the width equally, each wrapping onto
    the next line when it would get less than ``FIGURE_MIN_WIDTH_PX``."""
    children = list(children)
    for child in children:
        child.layout.flex = "1 1 0%"
        child.layout.min_width = f"{FIGURE_MIN_WIDTH_PX}px"
    return widgets.HBox(children,
                        layout=widgets.Layout(flex_flow="row wrap", width="100%", **kw))


MAX_TICKS = 5
"""Ticks per numeric axis: 14 px labels on a 300 px figure stay apart."""


X_CORNER_SHARE = 0.10
"""Share of an x axis' data range, from its left end, kept free of tick labels:
a four-character label ("11.5") centred 6% in on a 1024-px page's 300-px chart
still reached under the y axis' "0"."""


def nice_ticks(lo, hi, max_ticks=MAX_TICKS, integer=False):
    """At most ``max_ticks`` round values (steps of 1, 2, 2.5 or 5 x 10^k)
    covering ``[lo, hi]``; whole numbers only when ``integer``."""
    lo, hi = float(lo), float(hi)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return np.zeros(0)
    if hi <= lo:
        return np.array([lo])
    raw = (hi - lo) / max(max_ticks - 1, 1)
    magnitude = 10.0 ** np.floor(np.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    if integer:
        step = max(1.0, np.ceil(step))
    first = np.ceil(lo / step - 1e-9) * step
    ticks = np.arange(first, hi + step * 1e-9, step)
    return np.round(ticks, 12)


def fit_ticks(fig, x=None, y=None, integer_x=False, integer_y=False):
    """Give the figure's first (x) and second (y) axes round ticks covering the
    data ``x`` / ``y`` (any arrays; NaNs ignored; None leaves that axis alone).
    ``integer_*``: the axis counts things, so its ticks are whole numbers."""
    for ax, data, integer in ((fig.axes[0], x, integer_x), (fig.axes[1], y, integer_y)):
        if data is None:
            continue
        values = np.asarray(data, dtype=np.float64).ravel()
        values = values[np.isfinite(values)]
        if len(values):
            lo, hi = values.min(), values.max()
            ticks = nice_ticks(lo, hi, integer=integer)
            if ax is fig.axes[0] and len(ticks) > 2:
                # An x tick at the very left of the data stands in the corner, under
                # the y axis' lowest label ("11" over "0"): leave it out.
                ticks = ticks[ticks >= lo + X_CORNER_SHARE * (hi - lo)]
            ax.tick_values = ticks


def tick_step(n_values, height_px, min_gap_px=24):
    """Step between integer ticks (CPU ids) so labels of ``TICK_FONT_PX`` keep
    ``min_gap_px`` apart on an axis of ``height_px`` holding ``n_values``."""
    per_value_px = max(height_px, 1) / max(n_values, 1)
    step = 1
    for candidate in (1, 2, 4, 5, 8, 10, 16, 20, 32, 50, 64, 100, 128, 256):
        step = candidate
        if candidate * per_value_px >= min_gap_px:
            break
    return step


def tooltip(labels, formats):
    """A tooltip showing the exact x and y values under their labels."""
    return bq.Tooltip(fields=["x", "y"], labels=list(labels), formats=list(formats))


def legend_html(items):
    """A row of coloured swatches: ``items`` is a sequence of (label, colour)."""
    cells = "".join(
        f'<span style="display:inline-block;margin-right:12px">'
        f'<span style="display:inline-block;width:12px;height:12px;background:{c};'
        f'border:1px solid #666;vertical-align:middle"></span> {html.escape(str(label))}</span>'
        for label, c in items)
    return f'<div style="font-size:14px">{cells}</div>'


def table_html(header, rows, caption=""):
    """A small HTML table; every cell is escaped."""
    head = "".join(f"<th style='padding:2px 8px;text-align:left'>{html.escape(str(h))}</th>"
                   for h in header)
    body = "".join("<tr>" + "".join(f"<td style='padding:2px 8px'>{html.escape(str(c))}</td>"
                                    for c in r) + "</tr>" for r in rows)
    cap = f"<caption style='text-align:left'>{html.escape(caption)}</caption>" if caption else ""
    return (f"<table style='font-size:14px;border-collapse:collapse'>{cap}<tr>{head}</tr>"
            f"{body}</table>")


STATE_LEGEND = [(STATE_NAMES[s], STATE_COLORS[s])
                for s in (ST_USER, ST_KERNEL, ST_WAIT, ST_HANDLER, ST_IRQ_OFF, ST_IDLE)]
