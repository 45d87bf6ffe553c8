"""What every CPU does whatever the protocol: modes, its op stream, taking
and leaving interrupts, and waiting on another CPU's acknowledgement.

A CPU in user mode runs its accesses *lazily*: nothing outside a CPU can
change what its accesses see except (a) a PTE change, (b) a safe-version
update and (c) its own interrupt handler.  So the engine advances a user CPU
only when one of those is about to happen (``catch_up`` / ``sync_all_users``)
or when its next non-access op may start; a run of accesses costs no events.
"""

from .._jit import jit
from .._tables import (
    OP_ACCESS, ST_USER, ST_HANDLER, ST_WAIT, ST_IRQ_OFF, ST_KERNEL, ST_DONE,
    ST_IDLE, EV_STATE, EV_IPI_ARRIVE, EV_IPI_TAKE,
)
from ._heap import heap_set, heap_cancel
from ._layout import (
    P_NCPU, P_WAIT_IRQS_OFF, C_IRQ_ENTRY,
    K_LAST_TIME, K_COALESCED, K_HANDLER_CYCLES,
    EK_CPU, EK_IRQ, PRIO_CPU, PRIO_IRQ,
)
from ._log import log_event
from ._tlb import tlb_access, CNT_IPIS

__all__ = [
    "set_mode", "schedule_cpu", "catch_up", "sync_all_users", "user_bound",
    "irqs_enabled", "try_take_irq", "ipi_arrive", "take_irq", "handler_exit",
    "wait_register", "wait_unregister",
]


@jit
def set_mode(s, cpu, mode, t):
    """Switch CPU to ``mode`` at t, charging the time since the last switch
    to the old mode."""
    old = s.mode[cpu]
    if t > s.mode_since[cpu]:
        s.cpu_cycles[cpu, old] += t - s.mode_since[cpu]
        if old == ST_HANDLER:
            s.counters[K_HANDLER_CYCLES] += t - s.mode_since[cpu]
        s.mode_since[cpu] = t
    if old != mode:
        s.mode[cpu] = mode
        log_event(s, t, cpu, EV_STATE, -1, -1, mode)
    if t > s.counters[K_LAST_TIME]:
        s.counters[K_LAST_TIME] = t


@jit
def schedule_cpu(s, cpu, t):
    """(Re)schedule the CPU's own next step at t; any earlier pending step of
    this CPU is superseded."""
    heap_set(s, t, PRIO_CPU, EK_CPU, cpu)


@jit
def catch_up(s, m, cpu, t):
    """Run the user CPU's accesses that start before t (none if not in user
    mode).  Stops at the first non-access op: those are events."""
    if s.mode[cpu] != ST_USER:
        return
    end = m.op_start[cpu + 1]
    i = s.op_idx[cpu]
    now = s.next_op_time[cpu]
    busy = s.busy_until[cpu]
    while i < end and now < t and m.op_kind[i] == OP_ACCESS:
        cost = tlb_access(s, m, cpu, m.op_vpn[i], now)
        busy = now + cost
        now = busy + m.op_think[i]
        i += 1
    s.op_idx[cpu] = i
    s.next_op_time[cpu] = now
    s.busy_until[cpu] = busy


@jit
def sync_all_users(s, m, t):
    """Bring every user CPU up to t before a change that its accesses could
    observe (a PTE version or a safe version)."""
    for cpu in range(m.params[P_NCPU]):
        if s.mode[cpu] == ST_USER:
            catch_up(s, m, cpu, t)


@jit
def user_bound(s, m, cpu):
    """Earliest instant at which the user CPU's next non-access op (or its
    end of stream) could start: the time of its next CPU step."""
    i = s.op_idx[cpu]
    if i >= m.op_start[cpu + 1]:
        return s.next_op_time[cpu]
    return s.next_op_time[cpu] + m.op_min_ahead[i]


@jit
def irqs_enabled(s, m, cpu):
    mode = s.mode[cpu]
    if mode == ST_HANDLER or mode == ST_IRQ_OFF:
        return False
    if mode == ST_KERNEL or mode == ST_WAIT:
        if m.params[P_WAIT_IRQS_OFF] != 0:
            return False
    return True


@jit
def wait_register(s, cpu, target):
    """Put cpu on target's list of ACK pollers."""
    s.waiting_on[cpu] = target
    head = s.w_head[target]
    s.w_prev[cpu] = -1
    s.w_next[cpu] = head
    if head >= 0:
        s.w_prev[head] = cpu
    s.w_head[target] = cpu


@jit
def wait_unregister(s, cpu):
    target = s.waiting_on[cpu]
    if target < 0:
        return
    prv = s.w_prev[cpu]
    nxt = s.w_next[cpu]
    if prv >= 0:
        s.w_next[prv] = nxt
    else:
        s.w_head[target] = nxt
    if nxt >= 0:
        s.w_prev[nxt] = prv
    s.w_next[cpu] = -1
    s.w_prev[cpu] = -1
    s.waiting_on[cpu] = -1


@jit
def take_irq(s, m, cpu, t):
    """Enter the interrupt handler at t: the interrupted activity is frozen
    (its pending step superseded) and resumes, shifted by the handler's
    duration, at ``handler_exit``."""
    s.ipi_pending[cpu] = 0
    s.saved_mode[cpu] = s.mode[cpu]
    s.suspend_t[cpu] = t
    heap_cancel(s, EK_CPU, cpu)
    if s.mode[cpu] == ST_WAIT:
        wait_unregister(s, cpu)
    set_mode(s, cpu, ST_HANDLER, t)
    s.h_phase[cpu] = 0
    s.h_t0[cpu] = t
    log_event(s, t, cpu, EV_IPI_TAKE, -1, -1, 0)
    schedule_cpu(s, cpu, t + m.costs[C_IRQ_ENTRY])


@jit
def try_take_irq(s, m, cpu, t):
    """If an IPI is pending and the CPU may take it, take it now or schedule
    the instant it will be taken (after the access in flight)."""
    if s.ipi_pending[cpu] == 0 or not irqs_enabled(s, m, cpu):
        return
    mode = s.mode[cpu]
    take = t
    if mode == ST_USER:
        catch_up(s, m, cpu, t)
        if s.busy_until[cpu] > t:
            take = s.busy_until[cpu]
    elif mode == ST_KERNEL:
        if s.busy_until[cpu] > t:
            return  # the step boundary will take it
    if take > t:
        heap_set(s, take, PRIO_IRQ, EK_IRQ, cpu)
    else:
        take_irq(s, m, cpu, t)


@jit
def ipi_arrive(s, m, cpu, sender, t):
    """An IPI from sender reaches cpu at t.  One pending bit per vector: an
    IPI arriving while one is pending is merged into it (APIC IRR)."""
    s.cpu_counts[cpu, CNT_IPIS] += 1
    if s.ipi_pending[cpu] != 0:
        s.counters[K_COALESCED] += 1
        log_event(s, t, cpu, EV_IPI_ARRIVE, sender, -1, 2)
        return
    s.ipi_pending[cpu] = 1
    waits = 0 if irqs_enabled(s, m, cpu) else 1
    log_event(s, t, cpu, EV_IPI_ARRIVE, sender, -1, waits)
    try_take_irq(s, m, cpu, t)


@jit
def handler_exit(s, m, cpu, t):
    """Leave the handler at t and resume what was interrupted, delayed by the
    handler's duration; then take an IPI that arrived meanwhile."""
    mode = s.saved_mode[cpu]
    delay = t - s.suspend_t[cpu]
    s.saved_mode[cpu] = -1
    set_mode(s, cpu, mode, t)
    if mode == ST_USER:
        s.next_op_time[cpu] += delay
        if s.busy_until[cpu] > s.suspend_t[cpu]:
            s.busy_until[cpu] += delay
        schedule_cpu(s, cpu, user_bound(s, m, cpu))
    elif mode == ST_KERNEL or mode == ST_WAIT:
        s.in_deadline[cpu] += delay
        s.in_poll0[cpu] = t
        schedule_cpu(s, cpu, t)
    elif mode == ST_IDLE:
        s.span_end[cpu] += delay
        schedule_cpu(s, cpu, s.span_end[cpu])
    try_take_irq(s, m, cpu, t)
