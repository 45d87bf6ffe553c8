"""Cost view: what a shootdown costs the initiator and the CPUs it interrupts."""

import bqplot as bq
import ipywidgets as widgets
import numpy as np
from traitlets import Int, validate, TraitError

from .. import analysis
from .._tables import ST_HANDLER
from ._style import (axis, figure, wrap_row, fit_ticks, tooltip, table_html, legend_html,
                     series_color, PHASE_COLORS, STATE_COLORS, OKABE_ITO)

__all__ = ["CostView", "draw_histogram", "BREAKDOWN_COLORS"]

BREAKDOWN_COLORS = PHASE_COLORS + (STATE_COLORS[ST_HANDLER], OKABE_ITO["yellow"])
"""One colour per part of analysis.BREAKDOWN_PHASES: the four phases', then
serving other CPUs' IPIs in the timeline's handler colour, then waiting for a
lock."""


class CostView(widgets.VBox):
    """Latency histogram, initiator breakdown, interrupted-CPU losses, headline table.

    ``update(results)`` redraws from a dict ``label -> tw.Result`` (one or more
    protocols on the same workload).  Every mark receives NumPy arrays inside
    ``hold_sync()``, so a redraw is one message per mark.
    """

    n_bins = Int(40, help="Bins of the latency histogram (shared by all protocols).")

    @validate("n_bins")
    def _valid_bins(self, proposal):
        if not 2 <= proposal["value"] <= 500:
            raise TraitError(f"n_bins={proposal['value']} must be in 2..500")
        return proposal["value"]

    def __init__(self, **kwargs):
        xs, ys = bq.LinearScale(), bq.LinearScale(min=0)
        # Histograms are step lines: two protocols overlay legibly, and a
        # linear x axis keeps bin positions honest.
        self.latency_hist = bq.Lines(x=np.zeros(0), y=np.zeros(0), interpolation="step-after",
                                     stroke_width=2, scales={"x": xs, "y": ys},
                                     tooltip=tooltip(["latency bin from (µs)", "shootdowns"],
                                                     [".3f", ".0f"]))
        self.latency_fig = figure([self.latency_hist],
                                  [axis(xs, "initiator latency (µs)", num_ticks=6),
                                   axis(ys, "shootdowns (count)", "vertical")],
                                  "Initiator latency distribution")

        bx, by = bq.OrdinalScale(), bq.LinearScale(min=0)
        # Stacked bars (one bar per protocol) render reliably; grouped do not.
        self.breakdown_bars = bq.Bars(x=np.array(["-"]),
                                      y=np.zeros((len(analysis.BREAKDOWN_PHASES), 1)),
                                      type="stacked", colors=list(BREAKDOWN_COLORS),
                                      labels=[lab for _, lab in analysis.BREAKDOWN_PHASES],
                                      scales={"x": bx, "y": by},
                                      tooltip=tooltip(["protocol", "µs per shootdown"],
                                                      ["", ".3f"]))
        self.breakdown_fig = figure([self.breakdown_bars],
                                    [axis(bx, "protocol"),
                                     axis(by, "mean per shootdown (µs)",
                                          "vertical")],
                                    "Where the initiator's time goes")

        lx, ly = bq.LinearScale(), bq.LinearScale(min=0)
        # Dots joined by thin lines, one series per protocol (bqplot's grouped
        # bars do not render in every front end; this always does).
        self.lost_lines = bq.Lines(x=np.zeros(0), y=np.zeros(0), marker="square",
                                   marker_size=24, stroke_width=1,
                                   scales={"x": lx, "y": ly},
                                   tooltip=tooltip(["CPU", "handler time (µs)"], [".0f", ".2f"]))
        self.lost_fig = figure([self.lost_lines],
                               [axis(lx, "CPU (id)", tick_format="d"),
                                axis(ly, "handler time (µs)", "vertical")],
                               "Time interrupted CPUs lose to others' shootdowns")
        self.legend = widgets.HTML()
        self.phase_legend = widgets.HTML(legend_html(
            [(lab, c) for (_, lab), c in zip(analysis.BREAKDOWN_PHASES, BREAKDOWN_COLORS,
                                             strict=True)]))
        self.headline = widgets.HTML()
        self.figures = {"latency": self.latency_fig, "breakdown": self.breakdown_fig,
                        "lost": self.lost_fig}
        super().__init__(children=[
            self.legend, self.headline,
            wrap_row([self.latency_fig,
                      widgets.VBox([self.breakdown_fig, self.phase_legend])]),
            self.lost_fig], **kwargs)

    def update(self, results):
        """Redraw every mark from ``results`` (dict label -> Result, in display order)."""
        labels = list(results)
        if not labels:
            raise ValueError("results must hold at least one run")
        clocks = [r.costs.clock_ghz for r in results.values()]
        lat_us = [analysis.cycles_to_us(analysis.latency_cycles(r.shootdowns), g)
                  for r, g in zip(results.values(), clocks)]
        colors = [series_color(i) for i in range(len(labels))]
        draw_histogram(self.latency_hist, lat_us, self.n_bins, colors, labels)
        phases = np.array([analysis.cycles_to_us(analysis.initiator_breakdown(r.shootdowns), g)
                           for r, g in zip(results.values(), clocks)]).T
        with self.breakdown_bars.hold_sync():
            self.breakdown_bars.x = np.array(labels)
            self.breakdown_bars.y = phases
        lost = []
        for r, g in zip(results.values(), clocks):
            cpu, handler = analysis.lost_cycles_per_cpu(r.cpu_stats)
            lost.append(analysis.cycles_to_us(handler, g))
        n_cpus = max(len(x) for x in lost)
        lost_arr = np.zeros((len(labels), n_cpus))
        for i, x in enumerate(lost):
            lost_arr[i, :len(x)] = x
        with self.lost_lines.hold_sync():
            self.lost_lines.x = np.tile(np.arange(n_cpus, dtype=np.float64), (len(labels), 1))
            self.lost_lines.y = lost_arr
            self.lost_lines.colors = colors
            self.lost_lines.labels = labels
        fit_ticks(self.latency_fig, x=self.latency_hist.x,
                  y=np.r_[0.0, np.ravel(self.latency_hist.y)], integer_y=True)
        fit_ticks(self.breakdown_fig, y=np.r_[0.0, phases.sum(axis=0)])
        fit_ticks(self.lost_fig, x=[0, max(n_cpus - 1, 1)], y=np.r_[0.0, lost_arr.ravel()],
                  integer_x=True)
        self.legend.value = legend_html(list(zip(labels, colors)))
        self.headline.value = _headline(results)


def draw_histogram(mark, samples, n_bins, colors, labels):
    """Draw shared-bin histograms of ``samples`` as step lines on ``mark``.

    The step series run over the bin edges (last count repeated at the right
    edge) so each bin is a flat step; ``mark.x`` holds edges in the samples'
    unit and ``mark.y`` counts, one row per series.
    """
    centres, counts = analysis.shared_histogram(samples, n_bins)
    width = centres[1] - centres[0] if len(centres) > 1 else 1.0
    edges = np.r_[centres - width / 2, centres[-1] + width / 2]
    y = np.concatenate([counts, counts[:, -1:]], axis=1)
    with mark.hold_sync():
        mark.x = np.tile(edges, (len(samples), 1))
        mark.y = y
        mark.colors = list(colors)
        mark.labels = list(labels)


def _headline(results):
    rows = []
    for label, r in results.items():
        s = r.summary()
        rows.append((label, s["shootdowns"], s["ipis"], f"{s['latency_us_median']:.2f}",
                     f"{s.get('latency_us_p99', float('nan')):.2f}",
                     f"{analysis.cycles_to_us(s.get('handler_cycles', 0), r.costs.clock_ghz):.1f}",
                     s["violations"], s["timeouts"], s["outcome"]))
    return table_html(("protocol", "shootdowns", "IPIs", "median latency (µs)",
                       "p99 latency (µs)", "handler time, all CPUs (µs)", "violations",
                       "timeouts", "outcome"), rows, "Headline numbers")
