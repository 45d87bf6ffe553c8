"""Per-CPU set-associative LRU TLBs, the page table, and staleness tracking.

Invariants (hold between any two events):

* an entry is *stale* iff ``tlb_ver < pte_ver[vpn]``; exactly the stale
  entries have ``tlb_sd >= 0`` (the shootdown whose PTE change made them
  stale) and ``counters[K_STALE_OPEN]`` counts them;
* a stale entry's window started at ``sd_start[tlb_sd]`` and ends when the
  entry leaves the TLB (invlpg, full flush or eviction), never later;
* an access through a stale entry is a violation iff ``tlb_ver <
  safe_ver[vpn]``: some shootdown that superseded the entry's version has
  already declared its pages reusable.

Versions are shootdown sequence numbers (shootdown id + 1), so every page of
one shootdown gets the same version and ``safe_ver`` is a running maximum.
"""

from .._jit import jit, jit_inline
from .._tables import EV_STALE_HIT, EV_VIOLATION
from ._layout import (
    P_SETS, P_WAYS, P_NCPU, C_TLB_HIT, C_PAGE_WALK,
    K_ACCESSES, K_MISSES, K_STALE_HITS, K_VIOLATIONS, K_WIN_OPENED,
    K_WIN_CLOSED, K_WIN_CYCLES, K_STALE_OPEN, K_FULL_FLUSHES,
)
from ._log import log_event, log_window, log_violation

__all__ = ["tlb_access", "tlb_invalidate_page", "tlb_flush_all", "pte_change"]

CNT_ACCESSES = 0
CNT_HITS = 1
CNT_MISSES = 2
CNT_FULL_FLUSHES = 3
CNT_STALE_HITS = 4
CNT_VIOLATIONS = 5
CNT_IPIS = 6


@jit_inline
def _drop(s, cpu, st, w, t):
    """Remove one entry at time t, closing its stale window if it had one."""
    sd = s.tlb_sd[cpu, st, w]
    if sd >= 0:
        c = s.counters
        c[K_WIN_CLOSED] += 1
        c[K_WIN_CYCLES] += t - s.sd_start[sd]
        c[K_STALE_OPEN] -= 1
        row = s.tlb_win[cpu, st, w]
        if row >= 0:
            s.wn_end[row] = t
    s.tlb_vpn[cpu, st, w] = -1
    s.tlb_sd[cpu, st, w] = -1
    s.tlb_win[cpu, st, w] = -1


@jit_inline
def tlb_access(s, m, cpu, vpn, t):
    """One user access at time t; returns its cost in cycles.

    A hit on a stale entry uses the stale translation (that is the hazard),
    counts as a transient stale hit or a violation, and costs a hit.  A miss
    walks the page table and fills the entry with the current version (an
    access after an unmap models the fault that maps the page again).
    """
    p = m.params
    ways = p[P_WAYS]
    st = vpn & (p[P_SETS] - 1)
    c = s.counters
    cnt = s.cpu_counts
    c[K_ACCESSES] += 1
    cnt[cpu, CNT_ACCESSES] += 1
    for w in range(ways):
        if s.tlb_vpn[cpu, st, w] == vpn:
            s.tlb_lru[cpu, st, w] = t
            ver = s.tlb_ver[cpu, st, w]
            cnt[cpu, CNT_HITS] += 1
            if ver != s.pte_ver[vpn]:
                sd = s.tlb_sd[cpu, st, w]
                if ver < s.safe_ver[vpn]:
                    c[K_VIOLATIONS] += 1
                    cnt[cpu, CNT_VIOLATIONS] += 1
                    log_violation(s, t, cpu, vpn, sd)
                    log_event(s, t, cpu, EV_VIOLATION, -1, sd, vpn)
                else:
                    c[K_STALE_HITS] += 1
                    cnt[cpu, CNT_STALE_HITS] += 1
                    log_event(s, t, cpu, EV_STALE_HIT, -1, sd, vpn)
            return m.costs[C_TLB_HIT]
    c[K_MISSES] += 1
    cnt[cpu, CNT_MISSES] += 1
    victim = 0
    oldest = s.tlb_lru[cpu, st, 0]
    for w in range(ways):
        if s.tlb_vpn[cpu, st, w] < 0:
            victim = w
            break
        if s.tlb_lru[cpu, st, w] < oldest:
            oldest = s.tlb_lru[cpu, st, w]
            victim = w
    if s.tlb_vpn[cpu, st, victim] >= 0:
        _drop(s, cpu, st, victim, t)
    s.tlb_vpn[cpu, st, victim] = vpn
    s.tlb_ver[cpu, st, victim] = s.pte_ver[vpn]
    s.tlb_lru[cpu, st, victim] = t
    return m.costs[C_PAGE_WALK]


@jit
def tlb_invalidate_page(s, m, cpu, vpn, t):
    """invlpg: drop the entry for vpn (any version) at time t."""
    p = m.params
    st = vpn & (p[P_SETS] - 1)
    for w in range(p[P_WAYS]):
        if s.tlb_vpn[cpu, st, w] == vpn:
            _drop(s, cpu, st, w, t)


@jit
def tlb_flush_all(s, m, cpu, t):
    """CR3 reload: drop every entry at time t."""
    p = m.params
    for st in range(p[P_SETS]):
        for w in range(p[P_WAYS]):
            if s.tlb_vpn[cpu, st, w] >= 0:
                _drop(s, cpu, st, w, t)
    s.counters[K_FULL_FLUSHES] += 1
    s.cpu_counts[cpu, CNT_FULL_FLUSHES] += 1


@jit_inline
def _mark(s, cpu, st, w, sd, vpn, t):
    if s.tlb_sd[cpu, st, w] < 0:
        s.tlb_sd[cpu, st, w] = sd
        s.tlb_win[cpu, st, w] = log_window(s, sd, cpu, vpn, t)
        s.counters[K_WIN_OPENED] += 1
        s.counters[K_STALE_OPEN] += 1


@jit
def pte_change(s, m, sd, vpn, pages, t):
    """Shootdown sd changes the PTEs of [vpn, vpn + pages) at time t: bump
    their versions to sd + 1 and open a stale window for every TLB entry that
    held one of them.  Cost O(cpus * min(pages * ways, sets * ways))."""
    p = m.params
    n = p[P_NCPU]
    sets = p[P_SETS]
    ways = p[P_WAYS]
    ver = sd + 1
    for v in range(vpn, vpn + pages):
        s.pte_ver[v] = ver
    if pages <= sets:
        for v in range(vpn, vpn + pages):
            st = v & (sets - 1)
            for cpu in range(n):
                for w in range(ways):
                    if s.tlb_vpn[cpu, st, w] == v:
                        _mark(s, cpu, st, w, sd, v, t)
    else:
        hi = vpn + pages
        for cpu in range(n):
            for st in range(sets):
                for w in range(ways):
                    v = s.tlb_vpn[cpu, st, w]
                    if v >= vpn and v < hi:
                        _mark(s, cpu, st, w, sd, v, t)
