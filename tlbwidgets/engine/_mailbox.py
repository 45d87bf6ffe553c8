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
the run as a deadlock) and serves its own queue while it waits, so two
initiators waiting on each other cannot hang.
"""

from .._jit import jit
from .._tables import (
    SD_FULL, ST_WAIT, EV_PUSH, EV_OVERFLOW, EV_ACK_CLEAR, EV_IPI_SEND,
    EV_ACK_SEEN, EV_TIMEOUT, EV_DRAIN, EV_INVALIDATE, EV_ACK_STORE,
    EV_LOCK_WAIT,
)
from ._cpu import (
    set_mode, schedule_cpu, irqs_enabled, take_irq, handler_exit,
    wait_register, wait_unregister,
)
from ._heap import heap_push, heap_top_time
from ._layout import (
    NEVER, P_NCPU, P_PROTO, P_QUEUE_SLOTS, P_TIMEOUT_SPINS, P_FULL_THRESHOLD,
    PR_MAILBOX_FIXED, C_CACHELINE, C_CACHELINE_REMOTE, C_IPI_SEND,
    C_IPI_LATENCY, C_IPI_LATENCY_REMOTE, C_PAUSE, C_IRQ_EXIT,
    K_IPIS, K_TIMEOUTS, K_OVERFLOWS, K_DELIVERIES, K_SKIPPED,
    EK_IPI, EK_ACK, PRIO_IPI, PRIO_STORE,
)
from ._log import log_event, log_delivery
from ._shootdown import begin_shootdown, local_flush, perform_flush, initiator_return

__all__ = ["mailbox_initiate", "mailbox_initiator_step", "mailbox_handler_step",
           "mailbox_ack_store", "wake_waiters", "cacheline_cost", "ipi_latency"]

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
H_STORE = 2
H_EXIT = 3


@jit
def cacheline_cost(m, a, b):
    """Moving a cache line between CPUs a and b: remote across sockets."""
    if m.socket[a] != m.socket[b]:
        return m.costs[C_CACHELINE_REMOTE]
    return m.costs[C_CACHELINE]


@jit
def ipi_latency(m, a, b):
    if m.socket[a] != m.socket[b]:
        return m.costs[C_IPI_LATENCY_REMOTE]
    return m.costs[C_IPI_LATENCY]


@jit
def mailbox_initiate(s, m, cpu, t, op):
    """Start a mailbox shootdown at t: PTE change, targets (every other online
    CPU in CPU order; no tracking of who holds the mapping), local flush.
    Returns the instant the local flush ends (the next step boundary)."""
    sd = begin_shootdown(s, m, cpu, t, op, m.params[P_FULL_THRESHOLD])
    n = m.params[P_NCPU]
    k = 0
    for j in range(n):
        if j == cpu:
            continue
        if m.online[j] == 0:
            s.counters[K_SKIPPED] += 1
            continue
        s.in_targets[cpu, k] = j
        s.in_deliv[cpu, k] = -1
        k += 1
    s.in_ntargets[cpu] = k
    s.sd_targets[sd] = k
    end = local_flush(s, m, cpu, t)
    s.in_phase[cpu] = B_PUSH
    if k == 0:
        s.in_phase[cpu] = B_WAIT
    return end


@jit
def _acked(s, m, cpu, idx):
    j = s.in_targets[cpu, idx]
    if m.params[P_PROTO] == PR_MAILBOX_FIXED:
        return s.done_seq[j] >= s.in_ticket[cpu, idx]
    return s.ack_flag[j] != 0


@jit
def _push(s, m, cpu, idx, t):
    """Apply a push into target's queue at t (the lock is held until t)."""
    j = s.in_targets[cpu, idx]
    sd = s.in_sd[cpu]
    q = m.params[P_QUEUE_SLOTS]
    n = s.q_count[j]
    if n < q:
        slot = n
        s.q_count[j] = n + 1
        s.q_kind[j, slot] = s.in_kind[cpu]
        s.q_vpn[j, slot] = s.in_vpn[cpu]
        s.q_pages[j, slot] = s.in_pages[cpu]
    else:
        # Seed: a 17th push replaces the whole queue by one Full flush.
        slot = 0
        s.q_count[j] = 1
        s.q_kind[j, 0] = SD_FULL
        s.q_vpn[j, 0] = 0
        s.q_pages[j, 0] = 0
        s.counters[K_OVERFLOWS] += 1
        s.sd_upgraded[sd] = 1
        d = s.pend_head[j]
        while d >= 0:
            s.dv_slot[d] = 0
            d = s.dv_next[d]
        log_event(s, t, cpu, EV_OVERFLOW, j, sd, q)
    s.q_sd[j, slot] = sd
    if m.params[P_PROTO] == PR_MAILBOX_FIXED:
        s.push_seq[j] += 1
        s.q_ticket[j, slot] = s.push_seq[j]
        s.in_ticket[cpu, idx] = s.push_seq[j]
    else:
        s.ack_flag[j] = 0
    s.counters[K_DELIVERIES] += 1
    d = log_delivery(s, sd, j)
    s.in_deliv[cpu, idx] = d
    if d >= 0:
        s.dv_pushed[d] = t
        s.dv_slot[d] = slot
        s.dv_next[d] = -1
        if s.pend_tail[j] >= 0:
            s.dv_next[s.pend_tail[j]] = d
        else:
            s.pend_head[j] = d
        s.pend_tail[j] = d
    log_event(s, t, cpu, EV_PUSH, j, sd, s.q_count[j])
    if m.params[P_PROTO] != PR_MAILBOX_FIXED:
        log_event(s, t, cpu, EV_ACK_CLEAR, j, sd, 0)


@jit
def _irq_at_boundary(s, m, cpu, t):
    """At a step boundary a pending IPI is taken if interrupts are enabled."""
    if s.ipi_pending[cpu] != 0 and irqs_enabled(s, m, cpu):
        take_irq(s, m, cpu, t)
        return True
    return False


@jit
def mailbox_initiator_step(s, m, cpu, t):
    """Advance the initiator from step boundary t, running ahead without
    events while its next boundary comes before any other pending event."""
    sd = s.in_sd[cpu]
    pause = m.costs[C_PAUSE]
    while True:
        ph = s.in_phase[cpu]
        idx = s.in_idx[cpu]
        nt = t
        if ph == D_PUSH:
            _push(s, m, cpu, idx, t)
            idx += 1
            s.in_idx[cpu] = idx
            if idx < s.in_ntargets[cpu]:
                s.in_phase[cpu] = B_PUSH
            else:
                s.in_idx[cpu] = 0
                s.in_phase[cpu] = B_SEND
            continue
        if ph == D_SEND:
            j = s.in_targets[cpu, idx]
            heap_push(s, t + ipi_latency(m, cpu, j), PRIO_IPI, EK_IPI, j, cpu)
            s.counters[K_IPIS] += 1
            s.sd_ipis[sd] += 1
            d = s.in_deliv[cpu, idx]
            if d >= 0:
                s.dv_ipi[d] = t
            log_event(s, t, cpu, EV_IPI_SEND, j, sd, 0)
            idx += 1
            s.in_idx[cpu] = idx
            if idx < s.in_ntargets[cpu]:
                s.in_phase[cpu] = B_SEND
            else:
                s.in_idx[cpu] = 0
                s.in_phase[cpu] = B_WAIT
                s.in_step_start[cpu] = t
            continue
        if ph == D_POLL:
            wait_unregister(s, cpu)
            j = s.in_targets[cpu, idx]
            if _acked(s, m, cpu, idx):
                log_event(s, t, cpu, EV_ACK_SEEN, j, sd, 0)
            elif t >= s.in_deadline[cpu]:
                s.counters[K_TIMEOUTS] += 1
                s.sd_timeouts[sd] += 1
                log_event(s, t, cpu, EV_TIMEOUT, j, sd, 0)
            else:
                # The flag was set and cleared again before this poll.
                wait_register(s, cpu, j)
                if s.in_deadline[cpu] < NEVER:
                    schedule_cpu(s, cpu, s.in_deadline[cpu])
                return
            s.in_idx[cpu] = idx + 1
            s.in_phase[cpu] = B_WAIT
            continue
        # B_* phases begin a new step: an interrupt may be taken first.
        if _irq_at_boundary(s, m, cpu, t):
            return
        if ph == B_PUSH:
            j = s.in_targets[cpu, idx]
            acq = max(t, s.q_lock_free[j])
            if acq > t:
                log_event(s, t, cpu, EV_LOCK_WAIT, j, sd, acq - t)
            nt = acq + 2 * cacheline_cost(m, cpu, j)
            s.q_lock_free[j] = nt
            s.sd_dispatch[sd] += nt - t
            s.in_phase[cpu] = D_PUSH
        elif ph == B_SEND:
            nt = t + m.costs[C_IPI_SEND]
            s.sd_ipi[sd] += nt - t
            s.in_phase[cpu] = D_SEND
        else:  # B_WAIT
            if idx >= s.in_ntargets[cpu]:
                s.sd_wait[sd] = t - s.in_step_start[cpu] if s.in_ntargets[cpu] > 0 else 0
                initiator_return(s, m, cpu, t, True)
                return
            j = s.in_targets[cpu, idx]
            if _acked(s, m, cpu, idx):
                log_event(s, t, cpu, EV_ACK_SEEN, j, sd, 0)
                s.in_idx[cpu] = idx + 1
                continue
            set_mode(s, cpu, ST_WAIT, t)
            wait_register(s, cpu, j)
            s.in_poll0[cpu] = t
            spins = m.params[P_TIMEOUT_SPINS]
            s.in_deadline[cpu] = NEVER if spins < 0 else t + spins * pause
            s.in_phase[cpu] = D_POLL
            if s.in_deadline[cpu] < NEVER:
                schedule_cpu(s, cpu, s.in_deadline[cpu])
            return
        s.busy_until[cpu] = nt
        if nt < heap_top_time(s):
            t = nt
            continue
        schedule_cpu(s, cpu, nt)
        return


@jit
def wake_waiters(s, m, target, t):
    """A store on target's ACK at t: every initiator polling it looks again at
    its first poll at or after t (its polling grid: poll0 + k * pause)."""
    pause = m.costs[C_PAUSE]
    w = s.w_head[target]
    while w >= 0:
        nxt = s.w_next[w]
        p0 = s.in_poll0[w]
        k = (t - p0 + pause - 1) // pause
        poll = p0 + k * pause
        if poll < s.in_deadline[w]:
            schedule_cpu(s, w, poll)
        w = nxt


@jit
def mailbox_handler_step(s, m, cpu, t):
    """Advance the shootdown IPI handler of cpu at step boundary t."""
    ph = s.h_phase[cpu]
    if ph == H_LOCK:
        acq = max(t, s.q_lock_free[cpu])
        end = acq + m.costs[C_CACHELINE]
        s.q_lock_free[cpu] = end
        s.h_phase[cpu] = H_DRAIN
        schedule_cpu(s, cpu, end)
    elif ph == H_DRAIN:
        n = s.q_count[cpu]
        cur = t
        top = 0
        for i in range(n):
            cur = perform_flush(s, m, cpu, s.q_kind[cpu, i], s.q_vpn[cpu, i],
                                s.q_pages[cpu, i], cur)
            s.h_slot_end[cpu, i] = cur
            log_event(s, cur, cpu, EV_INVALIDATE, -1, s.q_sd[cpu, i], s.q_kind[cpu, i])
            if s.q_ticket[cpu, i] > top:
                top = s.q_ticket[cpu, i]
        s.q_count[cpu] = 0
        log_event(s, t, cpu, EV_DRAIN, -1, -1, n)
        s.h_seq_drained[cpu] = top
        store = cur + m.costs[C_CACHELINE]
        d = s.pend_head[cpu]
        while d >= 0:
            s.dv_handler[d] = s.h_t0[cpu]
            s.dv_flushed[d] = s.h_slot_end[cpu, s.dv_slot[d]]
            s.dv_acked[d] = store
            d = s.dv_next[d]
        s.pend_head[cpu] = -1
        s.pend_tail[cpu] = -1
        s.h_phase[cpu] = H_STORE
        heap_push(s, store, PRIO_STORE, EK_ACK, cpu, 0)
    elif ph == H_EXIT:
        handler_exit(s, m, cpu, t)


@jit
def mailbox_ack_store(s, m, cpu, t):
    """The handler's ACK store lands at t (seed: flag = true even when the
    drain found nothing); then ``irq_exit``."""
    if m.params[P_PROTO] == PR_MAILBOX_FIXED:
        if s.h_seq_drained[cpu] > s.done_seq[cpu]:
            s.done_seq[cpu] = s.h_seq_drained[cpu]
        log_event(s, t, cpu, EV_ACK_STORE, -1, -1, s.done_seq[cpu])
    else:
        s.ack_flag[cpu] = 1
        log_event(s, t, cpu, EV_ACK_STORE, -1, -1, 1)
    wake_waiters(s, m, cpu, t)
    s.h_phase[cpu] = H_EXIT
    schedule_cpu(s, cpu, t + m.costs[C_IRQ_EXIT])
