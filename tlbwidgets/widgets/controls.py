"""The explorer's controls: one validated run configuration, many widgets.

:class:`ExploreControls` holds the configuration as traits (the single source
of truth) and draws one ipywidget per trait.  A change in a widget is applied
to the traits; if it breaks a cross-field rule (sockets must divide CPUs, the
compared protocol must differ) the traits keep their last good values, the
widget stays where the learner put it, and ``error`` explains what to fix.
Views listen to ``revision``, which moves once per accepted change.
"""

import inspect

import ipywidgets as widgets
from traitlets import Int, Float, Unicode, TraitError, validate

import tlbwidgets as tw

__all__ = ["ExploreControls", "NO_COMPARE", "workload_knobs", "USEFUL_CPU_COUNTS", "cpu_stops"]

NO_COMPARE = "(none)"
"""Value of ``compare`` that means: run one protocol only."""

MAX_SEED = 2**31 - 1
"""Largest seed the seed box takes."""

_KNOBS = ("unmap_pages", "unmap_rate", "irq_off_share")

USEFUL_CPU_COUNTS = tuple(sorted(
    set(range(2, 9)) | {6, 10, 12, 20, 24, 40, 48, 96, 192}
    | {n for k in range(4, 9) for n in (2**k - 1, 2**k, 2**k + 1) if n <= 256}))
"""Stops of the CPU slider: every count up to 8, each power of two with its
neighbours (63, 64, 65: one CPU more or less than a round machine) and the
common core counts between; a drag always lands on one of them."""


def cpu_stops(cpus):
    """USEFUL_CPU_COUNTS plus ``cpus`` itself (a count set from code stays reachable)."""
    return tuple(sorted(set(USEFUL_CPU_COUNTS) | {int(cpus)}))


def workload_knobs(workload):
    """The main knobs (of unmap_pages, unmap_rate, irq_off_share) a named workload takes,
    with their defaults, read from the workload function's signature."""
    fn = getattr(getattr(tw, "workloads", None), workload, None)
    if fn is None:
        return {}
    params = inspect.signature(fn).parameters
    return {k: params[k].default for k in _KNOBS
            if k in params and params[k].default is not inspect.Parameter.empty}


class ExploreControls(widgets.VBox):
    """CPUs, sockets, protocol(s), workload and its knobs, cost preset and seed.

    ``config()`` returns the keyword arguments for ``tw.simulate`` of the
    primary protocol; ``protocols()`` the protocols to run (one or two).
    ``measured`` (name -> ``tw.Costs``) adds fitted machines to the costs
    menu; by default, those of ``tw.measured_costs()`` when the controls are
    built (a measurement taken later shows in the next explorer).
    """

    cpus = Int(16, help="Number of CPUs in the machine (2..256).")
    sockets = Int(1, help="Number of sockets; must divide the CPU count.")
    protocol = Unicode("mailbox", help="Shootdown protocol to run (a name in tw.PROTOCOLS).")
    compare = Unicode(NO_COMPARE, help="Second protocol to run on the same workload, "
                                       "or '(none)'.")
    workload = Unicode("uniform", help="Named workload (a name in tw.WORKLOADS).")
    unmap_pages = Int(1, help="Pages per unmap, for workloads that take it.")
    unmap_rate = Float(0.05, help="Probability that an op is an unmap, for workloads that "
                                  "take it.")
    irq_off_share = Float(0.0, help="Fraction of time each CPU runs with interrupts off, "
                                    "for workloads that take it.")
    costs = Unicode("default", help="Cost preset (a name in tw.COST_PRESETS, or a machine "
                                    "fitted by tw.measure in this kernel).")
    seed = Int(0, help="Seed of the workload generator: same seed, same run.")
    revision = Int(0, help="Increments once per accepted change; views observe it.")
    error = Unicode("", help="Why the last change was refused ('' when it was accepted).")

    @validate("cpus")
    def _valid_cpus(self, proposal):
        cpus = proposal["value"]
        if not 2 <= cpus <= 256:
            raise TraitError(f"cpus={cpus} is out of range: choose 2..256 CPUs")
        if cpus % self.sockets:
            raise TraitError(f"{self.sockets} sockets do not divide cpus={cpus}: pick a CPU "
                             f"count that is a multiple of {self.sockets}, or fewer sockets")
        return cpus

    @validate("sockets")
    def _valid_sockets(self, proposal):
        sockets = proposal["value"]
        if sockets < 1 or self.cpus % sockets:
            raise TraitError(f"sockets={sockets} does not divide cpus={self.cpus}: choose a "
                             f"socket count that divides the CPU count")
        return sockets

    @validate("seed")
    def _valid_seed(self, proposal):
        seed = proposal["value"]
        if not 0 <= seed <= MAX_SEED:
            raise TraitError(f"seed={seed} is out of range: choose a seed in 0..{MAX_SEED}")
        return seed

    @validate("workload", "costs")
    def _valid_choice(self, proposal):
        name, value = proposal["trait"].name, proposal["value"]
        self._check_choice(name, value)
        return value

    def _check_choice(self, name, value):
        """A dropdown's field must be one of its options (else the dropdown
        itself would refuse it with a message that names nothing)."""
        widget = getattr(self, "widgets", {}).get(name)
        if widget is not None and value not in widget.options:
            raise TraitError(f"{name}={value!r} is not available here; choose one of "
                             f"{list(widget.options)}")

    @validate("compare")
    def _valid_compare(self, proposal):
        self._check_choice("compare", proposal["value"])
        if proposal["value"] == self.protocol:
            raise TraitError(f"compare={proposal['value']!r} is the protocol already shown: "
                             f"pick another protocol to compare, or {NO_COMPARE}")
        return proposal["value"]

    @validate("protocol")
    def _valid_protocol(self, proposal):
        self._check_choice("protocol", proposal["value"])
        if proposal["value"] == self.compare:
            raise TraitError(f"protocol={proposal['value']!r} is also the compared protocol: "
                             f"pick another, or set compare to {NO_COMPARE} first")
        return proposal["value"]

    @validate("unmap_rate", "irq_off_share")
    def _valid_fraction(self, proposal):
        v = proposal["value"]
        if not 0.0 <= v <= 1.0:
            raise TraitError(f"{proposal['trait'].name}={v} must be a fraction in [0, 1]")
        return v

    def __init__(self, protocols=None, workloads=None, cost_presets=None, measured=None,
                 **initial):
        protocols = tuple(protocols or tw.PROTOCOLS)
        workloads = tuple(workloads or tw.WORKLOADS)
        # Fitted machines (name -> tw.Costs) join the menu by name; the
        # simulation gets the Costs itself, so tw.COST_PRESETS stays as it is.
        self._measured = dict(tw.measured_costs() if measured is None else measured)
        presets = tuple(cost_presets or tw.COST_PRESETS)
        presets += tuple(n for n in self._measured if n not in presets)
        w = {
            "cpus": widgets.SelectionSlider(options=USEFUL_CPU_COUNTS, value=16,
                                            description="CPUs", continuous_update=False),
            "sockets": widgets.Dropdown(options=[1, 2, 4, 8], description="sockets"),
            "protocol": widgets.Dropdown(options=protocols, description="protocol"),
            "compare": widgets.Dropdown(options=(NO_COMPARE,) + protocols,
                                        description="compare"),
            "workload": widgets.Dropdown(options=workloads, description="workload"),
            "unmap_pages": widgets.IntSlider(min=1, max=128, description="pages/unmap",
                                             continuous_update=False),
            "unmap_rate": widgets.FloatSlider(min=0.0, max=0.2, step=0.001, readout_format=".3f",
                                              description="unmap rate",
                                              continuous_update=False),
            "irq_off_share": widgets.FloatSlider(min=0.0, max=0.9, step=0.05,
                                                 description="irqs-off share",
                                                 continuous_update=False),
            "costs": widgets.Dropdown(options=presets, description="costs"),
            "seed": widgets.BoundedIntText(min=0, max=MAX_SEED, description="seed"),
        }
        for name, widget in w.items():
            widget.tooltip = self.trait_metadata(name, "help")
            widget.style = {"description_width": "90px"}
        self.widgets = w
        self._syncing = False
        super().__init__(children=list(w.values()), **{})
        self.layout.min_width = "330px"
        knob_defaults = workload_knobs(initial.get("workload", self.workload))
        if not self.apply(**{**knob_defaults, **initial}):
            raise ValueError(self.error)
        for name, widget in w.items():
            widget.observe(self._from_widget, names="value")
        self.observe(self._to_widgets, names=list(w))
        self._to_widgets(None)

    def apply(self, **changes):
        """Set several fields at once, validated together; True if accepted.

        On refusal nothing changes and ``error`` says why.  Unknown names
        raise ValueError naming them.
        """
        bad = sorted(set(changes) - set(self.widgets))
        if bad:
            raise ValueError(f"unknown control(s) {bad}; allowed: {sorted(self.widgets)}")
        try:
            # Cross-validation runs once, with every new value in place.
            with self.hold_trait_notifications():
                for name, value in changes.items():
                    setattr(self, name, value)
        except TraitError as exc:
            self.error = str(exc)
            return False
        self.error = ""
        self.revision += 1
        return True

    def _from_widget(self, change):
        if self._syncing:       # our own write-back (or a widget clamping it): not the learner
            return
        field = next(k for k, v in self.widgets.items() if v is change["owner"])
        changes = {field: change["new"]}
        if field == "workload":
            changes.update(workload_knobs(change["new"]))
        self.apply(**changes)

    def _to_widgets(self, _change):
        accepted = workload_knobs(self.workload)
        self._syncing = True
        try:
            for name, widget in self.widgets.items():
                if name == "cpus" and self.cpus not in widget.options:
                    widget.options = cpu_stops(self.cpus)
                if widget.value != getattr(self, name):
                    widget.value = getattr(self, name)
        finally:
            self._syncing = False
        for name, widget in self.widgets.items():
            if name in _KNOBS:
                widget.disabled = bool(accepted) and name not in accepted

    def protocols(self):
        """Protocols to run: the chosen one, then the compared one if any."""
        return [self.protocol] + ([] if self.compare == NO_COMPARE else [self.compare])

    def config(self, protocol=None):
        """Keyword arguments for ``tw.simulate`` (workload knobs only if it takes them)."""
        cfg = {"cpus": self.cpus, "sockets": self.sockets,
               "protocol": protocol or self.protocol, "workload": self.workload,
               "costs": self._measured.get(self.costs, self.costs), "seed": self.seed}
        for k in workload_knobs(self.workload):
            cfg[k] = getattr(self, k)
        return cfg
