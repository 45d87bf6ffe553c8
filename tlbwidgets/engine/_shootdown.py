"""Initiator steps shared by every protocol: start a shootdown (change the
PTEs, decide the flush kind), flush locally, declare the pages safe, return."""

from .._jit import jit
from .._tables import (
    OP_IRQ_OFF, SD_PAGE, SD_RANGE, SD_FULL, ST_KERNEL, ST_USER, ST_IRQ_OFF, ST_HANDLER,
    EV_PTE_CHANGE, EV_LOCAL_FLUSH, EV_RETURN, EV_SAFE, EV_WARNING, EV_IPI_SEND,
)
from ._queue import eq_top_time
from ._cpu import set_mode, schedule_cpu, sync_all_users, user_bound, try_take_irq
from ._layout import (
    P_WAIT_IRQS_OFF, P_NCPU, P_FULL_THRESHOLD, C_INVLPG, C_FULL_FLUSH, C_CACHELINE,
    C_CACHELINE_REMOTE, C_IPI_LATENCY, C_IPI_LATENCY_REMOTE, K_NSD, K_WARNINGS, K_SKIPPED, K_IPIS,
    T_SOCKET, T_ONLINE, TG_CPU, TG_DELIV, S_TARGETS, S_IPIS, K_NSTAGE, LS_IPI,
    O_KIND, O_VPN, O_PAGES, O_THINK, O_SHORT, PT_SAFE, P_PROTO, PR_MAILBOX,
    IN_SD, IN_VPN, IN_PAGES, IN_KIND, IN_IDX, IN_NTARGETS, OP_IDX, NEXT_OP, BUSY,
    SPAN_END, IN_PHASE, IN_STEP_START, S_INIT, S_START, S_END, S_SAFE, S_VPN, S_PAGES,
    S_KIND, S_OP, S_FLUSH_PAGES, IN_LOGS, K_NDELIV,
    S_UPGRADED, S_LOCAL, S_TIMEOUTS, S_SERVE, SW_IPI, SC_N_IPI, CYC, IN_H0,
)
from ._inflight import inflight_send
from ._log import log_event, log_delivery
from ._schedule import step_delay
from ._tlb import pte_change, tlb_invalidate_page, tlb_flush_all

__all__ = ["begin_shootdown", "perform_flush", "local_flush", "declare_safe",
           "initiator_return", "cacheline_cost", "ipi_latency", "target_cpu",
           "list_online_targets", "send_ipi", "next_target", "run_ahead",
           "start_with_online_targets"]


@jit
def cacheline_cost(m, a, b):
    """Moving a cache line between CPUs a and b: remote across sockets."""
    if m.topo[a, T_SOCKET] != m.topo[b, T_SOCKET]:
        return m.costs[C_CACHELINE_REMOTE]
    return m.costs[C_CACHELINE]


@jit
def ipi_latency(m, a, b):
    """From the end of an IPI send on a until the IPI reaches b."""
    if m.topo[a, T_SOCKET] != m.topo[b, T_SOCKET]:
        return m.costs[C_IPI_LATENCY_REMOTE]
    return m.costs[C_IPI_LATENCY]


@jit
def target_cpu(s, m, c, idx):
    """The CPU of c's idx-th target.  Every protocol lists its targets in
    CPU order, so a full list (every other CPU) needs no lookup: idx, or
    idx + 1 from c on.  Computing it spares the pair table's cache lines, one
    per target walked (a storm's 256 initiators walk theirs at once)."""
    if s.cpu[c, IN_NTARGETS] == m.params[P_NCPU] - 1:
        return idx + (idx >= c)
    return s.pair[TG_CPU, c, idx]


@jit
def list_online_targets(s, m, c, sd):
    """Make every other online CPU, in CPU order, a target of c's shootdown
    sd (the seed's collect_tlb_targets: no tracking of who holds the
    mapping; offline CPUs are skipped and counted).  Returns how many."""
    k = 0
    for j in range(m.params[P_NCPU]):
        if j == c:
            continue
        if m.topo[j, T_ONLINE] == 0:
            s.counters[K_SKIPPED] += 1
            continue
        s.pair[TG_CPU, c, k] = j
        if s.cpu[c, IN_LOGS] != 0:
            s.pair[TG_DELIV, c, k] = -1
        k += 1
    s.cpu[c, IN_NTARGETS] = k
    s.sd[sd, S_TARGETS] = k
    return k


@jit
def start_with_online_targets(s, m, c, t, op, first_phase, no_target_phase):
    """The common start of the protocols that interrupt every other online
    CPU (mailbox, mailbox_fixed, global_lock): change the PTEs, list the
    targets, flush locally; the initiator continues in ``first_phase``, or in
    ``no_target_phase`` when there is nobody to reach.  Returns the end of the
    local flush (its next step boundary)."""
    sd = begin_shootdown(s, m, c, t, op, m.params[P_FULL_THRESHOLD])
    k = list_online_targets(s, m, c, sd)
    end = local_flush(s, m, c, t)
    s.cpu[c, IN_PHASE] = first_phase if k > 0 else no_target_phase
    s.cpu[c, IN_STEP_START] = end
    return end


@jit
def send_ipi(s, m, c, idx, t):
    """c's IPI to its idx-th target leaves at t (the ICR write just ended)
    and arrives ``ipi_latency`` later."""
    j = target_cpu(s, m, c, idx)
    sd = s.cpu[c, IN_SD]
    latency = ipi_latency(m, c, j) + step_delay(s, m, j, SW_IPI, SC_N_IPI)
    inflight_send(s, j, c, t + latency)
    s.counters[K_IPIS] += 1
    s.sd[sd, S_IPIS] += 1
    if s.cpu[c, IN_LOGS] != 0:
        d = s.pair[TG_DELIV, c, idx]
        if d >= 0:
            log_delivery(s.lg, s.counters, K_NSTAGE, d, LS_IPI, t, -1, 0)
    log_event(s.ev, s.counters, t, c, EV_IPI_SEND, j, sd, 0)


@jit
def next_target(s, c, same_phase, next_phase):
    """After the step for the current target: on to the next target in
    ``same_phase``; after the last one, back to target 0 in ``next_phase``.
    Returns True when the list is exhausted."""
    cpu = s.cpu
    idx = cpu[c, IN_IDX] + 1
    if idx < cpu[c, IN_NTARGETS]:
        cpu[c, IN_IDX] = idx
        cpu[c, IN_PHASE] = same_phase
        return False
    cpu[c, IN_IDX] = 0
    cpu[c, IN_PHASE] = next_phase
    return True


@jit
def run_ahead(s, c, nt):
    """The initiator's current step ends at nt.  True: no other event comes
    first, so the caller goes on at nt without an event; False: the next
    step is scheduled at nt."""
    s.cpu[c, BUSY] = nt
    if nt < eq_top_time(s):
        return True
    schedule_cpu(s, c, nt)
    return False


@jit
def perform_flush(s, m, c, kind, vpn, pages, t):
    """Perform one op on CPU c starting at t; each entry is invalidated at
    the instant its own invalidation completes.  Returns the end time."""
    if kind == SD_FULL:
        end = t + m.costs[C_FULL_FLUSH]
        tlb_flush_all(s, m, c, end)
        return end
    step = m.costs[C_INVLPG]
    for j in range(pages):
        tlb_invalidate_page(s, m, c, vpn + j, t + (j + 1) * step)
    return t + pages * step


@jit
def begin_shootdown(s, m, c, t, op, threshold):
    """Start the shootdown of workload op ``op`` on CPU c at t.

    Every user CPU is first brought up to t, then the PTEs of the range are
    changed (the kernel writes PTEs before it shoots down).  The flush kind
    follows the seed: a range with end <= start becomes Full (and a warning),
    more than ``threshold`` pages become Full.  Returns the shootdown id; the
    kind and the range to flush are left in the CPU's IN_KIND / IN_VPN /
    IN_PAGES.

    A byte-range op changes (and, once safe, releases) every page its bytes
    touch, ``O_PAGES`` of them.  The seed counts its pages as ``(end -
    start) // 4096`` from the page of ``start``, so under ``mailbox`` it
    flushes ``O_SHORT`` pages fewer (a sub-page range: none at all, still a
    Range op); every other protocol flushes every touched page (outward).
    """
    sync_all_users(s, m, t)
    k = s.counters
    sd = k[K_NSD]
    k[K_NSD] = sd + 1
    vpn = m.ops[op, O_VPN]
    pages = m.ops[op, O_PAGES]
    flush_pages = pages
    if m.params[P_PROTO] == PR_MAILBOX:
        flush_pages = pages - m.ops[op, O_SHORT]
    row = s.sd
    row[sd, S_INIT] = c
    row[sd, S_START] = t
    row[sd, S_VPN] = vpn
    row[sd, S_OP] = m.ops[op, O_KIND]
    kind = SD_RANGE
    if pages <= 0:
        kind = SD_FULL
        row[sd, S_UPGRADED] = 1
        k[K_WARNINGS] += 1
        log_event(s.ev, k, t, c, EV_WARNING, -1, sd, pages)
        pages = 0
        flush_pages = 0
    elif flush_pages > threshold:
        kind = SD_FULL
        row[sd, S_UPGRADED] = 1
    elif flush_pages == 1:
        kind = SD_PAGE
    row[sd, S_PAGES] = pages
    row[sd, S_FLUSH_PAGES] = flush_pages
    row[sd, S_KIND] = kind
    if pages > 0:
        pte_change(s, m, sd, vpn, pages, t)
        log_event(s.ev, k, t, c, EV_PTE_CHANGE, -1, sd, pages)
    cpu = s.cpu
    cpu[c, IN_SD] = sd
    cpu[c, IN_VPN] = vpn
    cpu[c, IN_PAGES] = flush_pages
    cpu[c, IN_KIND] = kind
    cpu[c, IN_IDX] = 0
    cpu[c, IN_NTARGETS] = 0
    # A shootdown that begins with the delivery log full logs no delivery:
    # its targets' row numbers (TG_DELIV) are then neither written nor read.
    cpu[c, IN_LOGS] = k[K_NDELIV] < s.dv.shape[0]
    set_mode(s, c, ST_KERNEL, t)
    cpu[c, IN_H0] = cpu[c, CYC + ST_HANDLER]
    return sd


@jit
def local_flush(s, m, c, t):
    """The initiator flushes its own TLB from t; returns the end time."""
    cpu = s.cpu
    sd = cpu[c, IN_SD]
    end = perform_flush(s, m, c, cpu[c, IN_KIND], cpu[c, IN_VPN], cpu[c, IN_PAGES], t)
    s.sd[sd, S_LOCAL] += end - t
    cpu[c, BUSY] = end
    log_event(s.ev, s.counters, end, c, EV_LOCAL_FLUSH, -1, sd, cpu[c, IN_KIND])
    return end


@jit
def declare_safe(s, m, sd, t):
    """From t the OS may reuse shootdown sd's pages: any later use of a
    translation older than this change is a violation."""
    sync_all_users(s, m, t)
    ver = sd + 1
    lo = s.sd[sd, S_VPN]
    for v in range(lo, lo + s.sd[sd, S_PAGES]):
        if s.pte[v, PT_SAFE] < ver:
            s.pte[v, PT_SAFE] = ver
    s.sd[sd, S_SAFE] = t
    log_event(s.ev, s.counters, t, s.sd[sd, S_INIT], EV_SAFE, -1, sd, s.sd[sd, S_PAGES])


@jit
def initiator_return(s, m, c, t, synchronous):
    """The initiator returns at t and resumes its op stream after the op's
    think time.  Synchronous protocols declare the pages safe now."""
    cpu = s.cpu
    sd = cpu[c, IN_SD]
    s.sd[sd, S_END] = t
    # The time it spent in its handler meanwhile (its other parts leave it out).
    s.sd[sd, S_SERVE] = cpu[c, CYC + ST_HANDLER] - cpu[c, IN_H0]
    log_event(s.ev, s.counters, t, c, EV_RETURN, -1, sd, s.sd[sd, S_TIMEOUTS])
    if synchronous:
        declare_safe(s, m, sd, t)
    cpu[c, IN_SD] = -1
    op = cpu[c, OP_IDX]
    cpu[c, OP_IDX] = op + 1
    cpu[c, NEXT_OP] = t + m.ops[op, O_THINK]
    cpu[c, BUSY] = t
    if (m.params[P_WAIT_IRQS_OFF] != 0 and m.ops[op, O_THINK] == 0
            and op + 1 < m.op_start[c + 1] and m.ops[op + 1, O_KIND] == OP_IRQ_OFF):
        # Called with interrupts off and the caller's section goes on: they
        # stay off into the next IRQ_OFF op (pending IPIs keep waiting).
        set_mode(s, c, ST_IRQ_OFF, t)
        cpu[c, SPAN_END] = t + m.ops[op + 1, O_THINK]
        schedule_cpu(s, c, cpu[c, SPAN_END])
        return
    set_mode(s, c, ST_USER, t)
    schedule_cpu(s, c, user_bound(s, m, c))
    try_take_irq(s, m, c, t)
