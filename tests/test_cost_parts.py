"""The shootdown table's parts of an initiator's time: every cycle of a
shootdown's latency (``end - start``) belongs to exactly one named part, for
every protocol and every named workload, and the part for the time spent
serving other CPUs' IPIs is the handler time an independent replay of the
event log finds."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import tlbwidgets as tw
from tlbwidgets import analysis
from tlbwidgets._tables import EV_LOCK_WAIT, EV_STATE, ST_HANDLER

ROOT = Path(__file__).parents[1]
C = tw.COST_PRESETS["default"]
PARTS = ("local_cycles", "dispatch_cycles", "ipi_cycles", "wait_cycles",
         "serve_cycles", "lock_cycles")
PROTOCOLS = tw.PROTOCOLS


def _returned(r):
    sd = r.shootdowns
    return sd[sd["end"] >= 0]


def assert_parts_sum_to_latency(r):
    sd = _returned(r)
    latency = sd["end"] - sd["start"]
    total = sum(sd[p] for p in PARTS)
    bad = np.flatnonzero(total != latency)
    assert bad.size == 0, (
        f"{bad.size} of {len(sd)} shootdowns: parts {total[bad[:5]].tolist()} "
        f"!= latency {latency[bad[:5]].tolist()} (ids {sd['id'][bad[:5]].tolist()})")
    for p in PARTS:
        assert (sd[p] >= 0).all(), p


def handler_cycles_between(events, cpu, t0, t1):
    """Cycles CPU ``cpu`` spent in its handler within [t0, t1], replayed from
    the event log's state changes (the log must be complete)."""
    ev = events[(events["kind"] == EV_STATE) & (events["cpu"] == cpu)]
    total = 0
    for i in np.flatnonzero(ev["arg"] == ST_HANDLER):
        start = ev["time"][i]
        end = ev["time"][i + 1] if i + 1 < len(ev) else t1
        total += max(0, min(end, t1) - max(start, t0))
    return total


def test_breakdown_lists_every_part():
    assert tuple(col for col, _ in analysis.BREAKDOWN_PHASES) == PARTS
    assert set(PARTS) <= set(tw.simulate(cpus=2, workload="single").shootdowns.dtype.names)


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(protocol=st.sampled_from(PROTOCOLS), workload=st.sampled_from(tw.WORKLOADS),
       per_socket=st.integers(3, 8), sockets=st.sampled_from([1, 2]),
       seed=st.integers(0, 10_000), wait_irqs_off=st.booleans())
def test_property_parts_sum_to_latency_exactly(protocol, workload, per_socket, sockets, seed,
                                               wait_irqs_off):
    cpus = per_socket * sockets
    r = tw.simulate(cpus=cpus, protocol=protocol, workload=workload, seed=seed,
                    sockets=sockets, wait_irqs_off=wait_irqs_off)
    assert_parts_sum_to_latency(r)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("workload", tw.WORKLOADS)
def test_parts_sum_to_latency_on_every_named_workload(protocol, workload):
    assert_parts_sum_to_latency(tw.simulate(cpus=8, protocol=protocol, workload=workload))


@pytest.mark.parametrize("protocol", ["mailbox", "mailbox_fixed", "linux"])
def test_uniform_at_63_cpus_every_cycle_is_named(protocol):
    # The case where four parts covered 30-70% of the latency: initiators
    # spend much of a shootdown in their handler, serving the others' IPIs.
    r = tw.simulate(cpus=63, protocol=protocol, workload="uniform")
    assert_parts_sum_to_latency(r)
    sd = _returned(r)
    latency = (sd["end"] - sd["start"]).sum()
    assert sd["serve_cycles"].sum() > 0.2 * latency
    # Serving is handler time: never more than the initiator's handler total.
    served = np.bincount(sd["initiator"], weights=sd["serve_cycles"], minlength=63)
    assert (served <= r.cpu_stats["handler"]).all()
    # docs/model.md shows these means.
    means = [latency / len(sd)] + [sd[p].mean() for p in PARTS]
    row = f"| `{protocol}` | " + " | ".join(f"{round(x):,}" for x in means) + " |"
    assert row in (ROOT / "docs" / "model.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("protocol", ["mailbox", "mailbox_fixed", "linux", "global_lock"])
def test_serve_cycles_are_the_initiators_handler_time_in_the_log(protocol):
    r = tw.simulate(cpus=6, protocol=protocol, workload="uniform", seed=4,
                    accesses=3_000, unmap_rate=0.02)
    assert not r.truncated
    sd = _returned(r)
    expected = [handler_cycles_between(r.events, row["initiator"], row["start"], row["end"])
                for row in sd]
    assert sd["serve_cycles"].tolist() == expected
    assert sum(expected) > 0


def test_mailbox_queue_lock_waits_are_lock_cycles_not_dispatch():
    # Many initiators at once: pushes meet at the targets' queue locks, and
    # each wait the log reports (its length in arg) is charged to lock_cycles.
    # (Each ACK flag on its own line: no wait for the shared ACK line.)
    r = tw.simulate(cpus=8, protocol="mailbox", workload="munmap_storm", seed=1,
                    max_log_events=2_000_000, ack_layout="padded")
    assert not r.truncated
    assert_parts_sum_to_latency(r)
    waits = r.events[r.events["kind"] == EV_LOCK_WAIT]
    assert len(waits) > 0
    sd = r.shootdowns
    assert sd["lock_cycles"].sum() == waits["arg"].sum()
    # dispatch is then exactly the pushes' cache-line transfers
    assert (sd["dispatch_cycles"] == 2 * C.cacheline * sd["targets"]).all()


def test_waits_for_the_packed_ack_line_are_lock_cycles_too():
    # The seed's packed flags: a push also waits for the one ACK line that
    # every push and store of every initiator writes.  That wait is lock time;
    # dispatch stays the push's two transfers (one socket: both local).
    r = tw.simulate(cpus=8, protocol="mailbox", workload="munmap_storm", seed=1,
                    max_log_events=2_000_000)
    assert r.config["ack_layout"] == "packed" and not r.truncated
    assert_parts_sum_to_latency(r)
    sd = r.shootdowns
    queue_waits = r.events[r.events["kind"] == EV_LOCK_WAIT]["arg"].sum()
    assert sd["lock_cycles"].sum() > queue_waits
    assert (sd["dispatch_cycles"] == 2 * C.cacheline * sd["targets"]).all()
    padded = tw.simulate(cpus=8, protocol="mailbox", workload="munmap_storm", seed=1,
                         ack_layout="padded")
    assert sd["lock_cycles"].sum() > padded.shootdowns["lock_cycles"].sum()


def test_cost_view_stacks_every_part_to_the_mean_latency():
    from tlbwidgets.widgets.cost import CostView

    results = {p: tw.simulate(cpus=16, protocol=p, workload="uniform")
               for p in ("mailbox", "mailbox_fixed", "linux")}
    view = CostView()
    view.update(results)
    y = np.asarray(view.breakdown_bars.y)
    assert y.shape == (len(PARTS), 3)
    assert len(view.breakdown_bars.labels) == len(PARTS) == len(view.breakdown_bars.colors)
    for i, r in enumerate(results.values()):
        sd = _returned(r)
        mean_us = analysis.cycles_to_us((sd["end"] - sd["start"]).mean(), r.costs.clock_ghz)
        assert y[:, i].sum() == pytest.approx(mean_us, rel=1e-12)


def test_breakdown_counts_only_shootdowns_that_returned():
    # Two initiators waiting on each other with interrupts off: the repaired
    # mailbox reports the deadlock, and neither shootdown returns.
    r = tw.simulate(cpus=4, protocol="mailbox_fixed", workload="mutual_wait",
                    wait_irqs_off=True)
    assert r.outcome == "deadlock"
    assert (r.shootdowns["end"] < 0).any()
    assert analysis.initiator_breakdown(r.shootdowns).sum() == pytest.approx(
        analysis.latency_cycles(r.shootdowns).mean() if len(_returned(r)) else 0.0)
