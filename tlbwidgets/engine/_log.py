"""Bounded logs.  Every ``log_*`` writes one row if there is room and
otherwise sets a truncation bit; the exact totals live in the counters ``k``
and are updated by the callers whether or not the row fits."""

from .._jit import jit
from ._layout import (
    K_NEV, K_NWIN, K_NVIOL, K_TRUNC,
    E_TIME, E_CPU, E_KIND, E_OTHER, E_SD, E_ARG,
    WN_SD, WN_CPU, WN_VPN, WN_START, WN_END,
    VI_TIME, VI_CPU, VI_VPN, VI_SD,
)

__all__ = ["log_event", "log_window", "log_violation", "log_delivery", "TRUNC_EVENTS",
           "TRUNC_DELIVERIES", "TRUNC_WINDOWS", "TRUNC_VIOLATIONS"]

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
def log_delivery(table, k, count, a, b, c, d, e):
    """Append one row ``(a, b, c, d, e)`` to a table of the delivery log and
    return its index, or -1 if the table is full (the log is then cut).

    The log has two append-only tables (``_layout``, "log tables"): its rows,
    ``table=dv`` counted by ``count=K_NDELIV`` (``a, b, c, d, e`` = ``DV_SD,
    DV_CPU, DV_PUSHED, DV_DRAIN, DV_RANK``), and the stage records of those
    rows, ``table=lg`` counted by ``K_NSTAGE`` (``LG_ID, LG_STAGE, LG_T0,
    LG_T1``; it has no fifth column, ``e`` is not written).
    No row is written again once appended, so the log is written in memory
    order and no write waits on a cache miss for an old row.  The stage table
    is sized so that its records always fit (``_layout._new_state``); a
    record that did not would set the same truncation bit."""
    i = k[count]
    if i >= table.shape[0]:
        k[K_TRUNC] |= TRUNC_DELIVERIES
        return -1
    table[i, 0] = a
    table[i, 1] = b
    table[i, 2] = c
    table[i, 3] = d
    if table.shape[1] > 4:
        table[i, 4] = e
    k[count] = i + 1
    return i
