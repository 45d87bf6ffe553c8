"""The shootdown explorer: controls above (collapsible), four views in tabs below.

The explorer is on screen before anything runs: its first simulation (and
the Scaling tab's first small sweep) starts once it is displayed, in a
background thread, so the status line says what is happening, "compiling the
engine for mailbox (first run on this machine)" with a progress bar on a cold
cache.  ``explorer.wait()`` blocks until that first run has ended (scripts and
tests call it before reading ``results``).

Laid out for a projector: at 1024 x 768 the controls wrap into a few rows above
the tabs, so every view gets the whole width.
"""

import ipywidgets as widgets
from traitlets import Dict, Bool

import tlbwidgets as tw
from ._status import DisplayFirst, StatusBar
from .controls import ExploreControls
from .cost import CostView
from .staleness import StalenessView
from .timeline import TimelineView
from .scaling import ScalingView
from .export import ExportBar
from ._gc import settle

__all__ = ["Explorer", "explore", "run_all"]

TAB_TITLES = ("Cost", "Staleness", "Timeline", "Scaling")


def run_all(controls):
    """Run ``tw.simulate`` for each protocol the controls ask for.

    Returns dict protocol -> Result, in display order.  Raises what the
    engine raises (ValueError/TypeError for bad input).
    """
    return {p: tw.simulate(**controls.config(p)) for p in controls.protocols()}


class Explorer(DisplayFirst, widgets.VBox):
    """Controls, status line, Cost/Staleness/Timeline/Scaling tabs, export bar.

    Any accepted control change reruns the simulation(s) and redraws the
    three run views; the Scaling tab sweeps only when its button is pressed.
    A refused change or a failed run shows its message in the status line and
    leaves every chart on the last good run.  Building it runs nothing:
    the first run starts when it is displayed (or at :meth:`wait`).
    """

    results = Dict(help="label -> tw.Result of the last good run (what the charts show).")
    auto_run = Bool(True, help="Rerun on every accepted control change.")

    def __init__(self, controls=None, **initial):
        self.controls = controls or ExploreControls(**initial)
        self.status = StatusBar()
        self.cost = CostView()
        self.staleness = StalenessView()
        self.timeline = TimelineView()
        self.scaling = ScalingView(protocols=self.controls.protocols())
        self.views = {"Cost": self.cost, "Staleness": self.staleness,
                      "Timeline": self.timeline, "Scaling": self.scaling}
        # Only the selected tab holds its view: a chart drawn inside a hidden
        # tab has no width, and bqplot then draws negative-width rectangles.
        # (A column box: its view stretches to the tab's whole width.)
        self._holders = [widgets.VBox(layout=widgets.Layout(width="100%"))
                         for _ in TAB_TITLES]
        self.tabs = widgets.Tab(children=self._holders, titles=TAB_TITLES,
                                layout=widgets.Layout(width="100%"))
        self.controls.layout.flex_flow = "row wrap"
        self.controls.layout.min_width = "0"
        self.controls_toggle = widgets.ToggleButton(
            value=True, description="controls", icon="sliders",
            tooltip="Show or hide the controls (more room for the charts)",
            layout=widgets.Layout(width="120px", flex="0 0 auto"))
        self.export_bar = ExportBar(lambda: self.results, self.current_figures)
        super().__init__(children=[
            widgets.HBox([self.controls_toggle, self.status],
                         layout=widgets.Layout(align_items="center")),
            self.controls, self.tabs, self.export_bar])
        self.controls_toggle.observe(self._toggle_controls, names="value")
        self.tabs.observe(self._show_tab, names="selected_index")
        self.controls.observe(self._on_revision, names="revision")
        self.controls.observe(self._on_refused, names="error")
        self._sync_scaling()
        self._show_tab(None)
        self._init_display_first(self.status)

    def _first_run(self):
        self.run()
        # The Scaling tab opens with data: a small sweep of the starting
        # configuration (five CPU counts, one seed) runs after the first run.
        self.scaling.run()

    def _toggle_controls(self, change):
        self.controls.layout.display = "" if change["new"] else "none"

    def _show_tab(self, _change):
        shown = self.tabs.selected_index or 0
        for i, holder in enumerate(self._holders):
            view = self.views[TAB_TITLES[i]]
            holder.children = (view,) if i == shown else ()

    def current_figures(self):
        """Figures of the tab on screen (what PNG/SVG export saves)."""
        return self.views[TAB_TITLES[self.tabs.selected_index or 0]].figures

    def _on_refused(self, change):
        if change["new"]:
            self.status.show("error", f"{change['new']} — the charts still show the last "
                                      f"good run.")

    def _on_revision(self, _change):
        self._sync_scaling()
        if self.auto_run:
            self.run()

    def _sync_scaling(self):
        cfg = self.controls.config()
        self.scaling.base_config = {k: v for k, v in cfg.items()
                                    if k not in ("cpus", "protocol", "seed", "sockets")}

    def run(self):
        """Simulate with the current controls and redraw; True on success."""
        with self.run_lock:     # never two runs drawing at once (see DisplayFirst)
            return self._run()

    def _run(self):
        c = self.controls
        label = " vs ".join(c.protocols())
        ok, results = self.status.guarded(
            f"running {label} on {c.cpus} CPUs, workload {c.workload!r}…", run_all, c,
            for_protocols=c.protocols())
        if not ok:
            return False
        # Draw inside the guard too: a chart that cannot draw a result must
        # not leave half the views on the new run.
        ok, _ = self.status.guarded("drawing…", self._draw, results)
        if ok:
            self.results = results
            self.export_bar.results_changed()
            self.status.show("ok", _echo(results))
        return ok

    def _draw(self, results):
        for view in (self.cost, self.staleness, self.timeline):
            view.update(results)


def _echo(results):
    """One line that reproduces the run (the OSTEP habit: always echo the seed)."""
    r = next(iter(results.values()))
    cfg = ", ".join(f"{k}={v!r}" for k, v in r.config.items()
                    if k in ("cpus", "sockets", "workload", "costs", "seed"))
    return f"shown: {' vs '.join(results)} — tw.simulate({cfg}, …)"


def explore(**initial):
    """The shootdown explorer in one call: ``tw.explore(cpus=16, protocol="mailbox")``.

    Keyword arguments set the starting controls (cpus, sockets, protocol,
    compare, workload, unmap_pages, unmap_rate, irq_off_share, costs, seed).
    The first run starts when the explorer is displayed; outside a notebook,
    call ``.wait()`` on it before reading ``results``.
    """
    return settle(Explorer(**initial))
