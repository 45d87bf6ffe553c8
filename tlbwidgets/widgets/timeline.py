"""Timeline view: one lane per CPU, IPIs as arrows, a slider picks the window."""

import bqplot as bq
import ipywidgets as widgets
import numpy as np
from traitlets import Int, Unicode, validate, TraitError

from .. import analysis
from .._tables import ST_USER, ST_HANDLER, ST_WAIT, ST_IRQ_OFF, ST_IDLE, ST_KERNEL, STATE_NAMES
from ._style import axis, figure, tooltip, legend_html, STATE_COLORS, STATE_LEGEND

__all__ = ["TimelineView"]

LANE_STATES = (ST_USER, ST_IDLE, ST_IRQ_OFF, ST_KERNEL, ST_WAIT, ST_HANDLER)
"""States drawn, bottom layer first (so short handler runs sit on top)."""


class TimelineView(widgets.VBox):
    """What every CPU does over time, with the IPIs between them.

    Lanes are decimated to ``max_segments`` in total (a column of a lane
    shows its most telling state, see ``analysis.lane_segments``) and
    recomputed for the window the slider picks, so zooming in shows exact
    runs.  ``run`` picks which of the compared runs is drawn.
    """

    max_segments = Int(2000, help="Total lane segments drawn (decimated to fit).")
    max_arrows = Int(500, help="IPI arrows drawn (evenly thinned beyond this).")
    run = Unicode("", help="Label of the run drawn (one of the results passed to update).")

    @validate("max_segments", "max_arrows")
    def _valid_budget(self, proposal):
        if proposal["value"] < 16:
            raise TraitError(f"{proposal['trait'].name}={proposal['value']} must be >= 16")
        return proposal["value"]

    def __init__(self, **kwargs):
        self._results = {}
        xs = bq.LinearScale()
        ys = bq.LinearScale(reverse=True)   # CPU 0 at the top, like a listing
        self.x_scale, self.y_scale = xs, ys
        self.lane_marks = {
            s: bq.Lines(x=np.zeros(0), y=np.zeros(0), colors=[STATE_COLORS[s]],
                        stroke_width=10, scales={"x": xs, "y": ys},
                        tooltip=tooltip([f"{STATE_NAMES[s]} at (µs)", "CPU"], [".3f", ".0f"]))
            for s in LANE_STATES}
        self.arrow_lines = bq.Lines(x=np.zeros(0), y=np.zeros(0), colors=["#000000"],
                                    stroke_width=1.2, scales={"x": xs, "y": ys})
        # Two head marks so each head points along its arrow: down the
        # screen when the target's id is above the sender's (ids grow downward).
        self.arrow_heads = {
            d: bq.Scatter(x=np.zeros(0), y=np.zeros(0), marker=f"triangle-{d}",
                          default_size=30, colors=["#000000"], scales={"x": xs, "y": ys},
                          tooltip=tooltip(["IPI arrives (µs)", "at CPU"], [".3f", ".0f"]))
            for d in ("down", "up")}
        self.fig = figure(list(self.lane_marks.values()) + [self.arrow_lines]
                          + list(self.arrow_heads.values()),
                          [axis(xs, "simulated time (µs)"),
                           axis(ys, "CPU (id)", "vertical", tick_format="d")],
                          "What each CPU does (arrows: IPIs from initiator to target)",
                          height_px=360, interaction=bq.PanZoom(scales={"x": [xs]}))
        self.window = widgets.FloatRangeSlider(description="window (µs)", min=0.0, max=1.0,
                                               value=(0.0, 1.0), step=0.001,
                                               continuous_update=False, readout_format=".3f",
                                               layout=widgets.Layout(width="95%"),
                                               style={"description_width": "90px"})
        self.window.tooltip = "Pick the stretch of time the lanes show."
        self.run_picker = widgets.ToggleButtons(options=[], description="run")
        self.note = widgets.HTML()
        self.figures = {"timeline": self.fig}
        super().__init__(children=[widgets.HTML(legend_html(STATE_LEGEND + [("IPI", "#000")])),
                                   self.run_picker, self.fig, self.window, self.note], **kwargs)
        self._quiet = False
        self.window.observe(self._window_moved, names="value")
        self.run_picker.observe(self._pick_run, names="value")

    def update(self, results):
        """Take new runs; keep the drawn run's label if still present; full window."""
        if not results:
            raise ValueError("results must hold at least one run")
        self._results = dict(results)
        run = self.run if self.run in results else next(iter(results))
        end_us = max(float(analysis.cycles_to_us(r.sim_cycles, r.costs.clock_ghz))
                     for r in results.values())
        self._quiet = True      # one redraw below, not one per widget change
        try:
            self.window.max = max(end_us, 1e-3)
            self.window.value = (0.0, self.window.max)
            self.run_picker.options = list(results)
            self.run_picker.value = run
        finally:
            self._quiet = False
        self.run_picker.layout.display = "" if len(results) > 1 else "none"
        self.run = run
        self.redraw()

    def _window_moved(self, _change):
        if not self._quiet:
            self.redraw()

    def _pick_run(self, change):
        if not self._quiet and change["new"] in self._results:
            self.run = change["new"]
            self.redraw()

    def redraw(self):
        """Recompute lanes and arrows for the current run and window."""
        if not self._results:
            return
        r = self._results[self.run]
        g = r.costs.clock_ghz
        n_cpus = len(r.cpu_stats)
        lo_us, hi_us = self.window.value
        t0 = int(lo_us * g * 1e3)
        t1 = max(int(np.ceil(hi_us * g * 1e3)), t0 + 1)
        seg = analysis.lane_segments(r.events, n_cpus, r.sim_cycles, t0, t1, self.max_segments)
        for s, mark in self.lane_marks.items():
            sel = seg["state"] == s
            x = np.column_stack([seg["start"][sel], seg["end"][sel]])
            y = np.repeat(seg["cpu"][sel].astype(np.float64)[:, None], 2, axis=1)
            with mark.hold_sync():
                mark.x = analysis.cycles_to_us(x, g) if sel.any() else np.zeros(0)
                mark.y = y if sel.any() else np.zeros(0)
                mark.stroke_width = float(np.clip(260.0 / max(n_cpus, 1), 1.0, 14.0))
        arrows = analysis.ipi_arrows(r.events, t0, t1, self.max_arrows)
        ok = arrows["arrived"] >= 0
        x = np.column_stack([arrows["sent"][ok], arrows["arrived"][ok]])
        y = np.column_stack([arrows["sender"][ok], arrows["target"][ok]]).astype(np.float64)
        with self.arrow_lines.hold_sync():
            self.arrow_lines.x = analysis.cycles_to_us(x, g) if ok.any() else np.zeros(0)
            self.arrow_lines.y = y if ok.any() else np.zeros(0)
        down = arrows["target"] > arrows["sender"]
        for d, sel in (("down", ok & down), ("up", ok & ~down)):
            with self.arrow_heads[d].hold_sync():
                self.arrow_heads[d].x = analysis.cycles_to_us(arrows["arrived"][sel], g)
                self.arrow_heads[d].y = arrows["target"][sel].astype(np.float64)
        self.fig.layout.height = f"{int(np.clip(120 + 22 * n_cpus, 240, 900))}px"
        parts = [f"{len(seg['cpu'])} lane segments"
                 + ("" if seg["exact"] else " (decimated: zoom in for exact runs)"),
                 f"{len(arrows['sent'])} IPIs in window"]
        if getattr(r, "truncated", False):
            parts.append("event log truncated: lanes end where the log stops")
        self.note.value = f"<span style='font-size:12px;color:#555'>{'; '.join(parts)}</span>"
