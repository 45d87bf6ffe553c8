"""Staleness view: stale TLB entries over time, window lengths, violations."""

import html

import bqplot as bq
import ipywidgets as widgets
import numpy as np
from traitlets import Int, validate, TraitError

from .. import analysis
from .cost import draw_histogram
from ._style import (axis, figure, wrap_row, fit_ticks, tooltip, table_html, legend_html,
                     series_color, VIOLATION_COLOR)

__all__ = ["StalenessView"]

MAX_SERIES = 2
"""The explorer compares at most two protocols; marks for both are built once."""
MARKER_GAP_PX = 8
"""Shootdown markers closer than this (at the whole run's scale) are not drawn."""
PLOT_WIDTH_PX = 900
"""Width the stale-count chart gets on a 1024 px screen with the controls above."""


class StalenessView(widgets.VBox):
    """Stale entries machine-wide over time (shootdowns marked, violations in red),
    the distribution of staleness windows, and the list of violations."""

    max_points = Int(analysis.DEFAULT_MAX_POINTS,
                     help="Point budget per mark; series are decimated to fit.")
    n_bins = Int(40, help="Bins of the staleness-window histogram.")
    max_rows = Int(50, help="Violations listed in the table (the rest are counted).")

    @validate("max_points", "n_bins", "max_rows")
    def _valid_positive(self, proposal):
        if proposal["value"] < 4:
            raise TraitError(f"{proposal['trait'].name}={proposal['value']} must be >= 4")
        return proposal["value"]

    def __init__(self, **kwargs):
        xs, ys = bq.LinearScale(allow_padding=False), bq.LinearScale(min=0, allow_padding=False)
        self.x_scale = xs
        self._starts_us = []        # every shootdown start per series, for re-marking
        self.count_lines = [
            bq.Lines(x=np.zeros(0), y=np.zeros(0), interpolation="step-after",
                     colors=[series_color(i)], scales={"x": xs, "y": ys},
                     tooltip=tooltip(["time (µs)", "stale entries"], [".3f", ".0f"]))
            for i in range(MAX_SERIES)]
        self.shootdown_marks = [
            bq.Scatter(x=np.zeros(0), y=np.zeros(0), marker="triangle-up", default_size=24,
                       colors=[series_color(i)], scales={"x": xs, "y": ys},
                       tooltip=tooltip(["shootdown start (µs)", ""], [".3f", ""]))
            for i in range(MAX_SERIES)]
        self.violation_marks = bq.Scatter(
            x=np.zeros(0), y=np.zeros(0), marker="cross", default_size=90,
            colors=[VIOLATION_COLOR], scales={"x": xs, "y": ys},
            tooltip=tooltip(["violation at (µs)", "stale entries then"], [".3f", ".0f"]))
        self.count_fig = figure(
            self.count_lines + self.shootdown_marks + [self.violation_marks],
            [axis(xs, "simulated time (µs)"),
             axis(ys, "stale entries (count)", "vertical")],
            "Stale TLB entries over time (▲ shootdown starts, ✕ violations)",
            interaction=bq.PanZoom(scales={"x": [xs]}))

        hx, hy = bq.LinearScale(), bq.LinearScale(min=0)
        self.window_hist = bq.Lines(x=np.zeros(0), y=np.zeros(0), interpolation="step-after",
                                    stroke_width=2, scales={"x": hx, "y": hy},
                                    tooltip=tooltip(["window bin from (µs)", "windows"],
                                                    [".3f", ".0f"]))
        self.window_fig = figure([self.window_hist],
                                 [axis(hx, "staleness window length (µs)", num_ticks=6),
                                  axis(hy, "windows (count)", "vertical")],
                                 "How long translations stay stale")
        self.legend = widgets.HTML()
        self.violation_table = widgets.HTML()
        self.figures = {"stale_count": self.count_fig, "windows": self.window_fig}
        self.marker_note = widgets.HTML()
        super().__init__(children=[self.legend, self.count_fig, self.marker_note,
                                   wrap_row([self.window_fig, self.violation_table])],
                         **kwargs)
        # Zooming with the mouse (PanZoom) moves the scale: re-mark and re-tick
        # for the stretch now visible.
        xs.observe(self._zoomed, names=["min", "max"])

    def update(self, results):
        """Redraw from ``results`` (dict label -> Result, at most MAX_SERIES)."""
        labels = list(results)
        if not 1 <= len(labels) <= MAX_SERIES:
            raise ValueError(f"results must hold 1..{MAX_SERIES} runs, got {len(labels)}")
        vx, vy, rows, starts = [], [], [], []
        for i, mark in enumerate(self.count_lines):
            sd_mark = self.shootdown_marks[i]
            if i >= len(labels):
                with mark.hold_sync(), sd_mark.hold_sync():
                    mark.visible = sd_mark.visible = False
                continue
            r = results[labels[i]]
            g = r.costs.clock_ghz
            t, count = analysis.stale_count_series(r.stale_windows, r.sim_cycles,
                                                   self.max_points)
            with mark.hold_sync():
                mark.x = analysis.cycles_to_us(t, g)
                mark.y = count.astype(np.float64)
                mark.labels = [labels[i]]
                mark.visible = True
            starts.append((labels[i], analysis.cycles_to_us(np.sort(r.shootdowns["start"]), g)))
            sd_mark.visible = True
            v = np.sort(r.violations, order="time")[:self.max_points]
            vx.append(analysis.cycles_to_us(v["time"], g))
            # Put each cross on the curve: the count in force at that instant.
            at = np.searchsorted(t, v["time"], side="right") - 1
            vy.append(count[np.clip(at, 0, len(count) - 1)].astype(np.float64))
            rows += [(labels[i],) + row for row in
                     analysis.violation_rows(r.violations, g, self.max_rows)]
        with self.violation_marks.hold_sync():
            self.violation_marks.x = np.concatenate(vx)
            self.violation_marks.y = np.concatenate(vy)
        self._starts_us = starts
        with self.x_scale.hold_trait_notifications():
            self.x_scale.min = self.x_scale.max = None     # whole run (undo any zoom)
        self._mark_shootdowns(None, None)
        lengths = [analysis.cycles_to_us(analysis.window_lengths(r.stale_windows),
                                         r.costs.clock_ghz) for r in results.values()]
        draw_histogram(self.window_hist, lengths, self.n_bins,
                       [series_color(i) for i in range(len(labels))], labels)
        drawn = [m for m in self.count_lines if m.visible and len(m.x)]
        fit_ticks(self.count_fig, y=np.concatenate([np.ravel(m.y) for m in drawn] + [[0.0]]),
                  integer_y=True)
        fit_ticks(self.window_fig, x=self.window_hist.x,
                  y=np.r_[0.0, np.ravel(self.window_hist.y)], integer_y=True)
        self.legend.value = legend_html([(lab, series_color(i)) for i, lab in enumerate(labels)]
                                        + [("violation", VIOLATION_COLOR)])
        total = sum(len(r.violations) for r in results.values())
        caption = (f"Violations: {total}" + (f" (first {len(rows)} listed)"
                                             if total > len(rows) else ""))
        self.violation_table.value = table_html(
            ("protocol", "time (µs)", "CPU", "page (vpn)", "shootdown"),
            [(lab, f"{t:.3f}", c, p, s) for lab, t, c, p, s in rows], caption)

    def _zoomed(self, _change):
        self._mark_shootdowns(self.x_scale.min, self.x_scale.max)

    def _mark_shootdowns(self, lo_us, hi_us):
        """Mark the shootdown starts in [lo_us, hi_us] (None: the whole run) that
        can be told apart, tick the time axis for that stretch, and say how many
        are marked: a crowd of markers would merge into a solid band."""
        ends = [float(np.max(m.x)) for m in self.count_lines if m.visible and len(m.x)]
        lo = 0.0 if lo_us is None else float(lo_us)
        hi = max(ends, default=1.0) if hi_us is None else float(hi_us)
        if not hi > lo:
            return
        notes = []
        for (label, starts), mark in zip(self._starts_us, self.shootdown_marks):
            inside = starts[(starts >= lo) & (starts <= hi)]
            apart = analysis.separable_marks(inside, (hi - lo) * MARKER_GAP_PX / PLOT_WIDTH_PX)
            shown = inside[apart][:self.max_points]
            with mark.hold_sync():
                mark.x = shown
                mark.y = np.zeros(len(shown))
            notes.append(f"{label}: {len(inside)} shootdowns in view"
                         + (f", {len(shown)} marked ▲ (the others start too close together "
                            f"to tell apart: zoom in with the mouse wheel)"
                            if len(shown) < len(inside) else ", each marked ▲"))
        fit_ticks(self.count_fig, x=[lo, hi])
        self.marker_note.value = ("<div style='font-size:13px;color:#555'>"
                                  + html.escape("; ".join(notes)) + "</div>")
