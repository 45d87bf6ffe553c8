"""The seed's per-CPU mailbox shootdown (``mailbox``) and its repair
(``mailbox_fixed``).

Seed: strat9 kernel, ``arch/x86_64/tlb.rs`` (see docs/model.md for the line
numbers of every step).  Initiator, after changing the PTEs:

1. flush locally (``pages x invlpg`` or ``full_flush``);
2. for each target in CPU order: lock its queue, push the op (a push into a
   full 16-slot queue replaces the queue with one Full op), clear its ACK
   flag, unlock (``2 x cacheline``, remote across sockets);
3. for each queued target in the same order: send an IPI (``ipi_send``);
4. for each target in the same order: spin on its ACK flag (one ``pause`` per
   poll) until true, or give up after ``ack_timeout_spins`` polls and carry on
   as if acknowledged (counted as a timeout);
5. return.  Synchronous: the pages are safe from this instant.

Target handler: ``irq_entry``; lock its own queue and drain it
(``cacheline``); perform every drained op; store ACK = true (``cacheline``);
``irq_exit``.

Hazard 1 (shared flag): ``ack_flag`` is one boolean per target shared by all
initiators, so a handler's ``true`` for an earlier op also releases an
initiator whose op was pushed after the drain.  ``mailbox_fixed`` replaces it
by per-target sequence numbers: each push takes a ticket, the handler
publishes the highest ticket it performed, and the initiator waits until its
own ticket is covered.  Hazard 2 (give-up): the timeout returns with targets
still stale; ``mailbox_fixed`` never gives up (a wait that cannot finish ends
the run as a deadlock).  Both wait with interrupts enabled unless
``wait_irqs_off=True``, so by default two initiators waiting on each other
serve each other's IPIs and cannot hang; with interrupts off the seed gives up
(and may violate) and the repair reports the deadlock.
"""

from .._jit import jit
from .._tables import (
    ST_USER, ST_WAIT, ST_KERNEL, ST_IRQ_OFF, ST_HANDLER,
    SD_FULL, EV_PUSH, EV_OVERFLOW, EV_ACK_CLEAR, EV_ACK_SEEN, EV_TIMEOUT, EV_DRAIN,
    EV_INVALIDATE, EV_ACK_STORE,
    EV_LOCK_WAIT,
)
from ._cpu import (
    schedule_cpu, irqs_enabled, take_irq, handler_exit,
    start_polling, wait_register, wait_unregister,
)
from ._queue import eq_push
from ._layout import (
    NEVER, P_PROTO, P_QUEUE_SLOTS, P_TIMEOUT_SPINS, P_WAIT_IRQS_OFF, PR_MAILBOX_FIXED,
    C_CACHELINE, C_IPI_SEND, C_IPI_LATENCY, C_IPI_LATENCY_REMOTE,
    C_PAUSE, C_IRQ_EXIT,
    K_TIMEOUTS, K_OVERFLOWS, K_DELIVERIES, EK_ACK, PRIO_STORE,
    ND_KEY, IN_SD, IN_PHASE, IN_IDX,
    IN_NTARGETS, IN_POLL0, IN_DEADLINE, IN_VPN, IN_PAGES, IN_LOGS,
    IN_KIND, IN_STEP_START, IPI_PENDING, H_PHASE, H_T0, H_SEQ, H_DRAINED, MODE, SAVED_MODE,
    SUSPEND_T, NEXT_OP, BUSY, SC_WHAT, SW_IPI, IPI_HEAD,
    Q_COUNT, Q_LOCK_FREE, ACK_FLAG, PUSH_SEQ, DONE_SEQ, PEND_LOGGED, PEND_MOVED, DRAINS_LOGGED,
    W_HEAD, W_NEXT, TG_TICKET, TG_DELIV,
    QS_KIND, QS_VPN, QS_PAGES, QS_SD, QS_TICKET,
    S_TIMEOUTS, S_UPGRADED, S_DISPATCH, S_IPI, S_WAIT, S_LOCK,
    K_NDELIV, K_NSTAGE, K_TRUNC, LS_DRAIN, LS_SLOT, LS_STORE, SW_PUSH, SC_N_PUSH,
)
from ._ack_line import ack_packed, ack_line_write
from ._log import log_event, log_delivery, TRUNC_DELIVERIES
from ._schedule import step_delay
from ._shootdown import (
    perform_flush, initiator_return, cacheline_cost, start_with_online_targets, send_ipi,
    next_target, run_ahead, target_cpu,
)

__all__ = ["mailbox_initiate", "mailbox_initiator_step", "mailbox_handler_step",
           "mailbox_ack_store", "wake_waiters"]

# initiator phases: B_* begin a step at the boundary, D_* apply its completion
B_PUSH = 0
D_PUSH = 1
B_SEND = 2
D_SEND = 3
B_WAIT = 4
D_POLL = 5

# handler phases
H_LOCK = 0
H_DRAIN = 1
H_STORE = 2      # packed ACK line: the store is asked for (the line is booked) now
H_LANDING = 3    # the ACK store is on its way (its EK_ACK event is pending)
H_EXIT = 4


@jit
def mailbox_initiate(s, m, c, t, op):
    """Start a mailbox shootdown at t: PTE change, targets (every other online
    CPU in CPU order; no tracking of who holds the mapping), local flush.
    Returns the instant the local flush ends (the next step boundary)."""
    return start_with_online_targets(s, m, c, t, op, B_PUSH, B_WAIT)


@jit
def _acked(s, m, c, idx):
    j = target_cpu(s, m, c, idx)
    if m.params[P_PROTO] == PR_MAILBOX_FIXED:
        return s.cpu[j, DONE_SEQ] >= s.pair[TG_TICKET, c, idx]
    return s.cpu[j, ACK_FLAG] != 0


@jit
def _push(s, m, c, idx, t):
    """Apply a push into the target's queue at t (the lock is held until t).

    Logs the delivery's row with its rank among the logged rows awaiting
    the target's drain; an overflow, which moves those to slot 0, is noted
    on the target (PEND_MOVED) for its drain's record, so no earlier row is
    written again."""
    cpu = s.cpu
    q = s.q
    k = s.counters
    j = target_cpu(s, m, c, idx)
    sd = cpu[c, IN_SD]
    slots = m.params[P_QUEUE_SLOTS]
    n = cpu[j, Q_COUNT]
    if n < slots:
        slot = n
        cpu[j, Q_COUNT] = n + 1
        q[j, slot, QS_KIND] = cpu[c, IN_KIND]
        q[j, slot, QS_VPN] = cpu[c, IN_VPN]
        q[j, slot, QS_PAGES] = cpu[c, IN_PAGES]
    else:
        # Seed: a 17th push replaces the whole queue by one Full flush.
        slot = 0
        cpu[j, Q_COUNT] = 1
        q[j, 0, QS_KIND] = SD_FULL
        q[j, 0, QS_VPN] = 0
        q[j, 0, QS_PAGES] = 0
        k[K_OVERFLOWS] += 1
        s.sd[sd, S_UPGRADED] = 1
        cpu[j, PEND_MOVED] = cpu[j, PEND_LOGGED]
        log_event(s.ev, k, t, c, EV_OVERFLOW, j, sd, slots)
    q[j, slot, QS_SD] = sd
    if m.params[P_PROTO] == PR_MAILBOX_FIXED:
        cpu[j, PUSH_SEQ] += 1
        q[j, slot, QS_TICKET] = cpu[j, PUSH_SEQ]
        s.pair[TG_TICKET, c, idx] = cpu[j, PUSH_SEQ]
    else:
        cpu[j, ACK_FLAG] = 0
    k[K_DELIVERIES] += 1
    if cpu[c, IN_LOGS] != 0:
        d = log_delivery(s.dv, k, K_NDELIV, sd, j, t, cpu[j, DRAINS_LOGGED],
                         cpu[j, PEND_LOGGED])
        s.pair[TG_DELIV, c, idx] = d
        if d >= 0:
            cpu[j, PEND_LOGGED] += 1
    else:
        k[K_TRUNC] |= TRUNC_DELIVERIES      # the row a full log had no room for
    log_event(s.ev, k, t, c, EV_PUSH, j, sd, cpu[j, Q_COUNT])
    if m.params[P_PROTO] != PR_MAILBOX_FIXED:
        log_event(s.ev, k, t, c, EV_ACK_CLEAR, j, sd, 0)


@jit
def mailbox_initiator_step(s, m, c, t):
    """Advance the initiator from step boundary t, running ahead without
    events while its next boundary comes before any other pending event."""
    cpu = s.cpu
    sd = cpu[c, IN_SD]
    pause = m.costs[C_PAUSE]
    send_until = -1     # sends batched up to this boundary (set at the first B_SEND)
    while True:
        ph = cpu[c, IN_PHASE]
        idx = cpu[c, IN_IDX]
        nt = t
        if ph == D_PUSH:
            _push(s, m, c, idx, t)
            next_target(s, c, B_PUSH, B_SEND)
            continue
        if ph == D_SEND:
            send_ipi(s, m, c, idx, t)
            if next_target(s, c, B_SEND, B_WAIT):
                cpu[c, IN_STEP_START] = t
            continue
        if ph == D_POLL:
            wait_unregister(s, m, c)
            j = target_cpu(s, m, c, idx)
            if _acked(s, m, c, idx):
                log_event(s.ev, s.counters, t, c, EV_ACK_SEEN, j, sd, 0)
            elif t >= cpu[c, IN_DEADLINE]:
                s.counters[K_TIMEOUTS] += 1
                s.sd[sd, S_TIMEOUTS] += 1
                log_event(s.ev, s.counters, t, c, EV_TIMEOUT, j, sd, 0)
            else:
                # The flag was set and cleared again before this poll.
                wait_register(s, m, c, j)
                if cpu[c, IN_DEADLINE] < NEVER:
                    schedule_cpu(s, c, cpu[c, IN_DEADLINE])
                return
            cpu[c, IN_IDX] = idx + 1
            cpu[c, IN_PHASE] = B_WAIT
            continue
        # B_* phases begin a new step: a pending interrupt is taken first.
        if cpu[c, IPI_PENDING] != 0 and irqs_enabled(s, m, c):
            take_irq(s, m, c, t)
            return
        if ph == B_PUSH:
            j = target_cpu(s, m, c, idx)
            acq = max(t, cpu[j, Q_LOCK_FREE])
            if acq > t:
                log_event(s.ev, s.counters, t, c, EV_LOCK_WAIT, j, sd, acq - t)
            line_wait = 0
            if ack_packed(m) and m.params[P_PROTO] != PR_MAILBOX_FIXED:
                # lock + push + unlock on the queue's line; the ACK clear, under
                # the lock, on the shared ACK line (_ack_line)
                queued = acq + cacheline_cost(m, c, j) + step_delay(s, m, c, SW_PUSH, SC_N_PUSH)
                got, nt = ack_line_write(s, m, c, j, queued)
                line_wait = got - queued
            else:
                nt = acq + 2 * cacheline_cost(m, c, j) + step_delay(s, m, c, SW_PUSH, SC_N_PUSH)
            cpu[j, Q_LOCK_FREE] = nt
            s.sd[sd, S_LOCK] += acq - t + line_wait
            s.sd[sd, S_DISPATCH] += nt - acq - line_wait
            cpu[c, IN_PHASE] = D_PUSH
        elif ph == B_SEND:
            nt = t + m.costs[C_IPI_SEND]
            s.sd[sd, S_IPI] += nt - t
            cpu[c, IN_PHASE] = D_SEND
            if send_until < 0:
                # The last boundary up to which c may send without an event
                # per send: while no IPI can reach it, none can be pending
                # at a boundary to be taken there.  With interrupts off
                # while dispatching nothing is taken at a boundary: every
                # send is batched.  Otherwise up to the first IPI in flight
                # to c (_inflight), and at most an IPI latency on, the
                # earliest a new one can arrive (an arrival at a boundary's
                # instant comes after it: CPU steps first).  Not with a schedule that
                # delays IPIs: "the k-th IPI sent to a CPU" counts sends in
                # the order they are played, which must then be the order
                # of their instants.
                send_until = t + m.costs[C_IPI_LATENCY]
                if m.costs[C_IPI_LATENCY_REMOTE] < m.costs[C_IPI_LATENCY]:
                    send_until = t + m.costs[C_IPI_LATENCY_REMOTE]
                if m.params[P_WAIT_IRQS_OFF] != 0:
                    send_until = NEVER
                elif cpu[c, IPI_HEAD] >= 0:
                    # the first IPI in flight to c heads its list (_inflight)
                    first = s.nd[cpu[c, IPI_HEAD], ND_KEY] >> 2
                    if first < send_until:
                        send_until = first
                for r in range(m.sched.shape[0]):
                    if m.sched[r, SC_WHAT] == SW_IPI:
                        send_until = t
            if nt <= send_until and idx + 1 < cpu[c, IN_NTARGETS]:
                # No interrupt can be taken at the next boundary: send now
                # and go on to it without an event (the IPI's arrival is an
                # event of its own, placed by the canonical order).  The send
                # is D_SEND's, at the top of the loop: one call of send_ipi,
                # which numba compiles into each caller.
                t = nt
                continue
        else:  # B_WAIT
            if idx >= cpu[c, IN_NTARGETS]:
                s.sd[sd, S_WAIT] = t - cpu[c, IN_STEP_START]
                initiator_return(s, m, c, t, True)
                return
            j = target_cpu(s, m, c, idx)
            if _acked(s, m, c, idx):
                log_event(s.ev, s.counters, t, c, EV_ACK_SEEN, j, sd, 0)
                cpu[c, IN_IDX] = idx + 1
                continue
            wait_register(s, m, c, j)
            spins = m.params[P_TIMEOUT_SPINS]
            start_polling(s, c, t, D_POLL, NEVER if spins < 0 else t + spins * pause)
            return
        if run_ahead(s, c, nt):
            t = nt
            continue
        return


@jit
def wake_waiters(s, m, target, t):
    """A store on target's ACK lands at t: every initiator polling it looks
    again at its first poll at or after t (its polling grid: poll0 + k * pause)."""
    cpu = s.cpu
    pause = m.costs[C_PAUSE]
    w = cpu[target, W_HEAD]
    while w >= 0:
        nxt = cpu[w, W_NEXT]
        p0 = cpu[w, IN_POLL0]
        poll = p0 + ((t - p0 + pause - 1) // pause) * pause
        if poll < cpu[w, IN_DEADLINE]:
            schedule_cpu(s, w, poll)
        w = nxt


@jit
def _store(s, c, t):
    """The handler's ACK store lands at t: log it for the deliveries its
    drain took (LS_STORE, if that drain was logged), and let pollers see it
    then (EK_ACK)."""
    if s.cpu[c, H_DRAINED] > 0:
        log_delivery(s.lg, s.counters, K_NSTAGE, c, LS_STORE, t, -1, 0)
    s.cpu[c, H_DRAINED] = -1
    s.cpu[c, H_PHASE] = H_LANDING
    eq_push(s, t, PRIO_STORE, EK_ACK, c, 0)


@jit
def mailbox_handler_step(s, m, c, t):
    """Advance the shootdown IPI handler of CPU c at step boundary t.

    The lock is taken at its own instant; when it was free before t, the
    drain at the end of the lock step is played in the same event: no push
    can reach the queue in between (a push that asks for the lock meanwhile
    is served after it), and the flushes are stamped with their own
    completion times (``_tlb``: an entry stays findable by a PTE change
    until then), so the run is the one with a drain event of its own."""
    cpu = s.cpu
    ph = cpu[c, H_PHASE]
    if ph == H_LOCK:
        free = cpu[c, Q_LOCK_FREE]
        acq = max(t, free)
        end = acq + m.costs[C_CACHELINE]
        cpu[c, Q_LOCK_FREE] = end
        if free >= t:
            # Held until t or later: a push may still land before the drain.
            cpu[c, H_PHASE] = H_DRAIN
            schedule_cpu(s, c, end)
            return
        t = end
        ph = H_DRAIN
    if ph == H_DRAIN:
        q = s.q
        k = s.counters
        n = cpu[c, Q_COUNT]
        # The logged deliveries pending here are the first pushes since the
        # last drain (a log is cut, never resumed): the one of rank r sits
        # in slot r - moved, or 0 if the last overflow moved it (r < moved).
        # Those slots' flush ends are logged.
        logged = cpu[c, PEND_LOGGED]
        slots_logged = max(logged - cpu[c, PEND_MOVED], 1) if logged > 0 else 0
        cpu[c, H_DRAINED] = -1
        if logged > 0:
            log_delivery(s.lg, k, K_NSTAGE, c, LS_DRAIN, cpu[c, H_T0], cpu[c, PEND_MOVED], 0)
            cpu[c, H_DRAINED] = 1
            cpu[c, DRAINS_LOGGED] += 1
        cpu[c, PEND_LOGGED] = 0
        cpu[c, PEND_MOVED] = 0
        cur = t
        top = 0
        for i in range(n):
            cur = perform_flush(s, m, c, q[c, i, QS_KIND], q[c, i, QS_VPN],
                                q[c, i, QS_PAGES], cur)
            if i < slots_logged:
                log_delivery(s.lg, k, K_NSTAGE, c, LS_SLOT, cur, i, 0)
            log_event(s.ev, s.counters, cur, c, EV_INVALIDATE, -1, q[c, i, QS_SD],
                      q[c, i, QS_KIND])
            if q[c, i, QS_TICKET] > top:
                top = q[c, i, QS_TICKET]
        cpu[c, Q_COUNT] = 0
        log_event(s.ev, s.counters, t, c, EV_DRAIN, -1, -1, n)
        cpu[c, H_SEQ] = top
        if ack_packed(m):
            # The store is asked for when the flushes end: a shared line takes
            # writes in the order they are asked for (_ack_line).
            cpu[c, H_PHASE] = H_STORE
            schedule_cpu(s, c, cur)
        else:
            _store(s, c, cur + m.costs[C_CACHELINE])
    elif ph == H_STORE:
        _store(s, c, ack_line_write(s, m, c, c, t)[1])
    elif ph == H_EXIT:
        # An initiator that resumes at t itself has its step played in this
        # event by the engine's loop (_core.run).
        handler_exit(s, m, c, t)


@jit
def mailbox_ack_store(s, m, c, t):
    """The handler's ACK store lands at t (seed: flag = true even when the
    drain found nothing); then ``irq_exit``, and the next entry right after
    it if an IPI is already pending."""
    cpu = s.cpu
    if m.params[P_PROTO] == PR_MAILBOX_FIXED:
        if cpu[c, H_SEQ] > cpu[c, DONE_SEQ]:
            cpu[c, DONE_SEQ] = cpu[c, H_SEQ]
        log_event(s.ev, s.counters, t, c, EV_ACK_STORE, -1, -1, cpu[c, DONE_SEQ])
    else:
        cpu[c, ACK_FLAG] = 1
        log_event(s.ev, s.counters, t, c, EV_ACK_STORE, -1, -1, 1)
    wake_waiters(s, m, c, t)
    x = t + m.costs[C_IRQ_EXIT]
    if cpu[c, IPI_PENDING] != 0:
        # Does handler_exit at x take the pending IPI at x itself (see
        # try_take_irq)?  When the interrupted mode has interrupts on and
        # nothing in flight: no access still running (a user CPU resumes
        # with its times shifted by the handler's length) and no kernel step
        # unfinished.
        mode = cpu[c, SAVED_MODE]
        if mode == ST_IRQ_OFF:
            at_once = False
        elif mode == ST_KERNEL or mode == ST_WAIT:
            at_once = m.params[P_WAIT_IRQS_OFF] == 0 and (mode == ST_WAIT or cpu[c, BUSY] <= x)
        elif mode == ST_USER:
            at_once = (cpu[c, NEXT_OP] >= cpu[c, SUSPEND_T]
                       and cpu[c, BUSY] <= cpu[c, SUSPEND_T])
        else:
            at_once = True      # idle, or done with its op stream
        if at_once:
            # The exit and the next entry in this event: nothing between t
            # and x changes what the exit does, and the IPIs arriving
            # meanwhile merge into the pending one (ipi_arrive: they come
            # before the take at x, the new handler's H_T0).
            handler_exit(s, m, c, x)
            if cpu[c, MODE] != ST_HANDLER:
                raise RuntimeError("a fused handler exit did not take its IPI (engine bug)")
            return
    cpu[c, H_PHASE] = H_EXIT
    schedule_cpu(s, c, x)
