"""Bounded logs.  Every ``log_*`` writes one row if there is room and
otherwise sets a truncation bit; the exact totals live in the counters ``k``
and are updated by the callers whether or not the row fits."""

from .._jit import jit
from ._layout import (
    K_NEV, K_NWIN, K_NVIOL, K_NDELIV, K_TRUNC,
    E_TIME, E_CPU, E_KIND, E_OTHER, E_SD, E_ARG,
    WN_SD, WN_CPU, WN_VPN, WN_START, WN_END,
    VI_TIME, VI_CPU, VI_VPN, VI_SD, DV_SD, DV_CPU, N_DV_COLS,
)

__all__ = ["log_event", "log_window", "log_violation", "log_delivery"]

TRUNC_EVENTS = 1
TRUNC_DELIVERIES = 2
TRUNC_WINDOWS = 4
TRUNC_VIOLATIONS = 8


@jit
def log_event(ev, k, time, cpu, kind, other, sd, arg):
    i = k[K_NEV]
    if i >= ev.shape[0]:
        k[K_TRUNC] |= TRUNC_EVENTS
        return
    ev[i, E_TIME] = time
    ev[i, E_CPU] = cpu
    ev[i, E_KIND] = kind
    ev[i, E_OTHER] = other
    ev[i, E_SD] = sd
    ev[i, E_ARG] = arg
    k[K_NEV] = i + 1


@jit
def log_window(wn, k, sd, cpu, vpn, start):
    """Open a stale-window row; returns its index, or -1 if the log is full."""
    i = k[K_NWIN]
    if i >= wn.shape[0]:
        k[K_TRUNC] |= TRUNC_WINDOWS
        return -1
    wn[i, WN_SD] = sd
    wn[i, WN_CPU] = cpu
    wn[i, WN_VPN] = vpn
    wn[i, WN_START] = start
    wn[i, WN_END] = -1
    k[K_NWIN] = i + 1
    return i


@jit
def log_violation(vi, k, time, cpu, vpn, sd):
    i = k[K_NVIOL]
    if i >= vi.shape[0]:
        k[K_TRUNC] |= TRUNC_VIOLATIONS
        return
    vi[i, VI_TIME] = time
    vi[i, VI_CPU] = cpu
    vi[i, VI_VPN] = vpn
    vi[i, VI_SD] = sd
    k[K_NVIOL] = i + 1


@jit
def log_delivery(dv, k, sd, cpu):
    """Open a delivery row; returns its index, or -1 if the log is full.

    Every column of the row is written (-1: "not yet" for the times, "none"
    for the links), so the log needs no filling before the run and rows
    past the count are never read."""
    i = k[K_NDELIV]
    if i >= dv.shape[0]:
        k[K_TRUNC] |= TRUNC_DELIVERIES
        return -1
    for col in range(N_DV_COLS):
        dv[i, col] = -1
    dv[i, DV_SD] = sd
    dv[i, DV_CPU] = cpu
    k[K_NDELIV] = i + 1
    return i
