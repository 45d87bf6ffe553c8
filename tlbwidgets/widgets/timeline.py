"""Timeline view: one lane per CPU, IPIs as arrows, an exact window to zoom to."""

import html

import bqplot as bq
import ipywidgets as widgets
import numpy as np
from traitlets import Int, Unicode, validate, TraitError

from .. import analysis
from .._tables import ST_USER, ST_HANDLER, ST_WAIT, ST_IRQ_OFF, ST_IDLE, ST_KERNEL, STATE_NAMES
from ._style import (axis, figure, tooltip, legend_html, tick_step, fit_ticks, STATE_COLORS,
                     STATE_LEGEND, NOT_LOGGED_COLOR)

__all__ = ["TimelineView"]

LANE_STATES = (ST_USER, ST_IDLE, ST_IRQ_OFF, ST_KERNEL, ST_WAIT, ST_HANDLER)
"""States drawn, bottom layer first (so short handler runs sit on top)."""

ARROW_GAP_PX = 6
"""Arrows closer than this on screen (send times, at the plot's width) cannot be
told apart; they are left out and counted instead of drawn as a black mass."""
PLOT_WIDTH_PX = 700
"""Width the lanes are assumed to get on a projector (1024 px wide, controls above)."""


class TimelineView(widgets.VBox):
    """What every CPU does over time, with the IPIs between them.

    Lanes are thinned to ``max_segments`` in total (each column of a lane is
    split among its states in proportion to their time, see
    ``analysis.lane_segments``), so a CPU's colours keep its true time shares;
    they are recomputed for the window chosen with the slider or typed in the
    *from*/*to* boxes, so zooming in shows exact runs.  IPI arrows are drawn
    only where they can be told apart.  When the event log was truncated the
    lanes stop where it stops and the rest is shaded "not logged".  ``run``
    picks which of the compared runs is drawn.
    """

    max_segments = Int(3000, help="Total lane segments drawn (thinned to fit).")
    max_arrows = Int(500, help="IPI arrows drawn at most (evenly thinned beyond this).")
    run = Unicode("", help="Label of the run drawn (one of the results passed to update).")

    @validate("max_segments", "max_arrows")
    def _valid_budget(self, proposal):
        if proposal["value"] < 16:
            raise TraitError(f"{proposal['trait'].name}={proposal['value']} must be >= 16")
        return proposal["value"]

    def __init__(self, **kwargs):
        self._results = {}
        xs = bq.LinearScale(allow_padding=False)    # exactly the window asked for
        ys = bq.LinearScale(reverse=True, allow_padding=False)  # CPU 0 on top, like a listing
        self.x_scale, self.y_scale = xs, ys
        self.not_logged = bq.Lines(x=np.zeros(0), y=np.zeros(0), colors=[NOT_LOGGED_COLOR],
                                   stroke_width=10, scales={"x": xs, "y": ys},
                                   tooltip=tooltip(["not logged from (µs)", "CPU"],
                                                   [".3f", ".0f"]))
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
        self.cpu_axis = axis(ys, "CPU (id)", "vertical", tick_format="d")
        self.fig = figure([self.not_logged] + list(self.lane_marks.values())
                          + [self.arrow_lines] + list(self.arrow_heads.values()),
                          [axis(xs, "simulated time (µs)"), self.cpu_axis],
                          "What each CPU does (arrows: IPIs from initiator to target)",
                          height_px=360)
        self.window = widgets.FloatRangeSlider(description="window (µs)", min=0.0, max=1.0,
                                               value=(0.0, 1.0), step=0.001,
                                               continuous_update=False, readout=False,
                                               layout=widgets.Layout(width="auto",
                                                                     flex="1 1 auto"),
                                               style={"description_width": "90px"})
        self.window.tooltip = "Pick the stretch of time the lanes show."
        box = {"layout": widgets.Layout(width="190px"), "style": {"description_width": "50px"}}
        self.window_from = widgets.BoundedFloatText(description="from µs", min=0.0, max=1.0,
                                                    step=0.001, **box)
        self.window_to = widgets.BoundedFloatText(description="to µs", min=0.0, max=1.0,
                                                  value=1.0, step=0.001, **box)
        self.window_from.tooltip = self.window_to.tooltip = "Type an exact window (µs)."
        self.full_button = widgets.Button(description="whole run", tooltip="show the whole run",
                                          layout=widgets.Layout(width="110px"))
        self.run_picker = widgets.ToggleButtons(options=[], description="run")
        self.note = widgets.HTML()
        self.figures = {"timeline": self.fig}
        super().__init__(children=[
            widgets.HTML(legend_html(STATE_LEGEND + [("IPI", "#000"),
                                                     ("not logged", NOT_LOGGED_COLOR)])),
            self.run_picker, self.fig,
            widgets.HBox([self.window, self.window_from, self.window_to, self.full_button],
                         layout=widgets.Layout(flex_flow="row wrap")),
            self.note], **kwargs)
        self._quiet = False
        self.window.observe(self._window_moved, names="value")
        self.window_from.observe(self._typed, names="value")
        self.window_to.observe(self._typed, names="value")
        self.full_button.on_click(lambda _b: self.zoom(0.0, self.window.max))
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
            top = max(np.ceil(end_us * 1e3) / 1e3, 1e-3)     # whole ns: readable
            self.window.max = top
            for box in (self.window_from, self.window_to):
                box.max = top
            self._set_window(0.0, top)
            self.run_picker.options = list(results)
            self.run_picker.value = run
        finally:
            self._quiet = False
        self.run_picker.layout.display = "" if len(results) > 1 else "none"
        self.run = run
        self.redraw()

    def zoom(self, lo_us, hi_us):
        """Show exactly the window [lo_us, hi_us] (µs, clipped to the run).

        Raises ValueError when the window is empty.
        """
        lo, hi = max(float(lo_us), 0.0), min(float(hi_us), self.window.max)
        if not hi > lo:
            raise ValueError(f"window from {lo_us} µs to {hi_us} µs is empty: 'to' must be "
                             f"greater than 'from' (the run lasts {self.window.max:.3f} µs)")
        self._quiet = True
        try:
            self._set_window(lo, hi)
        finally:
            self._quiet = False
        self.redraw()

    def _set_window(self, lo, hi):
        lo, hi = round(lo, 3), round(hi, 3)      # what a learner can read and type back
        self.window.value = (lo, hi)
        self.window_from.value, self.window_to.value = lo, hi

    def _window_moved(self, change):
        if not self._quiet:
            self.zoom(*change["new"])

    def _typed(self, _change):
        if self._quiet:
            return
        try:
            self.zoom(self.window_from.value, self.window_to.value)
        except ValueError as exc:
            self.note.value = _note(str(exc), error=True)

    def _pick_run(self, change):
        if not self._quiet and change["new"] in self._results:
            self.run = change["new"]
            self.redraw()

    def window_cycles(self):
        """The window shown, in whole cycles of the drawn run: ``(t0, t1)``."""
        g = self._results[self.run].costs.clock_ghz
        lo_us, hi_us = self.window_from.value, self.window_to.value
        t0 = int(np.floor(lo_us * g * 1e3))
        return t0, max(int(np.ceil(hi_us * g * 1e3)), t0 + 1)

    def redraw(self):
        """Recompute lanes and arrows for the current run and window."""
        if not self._results:
            return
        r = self._results[self.run]
        g = r.costs.clock_ghz
        n_cpus = len(r.cpu_stats)
        t0, t1 = self.window_cycles()
        log_end = analysis.event_log_end(r.events, r.sim_cycles,
                                         "events" in getattr(r, "truncated_logs", ()))
        seg = analysis.lane_segments(r.events, n_cpus, r.sim_cycles, t0, t1, self.max_segments,
                                     log_end=log_end)
        lane_px = float(np.clip(260.0 / max(n_cpus, 1), 1.0, 14.0))
        for s, mark in self.lane_marks.items():
            sel = seg["state"] == s
            x = np.column_stack([seg["start"][sel], seg["end"][sel]])
            y = np.repeat(seg["cpu"][sel].astype(np.float64)[:, None], 2, axis=1)
            with mark.hold_sync():
                mark.x = analysis.cycles_to_us(x, g) if sel.any() else np.zeros(0)
                mark.y = y if sel.any() else np.zeros(0)
                mark.stroke_width = lane_px
        hidden_from = max(log_end, t0)
        with self.not_logged.hold_sync():
            if hidden_from < t1:
                self.not_logged.x = analysis.cycles_to_us(
                    np.tile([hidden_from, t1], (n_cpus, 1)), g)
                self.not_logged.y = np.repeat(np.arange(n_cpus, dtype=np.float64)[:, None],
                                              2, axis=1)
            else:
                self.not_logged.x = self.not_logged.y = np.zeros(0)
            self.not_logged.stroke_width = lane_px
        arrows = analysis.ipi_arrows(r.events, t0, t1, 10**9)
        ok = arrows["arrived"] >= 0
        apart = analysis.separable_marks(arrows["sent"],
                                          (t1 - t0) * ARROW_GAP_PX / PLOT_WIDTH_PX)
        drawn = ok & apart
        if drawn.sum() > self.max_arrows:
            keep = np.flatnonzero(drawn)
            drawn[:] = False
            drawn[keep[np.linspace(0, len(keep) - 1, self.max_arrows).astype(np.int64)]] = True
        x = np.column_stack([arrows["sent"][drawn], arrows["arrived"][drawn]])
        y = np.column_stack([arrows["sender"][drawn], arrows["target"][drawn]]).astype(np.float64)
        with self.arrow_lines.hold_sync():
            self.arrow_lines.x = analysis.cycles_to_us(x, g) if drawn.any() else np.zeros(0)
            self.arrow_lines.y = y if drawn.any() else np.zeros(0)
        down = arrows["target"] > arrows["sender"]
        for d, sel in (("down", drawn & down), ("up", drawn & ~down)):
            with self.arrow_heads[d].hold_sync():
                self.arrow_heads[d].x = analysis.cycles_to_us(arrows["arrived"][sel], g)
                self.arrow_heads[d].y = arrows["target"][sel].astype(np.float64)
        with self.x_scale.hold_sync():     # exactly the window, not the data's extent
            self.x_scale.min = float(analysis.cycles_to_us(t0, g))
            self.x_scale.max = float(analysis.cycles_to_us(t1, g))
        fit_ticks(self.fig, x=analysis.cycles_to_us(np.array([t0, t1]), g))
        self.y_scale.min, self.y_scale.max = -0.6, n_cpus - 0.4
        height_px = int(np.clip(120 + 22 * n_cpus, 240, 640))
        self.fig.layout.height = f"{height_px}px"
        self.cpu_axis.tick_values = np.arange(0, n_cpus, tick_step(n_cpus, height_px - 100))
        n_ipis = len(arrows["sent"])
        parts = [f"{len(seg['cpu'])} lane segments"
                 + ("" if seg["exact"] else " (thinned: each column shows its states in "
                    "proportion to their time; zoom in for exact runs)"),
                 f"{n_ipis} IPIs in window"
                 + (f", {int(drawn.sum())} drawn (the rest are too close together to tell "
                    f"apart: zoom in)" if drawn.sum() < n_ipis else "")]
        if log_end < r.sim_cycles:
            parts.append(f"event log full at {analysis.cycles_to_us(log_end, g):.3f} µs: "
                         f"lanes stop there, the rest is shaded 'not logged' "
                         f"(raise max_log_events to see it)")
        self.note.value = _note("; ".join(parts))


def _note(text, error=False):
    color = "#D55E00" if error else "#555"
    return f"<span style='font-size:13px;color:{color}'>{html.escape(text)}</span>"
