"""Initiator steps shared by every protocol: start a shootdown (change the
PTEs, decide the flush kind), flush locally, declare the pages safe, return."""

from .._jit import jit
from .._tables import (
    OP_IRQ_OFF, SD_PAGE, SD_RANGE, SD_FULL, ST_KERNEL, ST_USER, ST_IRQ_OFF,
    EV_PTE_CHANGE, EV_LOCAL_FLUSH, EV_RETURN, EV_SAFE, EV_WARNING,
)
from ._cpu import set_mode, schedule_cpu, sync_all_users, user_bound, try_take_irq
from ._layout import (
    P_WAIT_IRQS_OFF, C_INVLPG, C_FULL_FLUSH, K_NSD, K_WARNINGS,
)
from ._log import log_event
from ._tlb import pte_change, tlb_invalidate_page, tlb_flush_all

__all__ = ["begin_shootdown", "flush_cost", "perform_flush", "local_flush", "declare_safe",
           "initiator_return"]


@jit
def flush_cost(m, kind, pages):
    """Cycles to perform one op locally: ``pages x invlpg`` or ``full_flush``."""
    if kind == SD_FULL:
        return m.costs[C_FULL_FLUSH]
    return pages * m.costs[C_INVLPG]


@jit
def perform_flush(s, m, cpu, kind, vpn, pages, t):
    """Perform one op on cpu starting at t; each entry is invalidated at the
    instant its own invalidation completes.  Returns the end time."""
    if kind == SD_FULL:
        end = t + m.costs[C_FULL_FLUSH]
        tlb_flush_all(s, m, cpu, end)
        return end
    step = m.costs[C_INVLPG]
    for j in range(pages):
        tlb_invalidate_page(s, m, cpu, vpn + j, t + (j + 1) * step)
    return t + pages * step


@jit
def begin_shootdown(s, m, cpu, t, op, threshold):
    """Start the shootdown of workload op ``op`` on cpu at t.

    Every user CPU is first brought up to t, then the PTEs of the range are
    changed (the kernel writes PTEs before it shoots down).  The flush kind
    follows the seed: a range with end <= start becomes Full (and a warning),
    more than ``threshold`` pages become Full.  Returns the shootdown id; the
    kind and range are left in ``in_kind`` / ``in_vpn`` / ``in_pages``.
    """
    sync_all_users(s, m, t)
    c = s.counters
    sd = c[K_NSD]
    c[K_NSD] = sd + 1
    vpn = m.op_vpn[op]
    pages = m.op_pages[op]
    s.sd_init[sd] = cpu
    s.sd_start[sd] = t
    s.sd_vpn[sd] = vpn
    s.sd_op[sd] = m.op_kind[op]
    kind = SD_RANGE
    if pages <= 0:
        kind = SD_FULL
        s.sd_upgraded[sd] = 1
        c[K_WARNINGS] += 1
        log_event(s, t, cpu, EV_WARNING, -1, sd, pages)
        pages = 0
    elif pages > threshold:
        kind = SD_FULL
        s.sd_upgraded[sd] = 1
    elif pages == 1:
        kind = SD_PAGE
    s.sd_pages[sd] = pages
    s.sd_kind[sd] = kind
    if pages > 0:
        pte_change(s, m, sd, vpn, pages, t)
        log_event(s, t, cpu, EV_PTE_CHANGE, -1, sd, pages)
    s.in_sd[cpu] = sd
    s.in_vpn[cpu] = vpn
    s.in_pages[cpu] = pages
    s.in_kind[cpu] = kind
    s.in_idx[cpu] = 0
    s.in_ntargets[cpu] = 0
    set_mode(s, cpu, ST_KERNEL, t)
    return sd


@jit
def local_flush(s, m, cpu, t):
    """The initiator flushes its own TLB from t; returns the end time."""
    sd = s.in_sd[cpu]
    end = perform_flush(s, m, cpu, s.in_kind[cpu], s.in_vpn[cpu], s.in_pages[cpu], t)
    s.sd_local[sd] += end - t
    s.busy_until[cpu] = end
    log_event(s, end, cpu, EV_LOCAL_FLUSH, -1, sd, s.in_kind[cpu])
    return end


@jit
def declare_safe(s, m, sd, t):
    """From t the OS may reuse shootdown sd's pages: any later use of a
    translation older than this change is a violation."""
    sync_all_users(s, m, t)
    ver = sd + 1
    for v in range(s.sd_vpn[sd], s.sd_vpn[sd] + s.sd_pages[sd]):
        if s.safe_ver[v] < ver:
            s.safe_ver[v] = ver
    s.sd_safe[sd] = t
    log_event(s, t, s.sd_init[sd], EV_SAFE, -1, sd, s.sd_pages[sd])


@jit
def initiator_return(s, m, cpu, t, synchronous):
    """The initiator returns at t and resumes its op stream after the op's
    think time.  Synchronous protocols declare the pages safe now."""
    sd = s.in_sd[cpu]
    s.sd_end[sd] = t
    log_event(s, t, cpu, EV_RETURN, -1, sd, s.sd_timeouts[sd])
    if synchronous:
        declare_safe(s, m, sd, t)
    s.in_sd[cpu] = -1
    op = s.op_idx[cpu]
    s.op_idx[cpu] = op + 1
    s.next_op_time[cpu] = t + m.op_think[op]
    s.busy_until[cpu] = t
    if (m.params[P_WAIT_IRQS_OFF] != 0 and m.op_think[op] == 0
            and op + 1 < m.op_start[cpu + 1] and m.op_kind[op + 1] == OP_IRQ_OFF):
        # Called with interrupts off and the caller's section goes on: they
        # stay off into the next IRQ_OFF op (pending IPIs keep waiting).
        set_mode(s, cpu, ST_IRQ_OFF, t)
        s.span_end[cpu] = t + m.op_think[op + 1]
        schedule_cpu(s, cpu, s.span_end[cpu])
        return
    set_mode(s, cpu, ST_USER, t)
    schedule_cpu(s, cpu, user_bound(s, m, cpu))
    try_take_irq(s, m, cpu, t)
