"""The protocols beyond the seed: the engine's invariants on each, a closed
form of each one's contention-free latency (from its charging, as
docs/protocols.md states it), each one's lesson, and a property test that
every safe protocol has zero violations on random workloads."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import tlbwidgets as tw
from invariants import assert_counts_agree, assert_cpu_time_adds_up
from tlbwidgets._tables import EV_NAMES

C = tw.COST_PRESETS["default"]
SMALL = dict(accesses=2_000, unmap_rate=0.01, working_set_pages=48, vm_pages=256)

# The protocols tested here, all of them safe (zero violations by design).
NEW_PROTOCOLS = ("global_lock", "broadcast", "latr", "linux")


def _polls(start, ready, pause=C.pause):
    """First poll at or after ``ready`` on a grid of ``pause`` from ``start``."""
    return start + max(0, -(-(ready - start) // pause)) * pause


# ---- invariants on every protocol ----------------------------------------------------

@pytest.fixture(scope="module", params=[
    (proto, cpus, sockets, seed, extra)
    for proto in NEW_PROTOCOLS
    for cpus, sockets, seed, extra in [
        (4, 1, 0, {}),
        (8, 2, 1, {"irq_off_share": 0.05, "unmap_pages": 3}),
        (6, 3, 3, {"unmap_rate": 0.05, "unmap_pages": 70, "working_set_pages": 128}),
    ]
], ids=lambda p: f"{p[0]}-{p[1]}cpus-{p[2]}sock-seed{p[3]}")
def run(request):
    proto, cpus, sockets, seed, extra = request.param
    kw = {**SMALL, **extra}
    return tw.simulate(cpus=cpus, sockets=sockets, protocol=proto, workload="uniform",
                       seed=seed, **kw)


def test_run_completes_with_every_shootdown_safe(run):
    assert run.outcome == "completed"
    assert not run.truncated
    sd = run.shootdowns
    assert len(sd) > 0
    assert (sd["end"] >= sd["start"]).all()
    assert (sd["safe"] >= sd["end"]).all()


def test_zero_violations(run):
    assert run.summary()["violations"] == 0
    assert len(run.violations) == 0


def test_stale_windows_are_nonnegative_and_closed(run):
    w = run.stale_windows
    assert len(w) == run.summary()["stale_windows"]
    assert (w["end"] >= w["start"]).all()
    assert run.summary()["stale_open_at_end"] == 0


def test_every_ipi_sent_is_received(run):
    s = run.summary()
    ev = run.events
    sent = np.count_nonzero(ev["kind"] == EV_NAMES.index("ipi_send"))
    arrived = np.count_nonzero(ev["kind"] == EV_NAMES.index("ipi_arrive"))
    assert sent == arrived == s["ipis"] == run.cpu_stats["ipis_received"].sum()


def test_deliveries_are_ordered(run):
    d = run.deliveries
    assert len(d) == run.summary()["deliveries"]
    assert (d["flushed"] >= 0).all()
    assert (d["flushed"] > d["pushed"]).all()
    assert (d["handler_start"] <= d["flushed"]).all()
    assert (d["acked"] > d["flushed"]).all()


def test_summary_counts_agree_with_tables(run):
    assert_counts_agree(run)


def test_cpu_time_adds_up_to_the_run(run):
    assert_cpu_time_adds_up(run)


def test_same_seed_same_result(run):
    again = tw.simulate(**run.config)
    assert again.summary() == run.summary()
    assert np.array_equal(again.events, run.events)


# ---- property: safe protocols never violate ----------------------------------------

@pytest.mark.parametrize("proto", NEW_PROTOCOLS)
@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cpus=st.integers(1, 8), seed=st.integers(0, 10_000),
       unmap_rate=st.sampled_from([0.005, 0.02, 0.1]),
       unmap_pages=st.sampled_from([1, 2, 5, 40, 70]),
       irq_off_share=st.sampled_from([0.0, 0.05, 0.2]),
       idle=st.booleans())
def test_property_zero_violations_every_shootdown_completes(proto, cpus, seed, unmap_rate,
                                                            unmap_pages, irq_off_share, idle):
    wl = tw.workloads.uniform(accesses=400, working_set_pages=96, unmap_rate=unmap_rate,
                              unmap_pages=unmap_pages, irq_off_share=irq_off_share)
    if idle:
        # Random idle spans: build the same ops and turn some accesses into IDLE.
        op_start, kind, vpn, pages, think = wl.build(cpus, seed, 256)
        rng = np.random.default_rng(seed)
        turn = (kind == 0) & (rng.random(len(kind)) < 0.01)
        kind = np.where(turn, 4, kind)
        pages = np.where(turn, 0, pages)
        think = np.where(turn, rng.integers(1, 20_000, len(kind)), think)
        cpu = np.repeat(np.arange(cpus), np.diff(op_start))
        wl = tw.Workload.from_ops(cpu, kind, vpn, pages, think, cpus=cpus)
    r = tw.simulate(cpus=cpus, protocol=proto, workload=wl, seed=seed, vm_pages=256)
    s = r.summary()
    assert s["outcome"] == "completed"
    assert s["violations"] == 0
    sd = r.shootdowns
    assert (sd["end"] >= 0).all() and (sd["safe"] >= sd["end"]).all()
    assert s["stale_open_at_end"] == 0


# ---- global_lock ------------------------------------------------------------------------

def global_lock_latency(cpus, pages, costs=C):
    """One socket, no contention: local flush F; take the lock (one line
    transfer c); set the mask (c); one IPI send s per target; the last
    target's clear lands at W + ipi_latency + irq_entry + F + c; first poll
    at or after it on the grid that starts at W."""
    flush = costs.full_flush if pages > 64 else pages * costs.invlpg
    k = cpus - 1
    if k == 0:
        return flush
    w = flush + 2 * costs.cacheline + k * costs.ipi_send
    ready = w + costs.ipi_latency + costs.irq_entry + flush + costs.cacheline
    return _polls(w, ready, costs.pause)


@pytest.mark.parametrize("cpus,pages", [(1, 1), (2, 1), (4, 1), (8, 3), (16, 64), (16, 65)])
def test_global_lock_contention_free_latency(cpus, pages):
    r = tw.simulate(cpus=cpus, protocol="global_lock", workload="single", pages=pages)
    assert r.outcome == "completed"
    assert r.latencies_cycles().tolist() == [global_lock_latency(cpus, pages)]
    s = r.summary()
    assert s["ipis"] == cpus - 1 and s["violations"] == 0


def test_global_lock_worked_example():
    # cpus=4, one page: W = 200 + 2*141 + 3*200 = 1082; ready = 1082 + 735 +
    # 600 + 200 + 141 = 2758; 1676/140 -> 12 polls: 1082 + 1680 = 2762.
    assert global_lock_latency(4, 1) == 2762


def test_global_lock_serializes_concurrent_shootdowns():
    r = tw.simulate(cpus=8, protocol="global_lock", workload="munmap_storm", unmaps=20,
                    seed=4)
    assert r.outcome == "completed" and r.summary()["violations"] == 0
    d = r.deliveries
    sd = r.shootdowns
    # The lock is held from the mask write (every delivery's "pushed") to the
    # return: those intervals never overlap.
    held = []
    for i in range(len(sd)):
        pushed = d["pushed"][d["shootdown"] == i]
        assert len(pushed) == 7 and (pushed == pushed[0]).all()
        held.append((int(pushed[0]), int(sd["end"][i])))
    held.sort()
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(held, held[1:]))
    # ... and shootdowns did overlap in time (they really were concurrent):
    # some initiator waited for the lock (lock_wait with arg -1: unknown wait).
    ev = r.events
    waits = np.count_nonzero((ev["kind"] == EV_NAMES.index("lock_wait")) & (ev["arg"] == -1))
    assert waits > 0
    assert np.median(r.latencies_cycles()) > 2 * global_lock_latency(8, 1)


# ---- broadcast ----------------------------------------------------------------------------

def tlbsync_cycles(cpus, sockets=1, costs=C):
    """TLBSYNC with every CPU online: the base cost, ceil(log2(cpus)) levels
    of in-die acknowledgement (one cacheline each), and one cross-socket
    round trip (cacheline_remote) when the domain spans several sockets."""
    levels = (cpus - 1).bit_length()
    return costs.tlbsync + levels * costs.cacheline + (costs.cacheline_remote
                                                       if sockets > 1 else 0)


def broadcast_latency(pages, max_pages=8, costs=C, cpus=1, sockets=1):
    """No contention: one INVLPGB per ``max_pages`` pages (one for a Full
    flush, over 64 pages), then one TLBSYNC over the broadcast domain."""
    n = 1 if pages > 64 else -(-pages // max_pages)
    return n * costs.invlpgb + tlbsync_cycles(cpus, sockets, costs)


@pytest.mark.parametrize("cpus,pages,max_pages", [
    (1, 1, 8), (2, 1, 8), (8, 8, 8), (8, 9, 8), (16, 64, 8), (16, 65, 8), (4, 20, 1),
    (4, 20, 64),
])
def test_broadcast_contention_free_latency(cpus, pages, max_pages):
    r = tw.simulate(cpus=cpus, protocol="broadcast", workload="single", pages=pages,
                    broadcast_max_pages=max_pages)
    assert r.outcome == "completed"
    assert r.latencies_cycles().tolist() == [broadcast_latency(pages, max_pages, cpus=cpus)]
    s = r.summary()
    assert s["violations"] == 0 and s["ipis"] == 0
    # every other CPU's copy is gone when the last INVLPGB ends, before the return
    assert (r.stale_windows["end"] <= r.shootdowns["end"][0] - tlbsync_cycles(cpus)).all()
    assert s["stale_windows"] == cpus * min(pages, 64)


def test_broadcast_interrupts_nobody():
    r = tw.simulate(cpus=8, protocol="broadcast", workload="uniform", seed=2,
                    irq_off_share=0.2, **SMALL)
    s = r.summary()
    assert s["outcome"] == "completed" and s["violations"] == 0
    assert s["ipis"] == 0 and s["handler_cycles"] == 0
    assert (r.cpu_stats["handler"] == 0).all() and (r.cpu_stats["ipis_received"] == 0).all()
    # Interrupts-off sections on the other CPUs do not delay it: the latency
    # is the issue time (with any wait for the fabric) plus one TLBSYNC.
    sd = r.shootdowns
    assert (r.latencies_cycles() == sd["dispatch_cycles"] + sd["lock_cycles"]
            + tlbsync_cycles(8)).all()
    assert r.latencies_cycles().min() == broadcast_latency(1, cpus=8)


def test_broadcast_fabric_serializes_concurrent_initiators():
    # Both CPUs unmap at cycle 0: CPU 0 one page (1 INVLPGB), CPU 1 16 pages
    # (2 INVLPGBs).  The fabric takes CPU 0's first, so CPU 1 stalls one
    # invlpgb, then issues both of its own back to back.
    wl = tw.Workload.from_ops(cpu=[0, 1], kind=["unmap", "unmap"], vpn=[0, 8],
                              pages=[1, 16], think=[0, 0])
    r = tw.simulate(cpus=2, protocol="broadcast", workload=wl)
    assert r.latencies_cycles().tolist() == [C.invlpgb + tlbsync_cycles(2),
                                             3 * C.invlpgb + tlbsync_cycles(2)]
    ev = r.events
    assert np.count_nonzero(ev["kind"] == EV_NAMES.index("lock_wait")) == 1


@pytest.mark.parametrize("cpus,sockets", [(2, 1), (3, 1), (16, 2), (64, 4), (256, 8),
                                          (48, 3)])
def test_broadcast_tlbsync_spans_the_broadcast_domain(cpus, sockets):
    r = tw.simulate(cpus=cpus, sockets=sockets, protocol="broadcast", workload="single")
    assert r.latencies_cycles().tolist() == [broadcast_latency(1, cpus=cpus, sockets=sockets)]
    assert r.shootdowns["wait_cycles"].tolist() == [tlbsync_cycles(cpus, sockets)]


def test_broadcast_latency_grows_with_cpus_and_sockets():
    def latency(cpus, sockets):
        r = tw.simulate(cpus=cpus, sockets=sockets, protocol="broadcast", workload="single")
        return int(r.latencies_cycles()[0])
    by_cpus = [latency(n, 1) for n in (2, 4, 16, 64, 256)]
    assert by_cpus == sorted(set(by_cpus))           # strictly growing
    by_sockets = [latency(64, k) for k in (1, 2, 8)]
    assert by_sockets[0] < by_sockets[1] == by_sockets[2]  # one round trip however many
    assert latency(256, 8) > latency(2, 1) + C.cacheline_remote
    # offline CPUs leave the domain
    r = tw.simulate(cpus=4, sockets=2, protocol="broadcast", workload="single",
                    offline=[2, 3])
    assert r.latencies_cycles().tolist() == [broadcast_latency(1, cpus=2)]


# ---- latr -----------------------------------------------------------------------------------

TICK = 3_000_000   # the tick_cycles default


def latr_next_tick(cpu, cpus, t, tick=TICK):
    off = cpu * tick // cpus
    return off if t <= off else off + -(-(t - off) // tick) * tick


@pytest.mark.parametrize("cpus,pages,sockets", [(1, 1, 1), (2, 1, 1), (4, 9, 1), (8, 65, 1),
                                                (8, 3, 2)])
def test_latr_contention_free_latency_and_safe_time(cpus, pages, sockets):
    """Return: local flush F plus one cache-line write of the initiator's own
    state (none with no other CPU).  Safe: the last CPU's tick at or after
    the return, plus irq_entry + F + the clear of its bit (one cacheline)."""
    r = tw.simulate(cpus=cpus, protocol="latr", workload="single", pages=pages,
                    sockets=sockets)
    assert r.outcome == "completed"
    flush = C.full_flush if pages > 64 else pages * C.invlpg
    write = C.cacheline if cpus > 1 else 0
    sd = r.shootdowns
    assert r.latencies_cycles().tolist() == [flush + write]
    assert sd["dispatch_cycles"].tolist() == [write]
    end = int(sd["end"][0])
    if cpus == 1:
        assert sd["safe"][0] == end
    else:
        last_tick = max(latr_next_tick(j, cpus, end) for j in range(1, cpus))
        assert sd["safe"][0] == last_tick + C.irq_entry + flush + C.cacheline
    s = r.summary()
    assert s["violations"] == 0 and s["ipis"] == 0


def test_latr_initiator_latency_is_independent_of_the_cpu_count():
    def latency(protocol, cpus, sockets):
        r = tw.simulate(cpus=cpus, sockets=sockets, protocol=protocol, workload="single")
        return int(r.latencies_cycles()[0])
    lazy = {(n, k): latency("latr", n, k) for n in (4, 16, 64) for k in (1, 4)}
    assert set(lazy.values()) == {C.invlpg + C.cacheline}
    # the lesson: LATR's initiator returns fastest
    assert lazy[64, 4] < latency("linux", 64, 4)
    assert lazy[64, 4] < latency("global_lock", 64, 4)


def test_latr_returns_fast_but_holds_pages_back():
    kw = dict(cpus=8, workload="uniform", seed=5, **SMALL)
    lazy = tw.simulate(protocol="latr", **kw)
    sync = tw.simulate(protocol="mailbox", **kw)
    assert lazy.outcome == sync.outcome == "completed"
    assert np.median(lazy.latencies_cycles()) < np.median(sync.latencies_cycles())
    sd = lazy.shootdowns
    held = sd["safe"] - sd["end"]
    assert (held > 0).all()            # never safe at the return with other CPUs
    assert lazy.summary()["violations"] == 0
    assert lazy.summary()["ipis"] == 0
    # the initiator's mean latency is far below the reuse delay (ticks: 1 ms)
    assert held.mean() > 100 * lazy.latencies_cycles().mean()


def test_latr_applies_at_a_switch_to_idle():
    # CPU 1 goes idle at 5030, long before its first tick (1,500,000): the
    # switch applies CPU 0's record (irq_entry + invlpg + one cacheline).
    wl = tw.Workload.from_ops(cpu=[0, 0, 1, 1, 1],
                              kind=["access", "unmap", "access", "idle", "access"],
                              vpn=[0, 0, 0, 0, 0], pages=[1, 1, 1, 0, 1],
                              think=[1000, 0, 5000, 10_000, 0])
    r = tw.simulate(cpus=2, protocol="latr", workload=wl)
    sd = r.shootdowns
    unmap_at = C.page_walk + 1000
    assert sd["start"][0] == unmap_at
    assert sd["end"][0] == unmap_at + C.invlpg + C.cacheline
    idle_at = C.page_walk + 5000
    assert sd["safe"][0] == idle_at + C.irq_entry + C.invlpg + C.cacheline
    s = r.summary()
    assert s["violations"] == 0 and s["transient_stale_hits"] == 0
    assert r.cpu_stats["handler"][1] == C.irq_entry + C.invlpg + C.cacheline + C.irq_exit


# ---- linux ----------------------------------------------------------------------------------

def _same(a, b, cpus, sockets):
    return (a * sockets) // cpus == (b * sockets) // cpus


def _apic_destination(cpu, cpus, sockets, apic_mode):
    """The ICR write that carries ``cpu``'s IPI: the CPU itself in physical
    mode; in x2APIC cluster mode its cluster, 16 consecutive logical CPUs of
    one socket (numbered within the socket)."""
    if apic_mode == "physical":
        return cpu
    per_socket = cpus // sockets
    socket = cpu // per_socket
    return socket, (cpu - socket * per_socket) // 16


def linux_latency(cpus, pages, sockets=1, initiator=0, costs=C, apic_mode="x2apic_cluster",
                  preempted=()):
    """No contention, every other CPU in the mm cpumask and not lazy, the
    mm's first flush.

    The tlb_gen bump: one line transfer, the slowest to any other CPU (each
    read the line when it switched to the mm).  Pushes: the targets in CPU
    order, in consecutive groups of ``mlp``; each target is two transfers
    (read its TLB state, then the push), a group costs its slowest target
    and its pushes land at its end.  Sends: every queue was empty, so every
    target needs an IPI; one ICR write (``ipi_send``) per destination (an
    x2APIC cluster, or one target in physical mode), in CPU order; a
    target's IPI leaves when its destination's write ends.  Then the local
    flush F (its tlb_gen read is free: it bumped it).  Target j's release
    lands at leave_j + IPI latency + irq_entry + three transfers from the
    initiator (take the queue, read the csd, read the info with tlb_gen,
    overlapped; four with ``mlp=1``) + F + a transfer back (csd unlock).
    The initiator waits on each target in order, one poll per pause.
    ``preempted`` vCPUs (paravirtual flush) are not targets: first one
    steal-time cmpxchg (a line transfer) each."""
    flush = costs.full_flush if pages > 33 else pages * costs.invlpg
    targets = [j for j in range(cpus) if j != initiator and j not in preempted]

    def cl(a, b):
        return costs.cacheline if _same(a, b, cpus, sockets) else costs.cacheline_remote

    def lat(a, b):
        return costs.ipi_latency if _same(a, b, cpus, sockets) else costs.ipi_latency_remote

    others = [j for j in range(cpus) if j != initiator]
    bump = max((cl(initiator, j) for j in others), default=0)
    reads = 3 if costs.mlp > 1 else 4
    groups = [targets[g:g + costs.mlp] for g in range(0, len(targets), costs.mlp)]
    push_end = (bump + sum(cl(initiator, j) for j in preempted)
                + sum(max(2 * cl(initiator, j) for j in group) for group in groups))
    writes = list(dict.fromkeys(_apic_destination(j, cpus, sockets, apic_mode)
                                for j in targets))
    leave = {d: push_end + (n + 1) * costs.ipi_send for n, d in enumerate(writes)}
    t = push_end + len(writes) * costs.ipi_send + flush
    for j in targets:
        ready = (leave[_apic_destination(j, cpus, sockets, apic_mode)] + lat(initiator, j)
                 + costs.irq_entry + reads * cl(j, initiator) + flush + cl(j, initiator))
        t = _polls(t, ready, costs.pause)
    return t


@pytest.mark.parametrize("apic_mode", ["x2apic_cluster", "physical"])
@pytest.mark.parametrize("mlp", [1, 4, 10])
@pytest.mark.parametrize("cpus,pages,sockets", [
    (1, 1, 1), (2, 1, 1), (4, 9, 1), (8, 33, 1), (8, 34, 1), (16, 1, 1), (8, 2, 2),
    (12, 1, 3), (17, 1, 1), (33, 2, 1), (36, 1, 2), (39, 1, 3), (40, 1, 2),
])
def test_linux_contention_free_latency(cpus, pages, sockets, mlp, apic_mode):
    costs = C.with_(mlp=mlp)
    r = tw.simulate(cpus=cpus, protocol="linux", workload="single", pages=pages,
                    sockets=sockets, costs=costs, apic_mode=apic_mode)
    assert r.outcome == "completed"
    assert r.latencies_cycles().tolist() == [
        linux_latency(cpus, pages, sockets, costs=costs, apic_mode=apic_mode)]
    s = r.summary()
    assert s["ipis"] == cpus - 1 and s["violations"] == 0
    assert r.config["apic_mode"] == apic_mode
    # the IPI part is one ipi_send per ICR write
    writes = len({_apic_destination(j, cpus, sockets, apic_mode) for j in range(1, cpus)})
    assert r.shootdowns["ipi_cycles"].tolist() == [writes * C.ipi_send]


def test_linux_mlp_one_charges_every_push_serially():
    # mlp=1 and physical mode: the serial charging, one push and one ICR
    # write per target (the pre-overlap model)
    cpus, sockets = 24, 3
    costs = C.with_(mlp=1)
    r = tw.simulate(cpus=cpus, sockets=sockets, protocol="linux", workload="single",
                    costs=costs, apic_mode="physical")
    sd = r.shootdowns
    # the tlb_gen bump (a CPU on another socket holds its line), then two
    # transfers per target: read its TLB state, push
    serial = C.cacheline_remote + 2 * sum(
        C.cacheline if _same(0, j, cpus, sockets) else C.cacheline_remote
        for j in range(1, cpus))
    assert sd["dispatch_cycles"].tolist() == [serial]
    assert sd["ipi_cycles"].tolist() == [(cpus - 1) * C.ipi_send]
    # more overlap and fewer ICR writes: never slower
    fast = tw.simulate(cpus=cpus, sockets=sockets, protocol="linux", workload="single")
    assert fast.latencies_cycles()[0] < r.latencies_cycles()[0]
    assert fast.shootdowns["dispatch_cycles"][0] < serial


def test_linux_x2apic_clusters_never_span_a_socket():
    # 8 CPUs on 2 sockets: two clusters (CPUs 1-3 and 4-7), two ICR writes;
    # 40 CPUs on 1 socket: 39 targets in clusters 0-15, 16-31, 32-39: three
    r = tw.simulate(cpus=8, sockets=2, protocol="linux", workload="single")
    assert r.shootdowns["ipi_cycles"].tolist() == [2 * C.ipi_send]
    ipi_sent = r.deliveries["ipi_sent"]
    assert len(set(ipi_sent[r.deliveries["cpu"] < 4])) == 1
    assert len(set(ipi_sent[r.deliveries["cpu"] >= 4])) == 1
    assert ipi_sent.max() - ipi_sent.min() == C.ipi_send
    r = tw.simulate(cpus=40, protocol="linux", workload="single")
    assert r.shootdowns["ipi_cycles"].tolist() == [3 * C.ipi_send]
    assert len(set(r.deliveries["ipi_sent"].tolist())) == 3


def test_linux_worked_example():
    # cpus=2, one page: tlb_gen bump 141, check and push 2 x 141, one ICR
    # write 200, local flush 200 -> wait from 823; release at 623 + 735 + 600
    # + 3 x 141 (queue, csd, info) + 200 + 141 = 2722; 1899 / 140 -> 14
    # polls: 823 + 1960 = 2783.
    assert linux_latency(2, 1) == 2783
    # cpus=16, one socket: bump 141, two groups of 10 (282 + 282), one
    # cluster (200), flush 200 -> wait from 1105; every release at 905 + 735
    # + 600 + 423 + 200 + 141 = 3004; 1899 / 140 -> 14 polls: 3065.
    assert linux_latency(16, 1) == 3065
    # serially (mlp=1, physical): wait from 141 + 15 x 282 + 15 x 200 + 200
    # = 7571; the last release lands at 7371 + 735 + 600 + 4 x 141 (the info
    # and tlb_gen reads no longer overlap) + 200 + 141 = 9611; 2040 / 140 ->
    # 15 polls: 9671.
    assert linux_latency(16, 1, costs=C.with_(mlp=1), apic_mode="physical") == 9671


def pv_preempted(seed, sd, cpu, share):
    """The engine's draw: is target ``cpu`` of shootdown ``sd`` preempted?"""
    mod = 2**31
    x = seed % mod
    for add in (12345 + sd % mod, 12345 + cpu, 12345):
        x = (x * 1103515245 + add) % mod
    return (x >> 11) * 1_000_000 < round(share * 1_000_000) * (mod >> 11)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("share", [0.0, 0.3, 0.5, 1.0])
@pytest.mark.parametrize("cpus,sockets", [(2, 1), (16, 1), (24, 2)])
def test_linux_pv_flush_skips_preempted_targets(cpus, sockets, share, seed):
    r = tw.simulate(cpus=cpus, sockets=sockets, protocol="linux", workload="single",
                    seed=seed, pv_preempted_share=share)
    preempted = [j for j in range(1, cpus) if pv_preempted(seed, 0, j, share)]
    assert r.latencies_cycles().tolist() == [
        linux_latency(cpus, 1, sockets, preempted=preempted)]
    s = r.summary()
    assert s["ipis"] == cpus - 1 - len(preempted) and s["violations"] == 0
    assert s["full_flushes"] == len(preempted)      # the host's flush of each
    assert sorted(set(r.deliveries["cpu"].tolist()) & set(preempted)) == []
    assert r.config["pv_preempted_share"] == share


def test_linux_pv_flush_share_is_roughly_the_share_drawn():
    draws = [pv_preempted(seed, sd, j, 0.3) for seed in range(5) for sd in range(40)
             for j in range(1, 64)]
    assert 0.27 < np.mean(draws) < 0.33


@pytest.mark.parametrize("seed", range(3))
def test_linux_pv_flush_is_safe_and_interrupts_fewer_cpus(seed):
    kw = dict(cpus=8, protocol="linux", workload="uniform", seed=seed, irq_off_share=0.05,
              **SMALL)
    pv = tw.simulate(pv_preempted_share=0.4, **kw)
    plain = tw.simulate(**kw)
    s = pv.summary()
    assert s["outcome"] == "completed" and s["violations"] == 0
    assert s["stale_open_at_end"] == 0
    # fewer requests, and fewer interrupted handlers (an IPI may serve several
    # requests, so the IPI count itself can go either way)
    assert s["deliveries"] < plain.summary()["deliveries"]
    assert s["handler_cycles"] < plain.summary()["handler_cycles"]
    # other protocols ignore the option
    lock = dict(kw, protocol="global_lock")
    assert tw.simulate(pv_preempted_share=0.4, **lock).summary() == \
        tw.simulate(**lock).summary()


def test_linux_ceiling_33_pages():
    under = tw.simulate(cpus=4, protocol="linux", workload="single", pages=33)
    over = tw.simulate(cpus=4, protocol="linux", workload="single", pages=34)
    assert under.shootdowns["kind"].tolist() == ["range"]
    assert over.shootdowns["kind"].tolist() == ["full"]
    assert over.summary()["full_flushes"] == 4       # every CPU, initiator included
    assert under.summary()["full_flushes"] == 0
    # the seed's threshold is 64: the same 34 pages are still a range there
    seed = tw.simulate(cpus=4, protocol="mailbox", workload="single", pages=34)
    assert seed.shootdowns["kind"].tolist() == ["range"]


def _idle_scenario():
    """CPUs 0..3 touch page 0; CPUs 2 and 3 then go idle for 200,000 cycles;
    CPU 0 unmaps page 0 at about 20,000; after the idle spans everybody
    touches page 0 again."""
    cpu, kind, vpn, pages, think = [], [], [], [], []

    def op(c, k, v, p, th):
        cpu.append(c), kind.append(k), vpn.append(v), pages.append(p), think.append(th)
    op(0, "access", 0, 1, 20_000)
    op(0, "unmap", 0, 1, 300_000)
    for c in (1, 2, 3):
        op(c, "access", 0, 1, 1_000)
        if c >= 2:
            op(c, "idle", 0, 0, 200_000)
        op(c, "access", 1, 1, 300_000)
        op(c, "access", 0, 1, 0)
    return tw.Workload.from_ops(cpu, kind, vpn, pages, think, cpus=4)


def test_linux_skips_idle_cpus_which_flush_when_they_switch_back():
    r = tw.simulate(cpus=4, protocol="linux", workload=_idle_scenario())
    s = r.summary()
    assert s["outcome"] == "completed" and s["violations"] == 0
    assert r.shootdowns["targets"].tolist() == [1]
    assert r.cpu_stats["ipis_received"].tolist() == [0, 1, 0, 0]
    # the lazy CPUs kept their stale entry until they switched back, then
    # flushed everything before touching anything
    apply_ = r.events[r.events["kind"] == EV_NAMES.index("apply")]
    assert sorted(apply_["cpu"].tolist()) == [2, 3]
    w = r.stale_windows
    for c in (2, 3):
        (end,) = w["end"][w["cpu"] == c]
        (flush_end,) = apply_["time"][apply_["cpu"] == c]
        assert end == flush_end > r.shootdowns["end"][0]
    assert s["stale_open_at_end"] == 0
    # the seed interrupts the idle CPUs too
    seed = tw.simulate(cpus=4, protocol="mailbox", workload=_idle_scenario())
    assert seed.cpu_stats["ipis_received"].tolist() == [0, 1, 1, 1]


def test_linux_sends_fewer_ipis_than_the_seed():
    kw = dict(cpus=8, workload="uniform", seed=6, **SMALL)
    lin = tw.simulate(protocol="linux", **kw)
    seed = tw.simulate(protocol="mailbox", **kw)
    assert lin.summary()["shootdowns"] == seed.summary()["shootdowns"]
    assert lin.summary()["ipis"] < seed.summary()["ipis"]
    assert lin.summary()["violations"] == 0
    # pushes onto a non-empty queue ride on the IPI already due
    storm = tw.simulate(cpus=8, protocol="linux", workload="munmap_storm", unmaps=20, seed=1)
    ss = storm.summary()
    assert ss["violations"] == 0 and ss["ipis"] < ss["deliveries"]


def test_linux_generations_skip_covered_requests():
    # Two initiators at the same instant: each target performs the first
    # request it runs as a full flush (not the newest generation) and finds
    # the second already covered.
    wl = tw.Workload.from_ops(cpu=[0, 1, 2, 0, 1, 2], kind=["access"] * 3 + ["unmap", "unmap", "access"],
                              vpn=[0, 1, 0, 0, 1, 0], pages=[1] * 6, think=[100, 100, 100, 0, 0, 0])
    r = tw.simulate(cpus=3, protocol="linux", workload=wl)
    assert r.outcome == "completed" and r.summary()["violations"] == 0
    inv = r.events[r.events["kind"] == EV_NAMES.index("invalidate")]
    on2 = inv["arg"][inv["cpu"] == 2].tolist()
    assert on2 == [2, -1]           # SD_FULL, then nothing to do


def test_linux_a_covered_request_does_not_read_tlb_gen():
    # The same two requests, every transfer charged one after another
    # (mlp=1): after the full flush, CPU 2 releases the first request (one
    # transfer) and reads the second's csd and flush_tlb_info (two); its
    # local generation covers it, so flush_tlb_func returns before reading
    # tlb_gen (a fourth transfer it would otherwise pay: the line was bumped
    # again by the second initiator).
    costs = C.with_(mlp=1)
    wl = tw.Workload.from_ops(cpu=[0, 1, 2, 0, 1, 2], kind=["access"] * 3 + ["unmap", "unmap", "access"],
                              vpn=[0, 1, 0, 0, 1, 0], pages=[1] * 6, think=[100, 100, 100, 0, 0, 0])
    r = tw.simulate(cpus=3, protocol="linux", workload=wl, costs=costs)
    inv = r.events[r.events["kind"] == EV_NAMES.index("invalidate")]
    first, covered = inv["time"][inv["cpu"] == 2].tolist()
    assert covered - first == 3 * costs.cacheline


def test_linux_bump_is_free_when_no_other_cpu_ran_the_mm():
    # CPU 1 never touches the address space: no copy of the tlb_gen line
    # elsewhere, no target, nothing but the local flush.
    wl = tw.Workload.from_ops(cpu=[0, 0, 1], kind=["access", "unmap", "idle"], vpn=[0, 0, 0],
                              pages=[1, 1, 0], think=[100, 0, 500])
    r = tw.simulate(cpus=2, protocol="linux", workload=wl)
    assert r.shootdowns["dispatch_cycles"].tolist() == [0]
    assert r.latencies_cycles().tolist() == [C.invlpg]
    # once CPU 1 has run it, the bump invalidates its copy: one transfer
    wl = tw.Workload.from_ops(cpu=[0, 1, 0], kind=["access", "access", "unmap"], vpn=[0, 0, 0],
                              pages=[1, 1, 1], think=[100, 5000, 0])
    r = tw.simulate(cpus=2, protocol="linux", workload=wl)
    assert r.shootdowns["dispatch_cycles"].tolist() == [3 * C.cacheline]   # bump, check, push


# ---- scenarios ------------------------------------------------------------------------------

def test_scenario_idle_cpus_linux_skips_them():
    from tlbwidgets.scenarios import idle_cpus
    lin = tw.simulate(cpus=8, protocol="linux", workload=idle_cpus())
    seed = tw.simulate(cpus=8, protocol="mailbox", workload=idle_cpus())
    assert lin.outcome == seed.outcome == "completed"
    assert lin.summary()["violations"] == 0
    # CPUs 4..7 are idle at every unmap: no IPI for them under linux
    assert lin.cpu_stats["ipis_received"][4:].sum() == 0
    assert (seed.cpu_stats["ipis_received"][1:] > 0).all()
    assert lin.summary()["ipis"] < seed.summary()["ipis"]


def test_scenario_concurrent_initiators_global_lock_serializes():
    from tlbwidgets.scenarios import concurrent_initiators
    lock = tw.simulate(cpus=8, protocol="global_lock", workload=concurrent_initiators())
    lin = tw.simulate(cpus=8, protocol="linux", workload=concurrent_initiators())
    assert lock.summary()["violations"] == lin.summary()["violations"] == 0
    lat = np.sort(lock.latencies_cycles())
    # the k-th in the lock's queue waits for the k-1 before it
    assert (np.diff(lat) > 0).all() and lat[-1] > 5 * lat[0]
    assert lin.latencies_cycles().max() < lat[-1] / 3


@pytest.mark.parametrize("proto,threshold", [("linux", 33), ("mailbox_fixed", 64),
                                             ("global_lock", 64), ("broadcast", 64),
                                             ("latr", 64)])
def test_scenario_threshold_edge(proto, threshold):
    from tlbwidgets.scenarios import threshold_edge
    r = tw.simulate(cpus=4, protocol=proto, workload=threshold_edge(threshold=threshold))
    assert r.outcome == "completed" and r.summary()["violations"] == 0
    assert r.shootdowns["pages"].tolist() == [threshold - 1, threshold, threshold + 1]
    assert r.shootdowns["kind"].tolist() == ["range", "range", "full"]


# ---- the interpreted engine agrees --------------------------------------------------------

_EQ_CASES = [
    dict(cpus=4, sockets=2, protocol=p, workload="uniform", accesses=300, unmap_rate=0.03,
         irq_off_share=0.05, unmap_pages=u, seed=3)
    for p, u in (("global_lock", 2), ("broadcast", 20), ("latr", 3), ("linux", 40))
] + [dict(cpus=5, protocol="linux", workload="munmap_storm", unmaps=5, seed=2),
     dict(cpus=6, sockets=2, protocol="linux", workload="uniform", accesses=300,
          unmap_rate=0.05, irq_off_share=0.05, seed=4, pv_preempted_share=0.4,
          apic_mode="physical", costs={"mlp": 2})]

_EQ_SCRIPT = textwrap.dedent("""
    import json, sys
    import tlbwidgets as tw
    from tlbwidgets.scenarios import idle_cpus
    cases = json.loads(sys.argv[1])
    runs = [tw.simulate(**c) for c in cases]
    runs += [tw.simulate(cpus=4, protocol=p, workload=idle_cpus(unmaps=2))
             for p in ("linux", "latr")]
    print(json.dumps([{"summary": r.summary(),
                       "tables": {n: getattr(r, n).tolist() for n in
                                  ("shootdowns", "deliveries", "stale_windows",
                                   "cpu_stats", "events")}} for r in runs], default=str))
""")


def test_interpreted_engine_agrees_on_the_new_protocols():
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    interp = subprocess.run([sys.executable, "-c", _EQ_SCRIPT, json.dumps(_EQ_CASES)],
                            capture_output=True, text=True, env=env, timeout=600)
    assert interp.returncode == 0, interp.stderr[-3000:]
    jitted = subprocess.run([sys.executable, "-c", _EQ_SCRIPT, json.dumps(_EQ_CASES)],
                            capture_output=True, text=True, timeout=600)
    assert jitted.returncode == 0, jitted.stderr[-3000:]
    a, b = json.loads(jitted.stdout), json.loads(interp.stdout)
    assert len(a) == len(b) == len(_EQ_CASES) + 2
    for x, y in zip(a, b):
        assert x == y
    assert sum(x["summary"]["shootdowns"] for x in a) > 20
