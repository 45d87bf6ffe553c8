"""The deliveries table, joined from the engine's append-only delivery log.

The engine writes each delivery's row once, when the delivery is made
(``State.dv``: shootdown, target, push instant, queue slot), and each later
stage as a record of its own (``State.lg``, ``LS_*`` in ``engine/_layout.py``):
no earlier row is written again, so logging costs no cache miss on an old
row.  :func:`join_deliveries` puts every stage back on its row with NumPy,
giving the table the engine would have made by writing each stage into the
row: each value is the one of the stage's last record (a stage recorded
again overwrites, as a write into the row would), ``-1`` where a stage never
happened or was never logged.

The mailbox protocols record their drains per CPU, not per row: a drain
record (``LS_DRAIN``) takes the rows of its CPU logged before it and not yet
drained, the slot records after it (``LS_SLOT``) give each queue slot's
flush end, the CPU's n-th store record (``LS_STORE``) is the ACK of its n-th
drain record, and an overflow record (``LS_OVERFLOW``) moves the rows of its
CPU still pending to slot 0.  Broadcast records whole shootdowns
(``LS_SD_*``).
"""

import numpy as np

from .engine import _layout as L

__all__ = ["join_deliveries", "J_SD", "J_CPU", "J_PUSHED", "J_IPI", "J_HANDLER",
           "J_FLUSHED", "J_ACKED", "N_J_COLS"]

# Columns of the joined table (the order of _tables.DELIVERY_DTYPE's times).
J_SD, J_CPU, J_PUSHED, J_IPI, J_HANDLER, J_FLUSHED, J_ACKED = range(7)
N_J_COLS = 7

# Per-row stages: the record's id is the row, its times go to these columns.
_ROW_STAGES = ((L.LS_IPI, ((J_IPI, L.LG_T0),)),
               (L.LS_SERVED, ((J_HANDLER, L.LG_T0), (J_FLUSHED, L.LG_T1))),
               (L.LS_ACKED, ((J_ACKED, L.LG_T0),)))
# Per-shootdown stages (broadcast): every row of the record's shootdown.
# (Broadcast has no handler: its handler column stays -1.)
_SD_STAGES = ((L.LS_SD_PUSHED, J_PUSHED), (L.LS_SD_FLUSHED, J_FLUSHED),
              (L.LS_SD_ACKED, J_ACKED))


def join_deliveries(dv, lg):
    """The deliveries as an ``(len(dv), N_J_COLS)`` int64 array, ``J_*``
    columns, one row per row of ``dv`` in its order, from the logged rows
    ``dv`` and their stage records ``lg`` (both cut to their counts)."""
    n = len(dv)
    out = np.full((n, N_J_COLS), -1, dtype=np.int64)
    out[:, J_SD] = dv[:, L.DV_SD]
    out[:, J_CPU] = dv[:, L.DV_CPU]
    out[:, J_PUSHED] = dv[:, L.DV_PUSHED]
    if n == 0 or len(lg) == 0:
        return out
    stage = lg[:, L.LG_STAGE]
    ident = lg[:, L.LG_ID]
    for code, columns in _ROW_STAGES:
        rec = np.flatnonzero(stage == code)
        if len(rec):
            rows, last = _last_records(ident[rec], n)
            for col, field in columns:
                out[rows, col] = lg[rec[last], field]
    for code, col in _SD_STAGES:
        rec = np.flatnonzero(stage == code)
        if len(rec):
            at = np.full(int(max(ident[rec].max(), out[:, J_SD].max())) + 1, -1, dtype=np.int64)
            sds, last = _last_records(ident[rec], len(at))
            at[sds] = lg[rec[last], L.LG_T0]
            t = at[out[:, J_SD]]
            hit = t >= 0
            out[hit, col] = t[hit]
    _join_drains(out, dv, lg, stage, ident)
    return out


def _last_records(ids, size):
    """``(unique ids, index of each one's last record in ids)``: the record
    that wins when records are applied in order.  ``0 <= ids < size``."""
    pos = np.full(size, -1, dtype=np.int64)
    order = np.arange(len(ids), dtype=np.int64)
    pos[ids] = order
    if not np.array_equal(pos[ids], order):
        # Some id has several records: NumPy does not promise which of equal
        # indices a fancy assignment keeps, so take the latest explicitly.
        pos[:] = -1
        np.maximum.at(pos, ids, order)
    hit = np.flatnonzero(pos >= 0)
    return hit, pos[hit]


def _join_drains(out, dv, lg, stage, ident):
    """Handler, flush and ACK instants of the rows the mailbox protocols'
    drains took (the module docstring says how they are recorded)."""
    drains = np.flatnonzero(stage == L.LS_DRAIN)      # record indices, in time order
    if len(drains) == 0:
        return
    n = len(out)
    rows = np.arange(n, dtype=np.int64)
    cpu = out[:, J_CPU]
    span = n + 1                                       # a drain's T1 is at most n
    # The drain of a row: its CPU's first drain with more rows logged before
    # it than the row's index.  A CPU's drains come in time order, with
    # nondecreasing T1, so a stable sort by CPU orders them by (CPU, T1).
    d_cpu = ident[drains]
    by_cpu = np.argsort(d_cpu, kind="stable")
    at = np.searchsorted(d_cpu[by_cpu] * span + lg[drains[by_cpu], L.LG_T1],
                         cpu * span + rows, side="right")
    taken = at < len(drains)
    taken[taken] = d_cpu[by_cpu[at[taken]]] == cpu[taken]
    r = rows[taken]
    g = by_cpu[at[taken]]                              # the drain of each taken row
    out[r, J_HANDLER] = lg[drains[g], L.LG_T0]

    # Slot: the one pushed into, or 0 if an overflow of the CPU came after
    # the row's push (more rows logged before it than the row's index) and
    # before its drain.
    slot = dv[r, L.DV_SLOT].copy()
    overflows = np.flatnonzero(stage == L.LS_OVERFLOW)
    if len(overflows):
        o_cpu = ident[overflows]
        o_by_cpu = np.argsort(o_cpu, kind="stable")
        at = np.searchsorted(o_cpu[o_by_cpu] * span + lg[overflows[o_by_cpu], L.LG_T1],
                             cpu[r] * span + r, side="right")
        some = at < len(overflows)
        first = overflows[o_by_cpu[np.minimum(at, len(overflows) - 1)]]
        moved = some & (ident[first] == cpu[r]) & (first < drains[g])
        slot[moved] = 0
    # A drain's slot records follow it, one per slot from 0.
    slots = np.flatnonzero(stage == L.LS_SLOT)
    out[r, J_FLUSHED] = lg[slots[np.searchsorted(slots, drains[g]) + slot], L.LG_T0]

    # ACK: a CPU's k-th store record is the store after its k-th drain.
    stores = np.flatnonzero(stage == L.LS_STORE)
    if len(stores):
        s_by_cpu = np.argsort(ident[stores], kind="stable")
        s_cpu = ident[stores[s_by_cpu]]
        d_sorted = d_cpu[by_cpu]
        rank = np.empty(len(drains), dtype=np.int64)
        rank[by_cpu] = np.arange(len(drains)) - np.searchsorted(d_sorted, d_sorted)
        k = np.searchsorted(s_cpu, d_cpu[g]) + rank[g]
        acked = k < np.searchsorted(s_cpu, d_cpu[g], side="right")
        out[r[acked], J_ACKED] = lg[stores[s_by_cpu[k[acked]]], L.LG_T0]
