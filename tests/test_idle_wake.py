"""A halted CPU wakes before it takes an interrupt (``Costs.idle_wake``).

docs/model.md section 3: a CPU in an ``idle`` op is halted (C1); an IPI that
reaches it is taken ``idle_wake`` cycles later, the time the core needs to
wake.  A busy CPU takes it at once.  ``linux`` does not interrupt idle (lazy)
CPUs at all, which is why it never pays this."""

import numpy as np
import pytest

import tlbwidgets as tw
from tlbwidgets._tables import EV_NAMES

__all__ = []

WAKE = 6_007


def _arrivals(r):
    """(target, arrival time) of every IPI arrival, in log order."""
    ev = r.events
    arr = ev[ev["kind"] == EV_NAMES.index("ipi_arrive")]
    return list(zip(arr["cpu"].tolist(), arr["time"].tolist()))


@pytest.mark.parametrize("protocol", ["mailbox", "mailbox_fixed", "global_lock"])
def test_an_idle_target_takes_the_ipi_idle_wake_cycles_after_it_arrives(protocol):
    r = tw.simulate(cpus=6, protocol=protocol, workload="idle_cpus", unmaps=1,
                    costs={"idle_wake": WAKE}, max_log_events=100_000)
    assert r.outcome == "completed" and not r.truncated
    idle = {4, 5}                        # idle_share 0.5 of CPUs 1..5, the last ones
    first = {}
    for cpu, t in _arrivals(r):
        first.setdefault(cpu, t)
    ev = r.events
    takes = ev[ev["kind"] == EV_NAMES.index("ipi_take")]
    for cpu, arrived in first.items():
        took = int(takes[takes["cpu"] == cpu]["time"].min())
        if cpu in idle:
            assert took - arrived == WAKE, (cpu, arrived, took)
        else:
            assert took - arrived < WAKE, (cpu, arrived, took)


def test_waking_costs_the_seed_and_not_linux():
    def mean_latency(protocol, wake):
        r = tw.simulate(cpus=8, protocol=protocol, workload="idle_cpus",
                        costs={"idle_wake": wake})
        return float(np.mean(r.latencies_cycles()))
    # the idle targets' ACKs come last: most of the wake is added to the latency
    # (the wake overlaps the busy targets' work that came before)
    assert mean_latency("mailbox", WAKE) - mean_latency("mailbox", 0) > 0.9 * WAKE
    assert mean_latency("linux", WAKE) == mean_latency("linux", 0)   # no IPI to idle CPUs


def test_a_busy_cpu_pays_no_wake_up():
    # single: every target is thinking (user mode) during the shootdown
    fast = tw.simulate(cpus=4, workload="single", costs={"idle_wake": 0})
    slow = tw.simulate(cpus=4, workload="single", costs={"idle_wake": 10**6})
    assert fast.latencies_cycles().tolist() == slow.latencies_cycles().tolist()


def test_every_preset_says_how_long_its_cores_take_to_wake():
    for name, costs in tw.COST_PRESETS.items():
        assert 0 < costs.idle_wake <= 3 * costs.clock_ghz * 1_000, name   # C1: 1-2 us
