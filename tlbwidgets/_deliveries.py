"""The deliveries table, joined from the engine's append-only delivery log.

The engine writes each delivery's row once, when the delivery is made
(``State.dv``: shootdown, target, push instant, and for the mailbox
protocols which drain takes it and its rank there), and each later stage as
a record of its own (``State.lg``, ``LS_*`` in ``engine/_layout.py``): no
earlier row is written again, so logging waits on no cache miss for an old
row.  :func:`join_deliveries` puts every stage back on its row with NumPy:
the values a log that wrote each stage into its row would hold, ``-1``
where a stage did not happen (or was not logged) before the run ended.  The
engine records each stage at most once per row (per shootdown for
broadcast), so no two records compete for one value
(tests/test_delivery_log.py checks it).

Per-row records (``LS_IPI``, ``LS_SERVED``, ``LS_ACKED``) name their row.
The mailbox protocols record their drains per CPU: a CPU's k-th drain record
(``LS_DRAIN``) takes the rows whose ``DV_DRAIN`` is k, the slot records right
after it (``LS_SLOT``) give each queue slot's flush end, and the CPU's k-th
store record (``LS_STORE``) is the ACK store after it.  The row of rank r
(``DV_RANK``) sits in slot r - moved, or 0 if the drain's last overflow moved
it (r < moved, ``LS_DRAIN``'s T1).  Broadcast records whole shootdowns
(``LS_SD_*``).

Every step is a NumPy pass over the rows, or a lookup in the small per-drain
arrays; nothing is sorted but the drain and store records.
"""

import numpy as np

from .engine import _layout as L

__all__ = ["join_deliveries"]

# Per-row stages: the record's id is the row; (its column, the field it fills).
_ROW_STAGES = ((L.LS_IPI, ((L.LG_T0, "ipi_sent"),)),
               (L.LS_SERVED, ((L.LG_T0, "handler_start"), (L.LG_T1, "flushed"))),
               (L.LS_ACKED, ((L.LG_T0, "acked"),)))
# Per-shootdown stages (broadcast, which has no handler): every row of it.
_SD_STAGES = ((L.LS_SD_PUSHED, "pushed"), (L.LS_SD_FLUSHED, "flushed"),
              (L.LS_SD_ACKED, "acked"))


def join_deliveries(dv, lg):
    """The joined time fields of the rows ``dv`` (the logged delivery rows,
    cut to their count) from their stage records ``lg`` (likewise): a dict
    of int64 arrays, one value per row in the rows' order, for ``pushed``,
    ``ipi_sent``, ``handler_start``, ``flushed`` and ``acked``."""
    n = len(dv)
    out = {"pushed": dv[:, L.DV_PUSHED].copy()}
    for name in ("ipi_sent", "handler_start", "flushed", "acked"):
        out[name] = np.full(n, -1, dtype=np.int64)
    if n == 0 or len(lg) == 0:
        return out
    # The stage codes, compared once per stage, as a narrow contiguous copy:
    # each pass reads an eighth of what the table's column would cost.
    stage = lg[:, L.LG_STAGE].astype(np.int8)
    ident = lg[:, L.LG_ID]
    for code, fields in _ROW_STAGES:
        rec = np.flatnonzero(stage == code)
        for col, name in fields:
            out[name][ident[rec]] = lg[rec, col]
    for code, name in _SD_STAGES:
        rec = np.flatnonzero(stage == code)
        if len(rec):
            sd = dv[:, L.DV_SD]
            at = np.full(int(max(ident[rec].max(), sd.max())) + 1, -1, dtype=np.int64)
            at[ident[rec]] = lg[rec, L.LG_T0]
            t = at[sd]
            hit = t >= 0
            out[name][hit] = t[hit]
    _join_drains(out, dv, lg, stage, ident)
    return out


def _join_drains(out, dv, lg, stage, ident):
    """Handler, flush and ACK instants of the rows the mailbox protocols'
    drains took (the module docstring says how they are recorded).  The
    per-drain values get one more entry, -1, for the rows no drain took."""
    drains = np.flatnonzero(stage == L.LS_DRAIN)      # record indices, in time order
    if len(drains) == 0:
        return
    nd = len(drains)
    cpu = np.ascontiguousarray(dv[:, L.DV_CPU])          # read four times
    d_cpu = ident[drains]
    n_cpus = int(max(cpu.max(), d_cpu.max())) + 1
    # A CPU's k-th drain: the k-th of its records in time order.
    d_by_cpu = np.argsort(d_cpu, kind="stable")
    d_first = np.searchsorted(d_cpu[d_by_cpu], np.arange(n_cpus))
    d_count = np.bincount(d_cpu, minlength=n_cpus)
    seq = dv[:, L.DV_DRAIN]
    taken = seq < d_count[cpu]
    g = np.append(d_by_cpu, nd)[np.where(taken, d_first[cpu] + seq, nd)]  # nd: none

    out["handler_start"][:] = np.append(lg[drains, L.LG_T0], -1)[g]
    # A drain's slot records follow it, slot 0 first.
    slots = np.flatnonzero(stage == L.LS_SLOT)
    slot0 = np.append(np.searchsorted(slots, drains), len(slots))
    moved = np.append(lg[drains, L.LG_T1], 0)
    slot = np.maximum(dv[:, L.DV_RANK] - moved[g], 0) * taken
    out["flushed"][:] = np.append(lg[slots, L.LG_T0], -1)[slot0[g] + slot]

    stores = np.flatnonzero(stage == L.LS_STORE)
    s_cpu = ident[stores]
    s_by_cpu = np.argsort(s_cpu, kind="stable")
    s_first = np.searchsorted(s_cpu[s_by_cpu], np.arange(n_cpus))
    nth = np.empty(nd, dtype=np.int64)                 # each drain's k on its CPU
    nth[d_by_cpu] = np.arange(nd) - d_first[d_cpu[d_by_cpu]]
    stored = nth < np.bincount(s_cpu, minlength=n_cpus)[d_cpu]
    acked = np.full(nd + 1, -1, dtype=np.int64)
    acked[:nd][stored] = lg[stores[s_by_cpu[s_first[d_cpu[stored]] + nth[stored]]], L.LG_T0]
    out["acked"][:] = acked[g]
