"""Modern x86 Linux (``linux``): ``flush_tlb_mm_range``.

Sources: Linux ``arch/x86/mm/tlb.c`` (``flush_tlb_mm_range``,
``native_flush_tlb_multi``, ``flush_tlb_func``, ``should_flush_tlb``,
``switch_mm_irqs_off``, ``tlb_single_page_flush_ceiling``) and
``kernel/smp.c`` (``smp_call_function_many_cond``, ``csd_lock_wait``,
``__flush_smp_call_function_queue``).

One mm (the simulated address space) with a generation ``tlb_gen``
(``K_MM_GEN``), bumped once per flush when its PTEs change; every CPU has a
local generation (``LX_GEN``): the flushes its TLB is up to date with.

Initiator, from T0 (PTE versions and ``tlb_gen`` already bumped; more than 33
pages -- ``tlb_single_page_flush_ceiling`` -- or a bad range is a full flush):

0. the bump (``inc_mm_tlb_gen``, a locked add) takes the ``tlb_gen`` line
   from every other holder: one transfer, remote if a holder is on another
   socket, none if no other CPU holds it.  Every CPU of the cpumask read the
   line when it switched to the mm (``LX_GEN_LINE``: the value its copy
   holds); a flush reads it again after a bump;
1. targets: CPUs in the mm's cpumask (here: online CPUs that have performed
   an access), minus itself, minus *lazy* CPUs (in an IDLE op: an idle or
   kernel thread with the old mm loaded, ``cpu_tlbstate_shared.is_lazy``);
2. for each target in CPU order: ``should_flush_tlb`` reads the target's
   TLB state (``cpu_tlbstate.loaded_mm`` and ``cpu_tlbstate_shared.is_lazy``,
   read together: one transfer), then pushes its request (a per-initiator,
   per-target ``call_single_data``) on the target's call queue, an
   ``llist_add``: a second transfer (``cacheline`` / remote).  The push
   reports whether the queue was empty.  Targets overlap in consecutive
   groups of ``mlp`` (memory-level parallelism): a group costs its slowest
   target and all its pushes land when it ends (``mlp=1``: one after
   another);
3. one IPI send step after the pushes, for the targets whose queue was empty
   (a push onto a non-empty queue rides on the IPI already due), by APIC
   mode (``P_APIC_MODE``): x2APIC cluster mode makes one ICR write
   (``ipi_send``) per cluster of up to 16 logical CPUs of one socket among
   them, in CPU order, and every IPI of a cluster leaves when its write
   ends (``arch/x86/kernel/apic/x2apic_cluster.c``,
   ``__x2apic_send_IPI_mask``); physical mode makes one write per target;
4. its own flush, while the targets work (``flush_tlb_func`` locally, same
   generation rules as a target; its ``tlb_gen`` read is free unless another
   CPU bumped the line since);
5. wait, interrupts enabled, on each target's release of *its* request (its
   csd lock bit), in order: a poll per ``pause``, one event per release.  It
   never gives up;
6. return: the pages are safe from here.

Target handler: ``irq_entry``; take its whole call queue (``llist_del_all``:
one transfer from the CPU that pushed last, ``cacheline`` if the queue is
empty); for each request in push order, first its lines from its initiator,
one after the other: the csd, then the ``flush_tlb_info`` with the mm's
``tlb_gen`` (the two loads overlap when ``mlp`` > 1; ``tlb_gen`` is a
transfer from its last writer unless this CPU read it since the bump, and is
not read when the local generation covers the request, nor by a lazy CPU);
then ``flush_tlb_func``:

* if the CPU is lazy (the handler interrupted an IDLE op): no flush (Linux
  switches to ``init_mm``); it will catch up when it switches back;
* else if its local generation already covers the request: nothing;
* else if the request is a range, exactly one generation ahead of the local
  one, and the newest: invalidate the range (``pages x invlpg``);
* else flush everything (``full_flush``).  A flush sets the local generation
  to the mm's generation read at its start;

then release the request: one store to the initiator's csd
(``cacheline`` / remote) that its initiator observes.  After the last
request: ``irq_exit``.  Requests pushed after the take come with their own
IPI (their push found the queue empty).

Switching back from lazy mode (an IDLE op ends): if the local generation is
behind the mm's, flush everything first (``full_flush``, state ``kernel``)
and catch up (``switch_mm_irqs_off``).

Paravirtual flush (``kvm_flush_tlb_multi``, ``arch/x86/kernel/kvm.c``), when
``P_PV_PREEMPTED_PPM`` > 0: before step 2, each target is found preempted
with that probability (parts per million), drawn from a hash of the run's
seed, the shootdown and the target.  A preempted target is
dropped from the IPI mask: the initiator sets the flush request in its
steal-time record (a ``try_cmpxchg``: one cache-line transfer, serial, in
``dispatch_cycles``) and the host flushes that vCPU's whole TLB before it
runs again: at its next op start (its next access, or the end of its
interrupts-off section), or at once if it is in the kernel.  No cycle of
that flush is the guest's; its local generation catches up with the mm's.

Simplifications: a CPU joins the mm cpumask at its first access and never
leaves; a CPU that joins after some flushes starts at generation 0, so its
first request is a full flush; lazy CPUs are skipped for every flush (Linux
also IPIs them when page tables are freed).
"""

from .._jit import jit
from .._tables import (
    SD_FULL, ST_KERNEL, ST_IDLE, ST_HANDLER, ST_USER, ST_IRQ_OFF,
    EV_PUSH, EV_ACK_SEEN, EV_INVALIDATE, EV_ACK_STORE, EV_LOCAL_FLUSH,
    EV_DRAIN, EV_APPLY,
)
from ._cpu import (
    set_mode, schedule_cpu, irqs_enabled, take_irq, try_take_irq, handler_exit,
    start_polling, wait_register, wait_unregister, user_bound,
)
from ._queue import eq_push
from ._layout import (
    NEVER, P_NCPU, P_NSOCK, P_FULL_THRESHOLD, P_APIC_MODE, APIC_PHYSICAL, APIC_CLUSTER_CPUS,
    P_PV_PREEMPTED_PPM, P_PV_SEED, SPAN_END,
    C_CACHELINE, C_IPI_SEND, C_IRQ_EXIT, C_FULL_FLUSH, C_MLP,
    T_ONLINE, T_SOCKET, K_DELIVERIES, K_SKIPPED, K_MM_GEN, K_LAZY_SKIPPED,
    EK_ACK, PRIO_STORE, SW_PUSH, SC_N_PUSH,
    MODE, SAVED_MODE, IN_SD, IN_PHASE, IN_IDX, IN_NTARGETS,
    IN_STEP_START, BUSY, NEXT_OP, IPI_PENDING, H_PHASE, H_T0,
    CNT, CNT_ACCESSES, LX_GEN, LX_QHEAD, LX_QTAIL, LX_RUN, LX_GEN_LINE, K_MM_GEN_WRITER,
    TG_CPU, TG_DELIV, TG_DONE, TG_NEXT, TG_IPI,
    S_TARGETS, S_DISPATCH, S_IPI, S_WAIT, S_LOCAL, S_GEN, S_KIND, S_VPN, S_PAGES,
    K_NDELIV, K_NSTAGE, LS_SERVED, LS_ACKED,
)
from ._log import log_event, log_delivery
from ._schedule import step_delay
from ._mailbox import wake_waiters
from ._shootdown import (
    begin_shootdown, perform_flush, initiator_return, cacheline_cost, send_ipi, run_ahead,
)
from ._tlb import tlb_flush_all

__all__ = ["linux_initiate", "linux_initiator_step", "linux_handler_step", "linux_store",
           "linux_switch"]

# initiator phases
B_PUSH = 0
D_PUSH = 1
B_SEND = 2
D_SEND = 3
B_LOCAL = 4
D_LOCAL = 5
B_WAIT = 6
D_POLL = 7

# handler phases
H_TAKE = 0
H_GRAB = 1
H_RUN = 2
H_UNLOCK = 3
H_STORE = 4
H_EXIT = 5
H_FLUSH = 6

NO_FLUSH = -1

PV_MOD = 2**31           # the preemption draw's hash works modulo this


@jit
def _is_lazy(s, j):
    mode = s.cpu[j, MODE]
    return mode == ST_IDLE or (mode == ST_HANDLER and s.cpu[j, SAVED_MODE] == ST_IDLE)


@jit
def _flush_kind(s, c, sd):
    """``flush_tlb_func``'s choice for request sd on CPU c: NO_FLUSH if its
    local generation already covers it, the request's kind if it is exactly
    the next and newest generation (and not Full), else SD_FULL."""
    local = s.cpu[c, LX_GEN]
    new = s.sd[sd, S_GEN]
    mm = s.counters[K_MM_GEN]
    if new <= local:
        return NO_FLUSH
    kind = s.sd[sd, S_KIND]
    if kind != SD_FULL and new == local + 1 and new == mm:
        return kind
    return SD_FULL


@jit
def _mm_gen_read_cost(s, m, c):
    """Reading the mm's tlb_gen on CPU c: free while its copy of the line is
    valid (no bump since it last read or wrote it), else one transfer from
    the CPU that bumped it last."""
    if s.cpu[c, LX_GEN_LINE] == s.counters[K_MM_GEN]:
        return 0
    return cacheline_cost(m, c, s.counters[K_MM_GEN_WRITER])


@jit
def _flush(s, m, c, sd, t):
    """Perform request sd on CPU c from t by the generation rules; returns
    (end, kind performed or NO_FLUSH)."""
    kind = _flush_kind(s, c, sd)
    if kind == NO_FLUSH:
        return t, kind
    s.cpu[c, LX_GEN] = s.counters[K_MM_GEN]
    end = perform_flush(s, m, c, kind, s.sd[sd, S_VPN], s.sd[sd, S_PAGES], t)
    return end, kind


@jit
def linux_initiate(s, m, c, t, op):
    """Start at t: PTE change and tlb_gen bump, targets (mm cpumask minus
    lazy CPUs, minus preempted vCPUs flushed by the host).  Returns when the
    first push starts: after the bump's line transfer and any steal-time
    writes."""
    sd = begin_shootdown(s, m, c, t, op, m.params[P_FULL_THRESHOLD])
    k = s.counters
    old_gen = k[K_MM_GEN]
    k[K_MM_GEN] += 1
    s.sd[sd, S_GEN] = k[K_MM_GEN]
    cpu = s.cpu
    n = 0
    pv = 0
    bump = 0
    for j in range(m.params[P_NCPU]):
        if j == c:
            continue
        if m.topo[j, T_ONLINE] == 0:
            k[K_SKIPPED] += 1
            continue
        # inc_mm_tlb_gen is a locked add on the tlb_gen line: it invalidates
        # every other copy, one transfer (remote if any copy is on another
        # socket).  A CPU of the cpumask first read the line when it switched
        # to the mm; one not seen since (-1) joined after the last bump.
        line = cpu[j, LX_GEN_LINE]
        if line == -1 and cpu[j, CNT + CNT_ACCESSES] > 0:
            line = old_gen
            cpu[j, LX_GEN_LINE] = old_gen
        if line == old_gen:
            cost = cacheline_cost(m, c, j)
            if cost > bump:
                bump = cost
        if cpu[j, CNT + CNT_ACCESSES] == 0:
            continue                    # not in the mm cpumask: never ran it
        if _is_lazy(s, j):
            k[K_LAZY_SKIPPED] += 1
            continue
        if m.params[P_PV_PREEMPTED_PPM] > 0:
            # kvm_flush_tlb_multi: is the vCPU preempted?  A hash of the
            # run's seed, sd and j below the share; plain 31-bit arithmetic
            # (no int64 wrap-around), so the interpreted engine draws the same.
            x = m.params[P_PV_SEED]
            x = (x * 1103515245 + 12345 + sd % PV_MOD) % PV_MOD
            x = (x * 1103515245 + 12345 + j) % PV_MOD
            x = (x * 1103515245 + 12345) % PV_MOD
            if (x >> 11) * 1_000_000 < m.params[P_PV_PREEMPTED_PPM] * (PV_MOD >> 11):
                # Preempted: set its flush request in its steal-time record
                # (one locked cmpxchg, serial) and skip it.  The host flushes
                # its whole TLB before it runs again: from t it can use
                # nothing in it, and the entries leave at its next op start
                # (t if that is not known).  No cycle of it is the guest's.
                at = t
                if cpu[j, MODE] == ST_USER and cpu[j, NEXT_OP] > t:
                    at = cpu[j, NEXT_OP]
                elif cpu[j, MODE] == ST_IRQ_OFF and cpu[j, SPAN_END] > t:
                    at = cpu[j, SPAN_END]
                tlb_flush_all(s, m, j, at)
                cpu[j, LX_GEN] = k[K_MM_GEN]
                pv += cacheline_cost(m, c, j)
                continue
        s.pair[TG_CPU, c, n] = j
        s.pair[TG_DELIV, c, n] = -1
        s.pair[TG_DONE, c, n] = 0
        s.pair[TG_NEXT, c, n] = -1
        s.pair[TG_IPI, c, n] = 0
        n += 1
    cpu[c, LX_GEN_LINE] = k[K_MM_GEN]
    k[K_MM_GEN_WRITER] = c
    cpu[c, IN_NTARGETS] = n
    s.sd[sd, S_TARGETS] = n
    cpu[c, IN_IDX] = 0
    cpu[c, IN_PHASE] = B_PUSH if n > 0 else B_LOCAL
    s.sd[sd, S_DISPATCH] += bump + pv
    cpu[c, IN_STEP_START] = t + bump + pv
    return t + bump + pv


@jit
def _push(s, m, c, idx, t):
    """llist_add of c's request onto target j's call queue lands at t."""
    cpu = s.cpu
    k = s.counters
    n = m.params[P_NCPU]
    j = s.pair[TG_CPU, c, idx]
    sd = cpu[c, IN_SD]
    node = c * n + idx
    tail = cpu[j, LX_QTAIL]
    if tail < 0:
        cpu[j, LX_QHEAD] = node
        s.pair[TG_IPI, c, idx] = 1
    else:
        s.pair[TG_NEXT, tail // n, tail % n] = node
    cpu[j, LX_QTAIL] = node
    k[K_DELIVERIES] += 1
    s.pair[TG_DELIV, c, idx] = log_delivery(s.dv, k, K_NDELIV, sd, j, t, 0, 0)
    log_event(s.ev, k, t, c, EV_PUSH, j, sd, 1 - s.pair[TG_IPI, c, idx])


@jit
def linux_initiator_step(s, m, c, t):
    """Advance the initiator from step boundary t (or end a switch-back
    flush), running ahead while its next boundary comes first."""
    cpu = s.cpu
    k = s.counters
    sd = cpu[c, IN_SD]
    if sd < 0:
        # The full flush of a switch back from lazy mode is done.
        set_mode(s, c, ST_USER, t)
        if cpu[c, NEXT_OP] < t:
            cpu[c, NEXT_OP] = t
        schedule_cpu(s, c, user_bound(s, m, c))
        try_take_irq(s, m, c, t)
        return
    while True:
        ph = cpu[c, IN_PHASE]
        idx = cpu[c, IN_IDX]
        nt = t
        if ph == D_PUSH:
            # The group's pushes land together, in CPU order.
            end = idx + m.costs[C_MLP]
            if end > cpu[c, IN_NTARGETS]:
                end = cpu[c, IN_NTARGETS]
            for i in range(idx, end):
                _push(s, m, c, i, t)
            if end < cpu[c, IN_NTARGETS]:
                cpu[c, IN_IDX] = end
                cpu[c, IN_PHASE] = B_PUSH
            else:
                cpu[c, IN_IDX] = 0
                cpu[c, IN_PHASE] = B_SEND
            continue
        if ph == D_SEND:
            # The ICR write just ended: the IPIs of every target of its
            # destination (a cluster, or one CPU in physical mode) leave now.
            # Targets are in CPU order and a cluster is a run of consecutive
            # CPUs of one socket, so its targets are consecutive here.
            n = cpu[c, IN_NTARGETS]
            per_socket = m.params[P_NCPU] // m.params[P_NSOCK]
            dest = -1
            while idx < n:
                j = s.pair[TG_CPU, c, idx]
                if m.params[P_APIC_MODE] == APIC_PHYSICAL:
                    key = j
                else:
                    sock = m.topo[j, T_SOCKET]
                    key = (sock * m.params[P_NCPU]
                           + (j - sock * per_socket) // APIC_CLUSTER_CPUS)
                if dest < 0:
                    dest = key
                elif key != dest:
                    break
                if s.pair[TG_IPI, c, idx] == 1:
                    send_ipi(s, m, c, idx, t)
                idx += 1
            cpu[c, IN_IDX] = idx
            cpu[c, IN_PHASE] = B_SEND
            continue
        if ph == D_LOCAL:
            cpu[c, IN_IDX] = 0
            cpu[c, IN_PHASE] = B_WAIT
            cpu[c, IN_STEP_START] = t
            continue
        if ph == D_POLL:
            wait_unregister(s, m, c)
            if s.pair[TG_DONE, c, idx] != 1:
                wait_register(s, m, c, s.pair[TG_CPU, c, idx])
                return
            log_event(s.ev, k, t, c, EV_ACK_SEEN, s.pair[TG_CPU, c, idx], sd, 0)
            cpu[c, IN_IDX] = idx + 1
            cpu[c, IN_PHASE] = B_WAIT
            continue
        # B_* phases begin a new step: a pending interrupt is taken first.
        if cpu[c, IPI_PENDING] != 0 and irqs_enabled(s, m, c):
            take_irq(s, m, c, t)
            return
        if ph == B_PUSH:
            # Up to mlp targets in flight: the group takes as long as its
            # slowest.  Each is two transfers, one after the other: should_
            # flush_tlb reads the target's per-CPU TLB state (its loaded_mm
            # and is_lazy lines, read together), then the llist_add (plus the
            # push's own schedule delay).
            end = idx + m.costs[C_MLP]
            if end > cpu[c, IN_NTARGETS]:
                end = cpu[c, IN_NTARGETS]
            step = 0
            for i in range(idx, end):
                cost = (2 * cacheline_cost(m, c, s.pair[TG_CPU, c, i])
                        + step_delay(s, m, c, SW_PUSH, SC_N_PUSH))
                if cost > step:
                    step = cost
            nt = t + step
            s.sd[sd, S_DISPATCH] += nt - t
            cpu[c, IN_PHASE] = D_PUSH
        elif ph == B_SEND:
            n = cpu[c, IN_NTARGETS]
            while idx < n and s.pair[TG_IPI, c, idx] == 0:
                idx += 1
            cpu[c, IN_IDX] = idx
            if idx >= n:
                cpu[c, IN_PHASE] = B_LOCAL
                continue
            nt = t + m.costs[C_IPI_SEND]
            s.sd[sd, S_IPI] += nt - t
            cpu[c, IN_PHASE] = D_SEND
        elif ph == B_LOCAL:
            # Its own flush_tlb_func: the tlb_gen read is free unless another
            # CPU bumped it since this one did.
            read = 0
            if s.sd[sd, S_GEN] > cpu[c, LX_GEN]:
                read = _mm_gen_read_cost(s, m, c)
                cpu[c, LX_GEN_LINE] = k[K_MM_GEN]
            nt, kind = _flush(s, m, c, sd, t + read)
            s.sd[sd, S_LOCAL] += nt - t
            log_event(s.ev, k, nt, c, EV_LOCAL_FLUSH, -1, sd, kind)
            cpu[c, IN_PHASE] = D_LOCAL
        else:  # B_WAIT
            if idx >= cpu[c, IN_NTARGETS]:
                s.sd[sd, S_WAIT] = t - cpu[c, IN_STEP_START]
                initiator_return(s, m, c, t, True)
                return
            if s.pair[TG_DONE, c, idx] == 1:
                log_event(s.ev, k, t, c, EV_ACK_SEEN, s.pair[TG_CPU, c, idx], sd, 0)
                cpu[c, IN_IDX] = idx + 1
                continue
            wait_register(s, m, c, s.pair[TG_CPU, c, idx])
            start_polling(s, c, t, D_POLL, NEVER)
            return
        if run_ahead(s, c, nt):
            t = nt
            continue
        return


@jit
def linux_handler_step(s, m, c, t):
    """Advance CPU c's call-function IPI handler at step boundary t."""
    cpu = s.cpu
    k = s.counters
    n = m.params[P_NCPU]
    ph = cpu[c, H_PHASE]
    if ph == H_TAKE:
        # llist_del_all: the queue head's line comes from the CPU that
        # pushed last (or stays local if the queue is already empty).
        cost = m.costs[C_CACHELINE]
        if cpu[c, LX_QTAIL] >= 0:
            cost = cacheline_cost(m, c, cpu[c, LX_QTAIL] // n)
        cpu[c, H_PHASE] = H_GRAB
        schedule_cpu(s, c, t + cost)
        return
    if ph == H_GRAB:
        # llist_del_all: every request pushed so far is ours to run.
        cpu[c, LX_RUN] = cpu[c, LX_QHEAD]
        cpu[c, LX_QHEAD] = -1
        cpu[c, LX_QTAIL] = -1
        cnt = 0
        node = cpu[c, LX_RUN]
        while node >= 0:
            cnt += 1
            node = s.pair[TG_NEXT, node // n, node % n]
        log_event(s.ev, k, t, c, EV_DRAIN, -1, -1, cnt)
        ph = H_RUN
        cpu[c, H_PHASE] = H_RUN
    if ph == H_RUN:
        node = cpu[c, LX_RUN]
        if node < 0:
            cpu[c, H_PHASE] = H_EXIT
            schedule_cpu(s, c, t + m.costs[C_IRQ_EXIT])
            return
        # Before flush_tlb_func can decide, the request's lines come over
        # from its initiator, one after the other: the csd (its function
        # and info pointers), then the flush_tlb_info.  The mm's tlb_gen is
        # read with the info when needed: the two loads overlap (mlp > 1).
        i = node // n
        sd = cpu[i, IN_SD]
        line = cacheline_cost(m, c, i)
        # (flush_tlb_func returns before reading tlb_gen when its local
        # generation already covers the request, "to avoid cache contention")
        gen = 0
        if cpu[c, SAVED_MODE] != ST_IDLE and s.sd[sd, S_GEN] > cpu[c, LX_GEN]:
            gen = _mm_gen_read_cost(s, m, c)
        if m.costs[C_MLP] > 1:
            read = line + max(line, gen)
        else:
            read = 2 * line + gen
        cpu[c, H_PHASE] = H_FLUSH
        schedule_cpu(s, c, t + read)
    elif ph == H_FLUSH:
        node = cpu[c, LX_RUN]
        i = node // n
        sd = cpu[i, IN_SD]
        if cpu[c, SAVED_MODE] == ST_IDLE:
            end = t          # lazy: switch to init_mm, catch up on the way back
            kind = NO_FLUSH
        else:
            if s.sd[sd, S_GEN] > cpu[c, LX_GEN]:
                cpu[c, LX_GEN_LINE] = k[K_MM_GEN]
            end, kind = _flush(s, m, c, sd, t)
        log_event(s.ev, k, end, c, EV_INVALIDATE, i, sd, kind)
        d = s.pair[TG_DELIV, i, node % n]
        if d >= 0:
            log_delivery(s.lg, k, K_NSTAGE, d, LS_SERVED, cpu[c, H_T0], end, 0)
        cpu[c, H_PHASE] = H_UNLOCK
        schedule_cpu(s, c, end)
    elif ph == H_UNLOCK:
        # csd_unlock: a store into the initiator's csd.
        i = cpu[c, LX_RUN] // n
        store = t + cacheline_cost(m, c, i)
        cpu[c, H_PHASE] = H_STORE
        eq_push(s, store, PRIO_STORE, EK_ACK, c, 0)
    elif ph == H_EXIT:
        handler_exit(s, m, c, t)


@jit
def linux_store(s, m, c, t):
    """CPU c's release of its current request lands at t: its initiator
    (polling c) sees it at its next poll; then the next request."""
    cpu = s.cpu
    n = m.params[P_NCPU]
    node = cpu[c, LX_RUN]
    i = node // n
    idx = node % n
    s.pair[TG_DONE, i, idx] = 1
    d = s.pair[TG_DELIV, i, idx]
    if d >= 0:
        log_delivery(s.lg, s.counters, K_NSTAGE, d, LS_ACKED, t, -1, 0)
    log_event(s.ev, s.counters, t, c, EV_ACK_STORE, i, cpu[i, IN_SD], 1)
    cpu[c, LX_RUN] = s.pair[TG_NEXT, i, idx]
    wake_waiters(s, m, c, t)
    cpu[c, H_PHASE] = H_RUN
    schedule_cpu(s, c, t)


@jit
def linux_switch(s, m, c, t):
    """CPU c switches at t.  Leaving lazy mode (back to user) with a local
    generation behind the mm's: flush everything first, in kernel mode."""
    cpu = s.cpu
    if cpu[c, MODE] != ST_USER:
        return                  # entering lazy mode: nothing to do now
    # switch_mm_irqs_off reads tlb_gen (a switch's cycles are not charged)
    cpu[c, LX_GEN_LINE] = s.counters[K_MM_GEN]
    if cpu[c, LX_GEN] >= s.counters[K_MM_GEN]:
        return
    cpu[c, LX_GEN] = s.counters[K_MM_GEN]
    end = t + m.costs[C_FULL_FLUSH]
    tlb_flush_all(s, m, c, end)
    log_event(s.ev, s.counters, end, c, EV_APPLY, -1, -1, SD_FULL)
    set_mode(s, c, ST_KERNEL, t)
    cpu[c, BUSY] = end
    cpu[c, NEXT_OP] = end
    schedule_cpu(s, c, end)
