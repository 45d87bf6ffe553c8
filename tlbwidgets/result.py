"""``Result``: the tables and exact counts of one simulation.

Tables are NumPy structured arrays (dtypes in ``_tables.py``).  The shootdown
and per-CPU tables are always complete; the deliveries, stale-window,
violation and event logs are capped (``max_log_rows``, ``max_log_events``)
and ``truncated`` says whether any was cut.  ``summary()`` counts are exact
either way: the engine keeps them in counters, not by counting log rows.
"""

import json

import numpy as np

from . import _tables as T
from .engine import _layout as L

__all__ = ["Result"]


def _table(dtype, n, columns):
    out = np.zeros(n, dtype=dtype)
    for name, col in columns.items():
        out[name] = col[:n]
    return out


class Result:
    """Everything one run produced; see DESIGN.md section 5.

    Attributes: ``config`` (every input, echoed), ``costs``, ``outcome``,
    ``sim_cycles``, ``truncated``, ``shootdowns``, ``deliveries``,
    ``stale_windows``, ``violations``, ``cpu_stats``, ``events``.
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
        nsd = int(k[L.K_NSD])
        sd = state.sd[:nsd]
        self.shootdowns = _table(T.SHOOTDOWN_DTYPE, nsd, {
            "id": np.arange(nsd), "initiator": sd[:, L.S_INIT], "start": sd[:, L.S_START],
            "end": sd[:, L.S_END], "safe": sd[:, L.S_SAFE], "vpn": sd[:, L.S_VPN],
            "pages": sd[:, L.S_PAGES],
            "kind": np.array(T.SD_KIND_NAMES)[sd[:, L.S_KIND]],
            "op": np.array(T.OP_NAMES)[sd[:, L.S_OP]],
            "targets": sd[:, L.S_TARGETS], "ipis": sd[:, L.S_IPIS],
            "timed_out": sd[:, L.S_TIMEOUTS], "upgraded": sd[:, L.S_UPGRADED].astype(bool),
            "local_cycles": sd[:, L.S_LOCAL], "dispatch_cycles": sd[:, L.S_DISPATCH],
            "ipi_cycles": sd[:, L.S_IPI], "wait_cycles": sd[:, L.S_WAIT],
        })
        dv = state.dv[:int(k[L.K_NDELIV])]
        self.deliveries = _table(T.DELIVERY_DTYPE, len(dv), {
            "shootdown": dv[:, L.DV_SD], "cpu": dv[:, L.DV_CPU],
            "pushed": dv[:, L.DV_PUSHED], "ipi_sent": dv[:, L.DV_IPI],
            "handler_start": dv[:, L.DV_HANDLER], "flushed": dv[:, L.DV_FLUSHED],
            "acked": dv[:, L.DV_ACKED],
        })
        wn = state.wn[:int(k[L.K_NWIN])]
        self.stale_windows = _table(T.WINDOW_DTYPE, len(wn), {
            "shootdown": wn[:, L.WN_SD], "cpu": wn[:, L.WN_CPU], "vpn": wn[:, L.WN_VPN],
            "start": wn[:, L.WN_START], "end": wn[:, L.WN_END],
        })
        vi = state.vi[:int(k[L.K_NVIOL])]
        self.violations = _table(T.VIOLATION_DTYPE, len(vi), {
            "time": vi[:, L.VI_TIME], "cpu": vi[:, L.VI_CPU], "vpn": vi[:, L.VI_VPN],
            "shootdown": vi[:, L.VI_SD],
        })
        n = int(machine.params[L.P_NCPU])
        cyc = state.cpu[:, L.CYC:L.CYC + 7]
        cnt = state.cpu[:, L.CNT:L.CNT + 8]
        self.cpu_stats = _table(T.CPU_STATS_DTYPE, n, {
            "cpu": np.arange(n), "socket": machine.topo[:, L.T_SOCKET],
            "user": cyc[:, T.ST_USER], "handler": cyc[:, T.ST_HANDLER],
            "wait": cyc[:, T.ST_WAIT], "kernel": cyc[:, T.ST_KERNEL],
            "irq_off": cyc[:, T.ST_IRQ_OFF], "idle": cyc[:, T.ST_IDLE],
            "accesses": cnt[:, L.CNT_ACCESSES], "tlb_hits": cnt[:, L.CNT_HITS],
            "tlb_misses": cnt[:, L.CNT_MISSES], "full_flushes": cnt[:, L.CNT_FULL_FLUSHES],
            "stale_hits": cnt[:, L.CNT_STALE_HITS], "violations": cnt[:, L.CNT_VIOLATIONS],
            "ipis_received": cnt[:, L.CNT_IPIS],
        })
        ev = state.ev[:int(k[L.K_NEV])]
        self.events = _table(T.EVENT_DTYPE, len(ev), {
            "time": ev[:, L.E_TIME], "cpu": ev[:, L.E_CPU], "kind": ev[:, L.E_KIND],
            "other": ev[:, L.E_OTHER], "shootdown": ev[:, L.E_SD], "arg": ev[:, L.E_ARG],
        })

    # -- derived -------------------------------------------------------------------
    def latencies_cycles(self):
        """Initiator latency (return - start) of every shootdown that returned."""
        sd = self.shootdowns
        done = sd["end"] >= 0
        return (sd["end"][done] - sd["start"][done]).astype(np.int64)

    def _reuse_delay_mean(self):
        """Mean cycles a shootdown's pages stayed unusable after the initiator
        returned (safe - end): zero for synchronous protocols, the price of
        laziness for ``latr``."""
        sd = self.shootdowns
        done = (sd["end"] >= 0) & (sd["safe"] >= 0)
        return float(np.mean(sd["safe"][done] - sd["end"][done])) if done.any() else float("nan")

    def summary(self):
        """Headline numbers; every count is exact even if a log was cut."""
        k = self._counters
        lat = self.latencies_cycles()
        to_us = 1.0 / (self.costs.clock_ghz * 1e3)
        med = float(np.median(lat)) if lat.size else float("nan")
        p99 = float(np.percentile(lat, 99)) if lat.size else float("nan")
        closed = int(k[L.K_WIN_CLOSED])
        stats = self.cpu_stats
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
            "wait_cycles": int(stats["wait"].sum()),
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
