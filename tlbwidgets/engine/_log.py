"""Bounded logs.  Every ``log_*`` writes one row if there is room and
otherwise sets a truncation bit; the exact totals live in ``counters`` and are
updated by the callers whether or not the row fits."""

from .._jit import jit
from ._layout import K_NEV, K_NWIN, K_NVIOL, K_NDELIV, K_TRUNC

__all__ = ["log_event", "log_window", "log_violation", "log_delivery"]

TRUNC_EVENTS = 1
TRUNC_DELIVERIES = 2
TRUNC_WINDOWS = 4
TRUNC_VIOLATIONS = 8


@jit
def log_event(s, time, cpu, kind, other, sd, arg):
    c = s.counters
    i = c[K_NEV]
    if i >= s.ev_time.shape[0]:
        c[K_TRUNC] |= TRUNC_EVENTS
        return
    s.ev_time[i] = time
    s.ev_cpu[i] = cpu
    s.ev_kind[i] = kind
    s.ev_other[i] = other
    s.ev_sd[i] = sd
    s.ev_arg[i] = arg
    c[K_NEV] = i + 1


@jit
def log_window(s, sd, cpu, vpn, start):
    """Open a stale-window row; returns its index, or -1 if the log is full."""
    c = s.counters
    i = c[K_NWIN]
    if i >= s.wn_sd.shape[0]:
        c[K_TRUNC] |= TRUNC_WINDOWS
        return -1
    s.wn_sd[i] = sd
    s.wn_cpu[i] = cpu
    s.wn_vpn[i] = vpn
    s.wn_start[i] = start
    s.wn_end[i] = -1
    c[K_NWIN] = i + 1
    return i


@jit
def log_violation(s, time, cpu, vpn, sd):
    c = s.counters
    i = c[K_NVIOL]
    if i >= s.vi_time.shape[0]:
        c[K_TRUNC] |= TRUNC_VIOLATIONS
        return
    s.vi_time[i] = time
    s.vi_cpu[i] = cpu
    s.vi_vpn[i] = vpn
    s.vi_sd[i] = sd
    c[K_NVIOL] = i + 1


@jit
def log_delivery(s, sd, cpu):
    """Open a delivery row; returns its index, or -1 if the log is full."""
    c = s.counters
    i = c[K_NDELIV]
    if i >= s.dv_sd.shape[0]:
        c[K_TRUNC] |= TRUNC_DELIVERIES
        return -1
    s.dv_sd[i] = sd
    s.dv_cpu[i] = cpu
    c[K_NDELIV] = i + 1
    return i
