"""Derived series for charts, computed from a Result's tables.

Everything here reads the tables a run already produced (dtypes in
:mod:`tlbwidgets._tables`) and reshapes them for drawing: counts over time,
distributions, breakdowns, lane segments, stepper frames.  No function here
simulates anything; each is a pure function of its inputs, so a chart always
shows exactly what the Result says.

Guarantees shared by the functions below:

* Times come in as int64 cycles and go out as float64 microseconds when the
  function takes ``clock_ghz`` (``us = cycles / (clock_ghz * 1e3)``).
* Series meant for a chart are decimated: no output array is longer than the
  ``max_points`` / ``max_segments`` budget it was given, and decimation keeps
  every local minimum and maximum of each bucket, so peaks never disappear.
"""

from dataclasses import dataclass

import numpy as np

from ._tables import (
    EV_STATE, EV_PTE_CHANGE, EV_LOCAL_FLUSH, EV_PUSH, EV_OVERFLOW, EV_ACK_CLEAR,
    EV_IPI_SEND, EV_IPI_ARRIVE, EV_IPI_TAKE, EV_DRAIN, EV_INVALIDATE, EV_ACK_STORE,
    EV_ACK_SEEN, EV_TIMEOUT, EV_RETURN, EV_STALE_HIT, EV_VIOLATION, EV_SAFE,
    EV_WARNING, EV_APPLY, EV_LOCK_WAIT,
    ST_USER, ST_HANDLER, ST_WAIT, ST_IRQ_OFF, ST_IDLE, ST_KERNEL, ST_DONE,
    STATE_NAMES, SD_KIND_NAMES,
)

__all__ = [
    "DEFAULT_MAX_POINTS", "BREAKDOWN_PHASES",
    "cycles_to_us", "decimate_minmax", "stale_count_series", "latency_cycles",
    "shared_histogram", "initiator_breakdown", "lost_cycles_per_cpu",
    "window_lengths", "event_log_end", "lane_segments", "separable_marks", "ipi_arrows",
    "violation_rows",
    "StepperFrames", "TLB_NONE", "TLB_VALID", "TLB_STALE", "TLB_INVALIDATED",
    "ACK_UNKNOWN", "ACK_FALSE", "ACK_TRUE", "stepper_frames", "narrate",
    "scaling_series", "involved_shootdowns",
    "EVIDENCE_KINDS", "evidence_shootdown", "evidence_step", "step_at_time",
]

DEFAULT_MAX_POINTS = 2000
"""Point budget per mark: a few thousand points keep a redraw well under 1 MB."""

BREAKDOWN_PHASES = (
    ("local_cycles", "local flush"),
    ("dispatch_cycles", "dispatch (pushes, INVLPGB, records)"),
    ("ipi_cycles", "IPI sends"),
    ("wait_cycles", "waiting for ACKs"),
    ("serve_cycles", "serving other CPUs' IPIs"),
    ("lock_cycles", "waiting for a lock"),
)
"""(SHOOTDOWN_DTYPE column, label) of each part of the initiator's time: the
parts of a shootdown sum to its latency, ``end - start``, exactly."""

def cycles_to_us(cycles, clock_ghz):
    """Cycles (scalar or array) to float64 microseconds at ``clock_ghz``."""
    if not clock_ghz > 0:
        raise ValueError(f"clock_ghz must be > 0 GHz, got {clock_ghz!r}")
    return np.asarray(cycles, dtype=np.float64) / (float(clock_ghz) * 1e3)


def _check_budget(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")


def decimate_minmax(x, y, max_points=DEFAULT_MAX_POINTS):
    """Thin a series sorted by ``x`` to at most ``max_points`` points.

    The x range is cut into ``(max_points - 2) // 2`` equal buckets; from each
    bucket the first occurrence of its minimum and of its maximum are kept, in
    time order, plus the first and last points.  A step series stays a faithful
    envelope: every peak and every trough survives.  Returns ``(x, y)`` copies;
    inputs already within budget come back unchanged (as copies).
    """
    _check_budget("max_points", max_points, 4)
    x = np.asarray(x)
    y = np.asarray(y)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-D arrays of equal length, got shapes "
                         f"{x.shape} and {y.shape}")
    n = len(x)
    if n <= max_points:
        return x.copy(), y.copy()
    n_buckets = (max_points - 2) // 2
    span = float(x[-1] - x[0])
    if span <= 0:
        bucket = np.zeros(n, dtype=np.int64)
    else:
        bucket = ((x - x[0]) * (n_buckets / span)).astype(np.int64)
        np.clip(bucket, 0, n_buckets - 1, out=bucket)
    # Sort by (bucket, y, index): the first row of a bucket is its minimum and
    # the last its maximum, each the earliest occurrence thanks to the index key.
    idx = np.arange(n)
    order = np.lexsort((idx, y, bucket))
    b_sorted = bucket[order]
    starts = np.flatnonzero(np.r_[True, b_sorted[1:] != b_sorted[:-1]])
    ends = np.r_[starts[1:], n] - 1
    keep = np.unique(np.concatenate(([0, n - 1], order[starts], order[ends])))
    return x[keep], y[keep]


def stale_count_series(windows, end_cycles, max_points=DEFAULT_MAX_POINTS):
    """Number of stale TLB entries machine-wide over time, as a step series.

    ``windows`` is a WINDOW_DTYPE table; a window with ``end == -1`` is still
    open and counts until ``end_cycles``.  Returns ``(t_cycles, count)``:
    ``count[i]`` holds from ``t_cycles[i]`` until the next time (draw with
    step-after interpolation).  The series starts at 0 stale entries at cycle 0
    and is decimated to at most ``max_points`` points (min/max per bucket, so the
    peak count is exact).
    """
    starts = np.asarray(windows["start"], dtype=np.int64)
    if not len(starts):                 # nothing was ever stale: a flat zero
        return decimate_minmax(np.array([0, max(int(end_cycles), 0)], dtype=np.int64),
                               np.zeros(2, dtype=np.int64), max_points)
    ends = np.asarray(windows["end"], dtype=np.int64)
    ends = np.where(ends < 0, np.int64(end_cycles), ends)
    times = np.concatenate((starts, ends))
    delta = np.concatenate((np.ones(len(starts), np.int64), -np.ones(len(ends), np.int64)))
    order = np.argsort(times, kind="stable")
    times = times[order]
    count = np.cumsum(delta[order])
    # Several changes at one instant: keep only the count after the last one.
    last_at_time = np.r_[times[1:] != times[:-1], True]
    times = np.concatenate(([0], times[last_at_time], [max(int(end_cycles), 0)]))
    count = np.concatenate(([0], count[last_at_time], [count[-1] if len(count) else 0]))
    return decimate_minmax(times, count, max_points)


def latency_cycles(shootdowns):
    """Initiator latency (end - start, cycles) of every shootdown that returned."""
    done = shootdowns["end"] >= 0
    return (shootdowns["end"][done] - shootdowns["start"][done]).astype(np.int64)


def window_lengths(windows):
    """Length in cycles of every closed staleness window (open ones excluded)."""
    closed = windows["end"] >= 0
    return (windows["end"][closed] - windows["start"][closed]).astype(np.int64)


def shared_histogram(samples, n_bins=40):
    """Histogram several sample sets on one common set of bins.

    ``samples`` is a sequence of 1-D arrays (one per protocol).  Returns
    ``(centres, counts)`` with ``counts`` of shape ``(len(samples), n_bins)``, so
    grouped bars line up.  Empty input gives bins over [0, 1].
    """
    _check_budget("n_bins", n_bins, 1)
    arrays = [np.asarray(s, dtype=np.float64) for s in samples]
    non_empty = [a for a in arrays if len(a)]
    lo = min((a.min() for a in non_empty), default=0.0)
    hi = max((a.max() for a in non_empty), default=1.0)
    if hi <= lo:
        hi = lo + 1.0
    edges = np.linspace(lo, hi, n_bins + 1)
    counts = np.array([np.histogram(a, bins=edges)[0] for a in arrays], dtype=np.float64)
    counts = counts.reshape(len(arrays), n_bins)
    return (edges[:-1] + edges[1:]) / 2.0, counts


def initiator_breakdown(shootdowns):
    """Mean initiator cycles per returned shootdown in each phase of
    BREAKDOWN_PHASES: they add up to the mean latency (:func:`latency_cycles`).

    Returns a float64 array of length ``len(BREAKDOWN_PHASES)`` (zeros when
    no shootdown returned).
    """
    shootdowns = shootdowns[shootdowns["end"] >= 0]
    if len(shootdowns) == 0:
        return np.zeros(len(BREAKDOWN_PHASES))
    return np.array([shootdowns[col].mean() for col, _ in BREAKDOWN_PHASES], dtype=np.float64)


def lost_cycles_per_cpu(cpu_stats):
    """Cycles each CPU lost to shootdowns it did not start (its handler time).

    Returns ``(cpu, handler_cycles)`` int64 arrays in CPU order.
    """
    order = np.argsort(cpu_stats["cpu"], kind="stable")
    return (cpu_stats["cpu"][order].astype(np.int64),
            cpu_stats["handler"][order].astype(np.int64))


def violation_rows(violations, clock_ghz, limit=50):
    """Violations as display rows ``(time_us, cpu, vpn, shootdown)``, earliest first.

    At most ``limit`` rows are returned; the caller learns how many were left
    out from ``len(violations) - len(rows)``.
    """
    order = np.argsort(violations["time"], kind="stable")[:limit]
    v = violations[order]
    t_us = cycles_to_us(v["time"], clock_ghz)
    return [(float(t), int(c), int(p), int(s))
            for t, c, p, s in zip(t_us, v["cpu"], v["vpn"], v["shootdown"])]


# ---- timeline -----------------------------------------------------------------

def _state_runs(events, n_cpus, end_cycles):
    """Every (cpu, state, start, end) run of the EV_STATE log, ``done`` excluded.

    A CPU with no state event before its first one is taken to run user code
    from cycle 0; the last run of each CPU lasts until ``end_cycles``.
    """
    ev = events[events["kind"] == EV_STATE]
    order = np.lexsort((np.arange(len(ev)), ev["time"], ev["cpu"]))
    ev = ev[order]
    cpu = ev["cpu"].astype(np.int64)
    t = ev["time"].astype(np.int64)
    state = ev["arg"].astype(np.int64)
    # Prepend an implicit "user from 0" run for every CPU.
    cpu = np.concatenate((np.arange(n_cpus), cpu))
    t = np.concatenate((np.zeros(n_cpus, np.int64), t))
    state = np.concatenate((np.full(n_cpus, ST_USER, np.int64), state))
    order = np.lexsort((np.arange(len(cpu)), t, cpu))
    cpu, t, state = cpu[order], t[order], state[order]
    same_next = np.r_[cpu[1:] == cpu[:-1], False]
    t_end = np.where(same_next, np.r_[t[1:], 0], np.int64(end_cycles))
    keep = (t_end > t) & (state != ST_DONE)
    return cpu[keep], state[keep], t[keep], t_end[keep]


def event_log_end(events, end_cycles, truncated):
    """Last cycle the event log describes: ``end_cycles`` for a whole log,
    the time of its last row when it was truncated (``truncated``: the
    Result's ``"events" in truncated_logs``).  After that instant nobody
    knows what a CPU did, so lanes must stop there."""
    if not truncated:
        return int(end_cycles)
    if len(events) == 0:
        return 0
    return int(min(int(events["time"].max()), int(end_cycles)))


def lane_segments(events, n_cpus, end_cycles, t0, t1, max_segments=DEFAULT_MAX_POINTS,
                  log_end=None):
    """Timeline lanes: what each CPU does between cycles ``t0`` and ``t1``.

    Returns a dict of int64 arrays ``cpu``, ``state`` (ST_* codes),
    ``start``, ``end`` (cycles, clipped to the window) with at most
    ``max_segments`` rows, plus ``exact`` (bool) and ``logged_until``
    (cycles: lanes stop there).

    ``log_end`` (default ``end_cycles``) is where the event log stops
    (:func:`event_log_end`); no segment reaches past it.

    When the exact runs fit in the budget they are returned exactly.
    Otherwise the window is cut into equal columns and each column of a lane
    is split among the states present in it *in proportion to the time spent
    in each* (states ordered alternately forwards and backwards from column
    to column, so a state that continues over a column edge stays one
    segment).  Every state therefore keeps its exact time in every column,
    up to whole cycles: a CPU's time shares over the window are those of the
    exact runs, never inflated by a short handler run painting a whole
    column.  ``exact`` says which case applied.
    """
    _check_budget("max_segments", max_segments, 16)
    if t1 <= t0:
        raise ValueError(f"window must have t1 > t0, got t0={t0}, t1={t1}")
    logged_until = int(end_cycles if log_end is None else min(log_end, end_cycles))
    cpu, state, start, end = _state_runs(events, n_cpus, logged_until)
    inside = (end > t0) & (start < t1)
    cpu, state = cpu[inside], state[inside]
    start, end = np.maximum(start[inside], t0), np.minimum(end[inside], t1)
    if len(cpu) <= max_segments:
        return {"cpu": cpu, "state": state, "start": start, "end": end, "exact": True,
                "logged_until": logged_until}
    n_cols = max(1, min(4000, max_segments // max(n_cpus, 1)))
    while True:
        seg = _proportional_columns(cpu, state, start, end, n_cpus, t0, t1, n_cols)
        if len(seg["cpu"]) <= max_segments or n_cols == 1:
            break
        n_cols = max(1, int(n_cols * 0.7))
    # One column per lane can still hold every state: the budget wins (rare:
    # hundreds of CPUs with a tiny budget); the lanes then show their first states.
    seg = {k: v[:max_segments] for k, v in seg.items()}
    seg.update(exact=False, logged_until=logged_until)
    return seg


def _proportional_columns(cpu, state, start, end, n_cpus, t0, t1, n_cols):
    """Cut [t0, t1) into ``n_cols`` columns; split each lane's column among its
    states in proportion to their time there (see :func:`lane_segments`).

    Input runs are disjoint per lane and clipped to the window.
    """
    n_states = len(STATE_NAMES)
    edges = t0 + (np.arange(n_cols + 1, dtype=np.int64) * (t1 - t0)) // n_cols
    # Time each lane spent in each state before each edge (cumulative), from
    # runs sorted by (cpu, start): occupied[l, k, s] = cycles of state s in
    # lane l during [t0, edges[k]).
    order = np.lexsort((start, cpu))
    cpu, state, start, end = cpu[order], state[order], start[order], end[order]
    length = end - start
    span = np.int64(t1 - t0 + 1)
    key = cpu * span + (start - t0)
    per_state = np.zeros((len(cpu) + 1, n_states), dtype=np.int64)
    per_state[np.arange(1, len(cpu) + 1), state] = length
    before = np.cumsum(per_state, axis=0)          # before[i]: runs 0..i-1
    lanes = np.arange(n_cpus, dtype=np.int64)
    lane_first = np.searchsorted(key, lanes * span, side="left")
    q = lanes[:, None] * span + (edges - t0)[None, :]
    idx = np.searchsorted(key, q, side="right") - 1          # last run starting <= edge
    has = idx >= lane_first[:, None]
    i = np.where(has, idx, 0)
    occupied = before[i] - before[lane_first][:, None, :]
    partial = np.clip(edges[None, :] - start[i], 0, length[i])
    occupied[~has] = 0
    li, ki = np.nonzero(has)
    occupied[li, ki, state[i[li, ki]]] += partial[li, ki]
    in_col = np.diff(occupied, axis=1)                       # (lane, col, state)
    # Alternate the state order per column so a state spanning an edge merges.
    forward = np.arange(n_states, dtype=np.int64)
    ordered = np.where((np.arange(n_cols) % 2 == 0)[None, :, None],
                       in_col[:, :, forward], in_col[:, :, forward[::-1]])
    state_of = np.where((np.arange(n_cols) % 2 == 0)[:, None], forward[None, :],
                        forward[::-1][None, :])              # (col, slot)
    offset = np.cumsum(ordered, axis=2) - ordered            # start within the column
    lane_i, col_i, slot_i = np.nonzero(ordered > 0)
    seg_start = edges[col_i] + offset[lane_i, col_i, slot_i]
    seg_end = seg_start + ordered[lane_i, col_i, slot_i]
    seg_state = state_of[col_i, slot_i]
    # Merge a segment into the previous one when it continues it exactly.
    cont = np.r_[False, (lane_i[1:] == lane_i[:-1]) & (seg_state[1:] == seg_state[:-1])
                 & (seg_start[1:] == seg_end[:-1])]
    group = np.cumsum(~cont) - 1
    heads = np.flatnonzero(~cont)
    merged_end = np.zeros(len(heads), dtype=np.int64)
    np.maximum.at(merged_end, group, seg_end)
    return {"cpu": lane_i[heads].astype(np.int64), "state": seg_state[heads].astype(np.int64),
            "start": seg_start[heads].astype(np.int64), "end": merged_end}


def separable_marks(times, min_gap):
    """Which marks (arrows, markers) can be told apart: those at least
    ``min_gap`` from both neighbours in time (``times`` in any unit and
    order, ``min_gap`` in the same unit).

    Returns a boolean mask over ``times``.  A crowd of marks close together
    (a broadcast to 63 CPUs) is left out whole rather than drawn as a black
    mass; the caller says how many were left out.
    """
    times = np.asarray(times, dtype=np.float64)
    if len(times) == 0:
        return np.zeros(0, dtype=bool)
    order = np.argsort(times, kind="stable")
    s = times[order]
    gap = np.diff(s)
    far_left = np.r_[True, gap >= min_gap]
    far_right = np.r_[gap >= min_gap, True]
    mask = np.empty(len(times), dtype=bool)
    mask[order] = far_left & far_right
    return mask


def ipi_arrows(events, t0, t1, max_arrows=DEFAULT_MAX_POINTS):
    """IPIs sent or arriving within cycles ``[t0, t1]``, as arrows.

    Pairs the k-th EV_IPI_SEND from CPU a to CPU b with the k-th EV_IPI_ARRIVE
    at b from a (IPIs between one pair arrive in the order sent; an arrival
    names no shootdown, since one IPI may serve several).  Returns int64 arrays ``sender``,
    ``target``, ``sent``, ``arrived`` (cycles); an IPI whose arrival is not in
    the log has ``arrived == -1``.  At most ``max_arrows`` arrows, evenly
    thinned when there are more.
    """
    sends = events[events["kind"] == EV_IPI_SEND]
    arrives = events[events["kind"] == EV_IPI_ARRIVE]

    def ranked(sd, a, b, t):
        # Key per (shootdown, sender, target) plus the IPI's rank within it.
        key = np.stack([sd, a, b]).T.astype(np.int64)
        order = np.lexsort((t, key[:, 2], key[:, 1], key[:, 0]))
        k = key[order]
        new = np.r_[True, np.any(k[1:] != k[:-1], axis=1)] if len(k) else np.zeros(0, bool)
        first = np.maximum.accumulate(np.where(new, np.arange(len(k)), 0)) if len(k) else k[:, 0]
        rank = np.arange(len(k)) - first
        return order, np.column_stack([k, rank]) if len(k) else np.zeros((0, 4), np.int64)

    s_order, s_key = ranked(np.zeros(len(sends), np.int64), sends["cpu"], sends["other"],
                            sends["time"])
    a_order, a_key = ranked(np.zeros(len(arrives), np.int64), arrives["other"],
                            arrives["cpu"], arrives["time"])
    sent = sends["time"][s_order].astype(np.int64)
    arrived = np.full(len(sent), -1, dtype=np.int64)
    if len(a_key) and len(s_key):
        # Match each send's (sender, target, rank) among the arrivals'.  Both
        # key lists are sorted and unique (rank counts within a pair), so one
        # integer code per key and a binary search match them.
        n_cpus = int(max(s_key[:, 1:3].max(), a_key[:, 1:3].max())) + 1
        n_ranks = int(max(s_key[:, 3].max(), a_key[:, 3].max())) + 1

        def code(k):
            return (k[:, 1] * n_cpus + k[:, 2]) * n_ranks + k[:, 3]

        a_code, s_code = code(a_key), code(s_key)
        at = np.minimum(np.searchsorted(a_code, s_code), len(a_code) - 1)
        arrived = np.where(a_code[at] == s_code,
                           arrives["time"][a_order].astype(np.int64)[at], np.int64(-1))
    sender = s_key[:, 1] if len(s_key) else np.zeros(0, np.int64)
    target = s_key[:, 2] if len(s_key) else np.zeros(0, np.int64)
    shown_end = np.where(arrived >= 0, arrived, sent)
    inside = (shown_end >= t0) & (sent <= t1)
    out = {"sender": sender[inside], "target": target[inside],
           "sent": sent[inside], "arrived": arrived[inside]}
    n = len(out["sent"])
    if n > max_arrows:
        pick = np.linspace(0, n - 1, max_arrows).astype(np.int64)
        out = {k: v[pick] for k, v in out.items()}
    return out


# ---- scaling ------------------------------------------------------------------

def scaling_series(rows, protocols, y_field):
    """Mean of ``y_field`` per (protocol, CPU count) from a sweep's rows.

    ``rows`` is the structured array ``tw.sweep`` returns (columns ``protocol``,
    ``cpus`` and the numeric summary keys).  Returns ``(cpus, values)`` where
    ``cpus`` is the sorted distinct CPU counts and ``values`` has shape
    ``(len(protocols), len(cpus))``, NaN where a combination is missing.
    """
    rows = np.asarray(rows)      # a plain array: no subclass leaks into chart data
    if y_field not in rows.dtype.names:
        raise ValueError(f"y_field={y_field!r} is not a sweep column; columns: "
                         f"{list(rows.dtype.names)}")
    cpus = np.unique(rows["cpus"]).astype(np.int64)
    values = np.full((len(protocols), len(cpus)), np.nan)
    for i, p in enumerate(protocols):
        for j, c in enumerate(cpus):
            sel = (rows["protocol"] == p) & (rows["cpus"] == c)
            if sel.any():
                values[i, j] = float(np.mean(rows[y_field][sel].astype(np.float64)))
    return cpus, values


# ---- stepper --------------------------------------------------------------------

TLB_NONE, TLB_VALID, TLB_STALE, TLB_INVALIDATED = 0, 1, 2, 3
"""Stepper TLB cell codes: not cached, valid, stale, invalidated by the shootdown."""
ACK_UNKNOWN, ACK_FALSE, ACK_TRUE = 0, 1, 2
"""Stepper ACK flag codes (unknown = no ACK event seen yet in this run)."""


@dataclass(frozen=True)
class StepperFrames:
    """Machine state after each step of a stretch of the event log.

    Step ``k`` is ``events[k]``; ``*[k]`` arrays hold the state right after it.
    Step 0 is the first event of the shootdown stretch, so walking from the
    last step back to 0 returns to the state at its start.

    Fields (``n`` steps, ``c`` CPUs, ``p`` pages shown):

    * ``events``: EVENT_DTYPE rows, shape (n,)
    * ``state``: int64 (n, c), ST_* code of each CPU
    * ``queue``: int64 (n, c), ops waiting in each CPU's mailbox
    * ``ack``: int64 (n, c), ACK_* code of each CPU's flag
    * ``pending_ipi``: int64 (n, c), sender of an IPI in flight to or waiting
      at each CPU, -1 if none
    * ``tlb``: int64 (n, c, p), TLB_* code of each shown page in each TLB
    * ``vpns``: int64 (p,), the pages shown
    * ``shootdowns``: int64, ids of the shootdowns the stretch covers
    """

    events: np.ndarray
    state: np.ndarray
    queue: np.ndarray
    ack: np.ndarray
    pending_ipi: np.ndarray
    tlb: np.ndarray
    vpns: np.ndarray
    shootdowns: np.ndarray

    def __len__(self):
        return len(self.events)


def involved_shootdowns(shootdowns, shootdown_id):
    """Ids of shootdown ``shootdown_id`` and of every shootdown overlapping it in time.

    Races need the other initiator in view: if B runs while A waits, the
    stepper must show both.  Raises ValueError for an unknown id.
    """
    row = shootdowns[shootdowns["id"] == shootdown_id]
    if len(row) == 0:
        raise ValueError(f"shootdown={shootdown_id!r} is not in this run; ids run from "
                         f"{int(shootdowns['id'].min()) if len(shootdowns) else 'none'} to "
                         f"{int(shootdowns['id'].max()) if len(shootdowns) else 'none'}")
    start = row["start"][0]
    stop = max(row["end"][0], row["safe"][0])
    stop = stop if stop >= 0 else np.iinfo(np.int64).max
    ends = np.maximum(shootdowns["end"], shootdowns["safe"])
    ends = np.where(ends < 0, np.iinfo(np.int64).max, ends)
    overlap = (shootdowns["start"] <= stop) & (ends >= start)
    return np.unique(np.r_[shootdowns["id"][overlap], shootdown_id]).astype(np.int64)


def stepper_frames(events, shootdowns, windows, n_cpus, shootdown_id,
                   max_steps=400, max_pages=8):
    """Reconstruct the machine, step by step, around one shootdown.

    The stretch runs from the first event of shootdown ``shootdown_id`` (or of
    any shootdown overlapping it) to the last event of any of them; every
    event in that time span is a step, whichever CPU logged it.  State before
    the stretch (each CPU's state, mailbox length, ACK flag) is recovered
    from the earlier log.  TLB cells come from the staleness windows: a
    page whose window opened is stale until the window closes, then
    invalidated; a CPU without a window for that page never held it.

    At most ``max_steps`` steps and ``max_pages`` pages (the lowest vpns of
    the involved shootdowns' windows).  Raises ValueError when the id is
    unknown or the log holds none of its events (e.g. truncated).
    """
    ids = involved_shootdowns(shootdowns, shootdown_id)
    mine = np.isin(events["shootdown"], ids)
    if not mine.any():
        raise ValueError(f"the event log holds no event of shootdown {shootdown_id} "
                         f"(log truncated? raise max_log_rows)")
    order = np.argsort(events["time"], kind="stable")
    ev_sorted = events[order]
    mine_sorted = mine[order]
    first = int(np.flatnonzero(mine_sorted)[0])
    last = int(np.flatnonzero(mine_sorted)[-1])
    # Events logged at the same instant as the last one belong to the stretch too.
    last = int(np.searchsorted(ev_sorted["time"], ev_sorted["time"][last], side="right")) - 1
    stretch = ev_sorted[first:last + 1][:max_steps]
    before = ev_sorted[:first]

    state = np.full(n_cpus, ST_USER, dtype=np.int64)
    queue = np.zeros(n_cpus, dtype=np.int64)
    ack = np.full(n_cpus, ACK_UNKNOWN, dtype=np.int64)
    pending = np.full(n_cpus, -1, dtype=np.int64)
    for e in before[np.isin(before["kind"], (EV_STATE, EV_PUSH, EV_OVERFLOW, EV_DRAIN,
                                               EV_ACK_CLEAR, EV_ACK_STORE, EV_IPI_SEND,
                                               EV_IPI_TAKE))]:
        _apply(e, state, queue, ack, pending)

    w = windows[np.isin(windows["shootdown"], ids)]
    vpns = np.unique(w["vpn"])[:max_pages].astype(np.int64)
    if len(vpns) == 0:
        row = shootdowns[shootdowns["id"] == shootdown_id][0]
        vpns = np.arange(row["vpn"], row["vpn"] + min(int(row["pages"]), max_pages),
                         dtype=np.int64)
    w = w[np.isin(w["vpn"], vpns)]
    col = np.searchsorted(vpns, w["vpn"])
    w_end = np.where(w["end"] < 0, np.iinfo(np.int64).max, w["end"])

    n = len(stretch)
    out_state = np.empty((n, n_cpus), np.int64)
    out_queue = np.empty((n, n_cpus), np.int64)
    out_ack = np.empty((n, n_cpus), np.int64)
    out_pending = np.empty((n, n_cpus), np.int64)
    out_tlb = np.full((n, n_cpus, len(vpns)), TLB_NONE, np.int64)
    for k, e in enumerate(stretch):
        _apply(e, state, queue, ack, pending)
        out_state[k], out_queue[k], out_ack[k], out_pending[k] = state, queue, ack, pending
        t = e["time"]
        # The step's position in the log decides ties: a window opened by
        # this very step counts as stale; one closed by it as invalidated.
        code = np.where(t < w["start"], TLB_VALID,
                        np.where(t < w_end, TLB_STALE, TLB_INVALIDATED))
        out_tlb[k, w["cpu"], col] = code
    return StepperFrames(events=stretch.copy(), state=out_state, queue=out_queue,
                         ack=out_ack, pending_ipi=out_pending, tlb=out_tlb,
                         vpns=vpns, shootdowns=ids)


def _apply(e, state, queue, ack, pending):
    """Advance the stepper's per-CPU state by one event (in place)."""
    kind, cpu, other = int(e["kind"]), int(e["cpu"]), int(e["other"])
    if kind == EV_STATE:
        state[cpu] = int(e["arg"])
    elif kind == EV_PUSH:
        queue[other] = int(e["arg"])
    elif kind == EV_OVERFLOW:
        queue[other] = 1            # the whole queue became one Full op
    elif kind == EV_DRAIN:
        queue[cpu] = 0
    elif kind == EV_ACK_CLEAR:
        ack[other] = ACK_FALSE
    elif kind == EV_ACK_STORE:
        ack[cpu] = ACK_TRUE
    elif kind == EV_IPI_SEND:
        pending[other] = cpu
    elif kind == EV_IPI_TAKE:
        pending[cpu] = -1


_STATE_VERBS = {
    ST_USER: "returns to user code",
    ST_HANDLER: "is now in its IPI handler",
    ST_WAIT: "starts spinning (waiting)",
    ST_IRQ_OFF: "disables interrupts (IPIs must wait)",
    ST_IDLE: "goes idle",
    ST_KERNEL: "enters the kernel to do shootdown work",
    ST_DONE: "has finished its work",
}


def narrate(event, clock_ghz, kinds_by_shootdown=None):
    """One plain-English sentence for one EVENT_DTYPE row.

    ``kinds_by_shootdown`` maps shootdown id -> "page" | "range" | "full" so a
    push can say what it carries ("a Range op").  The sentence starts with
    the time in µs and cycles, so a learner can match it to the timeline.
    """
    kind, c, o = int(event["kind"]), int(event["cpu"]), int(event["other"])
    sd, arg = int(event["shootdown"]), int(event["arg"])
    t = int(event["time"])
    what = (kinds_by_shootdown or {}).get(sd, "flush")
    op = what.capitalize() + " op" if what != "flush" else "flush op"

    def sd_kind(code):
        return SD_KIND_NAMES[code] if 0 <= code < len(SD_KIND_NAMES) else "?"

    text = {
        EV_STATE: lambda: f"CPU {c} {_STATE_VERBS.get(arg, f'enters state {arg}')}.",
        EV_PTE_CHANGE: lambda: (f"CPU {c} changes the page-table entries of {arg} page(s) "
                                f"(shootdown #{sd} begins): every TLB copy of them is now "
                                f"stale."),
        EV_LOCAL_FLUSH: lambda: f"CPU {c} flushes its own TLB first ({sd_kind(arg)} flush).",
        EV_PUSH: lambda: (f"CPU {c} pushes a {op} into CPU {o}'s mailbox "
                          f"({arg} op(s) queued)."),
        EV_OVERFLOW: lambda: (f"CPU {o}'s mailbox is full: CPU {c}'s push replaces the whole "
                              f"queue with one Full flush."),
        EV_ACK_CLEAR: lambda: f"CPU {c} clears CPU {o}'s ACK flag.",
        EV_IPI_SEND: lambda: f"CPU {c} sends an IPI to CPU {o}.",
        EV_IPI_ARRIVE: lambda: (f"The IPI from CPU {o} reaches CPU {c}"
                                + (", but it must wait: interrupts are off or a handler "
                                   "is running." if arg else ".")),
        EV_IPI_TAKE: lambda: f"CPU {c} takes the interrupt and enters its handler.",
        EV_DRAIN: lambda: f"CPU {c} drains its mailbox ({arg} op(s)).",
        EV_INVALIDATE: lambda: (f"CPU {c} performs a {sd_kind(arg)} invalidation: its stale "
                                f"entries for shootdown #{sd} are gone."),
        EV_ACK_STORE: lambda: f"CPU {c} stores its ACK (= done).",
        EV_ACK_SEEN: lambda: f"CPU {c} sees CPU {o}'s ACK.",
        EV_TIMEOUT: lambda: (f"CPU {c} gives up waiting for CPU {o} and carries on: CPU {o} "
                             f"may still hold stale entries."),
        EV_RETURN: lambda: f"CPU {c} returns from shootdown #{sd}.",
        EV_STALE_HIT: lambda: (f"CPU {c} reads page {arg} through a stale TLB entry (before "
                               f"the safe time: a transient stale hit)."),
        EV_VIOLATION: lambda: (f"VIOLATION: CPU {c} uses a stale translation of page {arg} "
                               f"after shootdown #{sd} declared it safe to reuse."),
        EV_SAFE: lambda: f"Shootdown #{sd}'s pages may be reused from now on.",
        EV_WARNING: lambda: (f"Shootdown #{sd}: a range with end <= start was turned into "
                             f"a Full flush."),
        EV_APPLY: lambda: f"CPU {c} applies its pending flushes ({sd_kind(arg)}).",
        EV_LOCK_WAIT: lambda: f"CPU {c} finds a lock held and waits {arg} cycles.",
    }.get(kind, lambda: f"CPU {c}: event {kind}.")()
    return f"t = {cycles_to_us(t, clock_ghz):.3f} µs (cycle {t}): {text}"


EVIDENCE_KINDS = {"violation": EV_VIOLATION, "timeout": EV_TIMEOUT, "overflow": EV_OVERFLOW}
"""What shows a hazard -> the event kind that logs it: a stale translation used
after the safe time, an initiator giving up on a target, a mailbox overflowing
into a Full flush."""


def _evidence_kind(evidence):
    if evidence not in EVIDENCE_KINDS:
        raise ValueError(f"evidence={evidence!r} is not one of {list(EVIDENCE_KINDS)}")
    return EVIDENCE_KINDS[evidence]


def evidence_shootdown(events, evidence):
    """Id of the shootdown of the earliest ``evidence`` event in ``events``
    (an EVENT_DTYPE log), or None when the log holds none."""
    ev = events[events["kind"] == _evidence_kind(evidence)]
    return int(ev["shootdown"][np.argmin(ev["time"])]) if len(ev) else None


def evidence_step(frames, evidence):
    """Index of the first step of ``frames`` (:class:`StepperFrames`) that
    logs ``evidence``, or None when the stretch shown holds none."""
    hits = np.flatnonzero(frames.events["kind"] == _evidence_kind(evidence))
    return int(hits[0]) if len(hits) else None


def step_at_time(frames, time_cycles):
    """Index of the last step of ``frames`` at or before ``time_cycles`` (0
    if the stretch starts later): where another run stands at that instant."""
    return max(int(np.searchsorted(frames.events["time"], time_cycles, side="right")) - 1, 0)
