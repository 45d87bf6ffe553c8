"""Schedules (delays of named steps) and the race search over them.

The engine's delays are checked against the closed form of one shootdown;
the search must find the seed's two hazards from small untuned workloads
(no violation at the default timings) and none in the repaired protocols."""

import numpy as np
import pytest

import tlbwidgets as tw
from tlbwidgets.schedule import Perturbation

C = tw.COST_PRESETS["default"]
TABLES = ("shootdowns", "deliveries", "stale_windows", "violations", "cpu_stats", "events")
REPAIRED = ("mailbox_fixed", "linux", "global_lock", "broadcast")
# The give-up hazard needs a timeout shorter than the section it waits for:
# 20 spins x 140 cycles, against irq_off_window's 20,000-cycle section.
GIVE_UP = dict(ack_timeout_spins=20)


def _same_run(a, b):
    assert a.summary() == b.summary()
    for name in TABLES:
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


def _one_target_latency(delay_before_wait=0, delay_of_ack=0):
    """Closed form of a one-page mailbox shootdown with one target
    (tests/test_mailbox_seed.py): the initiator polls on a grid of pauses
    from the end of its IPI send until the target's ACK store."""
    wait_start = C.invlpg + 2 * C.cacheline + delay_before_wait + C.ipi_send
    ack = (wait_start + C.ipi_latency + C.irq_entry + C.cacheline + C.invlpg + C.cacheline
           + delay_of_ack)
    return wait_start + -(-(ack - wait_start) // C.pause) * C.pause


def _latency(**options):
    r = tw.simulate(cpus=2, protocol="mailbox", workload="single", pages=1, **options)
    sd = r.shootdowns[0]
    return sd["end"] - sd["start"]


def test_one_shootdown_without_schedule_is_the_closed_form():
    assert _latency() == _one_target_latency()


@pytest.mark.parametrize("what,before_wait,of_ack", [
    ("ipi", 0, 1), ("handler", 0, 1), ("push", 1, 0)])
def test_a_delayed_step_moves_the_shootdown_by_its_delay(what, before_wait, of_ack):
    cpu = 0 if what == "push" else 1
    for delay in (1, 141, 5_000):
        got = _latency(schedule=[(cpu, what, 0, delay)])
        assert got == _one_target_latency(before_wait * delay, of_ack * delay)


def test_a_delayed_think_time_moves_the_shootdown_start():
    base = tw.simulate(cpus=2, workload="single", pages=1)
    r = tw.simulate(cpus=2, workload="single", pages=1, schedule=[(0, "think", 0, 777)])
    assert r.shootdowns["start"][0] == base.shootdowns["start"][0] + 777
    assert r.shootdowns["end"][0] == base.shootdowns["end"][0] + 777


def test_a_longer_interrupts_off_section_delays_the_handler_that_waits_for_it():
    kw = dict(cpus=3, workload="irq_off_window", ack_timeout_spins=None,
              schedule=[(0, "ipi", 0, 2_117)])
    a = tw.simulate(**kw)
    b = tw.simulate(**dict(kw, schedule=[(0, "ipi", 0, 2_117), (0, "irq_off", 0, 5_000)]))
    late = [x.shootdowns[0]["end"] - x.shootdowns[0]["start"] for x in (a, b)]
    assert late[1] - late[0] in range(5_000, 5_000 + C.pause)


def test_no_schedule_and_steps_that_never_happen_change_nothing():
    kw = dict(cpus=4, protocol="broadcast", workload="uniform", accesses=300,
              unmap_rate=0.02)
    base = tw.simulate(**kw)
    _same_run(base, tw.simulate(**kw, schedule=None))
    _same_run(base, tw.simulate(**kw, schedule=[]))
    # broadcast pushes nothing, sends no IPI, enters no handler; no CPU has a 10**6th op
    none = [(0, "push", 0, 500), (1, "ipi", 0, 500), (2, "handler", 3, 9),
            (3, "think", 10**6, 9), (0, "irq_off", 50, 9)]
    r = tw.simulate(**kw, schedule=none)
    _same_run(base, r)
    # the echo holds the checked schedule when there is one
    assert set(r.config["schedule"]) == {Perturbation(*p) for p in none}
    assert "schedule" not in base.config


@pytest.mark.parametrize("schedule,match", [
    ("ipi", "schedule must be a sequence"),
    ([(0, "ipi", 0)], r"schedule\[0\] must be \(cpu, what, occurrence, delay_cycles\)"),
    ([(4, "ipi", 0, 10)], r"schedule\[0\] cpu must be between 0 and 3"),
    ([(0, "tlb", 0, 10)], r"schedule\[0\] what='tlb'.*choose one of"),
    ([(0, "ipi", -1, 10)], r"schedule\[0\] occurrence must be between 0"),
    ([(0, "ipi", 0, 0)], r"schedule\[0\] delay_cycles must be between 1"),
    ([(0, "ipi", 0, 10**13)], r"schedule\[0\] delay_cycles"),
    ([(0, "ipi", 0, 10), (0, "ipi", 0, 20)], "names CPU 0's ipi #0 twice"),
    ([(0, "ipi", k, 1) for k in range(65)], "more than 64 perturbations"),
])
def test_a_bad_schedule_is_refused_naming_the_parameter(schedule, match):
    with pytest.raises((TypeError, ValueError), match=match):
        tw.simulate(cpus=4, workload="single", schedule=schedule)


def test_a_perturbation_reads_as_a_sentence():
    assert Perturbation(2, "handler", 1, 300).describe() == \
        "CPU 2's 2nd handler entry took 300 cycles longer"
    assert Perturbation(0, "ipi", 0, 1500).describe() == \
        "the 1st IPI sent to CPU 0 took 1,500 cycles longer to arrive"


# ---- the search ----------------------------------------------------------------------

def _check_counterexample(s, protocol, workload, cpus, **options):
    assert s.counterexample, s                   # found, and the unperturbed run is clean
    assert tw.simulate(cpus=cpus, protocol=protocol, workload=workload,
                       **options).summary()["violations"] == 0
    assert 1 <= len(s.counterexample) <= s.bound
    assert s.stopped == "violation" and s.outcomes["violation"] == 1
    assert sum(s.outcomes.values()) == s.schedules >= s.orderings >= 1
    replay = tw.simulate(**s.simulate_args, schedule=s.counterexample)
    _same_run(replay, s.counterexample_result)
    _same_run(replay, s.replay())
    _same_run(replay, tw.simulate(**replay.config))     # the echo holds the schedule
    assert replay.summary()["violations"] >= 1
    return replay


def test_search_finds_the_shared_ack_race_from_two_simultaneous_unmaps():
    s = tw.search_races("mailbox", "two_unmappers", 4, bound=3, budget_s=10)
    r = _check_counterexample(s, "mailbox", "two_unmappers", 4)
    assert s.elapsed_s < 10
    # the shared flag: the violating CPU's page was unmapped by an initiator that
    # saw its ACK flag set, without any give-up
    assert r.summary()["timeouts"] == 0
    # shortest: no schedule of fewer perturbations violates
    shorter = tw.search_races("mailbox", "two_unmappers", 4, bound=len(s.counterexample) - 1,
                              budget_s=60)
    assert shorter.stopped == "exhausted" and shorter.counterexample is None


def test_search_finds_the_interrupts_off_give_up_with_a_reduced_timeout():
    s = tw.search_races("mailbox", "irq_off_window", 3, bound=3, budget_s=10, **GIVE_UP)
    r = _check_counterexample(s, "mailbox", "irq_off_window", 3, **GIVE_UP)
    assert s.elapsed_s < 10
    assert r.summary()["timeouts"] >= 1
    assert r.violations["cpu"].tolist() == [0] * len(r.violations)


@pytest.mark.parametrize("protocol", REPAIRED)
@pytest.mark.parametrize("workload,cpus,options", [
    ("two_unmappers", 4, {}), ("irq_off_window", 3, GIVE_UP)])
def test_repaired_protocols_show_no_violation_in_any_schedule(protocol, workload, cpus,
                                                              options):
    # The whole bound is covered (about 5 s for the largest, mailbox_fixed on 4 CPUs,
    # on a quiet machine; the budget only guards a very busy one).
    s = tw.search_races(protocol, workload, cpus, bound=3, budget_s=120, **options)
    assert s.stopped == "exhausted"
    assert s.counterexample is None and s.outcomes["violation"] == 0
    assert s.schedules >= 10 and sum(s.outcomes.values()) == s.schedules
    assert f"no violation in any of the {s.schedules:,} schedules" in str(s)


def test_search_finds_the_short_range_violation_in_the_seed_and_none_in_its_repairs():
    # a byte range the seed rounds down: no timing needed, the unperturbed run violates
    s = tw.search_races("mailbox", "short_range", 3, bound=3, budget_s=10)
    assert s.counterexample == () and s.stopped == "violation" and s.schedules == 1
    r = s.replay()
    _same_run(r, s.counterexample_result)     # the search ran the byte range simulate runs
    assert r.summary()["violations"] >= 1 and r.summary()["timeouts"] == 0
    assert set(r.violations["vpn"].tolist()) == {2}       # the page the count left out
    for protocol in REPAIRED:
        fixed = tw.search_races(protocol, "short_range", 3, bound=3, budget_s=10)
        assert fixed.stopped == "exhausted", (protocol, fixed.stopped)
        assert fixed.counterexample is None and fixed.outcomes["violation"] == 0
        assert fixed.schedules > 1                # perturbed runs were made too
        assert f"no violation in any of the {fixed.schedules:,} schedules" in str(fixed)


def test_all_keeps_searching_after_the_first_violation():
    s = tw.search_races("mailbox", "irq_off_window", 3, bound=2, budget_s=10, all=True,
                        **GIVE_UP)
    assert s.stopped in ("exhausted", "budget")
    assert s.outcomes["violation"] == len(s.violating) > 1
    assert s.counterexample == s.violating[0] and len(s.counterexample) == 1


def test_random_search_is_reproducible_and_finds_the_give_up():
    runs = [tw.search_races("mailbox", "irq_off_window", 3, bound=3, budget_s=10,
                            strategy="random", seed=5, **GIVE_UP) for _ in range(2)]
    assert runs[0].counterexample is not None
    assert runs[0].counterexample == runs[1].counterexample
    assert runs[0].schedules == runs[1].schedules
    tw.simulate(**runs[0].simulate_args, schedule=runs[0].counterexample)


def test_summary_is_plain_data():
    s = tw.search_races("mailbox", "irq_off_window", 3, bound=1, **GIVE_UP)
    d = s.summary()
    assert d["schedules"] == s.schedules and d["outcomes"]["violation"] == 1
    assert d["counterexample"] == [list(p) for p in s.counterexample]
    assert d["counterexample_text"][0].startswith("the 1st IPI sent to CPU 0")


@pytest.mark.parametrize("kwargs,match", [
    (dict(bound=-1), "bound must be between 0 and 6"),
    (dict(bound=1.5), "bound must be an integer"),
    (dict(strategy="dfs"), "strategy='dfs' is unknown"),
    (dict(budget_s=0), "budget_s must be more than 0"),
    (dict(budget_s="1"), "budget_s must be a number"),
    (dict(delay_cycles=[0]), r"delay_cycles\[\] must be between 1"),
    (dict(delay_cycles=[]), "delay_cycles must hold 1 to 16"),
    (dict(all="yes"), "all must be True or False"),
    (dict(schedule=[(0, "ipi", 0, 1)]), "makes its own schedules"),
    (dict(frobs=1), "unknown option frobs=1"),
])
def test_search_arguments_are_checked_naming_the_parameter(kwargs, match):
    with pytest.raises((TypeError, ValueError), match=match):
        tw.search_races("mailbox", "irq_off_window", 3, **kwargs)


def test_model_md_states_the_counts_the_search_makes():
    from pathlib import Path
    text = (Path(__file__).parents[1] / "docs" / "model.md").read_text(encoding="utf-8")
    s = tw.search_races("mailbox", "two_unmappers", 4, bound=3, budget_s=10)
    assert (s.stopped, s.schedules, s.orderings) == ("violation", 21_860, 6_746)
    assert "| `two_unmappers`, 4 CPUs | `mailbox` | 21,860 | 6,746 | 1 | violation |" in text
    assert s.counterexample == (Perturbation(0, "ipi", 0, 2117),
                                Perturbation(0, "push", 0, 200),
                                Perturbation(0, "think", 1, 2117))
    assert "CPU 0's 1st push took 200 cycles longer" in text.replace("\n", " ")


def test_a_run_that_violates_unperturbed_is_its_own_counterexample():
    # ack_race's timings were chosen for the race on 8 CPUs
    s = tw.search_races("mailbox", "ack_race", 8)
    assert s.counterexample == () and s.schedules == 1 and s.stopped == "violation"
    assert "violation with the unperturbed run" in str(s)
    _same_run(s.replay(), tw.simulate(cpus=8, protocol="mailbox", workload="ack_race",
                                      max_log_events=20_000, max_log_rows=2_000))


def test_progress_sees_the_counts_grow_and_ends_with_the_result(monkeypatch):
    monkeypatch.setattr(tw.search, "PROGRESS_INTERVAL_S", 0.0)
    seen = []
    s = tw.search_races("mailbox", "irq_off_window", 3, bound=2, budget_s=10, all=True,
                        progress=lambda r: seen.append((r.schedules, r.orderings)), **GIVE_UP)
    assert len(seen) >= s.schedules          # every run reported, then the end
    assert seen == sorted(seen) and seen[-1] == (s.schedules, s.orderings)


def test_progress_must_be_callable():
    with pytest.raises(TypeError, match="progress"):
        tw.search_races("mailbox", "irq_off_window", 3, progress=5)


@pytest.mark.parametrize("protocol,workload,cpus,options", [
    ("mailbox", "two_unmappers", 4, {}), ("mailbox", "irq_off_window", 3, GIVE_UP),
    ("linux", "two_unmappers", 4, {}), ("latr", "two_unmappers", 3, {}),
    ("mailbox", "short_range", 3, {})])
def test_the_search_runs_a_schedule_exactly_as_simulate_builds_it(protocol, workload, cpus,
                                                                   options):
    # The search builds the machine once and reuses it; every table of every
    # run must be the one a machine built for that schedule gives.
    from tlbwidgets import search
    from tlbwidgets.api import validate_args, run_machine
    config, wl, c, opts = validate_args(cpus, protocol, workload, "default", 1, 0,
                                        **search.SEARCH_LOG_OPTIONS, **options)
    runner = search._Runner(config, wl, c, opts, search.SearchResult(
        protocol=protocol, cpus=cpus, strategy="exhaustive", bound=3, delay_cycles=(1,)))
    _, _, points = runner.run(())
    picks = [points[0], points[len(points) // 2], points[-1]]
    schedules = [(), tuple(Perturbation(*p, 3_000) for p in picks[:1])]
    schedules += [tuple(sorted((Perturbation(*p, d) for p, d in zip(picks, (141, 600, 5_000))),
                               key=search._canonical))]
    for schedule in schedules * 2:              # twice: a run must not leak into the next
        m1, s1 = runner._run_engine(schedule)
        m2, s2 = run_machine(config, runner.wl, c, dict(opts, schedule=schedule or None))
        for name, a, b in zip(m1._fields + s1._fields, m1 + s1, m2 + s2):
            assert np.array_equal(a, b), (schedule, name)
