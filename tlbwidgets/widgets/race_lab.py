"""Race lab: hunt a hazard of the seed protocol, replay it, compare the fix.

The lab runs a hazard's scenario seed after seed until the run shows the
hazard, then opens the guilty shootdown in a stepper and runs the fixed
protocol on exactly the same scenario beside it.
"""

from dataclasses import dataclass, field

import ipywidgets as widgets
import numpy as np
from traitlets import Int, Unicode, validate, TraitError

import tlbwidgets as tw
from .._tables import EV_OVERFLOW
from ._status import StatusBar
from ._style import table_html
from .stepper import StepperView
from ._gc import settle

__all__ = ["Hazard", "HAZARDS", "RaceLab", "race_lab", "find_evidence"]


@dataclass(frozen=True)
class Hazard:
    """A hazard of the seed protocol and the scenario that provokes it.

    ``evidence`` names what shows it: "violation" (a stale translation used
    after the safe time), "timeout" (an initiator gave up on a target) or
    "overflow" (a mailbox overflowed into a Full flush).
    """

    name: str
    workload: str
    evidence: str
    explanation: str
    options: dict = field(default_factory=dict)


HAZARDS = (
    Hazard("shared ACK flag", "ack_race", "violation",
           "One ACK flag per CPU serves every initiator: a handler's ACK for A's op "
           "also releases B, whose op it never performed. B returns while the target "
           "still holds the stale entry."),
    Hazard("interrupts-off timeout", "irq_off", "timeout",
           "A target runs with interrupts off for longer than the initiator is willing "
           "to spin. The initiator gives up and returns: a hang became silent "
           "incoherence.",
           {"ack_timeout_spins": 2000}),
    Hazard("queue overflow", "munmap_storm", "overflow",
           "Many initiators push into one CPU's 16-slot mailbox faster than it drains; "
           "the 17th push turns the whole queue into one Full flush."),
)


def find_evidence(result, evidence):
    """Id of the first shootdown that shows ``evidence`` in ``result``, or None."""
    if evidence == "violation":
        v = result.violations
        return int(v["shootdown"][np.argmin(v["time"])]) if len(v) else None
    if evidence == "timeout":
        sd = result.shootdowns[result.shootdowns["timed_out"] > 0]
        return int(sd["id"][np.argmin(sd["start"])]) if len(sd) else None
    if evidence == "overflow":
        ev = result.events[result.events["kind"] == EV_OVERFLOW]
        return int(ev["shootdown"][np.argmin(ev["time"])]) if len(ev) else None
    raise ValueError(f"evidence={evidence!r} is not one of 'violation', 'timeout', 'overflow'")


class RaceLab(widgets.VBox):
    """Pick a hazard, hunt it over seeds, step through it, compare with the fix."""

    hazard = Unicode(HAZARDS[0].name, help="Name of the hazard hunted (see HAZARDS).")
    cpus = Int(8, help="CPUs of the scenario (the hazard scenarios are tuned for 8).")
    max_seeds = Int(20, help="Seeds tried before the hunt gives up.")
    found_seed = Int(-1, help="Seed whose run showed the hazard (-1: none yet).")

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

    @validate("max_seeds")
    def _valid_seeds(self, proposal):
        if not 1 <= proposal["value"] <= 1000:
            raise TraitError(f"max_seeds={proposal['value']} must be in 1..1000")
        return proposal["value"]

    def __init__(self, protocols=("mailbox", "mailbox_fixed"), **initial):
        self.protocols = tuple(protocols)
        self.results = {}
        self.picker = widgets.ToggleButtons(options=[h.name for h in HAZARDS],
                                            description="hazard")
        self.cpu_slider = widgets.IntSlider(min=2, max=32, description="CPUs",
                                            continuous_update=False)
        self.seed_slider = widgets.IntSlider(min=1, max=200, description="max seeds",
                                             continuous_update=False)
        self.hunt_button = widgets.Button(description="Hunt", icon="search",
                                          button_style="warning",
                                          tooltip="run seed after seed until the hazard shows")
        self.progress = widgets.IntProgress(description="seeds", min=0, max=1)
        self.explanation = widgets.HTML()
        self.status = StatusBar()
        self.comparison = widgets.HTML()
        self.seed_view = StepperView()
        self.fixed_view = StepperView()
        self.picker.style.button_width = "auto"      # hazard names are never cut
        wrap = widgets.Layout(flex_flow="row wrap")   # side by side only when both fit
        super().__init__(children=[
            self.picker,
            widgets.HBox([self.cpu_slider, self.seed_slider, self.hunt_button], layout=wrap),
            self.explanation, self.progress, self.status, self.comparison,
            widgets.HBox([self.seed_view, self.fixed_view], layout=wrap)])
        for k, v in initial.items():
            setattr(self, k, v)
        for w, name in ((self.picker, "hazard"), (self.cpu_slider, "cpus"),
                        (self.seed_slider, "max_seeds")):
            w.value = getattr(self, name)
            w.observe(lambda c, name=name: self._set(name, c["new"]), names="value")
        self.hunt_button.on_click(lambda _b: self.hunt())
        self._explain()

    def _set(self, name, value):
        try:
            setattr(self, name, value)
        except TraitError as exc:
            self.status.show("error", str(exc))
        self._explain()

    def _explain(self):
        h = self.current()
        self.explanation.value = (f"<div style='font-size:13px;max-width:800px'>"
                                  f"<b>{h.name}</b>: {h.explanation} Scenario: workload "
                                  f"<code>{h.workload}</code>; evidence: {h.evidence}.</div>")

    def current(self):
        """The Hazard picked."""
        return next(h for h in HAZARDS if h.name == self.hazard)

    def scenario(self, seed):
        """``tw.simulate`` arguments of the picked hazard's scenario (no protocol)."""
        h = self.current()
        return {"cpus": self.cpus, "workload": h.workload, "seed": seed, **h.options}

    def hunt(self):
        """Run seeds until the hazard shows; True when found (and both steppers loaded)."""
        h = self.current()
        self.found_seed = -1
        self.progress.max, self.progress.value = self.max_seeds, 0

        def search():
            for seed in range(self.max_seeds):
                r = tw.simulate(protocol=self.protocols[0], **self.scenario(seed))
                self.progress.value = seed + 1
                sid = find_evidence(r, h.evidence)
                if sid is not None:
                    return seed, sid, r
            return None

        ok, found = self.status.guarded(f"hunting {h.name!r}…", search)
        if not ok:
            return False
        if found is None:
            self.status.show("error", f"no {h.evidence} in {self.max_seeds} seeds on "
                                      f"{self.cpus} CPUs: try more seeds or more CPUs")
            return False
        seed, sid, r = found
        ok, fixed = self.status.guarded(f"running {self.protocols[1]} on the same scenario…",
                                        tw.simulate, protocol=self.protocols[1],
                                        **self.scenario(seed))
        if not ok:
            return False
        self.found_seed = seed
        self.results = {self.protocols[0]: r, self.protocols[1]: fixed}
        ok, _ = self.status.guarded("loading the steppers…", self._load, r, fixed, sid)
        if ok:
            self.status.show("ok", f"found: seed {seed}, shootdown #{sid} — replay it below")
        return ok

    def _load(self, seed_result, fixed_result, sid):
        self.seed_view.show(seed_result, sid)
        self.seed_view.title = f"{self.protocols[0]} (seed protocol), shootdown #{sid}"
        fixed_ids = fixed_result.shootdowns["id"]
        fixed_sid = sid if (fixed_ids == sid).any() else None
        if len(fixed_ids):
            self.fixed_view.show(fixed_result, fixed_sid)
            self.fixed_view.title = (f"{self.protocols[1]} (fixed), shootdown "
                                     f"#{self.fixed_view.shootdown}")
        rows = []
        for label, res in self.results.items():
            s = res.summary()
            rows.append((label, s["shootdowns"], s["violations"], s["timeouts"],
                         s["full_flushes"], f"{s['latency_us_median']:.2f}", s["outcome"]))
        self.comparison.value = table_html(
            ("protocol", "shootdowns", "violations", "timeouts", "full flushes",
             "median latency (µs)", "outcome"), rows,
            f"Same scenario: tw.simulate({', '.join(f'{k}={v!r}' for k, v in self.scenario(self.found_seed if self.found_seed >= 0 else 0).items())})")


def race_lab(hazard="shared ACK flag", cpus=8, max_seeds=20):
    """The race lab in one call: ``tw.race_lab(hazard="shared ACK flag")``."""
    return settle(RaceLab(hazard=hazard, cpus=cpus, max_seeds=max_seeds))
