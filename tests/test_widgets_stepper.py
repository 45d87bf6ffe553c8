"""stepper() and race_lab(): steps follow the event log, forward and back."""

import html

import numpy as np
import pytest

import tlbwidgets as tw
import tlbwidgets.widgets as W
from tlbwidgets import analysis as A
from tlbwidgets._tables import (EV_PUSH, EV_ACK_STORE, EV_IPI_SEND, EV_IPI_TAKE, EV_STATE,
                                STATE_NAMES)
from tlbwidgets.widgets._style import (NEUTRAL_INK, OKABE_ITO, STATE_COLORS, TLB_COLORS,
                                       VIOLATION_COLOR)
from tlbwidgets.widgets.stepper import MAILBOX_SLOTS_SHOWN, _USED_SLOT


@pytest.fixture(scope="module")
def st():
    view = W.stepper(cpus=4, workload="single", seed=0)
    assert view.wait(timeout=600)
    return view


def test_steps_are_the_event_log_of_the_same_run(st):
    v = st.view
    assert st.status.kind == "ok", st.status.message
    r = tw.simulate(protocol=st.protocol, **st.config)
    sid = v.shootdown
    first = r.events[r.events["shootdown"] == sid]["time"].min()
    mine = v.frames.events
    assert mine["time"][0] == first
    logged = r.events[(r.events["time"] >= mine["time"][0])
                      & (r.events["time"] <= mine["time"][-1])]
    assert sorted(map(tuple, logged.tolist())) == sorted(map(tuple, mine.tolist()))


def test_next_walks_forward_and_the_board_follows(st):
    v = st.view
    v.step = 0
    seen_push = seen_ack = seen_ipi = False
    for k in range(len(v.frames)):
        assert v.step == k and v.slider.value == k + 1      # both count from 1 on screen
        e = v.frames.events[k]
        s = v.frame_state(k)
        assert f"Step {k + 1} of {len(v.frames)}" in v.narration.value
        if e["kind"] == EV_PUSH:
            assert s["queue"][e["other"]] == e["arg"]
            row = v.slot_cells.colors[e["other"] * MAILBOX_SLOTS_SHOWN:
                                      (e["other"] + 1) * MAILBOX_SLOTS_SHOWN]
            assert sum(c == _USED_SLOT for c in row) == min(e["arg"], MAILBOX_SLOTS_SHOWN)
            seen_push = True
        if e["kind"] == EV_ACK_STORE:
            assert s["ack"][e["cpu"]] == A.ACK_TRUE
            assert v.ack_text.text[e["cpu"]] == "1"
            seen_ack = True
        if e["kind"] == EV_IPI_SEND:
            assert s["pending_ipi"][e["other"]] == e["cpu"]
            heads = np.concatenate([h.y for h in v.ipi_heads.values()])
            assert e["other"] in heads.astype(int)
            seen_ipi = True
        if e["kind"] == EV_IPI_TAKE:
            assert s["pending_ipi"][e["cpu"]] == -1
        if e["kind"] == EV_STATE:
            assert v.state_text.text[e["cpu"]] == STATE_NAMES[e["arg"]]
        v.next()
    assert v.step == len(v.frames) - 1          # stays on the last step
    assert seen_push and seen_ack and seen_ipi
    assert not np.any(v.frame_state(v.step)["tlb"] == A.TLB_STALE)


def test_prev_walks_back_to_the_start(st):
    v = st.view
    v.step = len(v.frames) - 1
    start = v.frame_state(0)
    while v.step > 0:
        v.prev()
    v.prev()                                     # stays on step 0
    assert v.step == 0
    for key in ("state", "queue", "ack", "pending_ipi", "tlb"):
        np.testing.assert_array_equal(v.frame_state(v.step)[key], start[key])
    colors0 = list(v.tlb_cells.colors)
    v.next()
    v.prev()
    assert list(v.tlb_cells.colors) == colors0


def test_slider_and_step_out_of_range(st):
    v = st.view
    v.slider.value = 3
    assert v.step == 2 and "Step 3 of" in v.narration.value
    from traitlets import TraitError
    with pytest.raises(TraitError, match="out of range"):
        v.step = len(v.frames)


def test_board_colours_mean_one_thing_each(st):
    v = st.view
    cell_colours = {"tlb": set(TLB_COLORS), "slot": {_USED_SLOT},
                    "state": set(STATE_COLORS.values())}
    kinds = list(cell_colours)
    for i, a in enumerate(kinds):
        for b in kinds[i + 1:]:
            assert not cell_colours[a] & cell_colours[b], (a, b)
    # Names and headers are ink, never the violation red or a state colour.
    for mark in (v.name_labels, v.header_labels, v.ack_text):
        assert list(mark.colors) == [NEUTRAL_INK]
    assert VIOLATION_COLOR not in TLB_COLORS and OKABE_ITO["orange"] not in TLB_COLORS


@pytest.mark.parametrize("cpus", [8, 32])
def test_board_keeps_every_column_and_arrow_on_it(cpus):
    s = W.stepper(cpus=cpus, workload="single", seed=0)
    assert s.wait(timeout=600)
    v = s.view
    assert s.status.kind == "ok", s.status.message
    lo, hi = v.x_scale.min, v.x_scale.max
    for k in range(len(v.frames)):
        v.step = k
        xs = np.concatenate([np.ravel(h.x) for h in v.ipi_heads.values()] + [np.zeros(0)])
        assert np.all((xs > lo) & (xs < hi)), (k, xs.min(initial=0))
    assert min(v.header_labels.x) > lo and max(v.ack_text.x) < hi
    # The TLB header has its own room: the mailbox column starts >= 3 cells later.
    assert v._x_slots[0] - v._x_tlb[0] >= 3
    assert v.slider.min == 1 and v.slider.max == len(v.frames)


def test_toggle_runs_the_fixed_protocol_on_the_same_scenario(st):
    if "mailbox_fixed" not in tw.PROTOCOLS:
        pytest.skip("mailbox_fixed not available")
    st.toggle.value = "mailbox_fixed"
    if st.status.kind == "error":
        pytest.skip(f"mailbox_fixed does not run yet: {st.status.message}")
    assert st.protocol == "mailbox_fixed"
    assert st.view.result.config["protocol"] == "mailbox_fixed"
    assert st.view.result.config["cpus"] == 4
    st.toggle.value = "mailbox"
    assert st.protocol == "mailbox"


@pytest.fixture(scope="module")
def hunted():
    """Every hazard hunted once from the lab's defaults: hazard name -> lab."""
    labs = {}
    for h in W.HAZARDS:
        lab = W.race_lab(hazard=h.name)
        lab.hunt()
        labs[h.name] = lab
    return labs


@pytest.mark.parametrize("hazard", [h.name for h in W.HAZARDS])
def test_race_lab_finds_every_hazard_from_its_defaults(hunted, hazard):
    lab = hunted[hazard]
    h = lab.current()
    assert lab.found and lab.status.kind == "ok", lab.status.message
    assert lab.cpus == h.cpus
    seed_run = lab.results["mailbox"]
    assert A.evidence_shootdown(seed_run.events, h.evidence) == lab.seed_view.shootdown
    # the steppers open at the guilty step, not at step 1
    assert lab.at_violation and lab.seed_view.step > 0
    assert lab.seed_view.frames.events["kind"][lab.seed_view.step] == A.EVIDENCE_KINDS[
        h.evidence]
    assert f"Step {lab.seed_view.step + 1} of" in lab.seed_view.narration.value
    t = lab.seed_view.frames.events["time"][lab.seed_view.step]
    fixed = lab.fixed_view.frames.events["time"]
    assert fixed[lab.fixed_view.step] <= t
    assert lab.fixed_view.step == len(fixed) - 1 or fixed[lab.fixed_view.step + 1] > t
    assert lab.results["mailbox_fixed"].summary()["violations"] == 0
    assert html.escape(repr(h.workload)) in lab.comparison.value
    if h.search:
        s = lab.search
        assert s.counterexample is not None and len(s.counterexample) <= lab.bound
        # the seed row is the counterexample's replay, the same run the search saw
        assert seed_run.summary() == s.replay().summary()
        # (an empty counterexample -- the unperturbed run -- replays with no schedule)
        assert lab.results["mailbox_fixed"].config.get("schedule", ()) == s.counterexample
        for p in s.counterexample:       # the perturbations are named in words
            assert html.escape(p.describe()) in lab.seed_view.narration.value
            assert html.escape(p.describe()) in lab.schedule_text.value
        assert f"{s.schedules:,} schedules explored" in lab.progress_text.value


def test_race_lab_jumps_back_to_step_1_and_to_the_violation_again(hunted):
    lab = hunted["shared ACK flag"]
    guilty = lab.seed_view.step, lab.fixed_view.step
    lab.back_button.click()
    assert (lab.seed_view.step, lab.fixed_view.step) == (0, 0) and not lab.at_violation
    assert "Step 1 of" in lab.seed_view.narration.value
    lab.jump_button.click()
    assert (lab.seed_view.step, lab.fixed_view.step) == guilty and lab.at_violation
    assert "VIOLATION" in lab.seed_view.narration.value


def test_picking_a_hazard_sets_its_cpus_and_a_failed_hunt_shows_what_was_hunted(hunted):
    lab = W.race_lab(hazard="queue overflow")
    assert lab.cpus == 32
    lab.hunt()
    assert lab.found
    lab.picker.value = "shared ACK flag"
    assert lab.cpus == 4 and lab.cpu_slider.value == 4
    lab.bound = 0                        # the unperturbed run alone: clean at default costs
    assert not lab.hunt()
    assert lab.status.kind == "error"
    assert "no violation in any of the 1 schedules explored within bound 0" in (
        lab.status.message)
    table = lab.comparison.value
    assert "two_unmappers" in table and "munmap_storm" not in table
    assert "unperturbed" in table
    assert lab.views.layout.display == "none"           # no steppers of the previous hunt


def test_race_lab_refuses_a_bad_bound_and_keeps_the_last_good_one():
    lab = W.race_lab()
    lab.bound_slider.value = 2
    assert lab.bound == 2
    with pytest.raises(Exception, match="bound=9"):
        lab.bound = 9
    assert lab.bound == 2


def test_race_lab_hides_only_the_steppers_before_a_hunt():
    lab = W.race_lab()
    assert lab.views.layout.display == "none" and lab.jump_bar.layout.display == "none"
    shown = [lab.hunt_button, lab.cpu_slider, lab.progress, lab.status, lab.comparison]
    for w in shown:                      # nor any box that holds them
        assert w.layout.display != "none"
    boxes = [c for c in lab.children if c not in (lab.views, lab.jump_bar)]
    assert all(b.layout.display != "none" for b in boxes)


def test_race_lab_says_when_the_unperturbed_run_already_shows_the_hazard():
    # On 8 CPUs irq_off_window's section already covers the shootdown at default costs.
    lab = W.race_lab(hazard="interrupts-off timeout", cpus=8)
    assert lab.hunt(), lab.status.message
    assert lab.search.counterexample == ()
    assert "found: the unperturbed run" in lab.status.message
    assert "already shows it" in lab.schedule_text.value
    assert lab.seed_view.note == "" and lab.at_violation
