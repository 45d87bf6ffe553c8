"""Scaling view: latency and machine time lost against CPU count, from a sweep."""

import bqplot as bq
import ipywidgets as widgets
import numpy as np
from traitlets import Bool, List, Int, Dict, Unicode, validate, TraitError

import tlbwidgets as tw
from .. import analysis
from ._status import DisplayFirst, StatusBar
from ._style import axis, figure, wrap_row, fit_ticks, tooltip, legend_html, series_color
from ._gc import settle

__all__ = ["ScalingView", "scaling", "parse_cpu_list", "log_ticks"]


def parse_cpu_list(text):
    """Parse "2, 4, 8" into a sorted list of distinct CPU counts in 2..1024.

    Raises ValueError naming the bad entry.
    """
    counts = []
    for part in str(text).replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        # isdigit() alone accepts '²' and other digits int() refuses
        if not (part.isascii() and part.isdigit()) or not 2 <= int(part) <= 1024:
            raise ValueError(f"cpu counts: {part!r} is not a CPU count in 2..1024 "
                             f"(write e.g. 2, 4, 8, 16)")
        counts.append(int(part))
    if not counts:
        raise ValueError(f"cpu counts: {text!r} lists no CPU count (write e.g. 2, 4, 8, 16)")
    return sorted(set(counts))


class ScalingView(DisplayFirst, widgets.VBox):
    """Runs ``tw.sweep`` over CPU counts on the button, with a progress bar.

    ``base_config`` holds the other simulate arguments (workload, knobs,
    costs, and ``sockets``, which every swept CPU count must be a multiple
    of; default 1); the explorer keeps it in step with its controls.
    The sweep only runs when asked: it is the one slow thing here.  With
    ``sweep_when_shown`` the first sweep starts once the view is displayed
    (or at :meth:`wait`), in a background thread.
    """

    protocols = List(Unicode(), default_value=["mailbox"],
                     help="Protocols swept, one line each.")
    cpu_counts = List(Int(), default_value=[2, 4, 8, 16, 32],
                      help="CPU counts swept (x axis, log scale).")
    seeds = Int(1, help="Seeds per point (results are averaged over seeds).")
    base_config = Dict(help="Other tw.simulate arguments: workload, its knobs, costs.")
    sweep_when_shown = Bool(False, help="Sweep once the view is first displayed.")

    @validate("seeds")
    def _valid_seeds(self, proposal):
        if not 1 <= proposal["value"] <= 20:
            raise TraitError(f"seeds={proposal['value']} must be in 1..20")
        return proposal["value"]

    @validate("protocols")
    def _valid_protocols(self, proposal):
        if not proposal["value"]:
            raise TraitError("protocols: pick at least one protocol to sweep")
        return proposal["value"]

    def __init__(self, protocols=None, cpu_counts=None, executor=None, **kwargs):
        self.executor = executor   # passed to tw.sweep; None: its default pool
        choices = tuple(getattr(tw, "PROTOCOLS", ("mailbox",)))
        self.protocol_picker = widgets.SelectMultiple(options=choices, rows=min(6, len(choices)),
                                                      description="protocols")
        self.picker_hint = widgets.HTML(
            "<span style='font-size:13px;color:#555'>Ctrl-click (⌘-click on a Mac) to pick "
            "several protocols</span>")
        self.cpu_text = widgets.Text(description="CPU counts", continuous_update=False)
        self.seed_slider = widgets.IntSlider(min=1, max=20, description="seeds",
                                             continuous_update=False)
        self.run_button = widgets.Button(description="Run sweep", icon="play",
                                         button_style="primary",
                                         tooltip="Run every (protocol, CPU count, seed)")
        self.progress = widgets.IntProgress(value=0, min=0, max=1, description="progress",
                                            bar_style="info")
        self.status = StatusBar()
        xs = bq.LogScale()
        ly, my = bq.LinearScale(min=0), bq.LinearScale(min=0)
        self.latency_lines = bq.Lines(x=np.zeros(0), y=np.zeros(0), marker="circle",
                                      scales={"x": xs, "y": ly},
                                      tooltip=tooltip(["CPUs", "median latency (µs)"],
                                                      [".0f", ".3f"]))
        self.lost_lines = bq.Lines(x=np.zeros(0), y=np.zeros(0), marker="circle",
                                   scales={"x": xs, "y": my},
                                   tooltip=tooltip(["CPUs", "machine time lost (%)"],
                                                   [".0f", ".3f"]))
        # Ticks only at the swept counts (set in draw): a log axis left to
        # itself prints every integer and crowds them into "78910".
        self.cpu_axes = [axis(xs, "CPUs (count, log scale)", tick_format="d",
                              tick_values=np.array(self.cpu_counts, dtype=float))
                         for _ in range(2)]
        self.latency_fig = figure([self.latency_lines],
                                  [self.cpu_axes[0],
                                   axis(ly, "median latency (µs)", "vertical")],
                                  "Latency vs CPU count")
        self.lost_fig = figure([self.lost_lines],
                               [self.cpu_axes[1],
                                axis(my, "CPU time lost (%)", "vertical")],
                               "Machine time lost vs CPU count")
        self.legend = widgets.HTML()
        self.rows = None
        self.figures = {"scaling_latency": self.latency_fig, "scaling_lost": self.lost_fig}
        # No empty 0-1 axes: until a sweep has run, a prompt stands in for the charts.
        self.prompt = widgets.HTML(
            "<div style='font-size:15px;padding:24px;border:1px dashed #999;color:#333'>"
            "No sweep yet. Pick protocols and CPU counts above, then press "
            "<b>Run sweep</b>: the charts show latency and lost machine time against the "
            "CPU count.</div>")
        # The charts join the view only once drawn: a bqplot figure first laid
        # out hidden (display none, no width) draws NaN positions and
        # negative widths, errors in the browser's console.
        self.charts = wrap_row([self.latency_fig, self.lost_fig])
        self.charts.layout.display = "none"
        super().__init__(children=[
            wrap_row([widgets.VBox([self.protocol_picker, self.picker_hint]),
                      widgets.VBox([self.cpu_text, self.seed_slider, self.run_button])]),
            self.progress, self.status, self.legend, self.prompt], **kwargs)
        if protocols:
            self.protocols = list(protocols)
        if cpu_counts:
            self.cpu_counts = list(cpu_counts)
        self._to_widgets()
        self.protocol_picker.observe(self._from_widgets, names="value")
        self.cpu_text.observe(self._from_widgets, names="value")
        self.seed_slider.observe(self._from_widgets, names="value")
        self.run_button.on_click(lambda _b: self.run())
        self._init_display_first(self.status, "")

    def _first_run(self):
        if self.sweep_when_shown:
            self.run()

    def _to_widgets(self):
        self.protocol_picker.value = tuple(p for p in self.protocols
                                           if p in self.protocol_picker.options)
        self.cpu_text.value = ", ".join(str(c) for c in self.cpu_counts)
        self.seed_slider.value = self.seeds

    def _from_widgets(self, _change):
        try:
            with self.hold_trait_notifications():
                self.protocols = list(self.protocol_picker.value)
                self.cpu_counts = parse_cpu_list(self.cpu_text.value)
                self.seeds = self.seed_slider.value
        except (TraitError, ValueError) as exc:
            self.status.show("error", str(exc))
        else:
            if self.status.kind == "error":     # the entry that was refused is mended
                self.status.show("idle", "ready: press Run sweep")

    def _progress(self, done, total):
        self.progress.max = max(int(total), 1)
        self.progress.value = int(done)

    def run(self):
        """Run the sweep and redraw; returns True on success (errors shown)."""
        with self.run_lock:     # the button never starts a second sweep meanwhile
            return self._sweep()

    def _sweep(self):
        sweep = getattr(tw, "sweep", None)
        if not callable(sweep):      # absent, or the submodule rather than the function
            try:        # not re-exported yet: import it where it lives
                from tlbwidgets.sweep import sweep
            except ImportError:
                self.status.show("error", "tw.sweep is not available in this version")
                return False
        self.progress.value = 0
        self.progress.bar_style = "info"
        cfg = {k: v for k, v in self.base_config.items()
               if k not in ("cpus", "protocol", "seed")}
        sockets = cfg.get("sockets", 1)
        # A sockets value that is not a count is sweep's to refuse, in its own words.
        uneven = ([n for n in self.cpu_counts if n % sockets]
                  if isinstance(sockets, int) and sockets >= 1 else [])
        if uneven:
            self.status.show("error", f"cpu counts: {', '.join(map(str, uneven))} cannot be "
                                      f"split evenly over sockets={sockets}; sweep multiples "
                                      f"of {sockets}")
            return False
        n = len(self.protocols) * len(self.cpu_counts) * self.seeds
        ok, rows = self.status.guarded(
            f"sweeping {n} runs…", sweep, cpus=list(self.cpu_counts),
            protocol=list(self.protocols), seeds=list(range(self.seeds)),
            progress=self._progress, executor=self.executor, for_protocols=self.protocols,
            **cfg)
        if not ok:
            self.progress.bar_style = "danger"
            return False
        self.progress.bar_style = "success"
        self.rows = rows
        self.draw(rows)
        on = f" on {sockets} sockets" if sockets != 1 else ""
        self.status.show("ok", f"swept {n} runs: {', '.join(self.protocols)} on "
                               f"{', '.join(map(str, self.cpu_counts))} CPUs{on}")
        return True

    def draw(self, rows):
        """Draw a sweep's rows (structured array from tw.sweep)."""
        protocols = [p for p in self.protocols if (rows["protocol"] == p).any()]
        cpus, latency = analysis.scaling_series(rows, protocols, "latency_us_median")
        _, handler = analysis.scaling_series(rows, protocols, "handler_cycles")
        _, wait = analysis.scaling_series(rows, protocols, "wait_cycles")
        _, sim = analysis.scaling_series(rows, protocols, "sim_cycles")
        lost_pct = 100.0 * (handler + wait) / (sim * cpus[None, :])
        colors = [series_color(i) for i in range(len(protocols))]
        x = np.tile(cpus.astype(np.float64), (len(protocols), 1))
        for mark, y in ((self.latency_lines, latency), (self.lost_lines, lost_pct)):
            with mark.hold_sync():
                mark.x = x
                mark.y = y
                mark.colors = colors
                mark.labels = protocols
        self.legend.value = legend_html(list(zip(protocols, colors)))
        ticks = np.array(log_ticks(cpus), dtype=float)
        for ax in self.cpu_axes:
            ax.tick_values = ticks
        fit_ticks(self.latency_fig, y=np.r_[0.0, np.ravel(latency)])
        fit_ticks(self.lost_fig, y=np.r_[0.0, np.ravel(lost_pct)])
        self.prompt.layout.display = "none"
        self.charts.layout.display = ""
        if self.charts not in self.children:
            self.children = (*self.children, self.charts)


def log_ticks(counts, min_ratio=1.3):
    """The counts to label on a log axis: each at least ``min_ratio`` times the
    previous label (the first and last always kept), so labels never crowd."""
    counts = sorted(int(c) for c in counts)
    if len(counts) <= 2:
        return counts
    kept = [counts[0]]
    for c in counts[1:-1]:
        if c >= kept[-1] * min_ratio and counts[-1] >= c * min_ratio:
            kept.append(c)
    return kept + [counts[-1]]


def scaling(protocols=("mailbox",), cpu_counts=(2, 4, 8, 16, 32), workload="uniform",
            costs="default", executor=None, run=True, **options):
    """The scaling view alone: pick protocols and CPU counts, press Run sweep.

    ``options`` are passed to every run (workload knobs, machine options);
    ``executor`` to ``tw.sweep`` (None: its own process pool).  With
    ``run=True`` (default) the sweep of its arguments starts once the view is
    displayed (``.wait()`` blocks until it is drawn); with ``run=False`` it
    opens with a prompt to press Run.
    """
    view = ScalingView(protocols=list(protocols), cpu_counts=list(cpu_counts),
                       executor=executor)
    view.base_config = {"workload": workload, "costs": costs, **options}
    view.sweep_when_shown = bool(run)
    if run:
        view.status.show("running", "starting the sweep…")
    return settle(view)
