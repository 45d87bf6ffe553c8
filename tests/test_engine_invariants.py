"""Invariants that hold on any workload, checked on random ones."""

import numpy as np
import pytest

import tlbwidgets as tw
from invariants import assert_counts_agree, assert_cpu_time_adds_up
from tlbwidgets._tables import EV_NAMES

SMALL = dict(accesses=3_000, unmap_rate=0.01, working_set_pages=48)


@pytest.fixture(scope="module", params=[
    ("mailbox", 4, 1, 0, {}),
    ("mailbox", 8, 2, 1, {"irq_off_share": 0.05, "unmap_pages": 3}),
    ("mailbox_fixed", 8, 2, 2, {"irq_off_share": 0.05, "unmap_pages": 5}),
    ("mailbox", 6, 3, 3, {"unmap_rate": 0.05, "unmap_pages": 70,
                          "working_set_pages": 128}),
])
def run(request):
    proto, cpus, sockets, seed, extra = request.param
    kw = {**SMALL, **extra}
    return tw.simulate(cpus=cpus, sockets=sockets, protocol=proto, workload="uniform",
                       seed=seed, vm_pages=256, **kw)


def test_run_completes(run):
    assert run.outcome == "completed"
    assert not run.truncated


def test_every_ipi_sent_is_received(run):
    s = run.summary()
    assert run.cpu_stats["ipis_received"].sum() == s["ipis"]
    ev = run.events
    sent = np.count_nonzero(ev["kind"] == EV_NAMES.index("ipi_send"))
    arrived = np.count_nonzero(ev["kind"] == EV_NAMES.index("ipi_arrive"))
    assert sent == arrived == s["ipis"]
    # every arrival is either taken by a handler or merged into a pending one
    taken = np.count_nonzero(ev["kind"] == EV_NAMES.index("ipi_take"))
    assert taken + s["coalesced_ipis"] == s["ipis"]


def test_every_delivery_is_flushed_after_it_was_pushed(run):
    d = run.deliveries
    assert (d["flushed"] >= 0).all()
    assert (d["flushed"] > d["pushed"]).all()
    # a handler may start before the push lands and still drain it
    assert (d["handler_start"] <= d["flushed"]).all()
    assert (d["acked"] > d["flushed"]).all()


def test_stale_windows_are_nonnegative_and_closed(run):
    w = run.stale_windows
    assert len(w) == run.summary()["stale_windows"]
    assert (w["end"] >= w["start"]).all()
    assert run.summary()["stale_open_at_end"] == 0


def test_a_window_never_outlives_the_flush_that_covers_it(run):
    # For the seed and its repair, each target's copy of a shootdown's pages
    # is gone by the time that target's delivery was flushed.
    d = run.deliveries
    w = run.stale_windows
    flushed = {(int(a), int(b)): int(f) for a, b, f in zip(d["shootdown"], d["cpu"], d["flushed"])}
    for row in w:
        key = (int(row["shootdown"]), int(row["cpu"]))
        if key in flushed:
            assert row["end"] <= flushed[key]


def test_summary_counts_agree_with_tables(run):
    assert_counts_agree(run)


def test_cpu_time_adds_up_to_the_run(run):
    assert_cpu_time_adds_up(run)


def test_protocols_that_wait_properly_never_violate(run):
    if run.config["protocol"] == "mailbox_fixed":
        assert run.summary()["violations"] == 0


def test_same_seed_same_result_different_seed_differs():
    a = tw.simulate(cpus=4, workload="uniform", seed=7, **SMALL)
    b = tw.simulate(cpus=4, workload="uniform", seed=7, **SMALL)
    c = tw.simulate(cpus=4, workload="uniform", seed=8, **SMALL)
    assert a.summary() == b.summary()
    assert np.array_equal(a.shootdowns, b.shootdowns)
    assert np.array_equal(a.events, b.events)
    assert a.summary() != c.summary()


def test_logs_are_capped_but_counts_stay_exact():
    full = tw.simulate(cpus=4, workload="uniform", seed=1, **SMALL)
    cut = tw.simulate(cpus=4, workload="uniform", seed=1, max_log_rows=5,
                      max_log_events=10, **SMALL)
    assert cut.truncated and not full.truncated
    assert len(cut.events) == 10 and len(cut.stale_windows) == 5
    assert cut.summary() == full.summary()


def test_event_limit_stops_the_run_and_says_so():
    r = tw.simulate(cpus=4, workload="uniform", seed=1, max_events=50, **SMALL)
    assert r.outcome == "event_limit"
    assert r.summary()["events"] == 50


def test_a_config_echo_reproduces_the_run():
    r = tw.simulate(cpus=4, workload="uniform", seed=3, sockets=2, **SMALL)
    again = tw.simulate(**r.config)
    assert again.summary() == r.summary()
