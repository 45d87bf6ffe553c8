"""The engine's one loop: pop the earliest event, dispatch it, repeat.

Guarantees of :func:`run`:

* it always returns, with ``counters[K_OUTCOME]`` set to ``completed`` (every
  op stream finished and no event is left), ``deadlock`` (no event can ever
  fire again but some CPU has not finished -- e.g. an initiator waiting
  forever), or ``event_limit`` (``max_events`` events were processed);
* events fire in ``(time, priority, seq)`` order, so the same inputs give the
  same result, jitted or interpreted.
"""

from .._jit import jit
from .._tables import (
    OP_ACCESS, OP_UNMAP, OP_PROTECT, OP_IRQ_OFF, OP_IDLE, ST_USER, ST_HANDLER, ST_WAIT,
    ST_IRQ_OFF, ST_KERNEL, ST_DONE, ST_IDLE,
    OUTCOME_COMPLETED, OUTCOME_DEADLOCK, OUTCOME_EVENT_LIMIT,
)
from ._cpu import (
    set_mode, schedule_cpu, catch_up, user_bound, try_take_irq, ipi_arrive,
)
from ._heap import heap_pop, heap_top_time
from ._layout import (
    P_NCPU, P_MAX_EVENTS, P_PROTO, PR_MAILBOX, PR_MAILBOX_FIXED,
    K_EVENTS, K_HEAP_N, K_NOW, K_OUTCOME, K_LAST_TIME,
    EK_CPU, EK_IPI, EK_IRQ, EK_ACK,
)
from ._tlb import tlb_access
from ._mailbox import (
    mailbox_initiate, mailbox_initiator_step, mailbox_handler_step,
    mailbox_ack_store,
)

__all__ = ["run"]


@jit
def _initiate(s, m, cpu, t, op):
    """Start the protocol's shootdown for op at t."""
    proto = m.params[P_PROTO]
    if proto == PR_MAILBOX or proto == PR_MAILBOX_FIXED:
        nt = mailbox_initiate(s, m, cpu, t, op)
        s.busy_until[cpu] = nt
        if nt < heap_top_time(s):
            mailbox_initiator_step(s, m, cpu, nt)
        else:
            schedule_cpu(s, cpu, nt)


@jit
def _initiator_step(s, m, cpu, t):
    proto = m.params[P_PROTO]
    if proto == PR_MAILBOX or proto == PR_MAILBOX_FIXED:
        mailbox_initiator_step(s, m, cpu, t)


@jit
def _handler_step(s, m, cpu, t):
    proto = m.params[P_PROTO]
    if proto == PR_MAILBOX or proto == PR_MAILBOX_FIXED:
        mailbox_handler_step(s, m, cpu, t)


@jit
def _store(s, m, cpu, t):
    proto = m.params[P_PROTO]
    if proto == PR_MAILBOX or proto == PR_MAILBOX_FIXED:
        mailbox_ack_store(s, m, cpu, t)


@jit
def _user_step(s, m, cpu, t):
    """The user CPU's own step: run accesses up to the next pending event,
    then start its next non-access op if that op comes first."""
    horizon = heap_top_time(s)
    catch_up(s, m, cpu, horizon)
    i = s.op_idx[cpu]
    start = s.next_op_time[cpu]
    # Ties: a CPU whose op starts exactly at the horizon goes first (it was
    # popped first); yielding instead could ping-pong forever between CPUs.
    if i >= m.op_start[cpu + 1]:
        if start <= horizon:
            set_mode(s, cpu, ST_DONE, start)
        else:
            schedule_cpu(s, cpu, start)
        return
    kind = m.op_kind[i]
    if start > horizon or (kind == OP_ACCESS and start == horizon):
        schedule_cpu(s, cpu, user_bound(s, m, cpu) if kind == OP_ACCESS else start)
        return
    if kind == OP_UNMAP or kind == OP_PROTECT:
        _initiate(s, m, cpu, start, i)
    elif kind == OP_IRQ_OFF:
        set_mode(s, cpu, ST_IRQ_OFF, start)
        s.span_end[cpu] = start + m.op_think[i]
        schedule_cpu(s, cpu, s.span_end[cpu])
    elif kind == OP_IDLE:
        set_mode(s, cpu, ST_IDLE, start)
        s.span_end[cpu] = start + m.op_think[i]
        schedule_cpu(s, cpu, s.span_end[cpu])


@jit
def _span_end(s, m, cpu, t):
    """An IRQ_OFF or IDLE op ends at t: back to the op stream; interrupts
    that waited are taken now.

    An IRQ_OFF op with ``pages >= 1`` touches its pages in the last cycles of
    the section, interrupts still off (a spinlock-held copy from a user
    buffer); the touches are stamped at the section's end.  An IRQ_OFF op
    directly followed by another continues one interrupts-off section."""
    i = s.op_idx[cpu]
    irq_off = s.mode[cpu] == ST_IRQ_OFF
    if irq_off:
        for v in range(m.op_vpn[i], m.op_vpn[i] + m.op_pages[i]):
            tlb_access(s, m, cpu, v, t)
    s.op_idx[cpu] = i + 1
    s.next_op_time[cpu] = t
    s.busy_until[cpu] = t
    if irq_off and i + 1 < m.op_start[cpu + 1] and m.op_kind[i + 1] == OP_IRQ_OFF:
        s.span_end[cpu] = t + m.op_think[i + 1]
        schedule_cpu(s, cpu, s.span_end[cpu])
        return
    set_mode(s, cpu, ST_USER, t)
    schedule_cpu(s, cpu, user_bound(s, m, cpu))
    try_take_irq(s, m, cpu, t)


@jit
def _start(s, m):
    n = m.params[P_NCPU]
    for cpu in range(n):
        if m.online[cpu] == 0 or m.op_start[cpu] == m.op_start[cpu + 1]:
            s.mode[cpu] = ST_DONE
        else:
            s.mode[cpu] = ST_USER
            schedule_cpu(s, cpu, user_bound(s, m, cpu))


@jit
def run(s, m):
    """Play the whole simulation; see the module docstring for guarantees."""
    c = s.counters
    _start(s, m)
    max_events = m.params[P_MAX_EVENTS]
    outcome = OUTCOME_COMPLETED
    while c[K_HEAP_N] > 0:
        if c[K_EVENTS] >= max_events:
            outcome = OUTCOME_EVENT_LIMIT
            break
        t, kind, cpu, arg = heap_pop(s)
        if kind == EK_CPU:
            c[K_EVENTS] += 1
            c[K_NOW] = t
            mode = s.mode[cpu]
            if mode == ST_USER:
                _user_step(s, m, cpu, t)
            elif mode == ST_KERNEL or mode == ST_WAIT:
                _initiator_step(s, m, cpu, t)
            elif mode == ST_HANDLER:
                _handler_step(s, m, cpu, t)
            elif mode == ST_IRQ_OFF or mode == ST_IDLE:
                _span_end(s, m, cpu, t)
        elif kind == EK_IPI:
            c[K_EVENTS] += 1
            c[K_NOW] = t
            ipi_arrive(s, m, cpu, arg, t)
        elif kind == EK_IRQ:
            c[K_EVENTS] += 1
            c[K_NOW] = t
            try_take_irq(s, m, cpu, t)
        elif kind == EK_ACK:
            c[K_EVENTS] += 1
            c[K_NOW] = t
            _store(s, m, cpu, t)
        if t > c[K_LAST_TIME]:
            c[K_LAST_TIME] = t
    if outcome == OUTCOME_COMPLETED:
        for cpu in range(m.params[P_NCPU]):
            if s.mode[cpu] != ST_DONE or s.in_sd[cpu] >= 0:
                outcome = OUTCOME_DEADLOCK
                break
    # Charge every CPU's time up to the end of the run to its last mode.
    end = c[K_LAST_TIME]
    for cpu in range(m.params[P_NCPU]):
        set_mode(s, cpu, s.mode[cpu], end)
    c[K_OUTCOME] = outcome
