"""The engine's one loop: pop the earliest event, dispatch it, repeat.

Guarantees of :func:`run`:

* it always returns, with ``counters[K_OUTCOME]`` set to ``completed`` (every
  op stream finished and no event is left), ``deadlock`` (no event can ever
  fire again but some CPU has not finished -- e.g. an initiator waiting
  forever), or ``event_limit`` (``max_events`` events were processed);
* events fire in the canonical order ``(time, priority, cpu, kind, arg)``
  (``_queue``), so the same inputs give the same result, jitted or
  interpreted.
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
from ._inflight import inflight_pop, inflight_sync, inflight_merge
from ._queue import eq_pop, eq_top_time, eq_cancel
from ._layout import (
    NEVER, P_NCPU, P_MAX_EVENTS, P_PROTO, PR_MAILBOX, PR_MAILBOX_FIXED, PRIO_CPU, ND_AT, ND_KEY,
    AT_NONE,
    K_EVENTS, K_EQ_N, K_NOW, K_OUTCOME, K_LAST_TIME, K_NOW_KEY, K_NOW_TIE,
    EK_CPU, EK_IPI, EK_IRQ, EK_ACK, EK_TICK, O_KIND, O_VPN, O_PAGES, O_THINK, T_ONLINE,
    MODE, OP_IDX, NEXT_OP, BUSY, SPAN_END, IN_SD, WAKE_AT,
)
from ._ref import ref
from ._tlb import tlb_access

__all__ = ["run"]


@jit
def _initiate(proto, s, m, c, t, op):
    """Start the protocol's shootdown for op at t; its next step is an event
    at the step boundary the start returns.  (Not played on here when
    nothing comes first: numba compiled the initiator's step into this
    caller too, 0.75 s of the first run's compile time, to save at most one
    event per shootdown.)"""
    nt = proto.initiate(s, m, c, t, op)
    s.cpu[c, BUSY] = nt
    schedule_cpu(s, c, nt)


@jit
def _user_step(proto, s, m, c, t):
    """The user CPU's own step: run accesses up to the next pending event,
    then start its next non-access op if that op comes first."""
    horizon = eq_top_time(s)
    catch_up(s, m, c, horizon)
    i = s.cpu[c, OP_IDX]
    start = s.cpu[c, NEXT_OP]
    # Ties: a CPU whose op starts exactly at the horizon goes first (it was
    # popped first); yielding instead could ping-pong forever between CPUs.
    if i >= m.op_start[c + 1]:
        if start <= horizon:
            set_mode(s, c, ST_DONE, start)
        else:
            schedule_cpu(s, c, start)
        return
    kind = m.ops[i, O_KIND]
    if kind == OP_ACCESS:
        # catch_up stopped at the horizon: sleep until the next bound
        schedule_cpu(s, c, user_bound(s, m, c))
        return
    if start > horizon:
        schedule_cpu(s, c, start)
        return
    if kind == OP_UNMAP or kind == OP_PROTECT:
        _initiate(proto, s, m, c, start, i)
    elif kind == OP_IRQ_OFF or kind == OP_IDLE:
        set_mode(s, c, ST_IRQ_OFF if kind == OP_IRQ_OFF else ST_IDLE, start)
        s.cpu[c, SPAN_END] = start + m.ops[i, O_THINK]
        schedule_cpu(s, c, s.cpu[c, SPAN_END])
        if kind == OP_IDLE:
            proto.switch(s, m, c, start)    # lazy protocols: switching away


@jit
def _span_end(proto, s, m, c, t):
    """An IRQ_OFF or IDLE op ends at t: back to the op stream; interrupts
    that waited are taken now.

    An IRQ_OFF op with ``pages >= 1`` touches its pages in the last cycles of
    the section, interrupts still off (a spinlock-held copy from a user
    buffer); the touches are stamped at the section's end.  An IRQ_OFF op
    directly followed by another continues one interrupts-off section."""
    cpu = s.cpu
    i = cpu[c, OP_IDX]
    irq_off = cpu[c, MODE] == ST_IRQ_OFF
    if irq_off:
        for v in range(m.ops[i, O_VPN], m.ops[i, O_VPN] + m.ops[i, O_PAGES]):
            tlb_access(s, m, c, v, t)
    cpu[c, OP_IDX] = i + 1
    cpu[c, NEXT_OP] = t
    cpu[c, BUSY] = t
    cpu[c, WAKE_AT] = -1
    if irq_off and i + 1 < m.op_start[c + 1] and m.ops[i + 1, O_KIND] == OP_IRQ_OFF:
        cpu[c, SPAN_END] = t + m.ops[i + 1, O_THINK]
        schedule_cpu(s, c, cpu[c, SPAN_END])
        return
    set_mode(s, c, ST_USER, t)
    schedule_cpu(s, c, user_bound(s, m, c))
    if not irq_off:
        proto.switch(s, m, c, t)            # lazy protocols: switching back
    try_take_irq(s, m, c, t)


@jit
def _start(s, m):
    for c in range(m.params[P_NCPU]):
        if m.topo[c, T_ONLINE] == 0 or m.op_start[c] == m.op_start[c + 1]:
            s.cpu[c, MODE] = ST_DONE
        else:
            s.cpu[c, MODE] = ST_USER
            schedule_cpu(s, c, user_bound(s, m, c))


@jit
def run(state, machine, proto):
    """Play the whole simulation in place; see the module docstring.

    ``proto`` is the protocol's :class:`~._protocols.Protocol`: ``run``
    compiles once per protocol, with its steps bound in (see _protocols)."""
    # Every helper gets a pointer to the tables, not copies of them (see _ref).
    s = ref(state)
    m = ref(machine)
    k = s.counters
    _start(s, m)
    max_events = m.params[P_MAX_EVENTS]
    proto_id = m.params[P_PROTO]
    outcome = OUTCOME_COMPLETED
    while k[K_EQ_N] > 0:
        if k[K_EVENTS] >= max_events:
            outcome = OUTCOME_EVENT_LIMIT
            break
        t, kind, c, arg = eq_pop(s)
        k[K_EVENTS] += 1
        k[K_NOW] = t
        if kind == EK_CPU:
            mode = s.cpu[c, MODE]
            if mode == ST_HANDLER:
                proto.handler_step(s, m, c, t)
                # A mailbox handler's exit that resumed an initiator at t
                # itself: the initiator's step, scheduled at t, would be the
                # very next event (every event of this instant that sorts
                # before it is done, and the exit scheduled nothing else), so
                # it is played in this event, below.
                x = 2 * c       # the CPU's step node (_queue)
                mode = s.cpu[c, MODE]
                if (proto_id == PR_MAILBOX or proto_id == PR_MAILBOX_FIXED) and (
                        (mode == ST_KERNEL or mode == ST_WAIT) and s.nd[x, ND_AT] != AT_NONE
                        and s.nd[x, ND_KEY] == t * 4 + PRIO_CPU):
                    eq_cancel(s, EK_CPU, c)
                else:
                    mode = ST_HANDLER       # nothing more in this event
            if mode == ST_USER:
                _user_step(proto, s, m, c, t)
            elif mode == ST_KERNEL or mode == ST_WAIT:
                # (one call of the initiator's step: numba compiles a callee
                # into each caller, and this one is the largest)
                proto.initiator_step(s, m, c, t)
            elif mode == ST_IRQ_OFF or mode == ST_IDLE:
                _span_end(proto, s, m, c, t)
        elif kind == EK_IPI:
            inflight_pop(s, c)
            ipi_arrive(s, m, c, arg, t)
            inflight_sync(s, c, t)
        elif kind == EK_IRQ:
            try_take_irq(s, m, c, t)
        elif kind == EK_ACK:
            proto.store(s, m, c, t)
        elif kind == EK_TICK:
            proto.tick(s, m, c, t)
        if t > k[K_LAST_TIME]:
            k[K_LAST_TIME] = t
    # IPIs parked on a CPU with one pending merged into it (_inflight): every
    # one if the queue ran dry, else those that arrived before the last event.
    for c in range(m.params[P_NCPU]):
        if outcome == OUTCOME_COMPLETED:
            t = inflight_merge(s, c, NEVER, 0)
            if t > k[K_LAST_TIME]:
                k[K_LAST_TIME] = t      # its arrivals are events of the run
        else:
            inflight_merge(s, c, k[K_NOW_KEY], k[K_NOW_TIE])
    if outcome == OUTCOME_COMPLETED:
        for c in range(m.params[P_NCPU]):
            if s.cpu[c, MODE] != ST_DONE or s.cpu[c, IN_SD] >= 0:
                outcome = OUTCOME_DEADLOCK
                break
    # Charge every CPU's time up to the end of the run to its last mode.
    end = k[K_LAST_TIME]
    for c in range(m.params[P_NCPU]):
        set_mode(s, c, s.cpu[c, MODE], end)
    k[K_OUTCOME] = outcome
