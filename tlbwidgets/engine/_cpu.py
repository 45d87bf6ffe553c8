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
    OP_ACCESS, ST_USER, ST_HANDLER, ST_WAIT, ST_IRQ_OFF, ST_KERNEL, ST_IDLE,
    EV_STATE, EV_IPI_ARRIVE, EV_IPI_TAKE,
)
from ._queue import eq_set, eq_cancel
from ._layout import (
    NEVER, IN_PHASE,
    P_NCPU, P_WAIT_IRQS_OFF, C_IRQ_ENTRY, C_IDLE_WAKE, C_TLB_HIT, C_PAGE_WALK,
    O_KIND, O_VPN, O_THINK, O_AHEAD, WAKE_AT,
    K_LAST_TIME, K_COALESCED, K_HANDLER_CYCLES, EK_CPU, EK_IRQ, PRIO_CPU, PRIO_IRQ,
    MODE, MODE_SINCE, SAVED_MODE, SUSPEND_T, OP_IDX, NEXT_OP, BUSY, SPAN_END,
    IPI_PENDING, IN_POLL0, IN_DEADLINE, IN_STEP_START, H_PHASE, H_T0, WAITING_ON, W_HEAD, W_NEXT,
    W_PREV, CYC, CNT, CNT_IPIS, TL_LRU, TL_VER, PT_VER, SW_HANDLER, SC_N_ENTRY,
)
from ._ack_line import ack_packed, ack_line_poller
from ._inflight import inflight_sync
from ._log import log_event
from ._schedule import step_delay
from ._tlb import tlb_find, tlb_fill, count_accesses, stale_use

__all__ = [
    "set_mode", "schedule_cpu", "catch_up", "sync_all_users", "user_bound",
    "irqs_enabled", "try_take_irq", "ipi_arrive", "take_irq", "handler_exit",
    "start_polling", "wait_register", "wait_unregister",
]


@jit
def set_mode(s, c, mode, t):
    """Switch CPU c to ``mode`` at t, charging the time since the last switch
    to the old mode."""
    cpu = s.cpu
    old = cpu[c, MODE]
    since = cpu[c, MODE_SINCE]
    if t > since:
        cpu[c, CYC + old] += t - since
        if old == ST_HANDLER:
            s.counters[K_HANDLER_CYCLES] += t - since
        cpu[c, MODE_SINCE] = t
    if old != mode:
        cpu[c, MODE] = mode
        log_event(s.ev, s.counters, t, c, EV_STATE, -1, -1, mode)
    if t > s.counters[K_LAST_TIME]:
        s.counters[K_LAST_TIME] = t


@jit
def schedule_cpu(s, c, t):
    """(Re)schedule CPU c's own next step at t, replacing a pending one."""
    eq_set(s, t, PRIO_CPU, EK_CPU, c)


@jit
def catch_up(s, m, c, t):
    """Run the user CPU's accesses that start before t (none if not in user
    mode).  Stops at the first non-access op: those are events.

    The hot loop of the engine: one iteration per simulated access.  It does
    ``tlb_access`` inline (hit path here, miss path in ``tlb_fill``) and
    counts the run's accesses once at the end."""
    cpu = s.cpu
    if cpu[c, MODE] != ST_USER:
        return
    end = m.op_start[c + 1]
    i = cpu[c, OP_IDX]
    now = cpu[c, NEXT_OP]
    busy = cpu[c, BUSY]
    ops = m.ops
    tlb, pte = s.tlb, s.pte
    set_mask = tlb.shape[1] - 1
    hit, walk = m.costs[C_TLB_HIT], m.costs[C_PAGE_WALK]
    i0 = i
    hits = 0
    while i < end and now < t and ops[i, O_KIND] == OP_ACCESS:
        vpn = ops[i, O_VPN]
        st = vpn & set_mask
        w = tlb_find(tlb, c, st, vpn)
        if w >= 0:
            tlb[c, st, w, TL_LRU] = now
            hits += 1
            if tlb[c, st, w, TL_VER] != pte[vpn, PT_VER]:
                stale_use(s, c, vpn, w, now)
            busy = now + hit
        else:
            tlb_fill(s, c, st, vpn, now)
            busy = now + walk
        now = busy + ops[i, O_THINK]
        i += 1
    if i > i0:
        count_accesses(s, c, i - i0, hits)
    cpu[c, OP_IDX] = i
    cpu[c, NEXT_OP] = now
    cpu[c, BUSY] = busy


@jit
def sync_all_users(s, m, t):
    """Bring every user CPU up to t before a change that its accesses could
    observe (a PTE version or a safe version)."""
    for c in range(m.params[P_NCPU]):
        if s.cpu[c, MODE] == ST_USER:
            catch_up(s, m, c, t)


@jit
def user_bound(s, m, c):
    """Earliest instant at which the user CPU's next non-access op (or its
    end of stream) could start: the time of its next step."""
    i = s.cpu[c, OP_IDX]
    if i >= m.op_start[c + 1]:
        return s.cpu[c, NEXT_OP]
    return s.cpu[c, NEXT_OP] + m.ops[i, O_AHEAD]


@jit
def irqs_enabled(s, m, c):
    mode = s.cpu[c, MODE]
    if mode == ST_HANDLER or mode == ST_IRQ_OFF:
        return False
    if (mode == ST_KERNEL or mode == ST_WAIT) and m.params[P_WAIT_IRQS_OFF] != 0:
        return False
    return True


@jit
def start_polling(s, c, t, phase, deadline):
    """CPU c starts spinning at t, in initiator ``phase``: its polls fall on
    the grid t + k * pause (``IN_POLL0``) and it gives up at ``deadline``
    (``NEVER``: it never does), when its step is scheduled.  Joining a
    target's list of pollers (``wait_register``) is the caller's part."""
    set_mode(s, c, ST_WAIT, t)
    cpu = s.cpu
    cpu[c, IN_POLL0] = t
    cpu[c, IN_DEADLINE] = deadline
    cpu[c, IN_PHASE] = phase
    if deadline < NEVER:
        schedule_cpu(s, c, deadline)


@jit
def wait_register(s, m, c, target):
    """Put c on target's list of ACK pollers (and count it on a packed ACK
    line: _ack_line)."""
    cpu = s.cpu
    if ack_packed(m):
        ack_line_poller(s, m, c, target, 1)
    cpu[c, WAITING_ON] = target
    head = cpu[target, W_HEAD]
    cpu[c, W_PREV] = -1
    cpu[c, W_NEXT] = head
    if head >= 0:
        cpu[head, W_PREV] = c
    cpu[target, W_HEAD] = c


@jit
def wait_unregister(s, m, c):
    cpu = s.cpu
    target = cpu[c, WAITING_ON]
    if target < 0:
        return
    if ack_packed(m):
        ack_line_poller(s, m, c, target, -1)
    prv = cpu[c, W_PREV]
    nxt = cpu[c, W_NEXT]
    if prv >= 0:
        cpu[prv, W_NEXT] = nxt
    else:
        cpu[target, W_HEAD] = nxt
    if nxt >= 0:
        cpu[nxt, W_PREV] = prv
    cpu[c, W_NEXT] = -1
    cpu[c, W_PREV] = -1
    cpu[c, WAITING_ON] = -1


@jit
def take_irq(s, m, c, t):
    """Enter the interrupt handler at t: the interrupted activity is frozen
    (its pending step cancelled) and resumes, shifted by the handler's
    duration, at ``handler_exit``."""
    cpu = s.cpu
    cpu[c, IPI_PENDING] = 0
    inflight_sync(s, c, t)
    cpu[c, SAVED_MODE] = cpu[c, MODE]
    cpu[c, SUSPEND_T] = t
    eq_cancel(s, EK_CPU, c)
    # A later instant it was to be taken at (after an access, or once woken
    # from halt) is moot: a no-op event there would only stretch the run.
    eq_cancel(s, EK_IRQ, c)
    if cpu[c, MODE] == ST_WAIT:
        wait_unregister(s, m, c)
    set_mode(s, c, ST_HANDLER, t)
    cpu[c, H_PHASE] = 0
    cpu[c, H_T0] = t
    log_event(s.ev, s.counters, t, c, EV_IPI_TAKE, -1, -1, 0)
    entry = m.costs[C_IRQ_ENTRY] + step_delay(s, m, c, SW_HANDLER, SC_N_ENTRY)
    schedule_cpu(s, c, t + entry)


@jit
def try_take_irq(s, m, c, t):
    """If an IPI is pending and CPU c may take it, take it now or schedule
    the instant it will be taken (after the access in flight)."""
    cpu = s.cpu
    if cpu[c, IPI_PENDING] == 0 or not irqs_enabled(s, m, c):
        return
    mode = cpu[c, MODE]
    take = t
    if mode == ST_USER:
        catch_up(s, m, c, t)
        if cpu[c, BUSY] > t:
            take = cpu[c, BUSY]
    elif mode == ST_KERNEL:
        if cpu[c, BUSY] > t:
            return  # the step boundary will take it
    elif mode == ST_IDLE and m.costs[C_IDLE_WAKE] > 0:
        # Halted (it has been idle since it last woke): the interrupt wakes the
        # CPU, which takes it once awake (docs/model.md section 3).
        if cpu[c, WAKE_AT] < t:
            cpu[c, WAKE_AT] = t + m.costs[C_IDLE_WAKE]
        take = cpu[c, WAKE_AT]
    if take > t:
        eq_set(s, take, PRIO_IRQ, EK_IRQ, c)
    else:
        take_irq(s, m, c, t)


@jit
def ipi_arrive(s, m, c, sender, t):
    """An IPI from sender reaches c at t.  One pending bit per vector: an IPI
    arriving while one is pending is merged into it (APIC IRR).  A handler
    whose exit was played ahead together with the next entry (``H_T0`` after
    t: ``mailbox_ack_store``) still has that IPI pending until ``H_T0``."""
    cpu = s.cpu
    cpu[c, CNT + CNT_IPIS] += 1
    if cpu[c, IPI_PENDING] != 0 or t < cpu[c, H_T0]:
        s.counters[K_COALESCED] += 1
        log_event(s.ev, s.counters, t, c, EV_IPI_ARRIVE, sender, -1, 2)
        return
    cpu[c, IPI_PENDING] = 1
    waits = 0 if irqs_enabled(s, m, c) else 1
    log_event(s.ev, s.counters, t, c, EV_IPI_ARRIVE, sender, -1, waits)
    try_take_irq(s, m, c, t)


@jit
def handler_exit(s, m, c, t):
    """Leave the handler at t and resume what was interrupted, delayed by the
    handler's duration; then take an IPI that arrived meanwhile."""
    cpu = s.cpu
    mode = cpu[c, SAVED_MODE]
    delay = t - cpu[c, SUSPEND_T]
    cpu[c, SAVED_MODE] = -1
    set_mode(s, c, mode, t)
    if mode == ST_USER:
        cpu[c, NEXT_OP] += delay
        if cpu[c, BUSY] > cpu[c, SUSPEND_T]:
            cpu[c, BUSY] += delay
        schedule_cpu(s, c, user_bound(s, m, c))
    elif mode == ST_KERNEL or mode == ST_WAIT:
        cpu[c, IN_DEADLINE] += delay
        # A wait measured from IN_STEP_START leaves the handler's time out: an
        # initiator's time serving others is its shootdown's S_SERVE.
        cpu[c, IN_STEP_START] += delay
        cpu[c, IN_POLL0] = t
        schedule_cpu(s, c, t)
    elif mode == ST_IDLE:
        cpu[c, SPAN_END] += delay
        cpu[c, WAKE_AT] = t     # awake at this instant; from the next one it halts again
        schedule_cpu(s, c, cpu[c, SPAN_END])
    try_take_irq(s, m, c, t)
