"""tlbwidgets.analysis against slow, obviously correct references on real runs."""

import numpy as np
import pytest

import tlbwidgets as tw
from tlbwidgets import analysis as A
from tlbwidgets._tables import EV_STATE, STATE_NAMES, ST_DONE


@pytest.fixture(scope="module")
def run16():
    return tw.simulate(cpus=16, protocol="mailbox", workload="uniform", seed=0)


@pytest.fixture(scope="module")
def single4():
    return tw.simulate(cpus=4, protocol="mailbox", workload="single", seed=0)


def slow_stale_count(windows, end_cycles, t):
    """Stale entries at instant t: windows with start <= t < end (open: end_cycles)."""
    ends = np.where(windows["end"] < 0, end_cycles, windows["end"])
    return int(np.sum((windows["start"] <= t) & (t < ends)))


def test_decimate_keeps_every_bucket_extreme_and_budget():
    rng = np.random.default_rng(1)
    x = np.sort(rng.integers(0, 10**6, 20000))
    y = rng.integers(0, 100, 20000)
    dx, dy = A.decimate_minmax(x, y, 400)
    assert len(dx) <= 400
    assert dy.max() == y.max() and dy.min() == y.min()
    assert np.all(np.diff(dx) >= 0)
    # Every kept point is a real point of the series.
    pairs = set(zip(x.tolist(), y.tolist()))
    assert all((a, b) in pairs for a, b in zip(dx.tolist(), dy.tolist()))


def test_decimate_rejects_bad_budget():
    with pytest.raises(ValueError, match="max_points"):
        A.decimate_minmax(np.arange(5), np.arange(5), 2)
    with pytest.raises(TypeError, match="max_points"):
        A.decimate_minmax(np.arange(5), np.arange(5), 10.0)


def test_stale_count_matches_slow_reference(run16):
    w = run16.stale_windows
    assert len(w) > 0
    t, count = A.stale_count_series(w, run16.sim_cycles, max_points=10**7)
    probe = np.linspace(0, run16.sim_cycles - 1, 300).astype(np.int64)
    for p in probe:
        i = np.searchsorted(t, p, side="right") - 1
        assert count[i] == slow_stale_count(w, run16.sim_cycles, p)


def test_stale_count_decimated_keeps_peak(run16):
    w = run16.stale_windows
    _, full = A.stale_count_series(w, run16.sim_cycles, max_points=10**7)
    t, small = A.stale_count_series(w, run16.sim_cycles, max_points=200)
    assert len(t) <= 200
    assert small.max() == full.max()


def test_latency_median_matches_summary(run16):
    lat = A.latency_cycles(run16.shootdowns)
    assert np.median(lat) == pytest.approx(run16.summary()["latency_cycles_median"])


def test_breakdown_is_mean_of_columns(run16):
    got = A.initiator_breakdown(run16.shootdowns)
    for value, (col, _) in zip(got, A.BREAKDOWN_PHASES):
        assert value == pytest.approx(run16.shootdowns[col].mean())


def test_shared_histogram_counts_every_sample(run16):
    lat = A.latency_cycles(run16.shootdowns)
    centres, counts = A.shared_histogram([lat, lat[: len(lat) // 2]], 30)
    assert counts.shape == (2, 30) and len(centres) == 30
    assert counts[0].sum() == len(lat) and counts[1].sum() == len(lat) // 2


def test_exact_lanes_add_up_to_cpu_stats(single4):
    r = single4
    assert not r.truncated
    n = len(r.cpu_stats)
    seg = A.lane_segments(r.events, n, r.sim_cycles, 0, r.sim_cycles, max_segments=10**6)
    assert seg["exact"]
    for cpu in range(n):
        row = r.cpu_stats[r.cpu_stats["cpu"] == cpu][0]
        for state in ("handler", "wait", "kernel", "irq_off"):
            code = STATE_NAMES.index(state)
            sel = (seg["cpu"] == cpu) & (seg["state"] == code)
            assert (seg["end"][sel] - seg["start"][sel]).sum() == row[state], (cpu, state)


def test_decimated_lanes_fit_budget_and_keep_handlers(run16):
    r = run16
    n = len(r.cpu_stats)
    seg = A.lane_segments(r.events, n, r.sim_cycles, 0, r.sim_cycles, max_segments=300)
    assert len(seg["cpu"]) <= 300
    assert not seg["exact"]
    handler = STATE_NAMES.index("handler")
    # Every CPU that ever ran a handler still shows one after decimation.
    had = set(r.cpu_stats["cpu"][r.cpu_stats["handler"] > 0].tolist())
    shown = set(seg["cpu"][seg["state"] == handler].tolist())
    assert had == shown


def test_lane_window_is_validated(run16):
    with pytest.raises(ValueError, match="t1 > t0"):
        A.lane_segments(run16.events, 16, run16.sim_cycles, 10, 10)


def test_ipi_arrows_match_summary_and_latency(single4):
    r = single4
    a = A.ipi_arrows(r.events, 0, r.sim_cycles, max_arrows=10**6)
    assert len(a["sent"]) == r.summary()["ipis"]
    assert np.all(a["arrived"] - a["sent"] == r.costs.ipi_latency)   # one socket


def test_stepper_frames_replay_the_log(single4):
    r = single4
    sid = int(r.shootdowns["id"][0])
    f = A.stepper_frames(r.events, r.shootdowns, r.stale_windows, 4, sid)
    assert len(f) > 0
    # Steps are the log rows of the stretch, in time order.
    assert np.all(np.diff(f.events["time"]) >= 0)
    in_stretch = ((r.events["time"] >= f.events["time"][0])
                  & (r.events["time"] <= f.events["time"][-1]))
    assert len(f) == min(in_stretch.sum(), 400)
    # Each state event sets that CPU's state in its own frame.
    for k, e in enumerate(f.events):
        if e["kind"] == EV_STATE:
            assert f.state[k, e["cpu"]] == e["arg"]
    # After the run every stale entry of this shootdown is invalidated.
    assert not np.any(f.tlb[-1] == A.TLB_STALE)
    assert np.any(f.tlb == A.TLB_STALE)
    assert ST_DONE not in f.state[0]


def test_stepper_frames_reject_unknown_shootdown(single4):
    with pytest.raises(ValueError, match="shootdown=999"):
        A.stepper_frames(single4.events, single4.shootdowns, single4.stale_windows, 4, 999)


def test_narration_names_cpus_and_time(single4):
    e = single4.events[single4.events["kind"] != EV_STATE][0]
    s = A.narrate(e, single4.costs.clock_ghz)
    assert f"CPU {int(e['cpu'])}" in s and "µs" in s and f"cycle {int(e['time'])}" in s
