"""``Result``: the tables and exact counts of one simulation.

Tables are NumPy structured arrays (dtypes in ``_tables.py``).  The shootdown
and per-CPU tables are always complete; the deliveries, stale-window,
violation and event logs are capped (``max_log_rows``, ``max_log_events``)
and ``truncated`` says whether any was cut.  ``summary()`` counts are exact
either way: the engine keeps them in counters, not by counting log rows.
"""

import json
from functools import cached_property

import numpy as np

from . import _tables as T
from ._deliveries import join_deliveries
from .engine import _layout as L

__all__ = ["Result", "SUMMARY_TYPES"]

# The keys of Result.summary(), in its order, with the type of each value
# (float values may be NaN; ``outcome`` is one of _tables.OUTCOME_NAMES).
# Sweep checkpoints are checked against it; tests/test_sweep_robustness.py keeps it
# in step with summary().
_FLOATS = ("latency_cycles_median", "latency_cycles_p99", "latency_us_median",
           "latency_us_p99", "stale_window_cycles_mean", "reuse_delay_cycles_mean")
SUMMARY_TYPES = {k: (float if k in _FLOATS else str if k == "outcome" else int) for k in (
    "shootdowns", "ipis", "deliveries", "latency_cycles_median", "latency_cycles_p99",
    "latency_us_median", "latency_us_p99", "stale_window_cycles_mean",
    "reuse_delay_cycles_mean", "lazy_skipped", "stale_windows", "stale_open_at_end",
    "transient_stale_hits", "violations", "timeouts", "full_flushes", "queue_overflows",
    "warnings", "coalesced_ipis", "accesses", "tlb_misses", "handler_cycles",
    "wait_cycles", "events", "sim_cycles", "outcome")}


# Rows per block when a table is assembled: the engine's rows and the
# structured table of one block stay in cache across the per-field copies
# (about twice as fast as whole-column copies on 1,000,000 deliveries).
_BLOCK_ROWS = 4096


def _table(dtype, rows, columns):
    """A structured table of ``dtype`` with one row per row of ``rows``.

    ``columns`` maps each field to how it is read from a block of ``rows``:
    an int (that column of the engine's table) or a function of the block
    and the index of its first row.  Fields not named stay zero."""
    n = len(rows)
    out = np.zeros(n, dtype=dtype)
    for lo in range(0, n, _BLOCK_ROWS):
        block = rows[lo:lo + _BLOCK_ROWS]
        dst = out[lo:lo + _BLOCK_ROWS]
        for name, col in columns.items():
            dst[name] = block[:, col] if isinstance(col, int) else col(block, lo)
    return out


def _logged(table, n):
    """The first ``n`` rows of an engine log, without pinning much more memory
    than they need: a view when they fill at least half of the log, else a
    copy (so a short log does not keep a long, mostly empty table alive)."""
    rows = table[:n]
    return rows if 2 * n >= len(table) else rows.copy()


# Columns of Result._cpu: the socket, then the ST_* cycles, then the CNT_* counts.
_CPU_CYCLES = 1
_CPU_COUNTS = _CPU_CYCLES + 7


def _row_ids(block, lo):
    return np.arange(lo, lo + len(block))


def _part(column):
    """A field read from ``column``, one value per row of the table."""
    return lambda block, lo: column[lo:lo + len(block)]


def _names(names, col):
    names = np.array(names)
    return lambda block, lo: names[block[:, col]]


class Result:
    """Everything one run produced; see DESIGN.md section 5.

    Attributes: ``config`` (every input, echoed), ``costs``, ``outcome``,
    ``sim_cycles``, ``truncated``, ``truncated_logs``, ``shootdowns``,
    ``deliveries``, ``stale_windows``, ``violations``, ``cpu_stats``,
    ``events``.

    The tables are assembled from the engine's rows on first access and then
    kept (``functools.cached_property``): a run whose caller only wants
    ``summary()`` does not pay for a million-row delivery log.  The values do
    not depend on when, or whether, a table is first read.
    """

    def __init__(self, config, costs, machine, state):
        self.config = config
        self.costs = costs
        k = state.counters
        self._counters = k.copy()
        self.outcome = T.OUTCOME_NAMES[int(k[L.K_OUTCOME])]
        self.sim_cycles = int(k[L.K_LAST_TIME])
        self.truncated = bool(k[L.K_TRUNC])
        self.truncated_logs = tuple(
            name for bit, name in ((1, "events"), (2, "deliveries"), (4, "stale_windows"),
                                   (8, "violations")) if k[L.K_TRUNC] & bit)
        # The engine's rows the tables are made of; the state itself is not
        # kept (its TLBs, heap and unused log rows are dropped with it).
        n = int(machine.params[L.P_NCPU])
        self._sd = _logged(state.sd, int(k[L.K_NSD]))
        self._dv = _logged(state.dv, int(k[L.K_NDELIV]))
        # The stage records as a view even when they fill little of their
        # table: it is sized for the most records a logged row can cause,
        # several times what a run writes, so a copy would be the rule, not
        # the exception; and the engine never writes past the count, so in
        # a large table (np.zeros, mapped lazily by the OS) those pages hold
        # no memory.
        self._lg = state.lg[:int(k[L.K_NSTAGE])]
        self._wn = _logged(state.wn, int(k[L.K_NWIN]))
        self._vi = _logged(state.vi, int(k[L.K_NVIOL]))
        self._ev = _logged(state.ev, int(k[L.K_NEV]))
        self._cpu = np.empty((n, _CPU_COUNTS + 8), dtype=np.int64)
        self._cpu[:, 0] = machine.topo[:, L.T_SOCKET]
        self._cpu[:, _CPU_CYCLES:_CPU_COUNTS] = state.cpu[:, L.CYC:L.CYC + 7]
        self._cpu[:, _CPU_COUNTS:] = state.cpu[:, L.CNT:L.CNT + 8]

    @cached_property
    def shootdowns(self):
        return _table(T.SHOOTDOWN_DTYPE, self._sd, {
            "id": _row_ids, "initiator": L.S_INIT, "start": L.S_START,
            "end": L.S_END, "safe": L.S_SAFE, "vpn": L.S_VPN, "pages": L.S_PAGES,
            "flushed_pages": L.S_FLUSH_PAGES,
            "kind": _names(T.SD_KIND_NAMES, L.S_KIND), "op": _names(T.OP_NAMES, L.S_OP),
            "targets": L.S_TARGETS, "ipis": L.S_IPIS, "timed_out": L.S_TIMEOUTS,
            "upgraded": lambda block, lo: block[:, L.S_UPGRADED].astype(bool),
            "local_cycles": L.S_LOCAL, "dispatch_cycles": L.S_DISPATCH,
            "ipi_cycles": L.S_IPI, "wait_cycles": L.S_WAIT,
            "serve_cycles": L.S_SERVE, "lock_cycles": L.S_LOCK,
        })

    @cached_property
    def deliveries(self):
        # The engine logs each stage as a record of its own (_deliveries);
        # they are joined to the rows here, once, with NumPy.
        joined = join_deliveries(self._dv, self._lg)
        return _table(T.DELIVERY_DTYPE, self._dv, {
            "shootdown": L.DV_SD, "cpu": L.DV_CPU,
            **{name: _part(col) for name, col in joined.items()},
        })

    @cached_property
    def stale_windows(self):
        return _table(T.WINDOW_DTYPE, self._wn, {
            "shootdown": L.WN_SD, "cpu": L.WN_CPU, "vpn": L.WN_VPN,
            "start": L.WN_START, "end": L.WN_END,
        })

    @cached_property
    def violations(self):
        return _table(T.VIOLATION_DTYPE, self._vi, {
            "time": L.VI_TIME, "cpu": L.VI_CPU, "vpn": L.VI_VPN, "shootdown": L.VI_SD,
        })

    @cached_property
    def cpu_stats(self):
        cyc, cnt = _CPU_CYCLES, _CPU_COUNTS
        return _table(T.CPU_STATS_DTYPE, self._cpu, {
            "cpu": _row_ids, "socket": 0,
            "user": cyc + T.ST_USER, "handler": cyc + T.ST_HANDLER,
            "wait": cyc + T.ST_WAIT, "kernel": cyc + T.ST_KERNEL,
            "irq_off": cyc + T.ST_IRQ_OFF, "idle": cyc + T.ST_IDLE,
            "accesses": cnt + L.CNT_ACCESSES, "tlb_hits": cnt + L.CNT_HITS,
            "tlb_misses": cnt + L.CNT_MISSES, "full_flushes": cnt + L.CNT_FULL_FLUSHES,
            "stale_hits": cnt + L.CNT_STALE_HITS, "violations": cnt + L.CNT_VIOLATIONS,
            "ipis_received": cnt + L.CNT_IPIS,
        })

    @cached_property
    def events(self):
        return _table(T.EVENT_DTYPE, self._ev, {
            "time": L.E_TIME, "cpu": L.E_CPU, "kind": L.E_KIND, "other": L.E_OTHER,
            "shootdown": L.E_SD, "arg": L.E_ARG,
        })

    # -- derived -------------------------------------------------------------------
    # (read from the engine's rows, the same values as the shootdowns table
    # holds, so that summary() does not have to assemble any table)
    def latencies_cycles(self):
        """Initiator latency (return - start) of every shootdown that returned."""
        end, start = self._sd[:, L.S_END], self._sd[:, L.S_START]
        done = end >= 0
        return (end[done] - start[done]).astype(np.int64)

    def _reuse_delay_mean(self):
        """Mean cycles a shootdown's pages stayed unusable after the initiator
        returned (safe - end): zero for synchronous protocols, the price of
        laziness for ``latr``."""
        end, safe = self._sd[:, L.S_END], self._sd[:, L.S_SAFE]
        done = (end >= 0) & (safe >= 0)
        return float(np.mean(safe[done] - end[done])) if done.any() else float("nan")

    def summary(self):
        """Headline numbers; every count is exact even if a log was cut."""
        k = self._counters
        lat = self.latencies_cycles()
        to_us = 1.0 / (self.costs.clock_ghz * 1e3)
        med = float(np.median(lat)) if lat.size else float("nan")
        p99 = float(np.percentile(lat, 99)) if lat.size else float("nan")
        closed = int(k[L.K_WIN_CLOSED])
        return {
            "shootdowns": int(k[L.K_NSD]),
            "ipis": int(k[L.K_IPIS]),
            "deliveries": int(k[L.K_DELIVERIES]),
            "latency_cycles_median": med,
            "latency_cycles_p99": p99,
            "latency_us_median": med * to_us,
            "latency_us_p99": p99 * to_us,
            "stale_window_cycles_mean": (float(k[L.K_WIN_CYCLES]) / closed) if closed
            else float("nan"),
            "reuse_delay_cycles_mean": self._reuse_delay_mean(),
            "lazy_skipped": int(k[L.K_LAZY_SKIPPED]),
            "stale_windows": int(k[L.K_WIN_OPENED]),
            "stale_open_at_end": int(k[L.K_STALE_OPEN]),
            "transient_stale_hits": int(k[L.K_STALE_HITS]),
            "violations": int(k[L.K_VIOLATIONS]),
            "timeouts": int(k[L.K_TIMEOUTS]),
            "full_flushes": int(k[L.K_FULL_FLUSHES]),
            "queue_overflows": int(k[L.K_OVERFLOWS]),
            "warnings": int(k[L.K_WARNINGS]),
            "coalesced_ipis": int(k[L.K_COALESCED]),
            "accesses": int(k[L.K_ACCESSES]),
            "tlb_misses": int(k[L.K_MISSES]),
            "handler_cycles": int(k[L.K_HANDLER_CYCLES]),
            "wait_cycles": int(self._cpu[:, _CPU_CYCLES + T.ST_WAIT].sum()),
            "events": int(k[L.K_EVENTS]),
            "sim_cycles": self.sim_cycles,
            "outcome": self.outcome,
        }

    def to_json(self, indent=None):
        """``summary()`` plus ``config`` as JSON (NaN written as null)."""
        def clean(v):
            if isinstance(v, float) and v != v:
                return None
            if isinstance(v, tuple):
                return list(v)
            if isinstance(v, (np.integer,)):
                return int(v)
            if hasattr(v, "params") and hasattr(v, "name"):  # a custom Workload
                return {"custom_workload": v.name, **v.params}
            return v
        cfg = {k: clean(v) for k, v in self.config.items()}
        summ = {k: clean(v) for k, v in self.summary().items()}
        return json.dumps({"config": cfg, "summary": summ}, indent=indent)

    def __repr__(self):
        s = self.summary()
        return (f"<Result {self.config['protocol']} cpus={self.config['cpus']} "
                f"outcome={s['outcome']} shootdowns={s['shootdowns']} "
                f"violations={s['violations']} latency_median={s['latency_cycles_median']:.0f} cycles>")
