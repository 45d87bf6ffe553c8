"""Lazy translation coherence (``latr``).

Source: M. Kumar, S. Maass, S. Kashyap, J. Vesely, Z. Yan, T. Kim,
A. Bhattacharjee and T. Krishna, "LATR: Lazy Translation Coherence", ASPLOS
2018 (code: sslab-gatech/latr, on Linux 4.10).  The initiator records the
invalidation in per-CPU "LATR states" and returns; every CPU sweeps the
states at its next scheduler tick or context switch, invalidates locally and
clears its bit in the state's CPU mask; the memory is reused only once every
CPU has done so.

Initiator, from T0 (PTE versions already bumped):

1. local flush (``pages x invlpg`` or ``full_flush``);
2. record the invalidation in its *own* per-CPU state: one entry of its ring
   (``native_flush_save_state`` in the artifact: range, a copy of the target
   cpumask, ``valid = 1``), one cache-line write (``cacheline``: the entry's
   line was last written by the targets clearing their bits in it), whatever
   the number of CPUs.  The record is visible to every other online CPU when
   the write ends (modelled as one published record in a machine-wide list
   that every CPU reads from its own position).  No write when there is no
   other online CPU;
3. return at once: NOT safe yet (``S_UNAPPLIED`` = CPUs still to apply it).

Each other online CPU applies the records it has not applied yet:

* at its next scheduler tick: CPU j ticks at ``off_j + i * tick_cycles`` with
  ``off_j = j * tick_cycles // cpus`` (staggered).  Only ticks that find work
  are simulated (one pending tick event per CPU, only while it has records to
  apply); the cost of empty ticks is not modelled;
* or when it switches: an IDLE op starting or ending.

Applying is an interrupt (the timer's): it obeys the rules of an IPI (waits
while interrupts are off or another handler runs).  Handler: ``irq_entry``;
take every record published so far; perform each one's flush; clear its bit in
each record's mask (one ``cacheline`` per record); the last CPU to clear a
record's bit makes its pages safe (``declare_safe``); ``irq_exit``.  A
switch-time apply is charged the same way (an approximation: the scheduler
would not pay the interrupt entry and exit).

The tick interrupt uses the CPU's pending-interrupt bit (``IPI_PENDING``),
free in this protocol since it sends no IPI; the event log marks the
handler's entry as ``ipi_take`` and each record's flush as ``apply``.
"""

from .._jit import jit
from .._tables import EV_APPLY, EV_ACK_STORE
from ._cpu import schedule_cpu, try_take_irq, handler_exit
from ._queue import eq_push
from ._layout import (
    P_NCPU, P_FULL_THRESHOLD, P_TICK, C_CACHELINE, C_IRQ_EXIT, T_ONLINE,
    K_DELIVERIES, K_SKIPPED, K_LZ_HEAD, K_LZ_TAIL, K_NDELIV,
    EK_TICK, PRIO_IPI, IN_SD, IN_PHASE, IPI_PENDING, H_PHASE, H_T0,
    LZ_LAST, LZ_TICK_AT, LZ_UPTO, LZ_FROM, WAKE_AT,
    S_INIT, S_TARGETS, S_DISPATCH, S_UNAPPLIED, S_REC_NEXT, S_DV0, S_KIND, S_VPN, S_PAGES,
    DV_SD, DV_CPU, K_NSTAGE, LS_SERVED, LS_ACKED,
)
from ._log import log_event, log_delivery
from ._shootdown import (
    begin_shootdown, local_flush, perform_flush, declare_safe, initiator_return,
)

__all__ = ["latr_initiate", "latr_initiator_step", "latr_handler_step", "latr_tick",
           "latr_switch"]

# initiator phase
D_RECORD = 0

# handler phases
H_APPLY = 0
H_DONE = 1
H_EXIT = 2


@jit
def _next_record(s, c, after):
    """The first record after ``after`` (-1: from the start) that c must apply
    (not its own), or -1."""
    r = s.counters[K_LZ_HEAD] if after < 0 else s.sd[after, S_REC_NEXT]
    while r >= 0 and s.sd[r, S_INIT] == c:
        r = s.sd[r, S_REC_NEXT]
    return r


@jit
def _has_pending(s, c):
    return _next_record(s, c, s.cpu[c, LZ_LAST]) >= 0


@jit
def _next_tick(m, c, t):
    """c's first tick at or after t."""
    period = m.params[P_TICK]
    off = (c * period) // m.params[P_NCPU]
    if t <= off:
        return off
    return off + ((t - off + period - 1) // period) * period


@jit
def _arm_tick(s, m, c, t):
    """Make sure c has a tick event at its next tick at or after t."""
    if s.cpu[c, LZ_TICK_AT] < 0:
        at = _next_tick(m, c, t)
        s.cpu[c, LZ_TICK_AT] = at
        eq_push(s, at, PRIO_IPI, EK_TICK, c, 0)


@jit
def _raise(s, m, c, t):
    """Pend c's apply interrupt (the tick's) and take it if it may."""
    if s.cpu[c, IPI_PENDING] == 0:
        s.cpu[c, IPI_PENDING] = 1
    try_take_irq(s, m, c, t)


@jit
def _row(s, sd, j):
    """Delivery row of (sd, j), or -1 (rows of one shootdown are contiguous,
    in CPU order)."""
    d0 = s.sd[sd, S_DV0]
    if d0 < 0:
        return -1
    n = s.counters[K_NDELIV]
    guess = d0 + j - (1 if j > s.sd[sd, S_INIT] else 0)
    if guess < n and s.dv[guess, DV_SD] == sd and s.dv[guess, DV_CPU] == j:
        return guess
    d = d0
    while d < n and s.dv[d, DV_SD] == sd:
        if s.dv[d, DV_CPU] == j:
            return d
        d += 1
    return -1


@jit
def latr_initiate(s, m, c, t, op):
    """Start at t: PTE change, local flush, then the write of the record in
    the initiator's own state.  Returns the end of that write."""
    sd = begin_shootdown(s, m, c, t, op, m.params[P_FULL_THRESHOLD])
    end = local_flush(s, m, c, t)
    k = 0
    for j in range(m.params[P_NCPU]):
        if j == c:
            continue
        if m.topo[j, T_ONLINE] == 0:
            s.counters[K_SKIPPED] += 1
            continue
        k += 1
    # One line of its own ring entry, O(1) in the CPU count.
    cost = m.costs[C_CACHELINE] if k > 0 else 0
    s.sd[sd, S_TARGETS] = k
    s.sd[sd, S_DISPATCH] = cost
    s.cpu[c, IN_PHASE] = D_RECORD
    return end + cost


@jit
def latr_initiator_step(s, m, c, t):
    """The record write ends at t: publish the record, arm the targets'
    ticks, return (safe only now if there is no other CPU)."""
    sd = s.cpu[c, IN_SD]
    k = s.counters
    n_targets = s.sd[sd, S_TARGETS]
    s.sd[sd, S_UNAPPLIED] = n_targets
    if n_targets > 0:
        if k[K_LZ_TAIL] >= 0:
            s.sd[k[K_LZ_TAIL], S_REC_NEXT] = sd
        else:
            k[K_LZ_HEAD] = sd
        k[K_LZ_TAIL] = sd
        for j in range(m.params[P_NCPU]):
            if j == c or m.topo[j, T_ONLINE] == 0:
                continue
            k[K_DELIVERIES] += 1
            d = log_delivery(s.dv, k, K_NDELIV, sd, j, t, 0, 0)
            if d >= 0 and s.sd[sd, S_DV0] < 0:
                s.sd[sd, S_DV0] = d
            _arm_tick(s, m, j, t)
    initiator_return(s, m, c, t, n_targets == 0)


@jit
def latr_tick(s, m, c, t):
    """c's scheduler tick at t: apply pending records (as an interrupt)."""
    s.cpu[c, LZ_TICK_AT] = -1
    if _has_pending(s, c):
        _raise(s, m, c, t)


@jit
def latr_switch(s, m, c, t):
    """c switches (an IDLE op starts or ends) at t: apply pending records.
    The switch runs on an awake core (halting comes after it): no wake-up."""
    if _has_pending(s, c):
        s.cpu[c, WAKE_AT] = t
        _raise(s, m, c, t)


@jit
def latr_handler_step(s, m, c, t):
    """Advance c's apply handler (tick or switch) at step boundary t."""
    cpu = s.cpu
    ph = cpu[c, H_PHASE]
    if ph == H_APPLY:
        first = cpu[c, LZ_LAST]
        cur = t
        n = 0
        r = _next_record(s, c, first)
        last = first
        while r >= 0:
            cur = perform_flush(s, m, c, s.sd[r, S_KIND], s.sd[r, S_VPN], s.sd[r, S_PAGES],
                                cur)
            log_event(s.ev, s.counters, cur, c, EV_APPLY, -1, r, s.sd[r, S_KIND])
            d = _row(s, r, c)
            if d >= 0:
                log_delivery(s.lg, s.counters, K_NSTAGE, d, LS_SERVED, cpu[c, H_T0], cur, 0)
            n += 1
            last = r
            r = _next_record(s, c, r)
        if n == 0:
            cpu[c, H_PHASE] = H_EXIT
            schedule_cpu(s, c, t + m.costs[C_IRQ_EXIT])
            return
        # Records up to `last` are taken: a tick from now on looks further.
        cpu[c, LZ_FROM] = first
        cpu[c, LZ_UPTO] = last
        cpu[c, LZ_LAST] = last
        cpu[c, H_PHASE] = H_DONE
        schedule_cpu(s, c, cur + n * m.costs[C_CACHELINE])
    elif ph == H_DONE:
        # Our bits are clear in every record taken: the last CPU makes its
        # pages reusable.
        r = _next_record(s, c, cpu[c, LZ_FROM])
        upto = cpu[c, LZ_UPTO]
        while r >= 0:
            s.sd[r, S_UNAPPLIED] -= 1
            d = _row(s, r, c)
            if d >= 0:
                log_delivery(s.lg, s.counters, K_NSTAGE, d, LS_ACKED, t, -1, 0)
            if s.sd[r, S_UNAPPLIED] == 0:
                declare_safe(s, m, r, t)
            if r == upto:
                break
            r = _next_record(s, c, r)
        log_event(s.ev, s.counters, t, c, EV_ACK_STORE, -1, upto, 0)
        cpu[c, H_PHASE] = H_EXIT
        schedule_cpu(s, c, t + m.costs[C_IRQ_EXIT])
    elif ph == H_EXIT:
        handler_exit(s, m, c, t)
        if _has_pending(s, c):
            _arm_tick(s, m, c, t)
