"""One shootdown, step by step, forward and backward, with a sentence per step.

Every step is one row of the run's event log; the board shows each CPU's
state, the TLB entries of the pages involved (valid, stale, invalidated), its
mailbox slots and ACK flag, and the IPIs in flight as arrows.  The frames
come from :func:`tlbwidgets.analysis.stepper_frames`, so stepping backward is
just showing an earlier frame: nothing is re-simulated.
"""

import html

import bqplot as bq
import ipywidgets as widgets
import numpy as np
from traitlets import Int, Unicode, validate, TraitError

import tlbwidgets as tw
from .. import analysis
from .._tables import STATE_NAMES
from ._status import DisplayFirst, StatusBar
from ._style import (axis, figure, legend_html, STATE_COLORS, TLB_COLORS, ACK_TEXT,
                     NEUTRAL_INK)
from ._gc import settle

__all__ = ["StepperView", "Stepper", "stepper", "MAILBOX_SLOTS_SHOWN"]

MAILBOX_SLOTS_SHOWN = 16
"""Mailbox slots drawn per CPU: the seed kernel's queue holds 16 ops
(strat9 kernel, arch/x86_64/tlb.rs); a longer queue is drawn as full."""

_EMPTY_SLOT, _USED_SLOT = "#F4F4F4", "#555555"
"""Mailbox slots: a queued op is dark grey, a colour no other cell of the board uses."""
TLB_COLUMNS_MIN = 4
"""The TLB block is at least this many cells wide, so its header never runs into
the mailbox's (the old "TLB: vpn 0…0mailbox"; 3 were too few for "TLB vpn 1–2" on
a 600-px board, the race lab's side-by-side steppers)."""
ARROW_SPAN = 4.0
"""Board units left of the CPU names where IPI arrows are drawn side by side."""
_ARROW_X0 = 2.2
"""Board units left of x = 0 where the first arrow stands: clear of the
right-aligned CPU names, which end at x = 0.3 (on a 600-px board "CPU 5"
reaches back some 2 units)."""


class StepperView(widgets.VBox):
    """Board, narration and Play / Prev / Next / slider for one run's shootdown.

    ``show(result, shootdown)`` loads a run; ``step`` is the frame shown.
    """

    step = Int(0, help="Index of the step shown; 0 is the first event of the shootdown.")
    shootdown = Int(-1, help="Id of the shootdown being stepped through (-1: none loaded).")
    title = Unicode("", help="Heading above the board (e.g. the protocol name).")
    note = Unicode("", help="A sentence above every step's narration (e.g. the "
                            "schedule the run was made under).")

    @validate("step")
    def _valid_step(self, proposal):
        n = len(self.frames) if self.frames is not None else 0
        if not 0 <= proposal["value"] < max(n, 1):
            raise TraitError(f"step={proposal['value']} is out of range: this shootdown has "
                             f"{n} steps (0..{n - 1})")
        return proposal["value"]

    def __init__(self, **kwargs):
        self.frames = None
        self.result = None
        self._kinds = {}
        xs, ys = bq.LinearScale(allow_padding=False), bq.LinearScale(reverse=True,
                                                                     allow_padding=False)
        self.x_scale, self.y_scale = xs, ys
        sc = {"x": xs, "y": ys}

        def label(align, size):
            return bq.Label(x=np.zeros(0), y=np.zeros(0), text=np.array([], "U1"),
                            align=align, default_size=size, colors=[NEUTRAL_INK], scales=sc)

        self.name_labels = label("end", 13)
        self.header_labels = label("start", 13)
        self.header_labels.font_weight = "bold"
        self.state_cells = bq.Scatter(x=np.zeros(0), y=np.zeros(0), marker="square", scales=sc)
        self.state_text = label("start", 12)
        self.tlb_cells = bq.Scatter(x=np.zeros(0), y=np.zeros(0), marker="square", scales=sc,
                                    stroke="#444444")
        self.slot_cells = bq.Scatter(x=np.zeros(0), y=np.zeros(0), marker="square", scales=sc,
                                     stroke="#BBBBBB")
        self.ack_text = label("middle", 13)
        self.ipi_lines = bq.Lines(x=np.zeros(0), y=np.zeros(0), colors=["#000000"],
                                  stroke_width=2, scales=sc)
        self.ipi_heads = {d: bq.Scatter(x=np.zeros(0), y=np.zeros(0), marker=f"triangle-{d}",
                                        colors=["#000000"], default_size=50, scales=sc)
                          for d in ("down", "up")}
        marks = [self.header_labels, self.name_labels, self.state_cells, self.state_text,
                 self.tlb_cells, self.slot_cells, self.ack_text, self.ipi_lines,
                 *self.ipi_heads.values()]
        self.board = figure(marks, [axis(xs, "board column (no unit)", visible=False),
                                    axis(ys, "CPU (id)", "vertical", visible=False)],
                            "", height_px=300)
        self.board.fig_margin = {"top": 30, "bottom": 10, "left": 10, "right": 10}
        self.board.layout.min_width = "600px"
        # One numbering everywhere: the slider, the text and the title count
        # steps from 1, as a learner does.
        self.play = widgets.Play(interval=900, min=1, max=1, description="play")
        self.slider = widgets.IntSlider(description="step", min=1, max=1,
                                        layout=widgets.Layout(flex="1 1 200px",
                                                              min_width="200px"))
        widgets.jslink((self.play, "value"), (self.slider, "value"))
        self.prev_button = widgets.Button(description="◀ Prev", tooltip="one step back",
                                          layout=widgets.Layout(width="90px"))
        self.next_button = widgets.Button(description="Next ▶", tooltip="one step forward",
                                          layout=widgets.Layout(width="90px"))
        self.narration = widgets.HTML()
        self.heading = widgets.HTML()
        self.legend = widgets.HTML(legend_html(
            [("TLB entry: valid", TLB_COLORS[1]), ("stale", TLB_COLORS[2]),
             ("invalidated", TLB_COLORS[3]), ("not cached", TLB_COLORS[0]),
             ("queued mailbox op", _USED_SLOT), ("IPI in flight / waiting", "#000")])
            + "<div style='font-size:14px'>ACK flag: 1 = acknowledged, 0 = cleared, "
              "– = not used yet. CPU states are coloured as in the timeline.</div>")
        self.figures = {"stepper": self.board}
        super().__init__(children=[
            self.heading, self.legend, self.board,
            widgets.HBox([self.play, self.prev_button, self.next_button, self.slider],
                         layout=widgets.Layout(flex_flow="row wrap", align_items="center")),
            self.narration], **kwargs)
        self.slider.observe(self._slider_moved, names="value")
        self.prev_button.on_click(lambda _b: self.prev())
        self.next_button.on_click(lambda _b: self.next())
        self.observe(self._on_step, names="step")
        self.observe(lambda _c: self._draw(self.step), names="note")
        self.observe(lambda c: setattr(self.heading, "value",
                                       f"<b style='font-size:14px'>{html.escape(c['new'])}</b>"),
                     names="title")

    # ---- navigation ---------------------------------------------------------
    def next(self):
        """Show the next step (stays on the last one)."""
        if self.frames is not None and self.step < len(self.frames) - 1:
            self.step += 1

    def prev(self):
        """Show the previous step (stays on step 0)."""
        if self.step > 0:
            self.step -= 1

    def _slider_moved(self, change):
        if self.frames is not None and change["new"] - 1 != self.step:
            self.step = change["new"] - 1

    def _on_step(self, change):
        self.slider.value = change["new"] + 1
        self._draw(change["new"])

    # ---- loading ------------------------------------------------------------
    def show(self, result, shootdown=None, max_steps=400):
        """Load ``result`` and step through ``shootdown`` (default: the first one),
        at most ``max_steps`` steps of it.

        Raises ValueError if the run has no shootdown or the id is unknown.
        """
        sd = result.shootdowns
        if len(sd) == 0:
            raise ValueError("this run performed no shootdown: nothing to step through")
        sid = int(sd["id"][np.argmin(sd["start"])]) if shootdown is None else int(shootdown)
        n_cpus = len(result.cpu_stats)
        frames = analysis.stepper_frames(result.events, sd, result.stale_windows, n_cpus, sid,
                                         max_steps=max_steps)
        self.result, self.frames = result, frames
        self._kinds = {int(i): str(k) for i, k in zip(sd["id"], sd["kind"])}
        self.shootdown = sid
        self._layout(n_cpus, len(frames.vpns))
        self.slider.max = len(frames)
        self.play.max = len(frames)
        if self.step == 0:
            self._draw(0)
        else:
            self.step = 0

    def _layout(self, n_cpus, n_pages):
        """Place the static parts of the board: names, headers, cell positions.

        Columns, left to right: IPI arrows, CPU names, state, TLB entries of the
        shown pages, mailbox slots, ACK flag.  Each header starts over its own
        column and the next column starts after the longest header can end.
        """
        self._x_tlb = 5.0 + np.arange(n_pages)
        slots0 = 5.0 + max(n_pages, TLB_COLUMNS_MIN) + 0.8
        self._x_slots = slots0 + np.arange(MAILBOX_SLOTS_SHOWN) * 0.8
        self._x_ack = float(self._x_slots[-1] + 2.0)
        rows = np.arange(n_cpus, dtype=np.float64)
        self.x_scale.min, self.x_scale.max = -ARROW_SPAN - 1.0, self._x_ack + 1.2
        self.y_scale.min, self.y_scale.max = -2.0, n_cpus - 0.4
        height = int(np.clip(90 + 28 * n_cpus, 220, 640))
        self.board.layout.height = f"{height}px"
        row_px = (height - 40) / (n_cpus + 1.6)
        cell = float(np.clip(0.62 * row_px, 6, 26))
        font = int(np.clip(row_px * 0.7, 10, 13))
        for mark in (self.name_labels, self.state_text, self.ack_text):
            mark.default_size = font
        self.tlb_cells.default_size = int(cell ** 2)
        self.state_cells.default_size = int(cell ** 2)
        self.slot_cells.default_size = int((0.7 * cell) ** 2)
        vp = self.frames.vpns
        with self.name_labels.hold_sync():
            self.name_labels.x = np.full(n_cpus, 0.3)
            self.name_labels.y = rows + 0.15
            self.name_labels.text = np.array([f"CPU {c}" for c in range(n_cpus)])
        pages = ("" if not n_pages else f" vpn {int(vp[0])}" if n_pages == 1
                 else f" vpn {int(vp[0])}–{int(vp[-1])}")
        with self.header_labels.hold_sync():
            hx = [-ARROW_SPAN - 0.8, 0.6, float(self._x_tlb[0]) - 0.4 if n_pages else 4.6,
                  slots0 - 0.4, self._x_ack - 0.6]
            self.header_labels.x = np.array(hx)
            self.header_labels.y = np.full(len(hx), -1.0)
            self.header_labels.text = np.array(
                ["IPIs", "state", f"TLB{pages}", f"mailbox ({MAILBOX_SLOTS_SHOWN} slots)",
                 "ACK"])
        for mark, xs in ((self.tlb_cells, self._x_tlb), (self.slot_cells, self._x_slots)):
            with mark.hold_sync():
                mark.x = np.tile(xs, n_cpus)
                mark.y = np.repeat(rows, len(xs))
        with self.state_cells.hold_sync():
            self.state_cells.x = np.full(n_cpus, 1.0)
            self.state_cells.y = rows
        with self.state_text.hold_sync():
            self.state_text.x = np.full(n_cpus, 1.5)
            self.state_text.y = rows + 0.15
        with self.ack_text.hold_sync():
            self.ack_text.x = np.full(n_cpus, self._x_ack)
            self.ack_text.y = rows + 0.15
            self.ack_text.text = np.array([ACK_TEXT[0]] * n_cpus)

    # ---- drawing ------------------------------------------------------------
    def frame_state(self, k):
        """The board's content at step ``k`` as plain data (what the marks show).

        Returns a dict: ``event`` (the log row), ``sentence``, ``state``,
        ``queue``, ``ack``, ``pending_ipi``, ``tlb`` (all NumPy arrays per CPU).
        """
        f = self.frames
        return {"event": f.events[k],
                "sentence": analysis.narrate(f.events[k], self.result.costs.clock_ghz,
                                             self._kinds),
                "state": f.state[k], "queue": f.queue[k], "ack": f.ack[k],
                "pending_ipi": f.pending_ipi[k], "tlb": f.tlb[k]}

    def _draw(self, k):
        if self.frames is None:
            return
        s = self.frame_state(k)
        n_cpus = len(s["state"])
        self.state_cells.colors = [STATE_COLORS.get(int(x), "#FFFFFF") for x in s["state"]]
        self.state_text.text = np.array([STATE_NAMES[int(x)] for x in s["state"]])
        self.tlb_cells.colors = [TLB_COLORS[int(x)] for x in s["tlb"].ravel()] or ["#FFF"]
        used = np.arange(MAILBOX_SLOTS_SHOWN)[None, :] < s["queue"][:, None]
        self.slot_cells.colors = [(_USED_SLOT if u else _EMPTY_SLOT) for u in used.ravel()]
        self.ack_text.text = np.array([ACK_TEXT[int(x)] for x in s["ack"]])
        senders = s["pending_ipi"]
        targets = np.flatnonzero(senders >= 0)
        # Arrows live left of the names (which end at x = 0.3 and reach back
        # up to about 2 units on a narrow board), one column each so they do not
        # overlap, squeezed so that even 31 of them stay on the board.
        gap = min(0.5, (ARROW_SPAN - _ARROW_X0 - 0.6) / max(len(targets), 1))
        ax = -_ARROW_X0 - gap * np.arange(len(targets), dtype=np.float64)
        x = np.column_stack([ax, ax])
        y = np.column_stack([senders[targets], targets]).astype(np.float64)
        with self.ipi_lines.hold_sync():
            self.ipi_lines.x = x if len(targets) else np.zeros(0)
            self.ipi_lines.y = y if len(targets) else np.zeros(0)
        down = targets > senders[targets]
        for d, sel in (("down", down), ("up", ~down)):
            with self.ipi_heads[d].hold_sync():
                self.ipi_heads[d].x = ax[sel]
                self.ipi_heads[d].y = targets[sel].astype(np.float64)
        n = len(self.frames)
        prev = [analysis.narrate(e, self.result.costs.clock_ghz, self._kinds)
                for e in self.frames.events[max(0, k - 2):k]]
        hist = "".join(f"<div style='color:#888'>{html.escape(p)}</div>" for p in prev)
        note = (f"<div style='font-style:italic'>{html.escape(self.note)}</div>"
                if self.note else "")
        self.narration.value = (f"<div style='font-size:13px'>{note}{hist}<div><b>Step "
                                f"{k + 1} of {n}:</b> {html.escape(s['sentence'])}</div></div>")
        self.board.title = (f"shootdown #{self.shootdown} on {n_cpus} CPUs — "
                            f"step {k + 1}/{n}")


class Stepper(DisplayFirst, widgets.VBox):
    """A scenario stepped through with the seed protocol or the fixed one.

    ``config`` is the ``tw.simulate`` arguments of the scenario without the
    protocol; the toggle runs it with ``protocols[0]`` or ``protocols[1]``.
    The first run starts once the view is displayed (or at ``wait()``).
    """

    protocol = Unicode("mailbox", help="Protocol currently shown.")

    def __init__(self, config, protocols=("mailbox", "mailbox_fixed"), shootdown=None):
        if len(protocols) != 2:
            raise ValueError(f"protocols must name (seed protocol, fixed protocol), "
                             f"got {protocols!r}")
        self.config = dict(config)
        self.protocols = tuple(protocols)
        self.shootdown_choice = shootdown
        self.view = StepperView()
        self.status = StatusBar()
        self.toggle = widgets.ToggleButtons(
            options=[(f"seed protocol ({protocols[0]})", protocols[0]),
                     (f"fixed protocol ({protocols[1]})", protocols[1])],
            tooltips=["the protocol as the seed kernel has it",
                      "the same scenario with the hazards repaired"],
            # wide enough for "fixed protocol (mailbox_fixed)": a cut label hides
            # which protocol is shown
            style={"button_width": "230px"})
        super().__init__(children=[self.toggle, self.status, self.view])
        self.toggle.observe(lambda c: self.load(c["new"]), names="value")
        self._init_display_first(self.status)      # loads protocols[0] once shown

    def _first_run(self):
        self.load(self.protocols[0])

    def load(self, protocol):
        """Run the scenario with ``protocol`` and step through it; True on success."""
        def run():
            r = tw.simulate(protocol=protocol, **self.config)
            self.view.show(r, self.shootdown_choice)
            return r
        with self.run_lock:
            ok, _ = self.status.guarded(f"running {protocol}…", run, for_protocols=[protocol])
        if ok:
            self.protocol = protocol
            self.view.title = f"{protocol}: {_config_echo(self.config)}"
        return ok


def _config_echo(config):
    return "tw.simulate(" + ", ".join(f"{k}={v!r}" for k, v in config.items()) + ")"


def stepper(cpus=4, workload="single", seed=0, shootdown=None,
            protocols=("mailbox", "mailbox_fixed"), **options):
    """Step through one shootdown: ``tw.stepper(cpus=4, pages=1)``.

    ``options`` go to ``tw.simulate`` (workload knobs such as ``pages`` or
    ``initiator``, machine options).  The toggle switches between the seed
    protocol and its fixed version on the same scenario.
    """
    return settle(Stepper({"cpus": cpus, "workload": workload, "seed": seed, **options},
                          protocols=protocols, shootdown=shootdown))
