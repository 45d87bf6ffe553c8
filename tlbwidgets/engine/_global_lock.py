"""One global shootdown lock and one shared pending-CPU mask (``global_lock``).

Source: Linux 2.4 / 2.6 i386, ``arch/i386/kernel/smp.c`` (``flush_tlb_mm``,
``flush_tlb_others``, ``smp_invalidate_interrupt``): the caller flushes its own
TLB, then ``flush_tlb_others`` takes the one ``tlbstate_lock``, stores the
request in the shared ``flush_mm`` / ``flush_va``, sets the targets' bits in
the shared ``flush_cpumask``, sends the IPIs and spins until the mask is
empty; each target's handler flushes and clears its own bit.  The same shape
as the Mach algorithm (Black et al., ASPLOS 1989): responders update shared
state the initiator waits on.

Initiator, from T0 (PTE versions already bumped):

1. local flush (``pages x invlpg`` or ``full_flush``);
2. take the global lock: a FIFO ticket lock.  If it is held, spin (state
   ``wait``, interrupts enabled unless ``wait_irqs_off``): the lock is seen
   free at the first poll (grid of ``pause`` from the start of the wait) at or
   after its release.  Taking it moves the lock's cache line from its last
   holder (``cacheline`` / ``cacheline_remote``);
3. set every target's bit in the shared mask: one write of the mask's cache
   line, moved from its last writer and serialised with the targets' clears;
4. one IPI per target, in CPU order (``ipi_send`` each);
5. spin until the mask is empty (first poll at or after the last clear);
6. release the lock and return: the pages are safe from here.

Target handler: ``irq_entry``; if its bit is set, perform the one request in
flight (``pages x invlpg`` or ``full_flush``); clear its bit: one write of the
shared line, moved from its last writer, and queued behind any other CPU
writing it (the bouncing line); ``irq_exit``.

Targets are every other online CPU.  With no other online CPU the initiator
returns after its local flush without taking the lock (as Linux calls
``flush_tlb_others`` only for a non-empty mask).

Waiting costs O(1) events: a lock waiter is woken by the release, the
initiator by the clear that empties the mask.
"""

from .._jit import jit
from .._tables import (
    ST_WAIT, ST_KERNEL, EV_ACK_SEEN, EV_INVALIDATE, EV_ACK_STORE,
    EV_LOCK_WAIT, EV_PUSH,
)
from ._cpu import (
    set_mode, schedule_cpu, irqs_enabled, take_irq, handler_exit, start_polling,
)
from ._queue import eq_push
from ._layout import (
    NEVER, P_NCPU, C_CACHELINE, C_CACHELINE_REMOTE, C_IPI_SEND,
    C_PAUSE, C_IRQ_EXIT, T_SOCKET, K_DELIVERIES, K_GL_NEXT, K_GL_SERVING, K_GL_FREE_AT,
    K_GL_LOCK_OWNER, K_GL_HOLDER, K_GL_SD, K_GL_PENDING, K_LINE_FREE, K_LINE_OWNER,
    EK_ACK, PRIO_STORE,
    MODE, IN_SD, IN_PHASE, IN_IDX, IN_NTARGETS, IN_POLL0, IN_STEP_START,
    IPI_PENDING, H_PHASE, H_T0, GL_TICKET, GL_PENDING, DV_ROW, TG_DELIV,
    S_DISPATCH, S_IPI, S_WAIT, S_LOCK, S_KIND, S_VPN, S_PAGES,
    K_NDELIV, K_NSTAGE, LS_SERVED, LS_ACKED,
)
from ._log import log_event, log_delivery
from ._shootdown import (
    perform_flush, initiator_return, start_with_online_targets, send_ipi, run_ahead,
    target_cpu,
)

__all__ = ["global_lock_initiate", "global_lock_initiator_step",
           "global_lock_handler_step", "global_lock_store", "line_cost"]

# initiator phases: B_* begin a step at the boundary, D_* apply its completion,
# W_* wait for another CPU's store
B_LOCK = 0
W_LOCK = 1
D_LOCK = 2
B_MASK = 3
D_MASK = 4
B_SEND = 5
D_SEND = 6
B_WAIT = 7
W_MASK = 8

# handler phases
H_FLUSH = 0
H_CLEAR = 1
H_STORE = 2
H_EXIT = 3


@jit
def line_cost(m, owner, c):
    """Moving a cache line last written by ``owner`` to CPU c: remote across
    sockets; a line nobody wrote yet costs a local transfer."""
    if owner >= 0 and m.topo[owner, T_SOCKET] != m.topo[c, T_SOCKET]:
        return m.costs[C_CACHELINE_REMOTE]
    return m.costs[C_CACHELINE]


@jit
def _poll_at(m, p0, t):
    """First poll of a spin that began at p0, at or after t."""
    pause = m.costs[C_PAUSE]
    if t <= p0:
        return p0
    return p0 + ((t - p0 + pause - 1) // pause) * pause


@jit
def global_lock_initiate(s, m, c, t, op):
    """Start at t: PTE change, targets (every other online CPU), local flush.
    Returns the end of the local flush."""
    return start_with_online_targets(s, m, c, t, op, B_LOCK, B_WAIT)


@jit
def _lock_free_for(s, c):
    k = s.counters
    return k[K_GL_HOLDER] < 0 and k[K_GL_SERVING] == s.cpu[c, GL_TICKET]


@jit
def _set_mask(s, m, c, t):
    """The mask write lands at t: every target's bit is set; log deliveries."""
    cpu = s.cpu
    k = s.counters
    sd = cpu[c, IN_SD]
    n = cpu[c, IN_NTARGETS]
    for idx in range(n):
        j = target_cpu(s, m, c, idx)
        cpu[j, GL_PENDING] = 1
        k[K_DELIVERIES] += 1
        d = log_delivery(s.dv, k, K_NDELIV, sd, j, t, 0, 0)
        s.pair[TG_DELIV, c, idx] = d
        cpu[j, DV_ROW] = d
        log_event(s.ev, k, t, c, EV_PUSH, j, sd, n)
    k[K_GL_PENDING] = n
    k[K_GL_SD] = sd


@jit
def _release(s, m, c, t):
    """Clear the request, release the lock at t and hand it to the next
    ticket: its holder sees it free at its next poll."""
    k = s.counters
    cpu = s.cpu
    k[K_GL_SD] = -1
    k[K_GL_HOLDER] = -1
    k[K_GL_SERVING] += 1
    k[K_GL_FREE_AT] = t
    nxt = k[K_GL_SERVING]
    for w in range(m.params[P_NCPU]):
        if (cpu[w, IN_SD] >= 0 and cpu[w, IN_PHASE] == W_LOCK
                and cpu[w, GL_TICKET] == nxt and cpu[w, MODE] == ST_WAIT):
            schedule_cpu(s, w, _poll_at(m, cpu[w, IN_POLL0], t))
            break


@jit
def global_lock_initiator_step(s, m, c, t):
    """Advance the initiator from step boundary t, running ahead without
    events while its next boundary comes before any other pending event."""
    cpu = s.cpu
    k = s.counters
    sd = cpu[c, IN_SD]
    while True:
        ph = cpu[c, IN_PHASE]
        idx = cpu[c, IN_IDX]
        nt = t
        if ph == W_LOCK or ph == W_MASK:
            # Woken (or back from a handler): look again.
            if ph == W_LOCK:
                if not _lock_free_for(s, c):
                    return
                cpu[c, IN_PHASE] = D_LOCK
                set_mode(s, c, ST_KERNEL, t)
                nt = t + line_cost(m, k[K_GL_LOCK_OWNER], c)
                k[K_GL_HOLDER] = c
                s.sd[sd, S_LOCK] += t - cpu[c, IN_STEP_START]
                s.sd[sd, S_DISPATCH] += nt - t
            else:
                if k[K_GL_PENDING] > 0:
                    return
                log_event(s.ev, k, t, c, EV_ACK_SEEN, -1, sd, 0)
                s.sd[sd, S_WAIT] = t - cpu[c, IN_STEP_START]
                _release(s, m, c, t)
                initiator_return(s, m, c, t, True)
                return
        elif ph == D_LOCK:
            k[K_GL_LOCK_OWNER] = c
            cpu[c, IN_PHASE] = B_MASK
            continue
        elif ph == D_MASK:
            _set_mask(s, m, c, t)
            cpu[c, IN_IDX] = 0
            cpu[c, IN_PHASE] = B_SEND
            continue
        elif ph == D_SEND:
            send_ipi(s, m, c, idx, t)
            idx += 1
            cpu[c, IN_IDX] = idx
            if idx < cpu[c, IN_NTARGETS]:
                cpu[c, IN_PHASE] = B_SEND
            else:
                cpu[c, IN_PHASE] = B_WAIT
                cpu[c, IN_STEP_START] = t
            continue
        else:
            # B_* phases begin a new step: a pending interrupt is taken first.
            if cpu[c, IPI_PENDING] != 0 and irqs_enabled(s, m, c):
                take_irq(s, m, c, t)
                return
            if ph == B_LOCK:
                cpu[c, GL_TICKET] = k[K_GL_NEXT]
                k[K_GL_NEXT] += 1
                cpu[c, IN_STEP_START] = t
                if not _lock_free_for(s, c):
                    log_event(s.ev, k, t, c, EV_LOCK_WAIT, k[K_GL_HOLDER], sd, -1)
                    start_polling(s, c, t, W_LOCK, NEVER)
                    return
                nt = t + line_cost(m, k[K_GL_LOCK_OWNER], c)
                k[K_GL_HOLDER] = c
                s.sd[sd, S_DISPATCH] += nt - t
                cpu[c, IN_PHASE] = D_LOCK
            elif ph == B_MASK:
                acq = max(t, k[K_LINE_FREE])
                nt = acq + line_cost(m, k[K_LINE_OWNER], c)
                k[K_LINE_FREE] = nt
                k[K_LINE_OWNER] = c
                s.sd[sd, S_LOCK] += acq - t
                s.sd[sd, S_DISPATCH] += nt - acq
                cpu[c, IN_PHASE] = D_MASK
            elif ph == B_SEND:
                nt = t + m.costs[C_IPI_SEND]
                s.sd[sd, S_IPI] += nt - t
                cpu[c, IN_PHASE] = D_SEND
            else:  # B_WAIT
                if cpu[c, IN_NTARGETS] == 0:
                    initiator_return(s, m, c, t, True)
                    return
                if k[K_GL_PENDING] == 0:
                    log_event(s.ev, k, t, c, EV_ACK_SEEN, -1, sd, 0)
                    s.sd[sd, S_WAIT] = t - cpu[c, IN_STEP_START]
                    _release(s, m, c, t)
                    initiator_return(s, m, c, t, True)
                    return
                start_polling(s, c, t, W_MASK, NEVER)
                return
        if run_ahead(s, c, nt):
            t = nt
            continue
        return


@jit
def global_lock_handler_step(s, m, c, t):
    """Advance CPU c's shootdown IPI handler at step boundary t."""
    cpu = s.cpu
    k = s.counters
    ph = cpu[c, H_PHASE]
    if ph == H_FLUSH:
        sd = k[K_GL_SD]
        if cpu[c, GL_PENDING] == 0 or sd < 0:
            # Not (or no longer) in the mask: nothing to do (Linux returns).
            cpu[c, H_PHASE] = H_EXIT
            schedule_cpu(s, c, t + m.costs[C_IRQ_EXIT])
            return
        end = perform_flush(s, m, c, s.sd[sd, S_KIND], s.sd[sd, S_VPN],
                            s.sd[sd, S_PAGES], t)
        log_event(s.ev, k, end, c, EV_INVALIDATE, -1, sd, s.sd[sd, S_KIND])
        d = cpu[c, DV_ROW]
        if d >= 0:
            log_delivery(s.lg, k, K_NSTAGE, d, LS_SERVED, cpu[c, H_T0], end, 0)
        cpu[c, H_PHASE] = H_CLEAR
        schedule_cpu(s, c, end)
    elif ph == H_CLEAR:
        # Clear our bit: the shared line comes from its last writer, after
        # any write already queued on it.
        acq = max(t, k[K_LINE_FREE])
        if acq > t:
            log_event(s.ev, k, t, c, EV_LOCK_WAIT, k[K_LINE_OWNER], k[K_GL_SD], acq - t)
        store = acq + line_cost(m, k[K_LINE_OWNER], c)
        k[K_LINE_FREE] = store
        k[K_LINE_OWNER] = c
        cpu[c, H_PHASE] = H_STORE
        eq_push(s, store, PRIO_STORE, EK_ACK, c, 0)
    elif ph == H_EXIT:
        handler_exit(s, m, c, t)


@jit
def global_lock_store(s, m, c, t):
    """CPU c's clear of its mask bit lands at t; the initiator, spinning on
    the mask, sees it empty at its next poll.  Then ``irq_exit``."""
    cpu = s.cpu
    k = s.counters
    cpu[c, GL_PENDING] = 0
    k[K_GL_PENDING] -= 1
    d = cpu[c, DV_ROW]
    if d >= 0:
        log_delivery(s.lg, k, K_NSTAGE, d, LS_ACKED, t, -1, 0)
    cpu[c, DV_ROW] = -1
    log_event(s.ev, k, t, c, EV_ACK_STORE, -1, k[K_GL_SD], k[K_GL_PENDING])
    h = k[K_GL_HOLDER]
    if k[K_GL_PENDING] == 0 and h >= 0 and cpu[h, MODE] == ST_WAIT:
        schedule_cpu(s, h, _poll_at(m, cpu[h, IN_POLL0], t))
    cpu[c, H_PHASE] = H_EXIT
    schedule_cpu(s, c, t + m.costs[C_IRQ_EXIT])
