"""The seed's mailbox protocol, behaviour by behaviour (DESIGN.md section 3,
shared/seed/README.md).  Each test names the seed behaviour it pins."""

import numpy as np
import pytest

import tlbwidgets as tw
from tlbwidgets._tables import EV_NAMES

C = tw.COST_PRESETS["default"]


def _cl(a, b, cpus, sockets, costs):
    same = (a * sockets) // cpus == (b * sockets) // cpus
    return costs.cacheline if same else costs.cacheline_remote


def _lat(a, b, cpus, sockets, costs):
    same = (a * sockets) // cpus == (b * sockets) // cpus
    return costs.ipi_latency if same else costs.ipi_latency_remote


def expected_latency(cpus, pages, sockets=1, initiator=0, costs=C, layout="packed"):
    """Closed form of DESIGN.md section 3, generalised to sockets: every
    target's ACK store time, then the first poll at or after the last one on
    the initiator's polling grid (which starts when the IPIs are sent).

    ``layout="padded"`` is DESIGN.md's charging (every ACK flag on its own
    line).  ``"packed"`` is the seed's flag array (docs/protocols.md, "The packed
    ACK line"): the flags of up to 64 CPUs share one line, which takes one write
    at a time; a push's clear costs one transfer on it (remote if its last writer
    or its spinner is on another socket), and each handler's store waits for the
    line, costs one transfer, and keeps the line one more transfer for the
    spinning initiator's re-read."""
    targets = [j for j in range(cpus) if j != initiator]
    if pages > 64:
        flush = costs.full_flush
    else:
        flush = pages * costs.invlpg
    if not targets:
        return flush
    same = [(j * sockets) // cpus == (initiator * sockets) // cpus for j in targets]
    line = {"cacheline": costs.cacheline, "remote": costs.cacheline_remote}
    if layout == "padded":
        pushes = [2 * _cl(initiator, j, cpus, sockets, costs) for j in targets]
    else:
        # The initiator wrote the line last (or nobody has): its clear is local.
        pushes = [_cl(initiator, j, cpus, sockets, costs) + costs.cacheline for j in targets]
    push_end = flush + sum(pushes)
    wait_start = push_end + len(targets) * costs.ipi_send
    drains = []
    for i, j in enumerate(targets):
        sent = push_end + (i + 1) * costs.ipi_send
        drains.append((sent + _lat(initiator, j, cpus, sockets, costs) + costs.irq_entry
                       + costs.cacheline, i, j))
    if layout == "padded":
        acks = [drain + flush + costs.cacheline for drain, _, _ in drains]
        return wait_start + max(0, -(-(max(acks) - wait_start) // costs.pause)) * costs.pause
    acks = []
    lines = {}                          # packed line -> (free from, last writer)
    # Each handler asks for the line when its flushes end (a nearer target's IPI
    # may overtake a farther one's), and from wait_start on the initiator spins on it.
    for drain, i, j in sorted(drains):
        free, writer = lines.get(j // 64, (0, initiator))
        spinner = drain + flush >= wait_start
        far_spinner = spinner and not same[i]
        far = far_spinner or (writer * sockets) // cpus != (j * sockets) // cpus
        end = max(drain + flush, free) + (line["remote"] if far else line["cacheline"])
        reread = (line["remote"] if far_spinner else line["cacheline"]) if spinner else 0
        lines[j // 64] = (end + reread, j)
        acks.append(end)
    last = max(acks)
    polls = max(0, -(-(last - wait_start) // costs.pause))
    return wait_start + polls * costs.pause


def test_design_formula_one_socket_is_the_closed_form():
    # The formula exactly as DESIGN.md states it, for k = cpus - 1 targets.
    for cpus in (2, 5, 16):
        k = cpus - 1
        formula = (C.invlpg + k * (2 * C.cacheline + C.ipi_send) + C.ipi_latency
                   + C.irq_entry + C.cacheline + C.invlpg + C.cacheline)
        start = C.invlpg + k * (2 * C.cacheline + C.ipi_send)
        rounded = start + -(-(formula - start) // C.pause) * C.pause
        assert expected_latency(cpus, 1, layout="padded") == rounded


@pytest.mark.parametrize("layout", ["padded", "packed"])
@pytest.mark.parametrize("cpus,pages,sockets", [
    (2, 1, 1), (3, 1, 1), (8, 1, 1), (16, 1, 1), (64, 1, 1), (65, 1, 1), (130, 1, 2),
    (8, 7, 1), (16, 64, 1), (16, 65, 1),
    (4, 1, 2), (16, 3, 2), (32, 1, 4), (24, 2, 3),
])
def test_contention_free_single_shootdown_matches_formula(cpus, pages, sockets, layout):
    r = tw.simulate(cpus=cpus, protocol="mailbox", workload="single", pages=pages,
                    sockets=sockets, ack_layout=layout)
    assert r.outcome == "completed"
    lat = r.latencies_cycles()
    assert lat.tolist() == [expected_latency(cpus, pages, sockets, layout=layout)]
    s = r.summary()
    assert s["ipis"] == cpus - 1
    assert s["violations"] == 0 and s["timeouts"] == 0


def test_formula_holds_for_other_initiators_and_presets():
    for preset in ("intel_2socket", "large_8socket"):
        costs = tw.COST_PRESETS[preset]
        r = tw.simulate(cpus=8, sockets=2, workload="single", initiator=5, costs=preset)
        assert r.latencies_cycles().tolist() == [
            expected_latency(8, 1, 2, initiator=5, costs=costs)]


def test_local_flush_happens_before_dispatch():
    r = tw.simulate(cpus=4, workload="single", pages=3)
    ev = r.events
    names = [EV_NAMES[k] for k in ev["kind"]]
    first_push = names.index("push")
    flush = names.index("local_flush")
    assert flush < first_push
    assert ev["time"][flush] <= ev["time"][first_push]
    # The initiator's own entries end at T0 + (j+1) * invlpg, page by page.
    w = r.stale_windows
    own = np.sort(w[w["cpu"] == 0]["end"] - w[w["cpu"] == 0]["start"])
    assert own.tolist() == [C.invlpg, 2 * C.invlpg, 3 * C.invlpg]


def test_targets_are_every_other_cpu_in_order_and_ipis_follow_pushes():
    r = tw.simulate(cpus=6, workload="single")
    ev = r.events
    pushes = ev[ev["kind"] == EV_NAMES.index("push")]
    sends = ev[ev["kind"] == EV_NAMES.index("ipi_send")]
    assert pushes["other"].tolist() == [1, 2, 3, 4, 5]
    assert sends["other"].tolist() == [1, 2, 3, 4, 5]
    assert pushes["time"].max() < sends["time"].min()


def test_range_over_64_pages_becomes_full_flush():
    r64 = tw.simulate(cpus=4, workload="single", pages=64)
    r65 = tw.simulate(cpus=4, workload="single", pages=65, vm_pages=128)
    assert r64.shootdowns["kind"].tolist() == ["range"]
    assert not r64.shootdowns["upgraded"][0]
    assert r64.summary()["full_flushes"] == 0
    assert r65.shootdowns["kind"].tolist() == ["full"]
    assert r65.shootdowns["upgraded"][0]
    assert r65.summary()["full_flushes"] == 4   # initiator + 3 targets


def test_bad_range_becomes_full_flush_with_warning():
    wl = tw.Workload.from_ops(cpu=[0, 1, 0], kind=["access", "access", "unmap"],
                              vpn=[5, 5, 5], pages=[1, 1, 0], think=[100, 50_000, 10])
    r = tw.simulate(cpus=2, workload=wl)
    s = r.summary()
    assert s["warnings"] == 1
    assert r.shootdowns["kind"].tolist() == ["full"]
    assert r.shootdowns["upgraded"].tolist() == [True]
    assert s["full_flushes"] == 2
    # end <= start changes no PTE, so nothing became stale
    assert s["stale_windows"] == 0


def _overflow_workload(unmaps, irq_off_cycles=10**7):
    """CPU 0 unmaps `unmaps` pages in a row while CPU 1 has interrupts off."""
    cpu, kind, vpn, pages, think = [], [], [], [], []
    cpu.append(1); kind.append("irq_off"); vpn.append(0); pages.append(0)
    think.append(irq_off_cycles)
    for p in range(unmaps):
        cpu.append(0); kind.append("unmap"); vpn.append(p); pages.append(1); think.append(10)
    return tw.Workload.from_ops(cpu, kind, vpn, pages, think, cpus=2)


def test_seventeenth_push_replaces_the_queue_with_one_full_flush():
    r16 = tw.simulate(cpus=2, workload=_overflow_workload(16), ack_timeout_spins=100)
    r17 = tw.simulate(cpus=2, workload=_overflow_workload(17), ack_timeout_spins=100)
    assert r16.summary()["queue_overflows"] == 0
    assert r16.cpu_stats["full_flushes"][1] == 0
    s = r17.summary()
    assert s["queue_overflows"] == 1
    assert s["timeouts"] == 17          # CPU 1 could not answer any of them
    assert r17.cpu_stats["full_flushes"][1] == 1
    d = r17.deliveries
    # every one of the 17 ops was covered by the single Full op: same flush instant
    assert len(d) == 17 and len(set(d["flushed"].tolist())) == 1
    assert r17.shootdowns["upgraded"][-1]


def test_timeout_gives_up_after_ack_timeout_spins_polls():
    spins = 1000
    r = tw.simulate(cpus=2, workload=_overflow_workload(1), ack_timeout_spins=spins)
    sd = r.shootdowns[0]
    assert sd["timed_out"] == 1
    flush = C.invlpg
    wait_start = flush + 2 * C.cacheline + C.ipi_send
    assert sd["end"] - sd["start"] == wait_start + spins * C.pause


def test_waiting_for_the_seed_timeout_is_one_event_not_ten_million():
    seed_wait = 10_000_000 * C.pause                       # seed: 10,000,000 spins
    r = tw.simulate(cpus=2, workload=_overflow_workload(1, seed_wait + 10**6))
    s = r.summary()
    assert s["timeouts"] == 1
    assert r.shootdowns[0]["end"] - r.shootdowns[0]["start"] > 10_000_000 * C.pause
    assert s["events"] < 50


def test_offline_cpus_are_skipped():
    r = tw.simulate(cpus=6, workload="single", offline=(2, 4))
    ev = r.events
    pushes = ev[ev["kind"] == EV_NAMES.index("push")]
    assert pushes["other"].tolist() == [1, 3, 5]
    assert r.shootdowns["targets"].tolist() == [3]
    assert r.latencies_cycles().tolist() == [expected_latency(4, 1)]


def test_irq_off_target_delays_its_ack_until_interrupts_are_enabled():
    off = 200_000
    r = tw.simulate(cpus=2, workload="irq_off", unmaps=1, irq_off_cpus=1,
                    irq_off_cycles=off, ack_timeout_spins=None)
    assert r.summary()["timeouts"] == 0
    d = r.deliveries[0]
    ev = r.events
    off_end = ev[(ev["cpu"] == 1) & (ev["kind"] == EV_NAMES.index("state"))
                 & (ev["arg"] == 0)]["time"]
    # the handler starts exactly when interrupts come back on
    assert d["handler_start"] in off_end.tolist()
    assert d["handler_start"] - d["ipi_sent"] > off // 2


def test_irq_off_section_longer_than_timeout_produces_violation():
    kw = dict(cpus=3, workload="irq_off", unmaps=3, irq_off_cpus=1,
              irq_off_cycles=500_000, ack_timeout_spins=1_000)
    seed = tw.simulate(protocol="mailbox", **kw).summary()
    assert seed["timeouts"] == 3
    assert seed["violations"] == 3
    fixed = tw.simulate(protocol="mailbox_fixed", **kw).summary()
    assert fixed["timeouts"] == 0 and fixed["violations"] == 0
    assert fixed["transient_stale_hits"] >= 3   # the same touches, before the safe time


def test_shared_ack_flag_race_lets_an_initiator_return_early_and_a_violation_follows():
    r = tw.simulate(cpus=8, protocol="mailbox", workload="ack_race")
    s = r.summary()
    assert s["violations"] == 1 and s["timeouts"] == 0
    v = r.violations[0]
    sd = r.shootdowns[v["shootdown"]]
    assert sd["initiator"] == 7            # initiator B, whose op was not performed yet
    assert v["time"] >= sd["safe"]
    # The victim acknowledged B only through the flag its handler for A set:
    # B's op was pushed after that handler drained, and flushed after B returned.
    d = r.deliveries
    mine = d[(d["shootdown"] == sd["id"]) & (d["cpu"] == v["cpu"])][0]
    a_op = d[(d["shootdown"] == 0) & (d["cpu"] == v["cpu"])][0]
    assert a_op["handler_start"] < mine["pushed"] < a_op["acked"]
    assert mine["flushed"] > sd["end"]
    fixed = tw.simulate(cpus=8, protocol="mailbox_fixed", workload="ack_race").summary()
    assert fixed["violations"] == 0
    assert fixed["transient_stale_hits"] >= 1   # the same read, before the safe time


def test_two_initiators_spinning_with_interrupts_off():
    wl = _mutual_wait_workload()
    seed = tw.simulate(cpus=3, protocol="mailbox", workload=wl, wait_irqs_off=True,
                       ack_timeout_spins=5_000)
    s = seed.summary()
    assert s["outcome"] == "completed"
    assert s["timeouts"] >= 2
    assert s["violations"] >= 1
    fixed = tw.simulate(cpus=3, protocol="mailbox_fixed", workload=wl, wait_irqs_off=True)
    assert fixed.outcome == "deadlock"
    assert fixed.summary()["violations"] == 0
    ok = tw.simulate(cpus=3, protocol="mailbox_fixed", workload=wl)
    assert ok.outcome == "completed" and ok.summary()["violations"] == 0


def test_named_mutual_wait_scenario_is_the_same_lesson():
    named = tw.simulate(cpus=3, protocol="mailbox", workload="mutual_wait",
                        wait_irqs_off=True, ack_timeout_spins=5_000).summary()
    custom = tw.simulate(cpus=3, protocol="mailbox", workload=_mutual_wait_workload(),
                         wait_irqs_off=True, ack_timeout_spins=5_000).summary()
    assert named == custom
    assert tw.simulate(cpus=3, protocol="mailbox_fixed", workload="mutual_wait",
                       wait_irqs_off=True).outcome == "deadlock"


def _mutual_wait_workload():
    """CPUs 0 and 1 unmap pages 1 and 2 at the same instant with interrupts
    off, then (still in the same section) read the other's page."""
    ops = []
    for c in range(3):
        ops += [(c, "access", 1, 1, 10), (c, "access", 2, 1, 1000)]
    ops += [(0, "unmap", 1, 1, 0), (0, "irq_off", 2, 1, 30_000)]
    ops += [(1, "unmap", 2, 1, 0), (1, "irq_off", 1, 1, 30_000)]
    cpu, kind, vpn, pages, think = map(list, zip(*ops))
    return tw.Workload.from_ops(cpu, kind, vpn, pages, think, cpus=3)
