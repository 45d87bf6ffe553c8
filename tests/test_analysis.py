"""tlbwidgets.analysis against slow, obviously correct references on real runs."""

import numpy as np
import pytest

import tlbwidgets as tw
from tlbwidgets import analysis as A
from tlbwidgets._tables import EV_IPI_ARRIVE, EV_IPI_SEND, EV_STATE, STATE_NAMES, ST_DONE


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


def _shares(seg, n_cpus, span_cycles):
    """Fraction of ``span_cycles`` each CPU spends in each state, per the segments."""
    out = np.zeros((n_cpus, len(STATE_NAMES)))
    np.add.at(out, (seg["cpu"], seg["state"]), seg["end"] - seg["start"])
    return out / span_cycles


def _slow_state_time(events, n_cpus, t0, t1):
    """Cycles per (cpu, state) in [t0, t1) by walking the state log one event at a time."""
    out = np.zeros((n_cpus, len(STATE_NAMES)), dtype=np.int64)
    state, since = [0] * n_cpus, [0] * n_cpus
    ev = events[events["kind"] == EV_STATE]
    for t, c, s in sorted(zip(ev["time"].tolist(), ev["cpu"].tolist(), ev["arg"].tolist()),
                          key=lambda row: row[0]):
        out[c, state[c]] += max(0, min(t, t1) - max(since[c], t0))
        state[c], since[c] = s, t
    for c in range(n_cpus):
        out[c, state[c]] += max(0, t1 - max(since[c], t0))
    out[:, ST_DONE] = 0
    return out


@pytest.mark.parametrize("protocol", tw.PROTOCOLS)
@pytest.mark.parametrize("workload", ["uniform", "munmap_storm", "irq_off", "idle_cpus"])
def test_thinned_lanes_keep_every_cpus_time_shares_within_5_points(protocol, workload):
    # Budgets well below the exact run count force thinning; the whole logged span
    # and a zoomed window are both checked against a slow walk of the state log.
    r = tw.simulate(cpus=32, protocol=protocol, workload=workload, seed=1,
                    max_log_events=60_000)
    n = len(r.cpu_stats)
    log_end = A.event_log_end(r.events, r.sim_cycles, "events" in r.truncated_logs)
    for t0, t1 in ((0, log_end), (log_end // 3, log_end // 3 + max(log_end // 10, 1))):
        exact = _slow_state_time(r.events, n, t0, t1) / (t1 - t0)
        for budget in (4 * n, 40 * n):
            seg = A.lane_segments(r.events, n, r.sim_cycles, t0, t1, budget, log_end=log_end)
            assert len(seg["cpu"]) <= budget
            assert seg["end"].max(initial=t0) <= min(t1, log_end)
            gap = np.abs(_shares(seg, n, t1 - t0) - exact).max()
            assert gap <= 0.05, (budget, t0, t1, gap, seg["exact"])


def test_thinned_lanes_show_short_handlers_as_short(run16):
    # 16 CPUs thinned to 4 segments a lane: handler runs far shorter than a
    # column must not paint the column (the old "most telling state" rule did).
    r = run16
    assert not r.truncated
    seg = A.lane_segments(r.events, 16, r.sim_cycles, 0, r.sim_cycles, 64)
    assert not seg["exact"]
    handler = STATE_NAMES.index("handler")
    shown = _shares(seg, 16, r.sim_cycles)[:, handler]
    true = r.cpu_stats["handler"][np.argsort(r.cpu_stats["cpu"])] / r.sim_cycles
    np.testing.assert_allclose(shown, true, atol=1e-6)


def test_lanes_end_where_a_truncated_log_ends():
    r = tw.simulate(cpus=16, protocol="mailbox", workload="uniform", seed=0,
                    max_log_events=2_000)
    assert "events" in r.truncated_logs
    log_end = A.event_log_end(r.events, r.sim_cycles, True)
    assert log_end == r.events["time"].max() < r.sim_cycles
    seg = A.lane_segments(r.events, 16, r.sim_cycles, 0, r.sim_cycles, 10**6,
                          log_end=log_end)
    assert seg["logged_until"] == log_end
    assert seg["end"].max() == log_end
    assert A.event_log_end(r.events, r.sim_cycles, False) == r.sim_cycles


def test_separable_marks_leave_out_crowds_only():
    sent = np.array([0, 1000, 1005, 1010, 5000, 9000])
    mask = A.separable_marks(sent, min_gap=100)
    assert mask.tolist() == [True, False, False, False, True, True]
    assert A.separable_marks(sent[::-1], 100).tolist() == mask[::-1].tolist()
    assert A.separable_marks(np.zeros(0), 100).tolist() == []


def test_lane_window_is_validated(run16):
    with pytest.raises(ValueError, match="t1 > t0"):
        A.lane_segments(run16.events, 16, run16.sim_cycles, 10, 10)


def test_ipi_arrows_match_summary_and_latency(single4):
    r = single4
    a = A.ipi_arrows(r.events, 0, r.sim_cycles, max_arrows=10**6)
    assert len(a["sent"]) == r.summary()["ipis"]
    assert np.all(a["arrived"] - a["sent"] == r.costs.ipi_latency)   # one socket


def slow_ipi_arrows(events):
    """Every IPI send with its arrival, the plain way: walk the log in time
    order and give the k-th send from a to b the k-th arrival at b from a."""
    order = np.lexsort((np.arange(len(events)), events["time"]))
    sends, arrivals = {}, {}
    for e in events[order]:
        if e["kind"] == EV_IPI_SEND:
            sends.setdefault((int(e["cpu"]), int(e["other"])), []).append(int(e["time"]))
        elif e["kind"] == EV_IPI_ARRIVE:
            arrivals.setdefault((int(e["other"]), int(e["cpu"])), []).append(int(e["time"]))
    rows = []
    for (a, b), times in sends.items():
        got = arrivals.get((a, b), [])
        rows += [(a, b, t, got[k] if k < len(got) else -1) for k, t in enumerate(times)]
    return sorted(rows)


@pytest.mark.parametrize("kw, cut", [
    (dict(cpus=4, protocol="mailbox", workload="single"), False),
    (dict(cpus=16, protocol="mailbox", workload="uniform", seed=3), False),
    # Merged IPIs, and the log cut after 17 sends whose arrivals it misses.
    (dict(cpus=32, protocol="mailbox", workload="munmap_storm", unmaps=3, seed=1,
          max_log_events=8000), True),
    (dict(cpus=24, protocol="linux", workload="munmap_storm", unmaps=2, seed=2, sockets=2),
     False),
])
def test_ipi_arrows_pair_sends_with_arrivals_like_a_plain_walk(kw, cut):
    r = tw.simulate(**kw)
    a = A.ipi_arrows(r.events, 0, 2 * r.sim_cycles, max_arrows=10**9)
    got = sorted(zip(a["sender"].tolist(), a["target"].tolist(), a["sent"].tolist(),
                     a["arrived"].tolist()))
    want = slow_ipi_arrows(r.events)
    assert got == want
    assert len(want) > 0
    assert any(row[3] == -1 for row in want) == cut


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


def test_evidence_step_and_step_at_time_find_the_guilty_moment():
    r = tw.simulate(cpus=3, protocol="mailbox", workload="irq_off_window",
                    ack_timeout_spins=20, schedule=[(0, "ipi", 0, 2_117)])
    sid = A.evidence_shootdown(r.events, "violation")
    v = r.violations
    assert sid == int(v["shootdown"][np.argmin(v["time"])])
    f = A.stepper_frames(r.events, r.shootdowns, r.stale_windows, 3, sid)
    k = A.evidence_step(f, "violation")
    assert f.events["kind"][k] == A.EVIDENCE_KINDS["violation"]
    assert (f.events["kind"][:k] != A.EVIDENCE_KINDS["violation"]).all()
    assert A.evidence_step(f, "overflow") is None
    t = int(f.events["time"][k])
    assert A.step_at_time(f, t) >= k and f.events["time"][A.step_at_time(f, t)] == t
    assert A.step_at_time(f, int(f.events["time"][0]) - 1) == 0
    with pytest.raises(ValueError, match="evidence='stale'"):
        A.evidence_step(f, "stale")
