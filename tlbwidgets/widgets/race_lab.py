"""Race lab: hunt a hazard of the seed protocol, replay it, compare the fix.

Hunt searches the timings of a small, untuned run of the hazard's scenario
(:func:`tlbwidgets.search_races`) until a schedule breaks the seed protocol,
then opens the counterexample in two steppers, the seed protocol and the
fixed one under exactly the same schedule, at the guilty step.  A hazard no
small run can show (the queue overflow needs 17 pending pushes at one CPU)
is hunted the older way: its scenario seed after seed.
"""

import html
from dataclasses import dataclass, field

import ipywidgets as widgets
from traitlets import Bool, Float, Int, Unicode, observe, validate, TraitError

import tlbwidgets as tw
from .. import analysis
from ..schedule import describe
from ..search import MAX_BOUND
from ._status import StatusBar
from ._style import table_html
from .stepper import StepperView
from ._gc import settle

__all__ = ["Hazard", "HAZARDS", "RaceLab", "race_lab", "find_evidence"]

MAX_BUDGET_S = 120.0
"""Longest search the lab's budget slider allows (seconds)."""
STEPPER_MIN_PX = 600
"""Narrowest a stepper of the lab gets (its board's own minimum width)."""
STEPS_SHOWN = 1000
"""Steps the lab's steppers hold: in a 32-CPU unmap storm the first overflow
comes some 440 steps after the first event of the shootdowns around it."""


@dataclass(frozen=True)
class Hazard:
    """A hazard of the seed protocol and the small scenario Hunt explores for it.

    ``evidence`` names what shows it: "violation" (a stale translation used
    after the safe time) or "overflow" (a mailbox overflowed into a Full
    flush).  ``cpus`` is the lab's default CPU count for it; ``options`` go
    to ``tw.simulate``; ``search`` says how Hunt looks for it: True, by
    searching schedules of one run (seed 0); False, by running seed after
    seed unperturbed.
    """

    name: str
    workload: str
    evidence: str
    explanation: str
    cpus: int
    options: dict = field(default_factory=dict)
    search: bool = True


HAZARDS = (
    Hazard("shared ACK flag", "two_unmappers", "violation",
           "One ACK flag per CPU serves every initiator: a handler's ACK for A's op "
           "also releases B, whose op it never performed. B returns while the target "
           "still holds the stale entry. The scenario: two CPUs unmap different pages at "
           "the same instant; at the default costs no violation happens.",
           cpus=4),
    Hazard("interrupts-off timeout", "irq_off_window", "violation",
           "A target runs with interrupts off for longer than the initiator is willing "
           "to spin. The initiator gives up and returns: a hang became silent "
           "incoherence. The scenario's timeout is cut to 20 spins (2,800 cycles), so "
           "that it can end inside its 20,000-cycle interrupts-off section.",
           cpus=3, options={"ack_timeout_spins": 20}),
    Hazard("short range", "short_range", "violation",
           "The seed counts a range's pages as (end - start) / 4096, rounded down, from the "
           "page of start. CPU 0 unmaps 4 KiB starting in the middle of page 1: the bytes "
           "touch pages 1 and 2, the page table loses both, but every CPU flushes page 1 "
           "only. Page 2 stays in every TLB and the next read of it is a violation; a range "
           "shorter than a page flushes nothing at all. No unlucky timing is needed: the "
           "unperturbed run shows it, and the fix (rounding outward) never does.",
           cpus=3),
    Hazard("queue overflow", "munmap_storm", "overflow",
           "Many initiators push into one CPU's 16-slot mailbox faster than it drains; "
           "the 17th push turns the whole queue into one Full flush. A schedule search "
           "cannot find this one: no small run has 17 pushes pending at one CPU.",
           cpus=32, search=False),
)


def find_evidence(result, evidence):
    """Id of the first shootdown that shows ``evidence`` in ``result``, or None
    (see :func:`tlbwidgets.analysis.evidence_shootdown`)."""
    return analysis.evidence_shootdown(result.events, evidence)


class RaceLab(widgets.VBox):
    """Pick a hazard, hunt it, step through it at the guilty moment, compare the fix."""

    hazard = Unicode(HAZARDS[0].name, help="Name of the hazard hunted (see HAZARDS).")
    cpus = Int(HAZARDS[0].cpus, help="CPUs of the scenario (picking a hazard sets its "
                                     "default).")
    bound = Int(3, help="Most perturbations per schedule a search tries.")
    budget_s = Float(10.0, help="Seconds a search may take.")
    max_seeds = Int(20, help="Seeds tried before a seed-by-seed hunt gives up.")
    found = Bool(False, help="The last hunt found the hazard.")
    found_seed = Int(-1, help="Seed whose run showed the hazard (-1: none yet).")
    at_violation = Bool(False, help="The steppers show the guilty step (not step 1).")

    @validate("hazard")
    def _valid_hazard(self, proposal):
        names = [h.name for h in HAZARDS]
        if proposal["value"] not in names:
            raise TraitError(f"hazard={proposal['value']!r} is not one of {names}")
        return proposal["value"]

    @validate("cpus")
    def _valid_cpus(self, proposal):
        if not 2 <= proposal["value"] <= 32:
            raise TraitError(f"cpus={proposal['value']} must be in 2..32 for the race lab")
        return proposal["value"]

    @validate("bound")
    def _valid_bound(self, proposal):
        if not 0 <= proposal["value"] <= MAX_BOUND:
            raise TraitError(f"bound={proposal['value']} must be in 0..{MAX_BOUND}")
        return proposal["value"]

    @validate("budget_s")
    def _valid_budget(self, proposal):
        if not 0 < proposal["value"] <= MAX_BUDGET_S:
            raise TraitError(f"budget_s={proposal['value']} must be more than 0 and at "
                             f"most {MAX_BUDGET_S:g} seconds")
        return proposal["value"]

    @validate("max_seeds")
    def _valid_seeds(self, proposal):
        if not 1 <= proposal["value"] <= 1000:
            raise TraitError(f"max_seeds={proposal['value']} must be in 1..1000")
        return proposal["value"]

    @observe("hazard")
    def _hazard_changed(self, change):
        self.cpus = self.current().cpus

    def __init__(self, protocols=("mailbox", "mailbox_fixed"), **initial):
        self.protocols = tuple(protocols)
        self.results = {}
        self.search = None
        self.hunted = None
        self._guilty = (0, 0)
        self.picker = widgets.ToggleButtons(options=[h.name for h in HAZARDS],
                                            description="hazard")
        self.cpu_slider = widgets.IntSlider(min=2, max=32, description="CPUs",
                                            continuous_update=False)
        self.bound_slider = widgets.IntSlider(min=0, max=MAX_BOUND, description="bound",
                                              continuous_update=False,
                                              tooltip="most perturbations per schedule")
        self.budget_slider = widgets.FloatSlider(min=1, max=MAX_BUDGET_S, step=1,
                                                 description="budget (s)",
                                                 continuous_update=False)
        self.seed_slider = widgets.IntSlider(min=1, max=200, description="max seeds",
                                             continuous_update=False)
        self.hunt_button = widgets.Button(description="Hunt", icon="search",
                                          button_style="warning",
                                          tooltip="search the timings until the hazard shows")
        self.progress = widgets.IntProgress(min=0, max=100, description="hunt")
        self.progress_text = widgets.HTML()
        self.explanation = widgets.HTML()
        self.status = StatusBar()
        self.comparison = widgets.HTML()
        self.schedule_text = widgets.HTML()
        self.jump_button = widgets.Button(description="⚑ Jump to the violation",
                                          tooltip="show the guilty step in both steppers",
                                          layout=widgets.Layout(width="auto"))
        self.back_button = widgets.Button(description="↩ Back to step 1",
                                          tooltip="show the first step in both steppers",
                                          layout=widgets.Layout(width="auto"))
        # Each stepper takes half the row when two boards of STEPPER_MIN_PX fit,
        # else the row wraps and they stack.
        self.seed_view, self.fixed_view = (
            StepperView(layout=widgets.Layout(flex=f"1 1 {STEPPER_MIN_PX}px",
                                              min_width=f"{STEPPER_MIN_PX}px"))
            for _ in range(2))
        self.picker.style.button_width = "auto"      # hazard names are never cut
        def wrap():      # side by side only when both fit; one Layout each, as some hide
            return widgets.Layout(flex_flow="row wrap")
        self.jump_bar = widgets.HBox([self.jump_button, self.back_button], layout=wrap())
        self.views = widgets.HBox([self.seed_view, self.fixed_view], layout=wrap())
        self._controls = (
            self.picker,
            widgets.HBox([self.cpu_slider, self.bound_slider, self.budget_slider,
                          self.seed_slider, self.hunt_button], layout=wrap()),
            self.explanation, widgets.HBox([self.progress, self.progress_text], layout=wrap()),
            self.status, self.comparison, self.schedule_text)
        super().__init__(children=self._controls)
        if "hazard" in initial:                       # first: it sets the default CPUs
            self.hazard = initial.pop("hazard")
        for k, v in initial.items():
            setattr(self, k, v)
        for w, name in ((self.picker, "hazard"), (self.cpu_slider, "cpus"),
                        (self.bound_slider, "bound"), (self.budget_slider, "budget_s"),
                        (self.seed_slider, "max_seeds")):
            w.value = getattr(self, name)
            w.observe(lambda c, name=name: self._set(name, c["new"]), names="value")
        self.observe(lambda c: setattr(self.cpu_slider, "value", c["new"]), names="cpus")
        self.hunt_button.on_click(lambda _b: self.hunt())
        self.jump_button.on_click(lambda _b: self.jump_to_violation())
        self.back_button.on_click(lambda _b: self.back_to_start())
        self._show_results(False)
        self._explain()

    def _set(self, name, value):
        try:
            setattr(self, name, value)
        except TraitError as exc:
            self.status.show("error", str(exc))
        self._explain()

    def _explain(self):
        h = self.current()
        how = (f"Hunt searches schedules of <code>{h.workload}</code> on {self.cpus} CPUs "
               f"(at most {self.bound} perturbations, {self.budget_s:g} s)" if h.search else
               f"Hunt runs <code>{h.workload}</code> on {self.cpus} CPUs, up to "
               f"{self.max_seeds} seeds")
        self.explanation.value = (f"<div style='font-size:13px;max-width:800px'>"
                                  f"<b>{html.escape(h.name)}</b>: {html.escape(h.explanation)} "
                                  f"{how}; evidence: {h.evidence}.</div>")
        for w in (self.bound_slider, self.budget_slider):
            w.layout.display = None if h.search else "none"
        self.seed_slider.layout.display = "none" if h.search else None

    def current(self):
        """The Hazard picked."""
        return next(h for h in HAZARDS if h.name == self.hazard)

    def scenario(self, seed=0):
        """``tw.simulate`` arguments of the picked hazard's scenario (no protocol)."""
        h = self.current()
        return {"cpus": self.cpus, "workload": h.workload, "seed": seed, **h.options}

    # ---- hunting ------------------------------------------------------------
    def hunt(self):
        """Hunt the picked hazard; True when found (both steppers then open at
        the guilty step).  Whatever the outcome, the comparison table shows
        the scenario hunted."""
        h = self.current()
        self.found, self.found_seed, self.search, self.at_violation = False, -1, None, False
        self.hunted = self.scenario()
        self.progress.value, self.progress_text.value = 0, ""
        self.schedule_text.value = ""
        self._show_results(False)
        self.comparison.value = ""
        if h.search:
            ok, found = self.status.guarded(f"searching schedules for {h.name!r}…",
                                            self._search, h)
        else:
            ok, found = self.status.guarded(f"hunting {h.name!r} seed by seed…",
                                            self._scan, h)
        if not ok:
            return False
        seed_result, schedule = found
        ok, fixed = self.status.guarded(
            f"running {self.protocols[1]} on the same scenario…", tw.simulate,
            protocol=self.protocols[1], schedule=schedule or None,
            **self._replay_args(h))
        if not ok:
            return False
        self.results = {self.protocols[0]: seed_result, self.protocols[1]: fixed}
        self._table(schedule)
        sid = analysis.evidence_shootdown(seed_result.events, h.evidence)
        if sid is None:
            self.status.show("error", self._failure(h))
            return False
        ok, _ = self.status.guarded("loading the steppers…", self._load, sid, h.evidence)
        if not ok:
            return False
        self.found = True
        where = (f"seed {self.found_seed}" if not h.search else
                 f"{len(schedule)} perturbation(s)" if schedule else "the unperturbed run")
        self.status.show("ok", f"found: {where}, shootdown #{sid}; the steppers show the "
                               f"guilty step")
        return True

    def _replay_args(self, h):
        if h.search:
            return {k: v for k, v in self.search.simulate_args.items() if k != "protocol"}
        return self.scenario(max(self.found_seed, 0))

    def _search(self, h):
        s = tw.search_races(self.protocols[0], h.workload, self.cpus, bound=self.bound,
                            budget_s=self.budget_s, progress=self._searching, **h.options)
        self.search = s
        if s.stopped != "budget":         # done before the budget ran out
            self.progress.value = 100
        if s.counterexample is not None:
            return s.counterexample_result, s.counterexample
        return s.replay(()), None

    def _searching(self, s):
        self.progress.value = int(100 * min(s.elapsed_s / self.budget_s, 1.0))
        self.progress_text.value = (f"<span style='font-size:13px'>{s.schedules:,} schedules "
                                    f"explored, {s.orderings:,} distinct orderings, "
                                    f"{s.elapsed_s:.1f} s</span>")

    def _scan(self, h):
        r = None
        for seed in range(self.max_seeds):
            r = tw.simulate(protocol=self.protocols[0], **self.scenario(seed))
            self.progress.value = int(100 * (seed + 1) / self.max_seeds)
            self.progress_text.value = (f"<span style='font-size:13px'>{seed + 1} of "
                                        f"{self.max_seeds} seeds</span>")
            if find_evidence(r, h.evidence) is not None:
                self.found_seed = seed
                self.hunted = self.scenario(seed)
                return r, None
        self.hunted = self.scenario(self.max_seeds - 1)
        return r, None

    def _failure(self, h):
        if h.search:
            s = self.search
            why = "the budget ran out" if s.stopped == "budget" else "every schedule was made"
            return (f"no {h.evidence} in any of the {s.schedules:,} schedules explored "
                    f"within bound {s.bound} on {self.cpus} CPUs ({why}): raise the bound "
                    f"or the budget, or change the CPUs")
        return (f"no {h.evidence} in {self.max_seeds} seeds on {self.cpus} CPUs: try more "
                f"seeds or more CPUs")

    # ---- showing ------------------------------------------------------------
    def _show_results(self, visible):
        # The steppers join the page only when shown: a bqplot board first laid
        # out hidden draws with negative widths (browser console errors).
        for w in (self.jump_bar, self.views):
            w.layout.display = None if visible else "none"
        self.children = self._controls + ((self.jump_bar, self.views) if visible else ())

    def _table(self, schedule):
        h = self.current()
        rows = []
        for label, res in self.results.items():
            s = res.summary()
            rows.append((label, "counterexample" if schedule else "unperturbed",
                         s["shootdowns"], s["violations"], s["timeouts"], s["full_flushes"],
                         f"{s['latency_us_median']:.2f}", s["outcome"]))
        args = ", ".join(f"{k}={v!r}" for k, v in self.hunted.items())
        if h.search:
            s = self.search
            found = ("the counterexample below" if schedule is not None else
                     f"no violation in any of the {s.schedules:,} schedules within bound "
                     f"{s.bound}")
            caption = (f"Hunted: tw.search_races({self.protocols[0]!r}, {h.workload!r}, "
                       f"{self.cpus}, bound={s.bound}"
                       + "".join(f", {k}={v!r}" for k, v in h.options.items())
                       + f"): {s.schedules:,} schedules, {s.orderings:,} orderings, "
                         f"{s.elapsed_s:.1f} s; {found}. Both rows: tw.simulate({args}"
                       + (", schedule=…)" if schedule else ")"))
        else:
            caption = f"Same scenario: tw.simulate({args})"
        self.comparison.value = table_html(
            ("protocol", "schedule", "shootdowns", "violations", "timeouts", "full flushes",
             "median latency (µs)", "outcome"), rows, caption)
        if schedule:
            items = "".join(f"<li>{html.escape(t)}</li>" for t in describe(schedule))
            self.schedule_text.value = (
                "<div style='font-size:13px;max-width:800px'><b>The counterexample</b>: the "
                "same run with these steps slower than their cost says; both steppers "
                f"replay it.<ul style='margin:2px 0'>{items}</ul>"
                f"<code>schedule={html.escape(repr([tuple(p) for p in schedule]))}</code>"
                "</div>")
        elif schedule is not None:
            self.schedule_text.value = ("<div style='font-size:13px'>The unperturbed run "
                                        "already shows it (an empty schedule).</div>")

    def _load(self, sid, evidence):
        seed_result, fixed_result = self.results.values()
        self.seed_view.show(seed_result, sid, STEPS_SHOWN)
        self.seed_view.title = f"{self.protocols[0]} (seed protocol), shootdown #{sid}"
        fixed_ids = fixed_result.shootdowns["id"]
        if len(fixed_ids):
            self.fixed_view.show(fixed_result, sid if (fixed_ids == sid).any() else None,
                                 STEPS_SHOWN)
            self.fixed_view.title = (f"{self.protocols[1]} (fixed), shootdown "
                                     f"#{self.fixed_view.shootdown}")
        names = describe(self.search.counterexample) if (
            self.search is not None and self.search.counterexample) else []
        note = ("Counterexample: " + "; ".join(names) + ".") if names else ""
        self.seed_view.note = self.fixed_view.note = note
        step = analysis.evidence_step(self.seed_view.frames, evidence)
        if step is None:
            self._guilty = None
            self.jump_button.disabled = True
            self.jump_button.tooltip = (f"the stretch shown holds no {evidence} step")
        else:
            t = int(self.seed_view.frames.events["time"][step])
            fixed_step = (analysis.step_at_time(self.fixed_view.frames, t)
                          if self.fixed_view.frames is not None else 0)
            self._guilty = (step, fixed_step)
            self.jump_button.disabled = False
            self.jump_button.description = f"⚑ Jump to the {evidence}"
        self._show_results(True)
        if self._guilty is not None:
            self.jump_to_violation()

    def jump_to_violation(self):
        """Both steppers show the guilty step: the seed's first evidence step
        and, beside it, the fixed run at the same instant."""
        if not self._guilty:
            return
        self.seed_view.step, fixed_step = self._guilty
        if self.fixed_view.frames is not None:
            self.fixed_view.step = fixed_step
        self.at_violation = True

    def back_to_start(self):
        """Both steppers show their first step."""
        self.seed_view.step = 0
        if self.fixed_view.frames is not None:
            self.fixed_view.step = 0
        self.at_violation = False


def race_lab(hazard="shared ACK flag", cpus=None, bound=3, budget_s=10.0, max_seeds=20):
    """The race lab in one call: ``tw.race_lab(hazard="shared ACK flag")``.

    ``cpus`` defaults to the hazard's (:data:`HAZARDS`); ``bound`` and
    ``budget_s`` go to :func:`tlbwidgets.search_races`; ``max_seeds`` is
    for a hazard hunted seed by seed."""
    initial = dict(hazard=hazard, bound=bound, budget_s=budget_s, max_seeds=max_seeds)
    if cpus is not None:
        initial["cpus"] = cpus
    return settle(RaceLab(**initial))
