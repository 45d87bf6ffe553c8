"""Per-CPU set-associative LRU TLBs, the page table, and staleness tracking.

Invariants (hold between any two events):

* an entry is *live* iff ``TL_VPN >= 0`` and ``TL_GONE < 0``; a live entry
  is *stale* iff its version is below the page's ``PT_VER``, and exactly the
  live stale entries have ``TL_SD >= 0`` (the shootdown whose PTE change made
  them stale); ``k[K_STALE_OPEN]`` counts them;
* a flush removes an entry at the instant its own invalidation completes: the
  entry stays findable by PTE changes until then (``TL_GONE``), though its
  CPU, busy flushing, cannot use it;
* a stale entry's window starts at its shootdown's start and ends when the
  entry leaves the TLB (invalidation complete, or eviction), never later;
* an access through a stale entry is a violation iff its version is below
  the page's ``PT_SAFE``: a shootdown that superseded it already declared the
  page reusable.

Versions are shootdown sequence numbers (id + 1): every page of one
shootdown gets the same version, and ``PT_SAFE`` is a running maximum.
"""

from .._jit import jit
from .._tables import EV_STALE_HIT, EV_VIOLATION
from ._layout import (
    P_SETS, P_WAYS, P_NCPU, C_TLB_HIT, C_PAGE_WALK,
    K_ACCESSES, K_MISSES, K_STALE_HITS, K_VIOLATIONS, K_WIN_OPENED,
    K_WIN_CLOSED, K_WIN_CYCLES, K_STALE_OPEN, K_FULL_FLUSHES,
    TL_VPN, TL_VER, TL_LRU, TL_SD, TL_WIN, TL_GONE, PT_VER, PT_SAFE,
    S_START, WN_END, CNT, CNT_ACCESSES, CNT_HITS, CNT_MISSES, CNT_FULL_FLUSHES,
    CNT_STALE_HITS, CNT_VIOLATIONS,
)
from ._log import log_event, log_window, log_violation

__all__ = ["tlb_find", "tlb_fill", "count_accesses", "stale_use", "tlb_access",
           "tlb_invalidate_page", "tlb_flush_all", "pte_change"]


@jit
def _close(tlb, k, sd, wn, c, st, w, t):
    """The entry (if stale) leaves the TLB at t: close its window."""
    sid = tlb[c, st, w, TL_SD]
    if sid >= 0:
        k[K_WIN_CLOSED] += 1
        k[K_WIN_CYCLES] += t - sd[sid, S_START]
        k[K_STALE_OPEN] -= 1
        row = tlb[c, st, w, TL_WIN]
        if row >= 0:
            wn[row, WN_END] = t


@jit
def stale_use(s, c, vpn, w, t):
    """An access at t went through the stale entry in way w of vpn's set:
    a transient stale hit, or a violation if the page is already reusable."""
    k = s.counters
    st = vpn & (s.tlb.shape[1] - 1)
    sd = s.tlb[c, st, w, TL_SD]
    if s.tlb[c, st, w, TL_VER] < s.pte[vpn, PT_SAFE]:
        k[K_VIOLATIONS] += 1
        s.cpu[c, CNT + CNT_VIOLATIONS] += 1
        log_violation(s.vi, k, t, c, vpn, sd)
        log_event(s.ev, k, t, c, EV_VIOLATION, -1, sd, vpn)
    else:
        k[K_STALE_HITS] += 1
        s.cpu[c, CNT + CNT_STALE_HITS] += 1
        log_event(s.ev, k, t, c, EV_STALE_HIT, -1, sd, vpn)


@jit
def tlb_find(tlb, c, st, vpn):
    """The way of set st holding a live entry for vpn in CPU c's TLB, or -1."""
    for w in range(tlb.shape[2]):
        if tlb[c, st, w, TL_VPN] == vpn and tlb[c, st, w, TL_GONE] < 0:
            return w
    return -1


@jit
def tlb_fill(s, c, st, vpn, t):
    """A miss at t: walk the page table and fill vpn's entry with the current
    version (an access after an unmap models the fault that maps the page
    again), evicting the least recently used entry of set st.  The caller
    counts the access and the miss."""
    tlb = s.tlb
    victim = -1
    oldest = 0
    for w in range(tlb.shape[2]):
        if tlb[c, st, w, TL_VPN] < 0 or tlb[c, st, w, TL_GONE] >= 0:
            victim = w
            break
        if victim < 0 or tlb[c, st, w, TL_LRU] < oldest:
            oldest = tlb[c, st, w, TL_LRU]
            victim = w
    if tlb[c, st, victim, TL_VPN] >= 0 and tlb[c, st, victim, TL_GONE] < 0:
        _close(tlb, s.counters, s.sd, s.wn, c, st, victim, t)     # evicted at t
    tlb[c, st, victim, TL_VPN] = vpn
    tlb[c, st, victim, TL_VER] = s.pte[vpn, PT_VER]
    tlb[c, st, victim, TL_LRU] = t
    tlb[c, st, victim, TL_SD] = -1
    tlb[c, st, victim, TL_WIN] = -1
    tlb[c, st, victim, TL_GONE] = -1


@jit
def count_accesses(s, c, accesses, hits):
    """Add a run of ``accesses`` user accesses of CPU c, ``hits`` of them TLB
    hits, to the counters (nothing during the run reads these counts)."""
    k = s.counters
    k[K_ACCESSES] += accesses
    k[K_MISSES] += accesses - hits
    s.cpu[c, CNT + CNT_ACCESSES] += accesses
    s.cpu[c, CNT + CNT_HITS] += hits
    s.cpu[c, CNT + CNT_MISSES] += accesses - hits


@jit
def tlb_access(s, m, c, vpn, t):
    """One user access of CPU c at t; returns its cost in cycles.

    A hit on a stale entry uses the stale translation (that is the hazard:
    ``stale_use`` records it) and costs a hit; a miss costs a page walk and
    fills the entry (``tlb_fill``).  The hot loop of ``catch_up`` does the
    same inline, counting once per run of accesses."""
    tlb = s.tlb
    st = vpn & (tlb.shape[1] - 1)
    w = tlb_find(tlb, c, st, vpn)
    if w < 0:
        tlb_fill(s, c, st, vpn, t)
        count_accesses(s, c, 1, 0)
        return m.costs[C_PAGE_WALK]
    tlb[c, st, w, TL_LRU] = t
    count_accesses(s, c, 1, 1)
    if tlb[c, st, w, TL_VER] != s.pte[vpn, PT_VER]:
        stale_use(s, c, vpn, w, t)
    return m.costs[C_TLB_HIT]


@jit
def _remove(tlb, k, sd, wn, c, st, w, t):
    """A flush removes the live entry at t (possibly after now)."""
    _close(tlb, k, sd, wn, c, st, w, t)
    tlb[c, st, w, TL_GONE] = t


@jit
def tlb_invalidate_page(s, m, c, vpn, t):
    """invlpg completing at t: drop the entry for vpn (any version)."""
    tlb = s.tlb
    st = vpn & (m.params[P_SETS] - 1)
    for w in range(m.params[P_WAYS]):
        if tlb[c, st, w, TL_VPN] == vpn and tlb[c, st, w, TL_GONE] < 0:
            _remove(tlb, s.counters, s.sd, s.wn, c, st, w, t)


@jit
def tlb_flush_all(s, m, c, t):
    """CR3 reload completing at t: drop every entry."""
    tlb = s.tlb
    for st in range(m.params[P_SETS]):
        for w in range(m.params[P_WAYS]):
            if tlb[c, st, w, TL_VPN] >= 0 and tlb[c, st, w, TL_GONE] < 0:
                _remove(tlb, s.counters, s.sd, s.wn, c, st, w, t)
    s.counters[K_FULL_FLUSHES] += 1
    s.cpu[c, CNT + CNT_FULL_FLUSHES] += 1


@jit
def _mark(s, c, st, w, sd, vpn, t):
    """Shootdown sd's PTE change at t makes this entry stale (if it was not)."""
    tlb = s.tlb
    k = s.counters
    gone = tlb[c, st, w, TL_GONE]
    if gone >= 0:
        # Being flushed: still in the TLB until `gone`.  If it was valid, it
        # is stale from t until then.
        if gone > t and tlb[c, st, w, TL_SD] < 0 and tlb[c, st, w, TL_VER] < sd + 1:
            row = log_window(s.wn, k, sd, c, vpn, t)
            if row >= 0:
                s.wn[row, WN_END] = gone
            k[K_WIN_OPENED] += 1
            k[K_WIN_CLOSED] += 1
            k[K_WIN_CYCLES] += gone - t
            tlb[c, st, w, TL_SD] = sd   # counted once, even if changed again
        return
    if tlb[c, st, w, TL_SD] < 0:
        tlb[c, st, w, TL_SD] = sd
        tlb[c, st, w, TL_WIN] = log_window(s.wn, k, sd, c, vpn, t)
        k[K_WIN_OPENED] += 1
        k[K_STALE_OPEN] += 1


@jit
def pte_change(s, m, sd, vpn, pages, t):
    """Shootdown sd changes the PTEs of [vpn, vpn + pages) at t: bump their
    versions to sd + 1 and open a stale window for every TLB entry holding
    one of them.  Cost O(cpus * min(pages, sets) * ways)."""
    n = m.params[P_NCPU]
    sets = m.params[P_SETS]
    ways = m.params[P_WAYS]
    tlb = s.tlb
    for v in range(vpn, vpn + pages):
        s.pte[v, PT_VER] = sd + 1
    if pages <= sets:
        for v in range(vpn, vpn + pages):
            st = v & (sets - 1)
            for c in range(n):
                for w in range(ways):
                    if tlb[c, st, w, TL_VPN] == v:
                        _mark(s, c, st, w, sd, v, t)
    else:
        hi = vpn + pages
        for c in range(n):
            for st in range(sets):
                for w in range(ways):
                    v = tlb[c, st, w, TL_VPN]
                    if v >= vpn and v < hi:
                        _mark(s, c, st, w, sd, v, t)
