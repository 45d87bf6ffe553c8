"""Hardware broadcast invalidation (``broadcast``): AMD INVLPGB + TLBSYNC.

Source: AMD64 Architecture Programmer's Manual, Volume 3, ``INVLPGB``
(invalidate TLB entries, by address range, on every processor) and
``TLBSYNC`` (wait until every INVLPGB this processor issued has completed on
all processors); Linux's use of them in ``arch/x86/mm/tlb.c``
(``broadcast_tlb_flush``, Rik van Riel's series, 2025), where a broadcast
flush replaces both the IPIs and the local flush.  Arm's ``TLBI ... IS`` +
``DSB ISH`` has the same shape.

Initiator, from T0 (PTE versions already bumped):

1. issue ``ceil(pages / broadcast_max_pages)`` INVLPGB instructions (one for
   a Full flush), ``invlpgb`` cycles each.  The fabric takes one broadcast at
   a time, machine-wide: an instruction whose turn has not come stalls the
   issuing CPU until the fabric is free (logged as ``lock_wait``).
   Chosen timing: the entries an instruction names are invalidated on every
   online CPU -- the initiator included -- at the instant its issue ends
   (the fabric slot's end); a user CPU's accesses are brought up to that
   instant first, so each access sees its TLB as it was;
2. TLBSYNC (state ``wait``): it completes when the slowest core of the
   broadcast domain (every online CPU, the initiator included) has
   acknowledged, so its cost grows with the domain.  No single-operation
   measurement of that growth exists (docs/calibration-sources.md, section
   8), so this is a labelled estimate: ``tlbsync`` (the base cost) plus
   ``ceil(log2(online CPUs))`` levels of a fan-in tree of acknowledgements,
   one in-die transfer (``cacheline``) per level, plus one cross-socket
   round trip (``cacheline_remote``) when the domain spans more than one
   socket;
3. return; the pages are safe from here.

No IPI is sent and no remote CPU is interrupted or charged a cycle: remote
CPUs in interrupts-off sections do not delay the shootdown.  One delivery row
per other online CPU records the broadcast: ``pushed`` = first issue start,
``flushed`` = the last instruction's end, ``acked`` = the TLBSYNC's end,
``ipi_sent`` and ``handler_start`` = -1.
"""

from .._jit import jit
from .._tables import SD_FULL, ST_WAIT, EV_INVALIDATE, EV_LOCK_WAIT, EV_ACK_SEEN
from ._cpu import set_mode, sync_all_users
from ._layout import (
    P_NCPU, P_FULL_THRESHOLD, P_BCAST_MAX_PAGES, C_INVLPGB, C_TLBSYNC, C_CACHELINE,
    C_CACHELINE_REMOTE, T_ONLINE, T_SOCKET,
    K_DELIVERIES, K_SKIPPED, K_FABRIC_FREE, K_NDELIV,
    IN_SD, IN_PHASE, IN_IDX, IN_NTARGETS, IN_VPN, IN_PAGES, IN_KIND, IN_STEP_START,
    S_TARGETS, S_DISPATCH, S_WAIT, S_LOCK, S_DV0,
    K_NSTAGE, LS_SD_PUSHED, LS_SD_FLUSHED, LS_SD_ACKED,
)
from ._log import log_event, log_delivery
from ._shootdown import begin_shootdown, initiator_return, run_ahead
from ._tlb import tlb_invalidate_page, tlb_flush_all

__all__ = ["broadcast_initiate", "broadcast_initiator_step"]

B_ISSUE = 0
D_ISSUE = 1
B_SYNC = 2
D_SYNC = 3


@jit
def _log_rows(s, sd, stage, t):
    """Log that every delivery row of shootdown sd reached ``stage``
    (``LS_SD_*``) at t, if it has logged rows."""
    if s.sd[sd, S_DV0] >= 0:
        log_delivery(s.lg, s.counters, K_NSTAGE, sd, stage, t, -1, 0)


@jit
def broadcast_initiate(s, m, c, t, op):
    """Start at t: PTE change, one delivery row per other online CPU, the
    number of INVLPGB instructions.  Returns t (the first issue starts now)."""
    sd = begin_shootdown(s, m, c, t, op, m.params[P_FULL_THRESHOLD])
    k = s.counters
    targets = 0
    for j in range(m.params[P_NCPU]):
        if j == c:
            continue
        if m.topo[j, T_ONLINE] == 0:
            k[K_SKIPPED] += 1
            continue
        targets += 1
        k[K_DELIVERIES] += 1
        d = log_delivery(s.dv, k, K_NDELIV, sd, j, -1, 0, 0)
        if d >= 0 and s.sd[sd, S_DV0] < 0:
            s.sd[sd, S_DV0] = d
    s.sd[sd, S_TARGETS] = targets
    cpu = s.cpu
    if cpu[c, IN_KIND] == SD_FULL:
        n = 1
    else:
        per = m.params[P_BCAST_MAX_PAGES]
        n = (cpu[c, IN_PAGES] + per - 1) // per
    cpu[c, IN_NTARGETS] = n       # here: INVLPGB instructions to issue
    cpu[c, IN_IDX] = 0
    cpu[c, IN_PHASE] = B_ISSUE
    cpu[c, IN_STEP_START] = t
    return t


@jit
def _invalidate(s, m, c, t):
    """Instruction IN_IDX of c's broadcast completes at t on every online CPU."""
    cpu = s.cpu
    sync_all_users(s, m, t)
    kind = cpu[c, IN_KIND]
    per = m.params[P_BCAST_MAX_PAGES]
    lo = cpu[c, IN_VPN] + cpu[c, IN_IDX] * per
    cnt = min(per, cpu[c, IN_PAGES] - cpu[c, IN_IDX] * per)
    for j in range(m.params[P_NCPU]):
        if m.topo[j, T_ONLINE] == 0:
            continue
        if kind == SD_FULL:
            tlb_flush_all(s, m, j, t)
        else:
            for v in range(lo, lo + cnt):
                tlb_invalidate_page(s, m, j, v, t)
    log_event(s.ev, s.counters, t, c, EV_INVALIDATE, -1, cpu[c, IN_SD], kind)


@jit
def broadcast_initiator_step(s, m, c, t):
    """Advance the initiator from step boundary t, running ahead without
    events while its next boundary comes before any other pending event."""
    cpu = s.cpu
    k = s.counters
    sd = cpu[c, IN_SD]
    while True:
        ph = cpu[c, IN_PHASE]
        nt = t
        if ph == B_ISSUE:
            acq = max(t, k[K_FABRIC_FREE])
            if acq > t:
                log_event(s.ev, k, t, c, EV_LOCK_WAIT, -1, sd, acq - t)
            if cpu[c, IN_IDX] == 0:
                _log_rows(s, sd, LS_SD_PUSHED, acq)
            nt = acq + m.costs[C_INVLPGB]
            k[K_FABRIC_FREE] = nt
            s.sd[sd, S_LOCK] += acq - t
            s.sd[sd, S_DISPATCH] += nt - acq
            cpu[c, IN_PHASE] = D_ISSUE
        elif ph == D_ISSUE:
            _invalidate(s, m, c, t)
            cpu[c, IN_IDX] += 1
            if cpu[c, IN_IDX] < cpu[c, IN_NTARGETS]:
                cpu[c, IN_PHASE] = B_ISSUE
            else:
                _log_rows(s, sd, LS_SD_FLUSHED, t)
                cpu[c, IN_PHASE] = B_SYNC
            continue
        elif ph == B_SYNC:
            set_mode(s, c, ST_WAIT, t)
            # The slowest acknowledgement of the domain (an estimate, see the
            # module docstring): a fan-in tree over the online CPUs, plus a
            # cross-socket round trip once they span two sockets.
            online = 0
            socket0 = -1
            spans = 0
            for j in range(m.params[P_NCPU]):
                if m.topo[j, T_ONLINE] == 0:
                    continue
                online += 1
                if socket0 < 0:
                    socket0 = m.topo[j, T_SOCKET]
                elif m.topo[j, T_SOCKET] != socket0:
                    spans = 1
            levels = 0
            while (1 << levels) < online:
                levels += 1
            nt = (t + m.costs[C_TLBSYNC] + levels * m.costs[C_CACHELINE]
                  + spans * m.costs[C_CACHELINE_REMOTE])
            s.sd[sd, S_WAIT] += nt - t
            cpu[c, IN_PHASE] = D_SYNC
        else:  # D_SYNC
            _log_rows(s, sd, LS_SD_ACKED, t)
            log_event(s.ev, k, t, c, EV_ACK_SEEN, -1, sd, 0)
            initiator_return(s, m, c, t, True)
            return
        if run_ahead(s, c, nt):
            t = nt
            continue
        return
