"""Layout of the engine's state: index constants and the one builder.

The jitted core receives two namedtuples of NumPy arrays:

* :class:`Machine` -- read-only inputs: scalar parameters (``params``, indexed
  by ``P_*``), costs (``costs``, indexed by ``C_*`` in ``COST_FIELDS`` order),
  the topology and the workload in CSR form.
* :class:`State` -- everything the simulation mutates, including the event
  heap, the logs and the exact counters (``counters``, indexed by ``K_*``).

All times are int64 cycles.  Sentinels: ``-1`` for "none / never"; ``NEVER``
(a large positive int64) for "no deadline".  :func:`make_state` documents each
field's shape and sentinel where it is built.
"""

from collections import namedtuple

import numpy as np

__all__ = [
    "Machine", "State", "make_machine", "make_state", "NEVER",
    "PROTO_IDS",
]

NEVER = np.int64(2**62)

# ---- protocol ids (names live in tlbwidgets.protocols) -----------------------
PR_MAILBOX = 0
PR_MAILBOX_FIXED = 1
PR_LINUX = 2
PR_BROADCAST = 3
PR_LATR = 4
PR_GLOBAL_LOCK = 5
PROTO_IDS = {
    "mailbox": PR_MAILBOX, "mailbox_fixed": PR_MAILBOX_FIXED, "linux": PR_LINUX,
    "broadcast": PR_BROADCAST, "latr": PR_LATR, "global_lock": PR_GLOBAL_LOCK,
}

# ---- Machine.params indices ---------------------------------------------------
P_NCPU = 0
P_NSOCK = 1
P_VM_PAGES = 2
P_SETS = 3
P_WAYS = 4
P_TIMEOUT_SPINS = 5      # -1: never give up
P_MAX_EVENTS = 6
P_PROTO = 7
P_WAIT_IRQS_OFF = 8      # 1: initiators dispatch and wait with interrupts disabled
P_QUEUE_SLOTS = 9        # mailbox capacity per CPU (seed: 16)
P_FULL_THRESHOLD = 10    # ranges of more pages than this become Full (seed: 64)
P_CAP_EVENTS = 11
P_CAP_ROWS = 12          # cap of deliveries, stale windows and violations logs
P_TICK = 13              # latr: scheduler tick period in cycles
P_BCAST_MAX_PAGES = 14   # broadcast: pages one INVLPGB instruction may cover
P_LOG_ACCESSES = 15      # 1: log every access (stepper); 0: only stale hits
N_PARAMS = 16

# ---- Machine.costs indices (COST_FIELDS order) ------------------------------
C_TLB_HIT = 0
C_PAGE_WALK = 1
C_INVLPG = 2
C_FULL_FLUSH = 3
C_CACHELINE = 4
C_CACHELINE_REMOTE = 5
C_IPI_SEND = 6
C_IPI_LATENCY = 7
C_IPI_LATENCY_REMOTE = 8
C_IRQ_ENTRY = 9
C_IRQ_EXIT = 10
C_PAUSE = 11
C_INVLPGB = 12
C_TLBSYNC = 13

# ---- State.counters indices --------------------------------------------------
K_NOW = 0            # time of the event being processed
K_EVENTS = 1         # events processed
K_HEAP_N = 2         # entries in the heap
K_SEQ = 3            # next heap sequence number (FIFO among equal keys)
K_NSD = 4            # shootdowns started
K_NDELIV = 5         # delivery rows logged
K_NWIN = 6           # stale-window rows logged
K_NVIOL = 7          # violation rows logged
K_NEV = 8            # event rows logged
K_TRUNC = 9          # bit 0 events, 1 deliveries, 2 windows, 3 violations cut
K_IPIS = 10
K_TIMEOUTS = 11
K_FULL_FLUSHES = 12
K_ACCESSES = 13
K_MISSES = 14
K_STALE_HITS = 15    # transient stale hits (before the safe time)
K_VIOLATIONS = 16
K_WIN_OPENED = 17
K_WIN_CLOSED = 18
K_WIN_CYCLES = 19    # sum of (end - start) over closed windows
K_WARNINGS = 20      # bad ranges turned into Full
K_OVERFLOWS = 21     # mailbox pushes that overflowed into one Full op
K_COALESCED = 22     # IPIs that found one already pending (APIC IRR)
K_OUTCOME = 23
K_DELIVERIES = 24    # (shootdown, target) deliveries, exact
K_STALE_OPEN = 25    # stale entries open right now
K_LAST_TIME = 26     # latest time any CPU reached
K_HANDLER_CYCLES = 27
K_SKIPPED = 28       # targets skipped (offline / lazy / not in cpumask)
N_COUNTERS = 32

# ---- heap event kinds and priorities -----------------------------------------
# Among events at the same time, lower priority fires first; then FIFO by seq.
EK_CPU = 0           # the CPU's own activity continues (user ops or a protocol step)
EK_IPI = 1           # an IPI reaches the CPU
EK_IRQ = 2           # the CPU takes its pending interrupt now
EK_ACK = 3           # a store that pollers may observe (ACK flag / sequence)
PRIO_STORE = 0       # stores land before polls at the same instant
PRIO_CPU = 1
PRIO_IPI = 2
PRIO_IRQ = 3

Machine = namedtuple("Machine", [
    "params",        # int64[N_PARAMS]
    "costs",         # int64[len(COST_FIELDS)]
    "socket",        # int64[ncpu]: socket of each CPU
    "online",        # int64[ncpu]: 1 online, 0 offline (skipped, runs nothing)
    "op_start",      # int64[ncpu+1]: CSR offsets of each CPU's ops
    "op_kind",       # int64[nops]: OP_* code
    "op_vpn",        # int64[nops]: first page
    "op_pages",      # int64[nops]: pages (<= 0 for UNMAP/PROTECT: a bad range)
    "op_think",      # int64[nops]: think cycles after the op (N cycles for IRQ_OFF/IDLE)
    "op_min_ahead",  # int64[nops+ncpu]: see make_machine
    "op_next_inter", # int64[nops]: index of the next non-ACCESS op at or after i
])

State = namedtuple("State", [
    "counters",
    # CPUs -------------------------------------------------------------------
    "mode", "mode_since", "saved_mode", "suspend_t", "op_idx", "next_op_time",
    "busy_until", "span_end", "ipi_pending",
    "cpu_cycles",        # int64[ncpu, 7]: cycles per ST_* state
    "cpu_counts",        # int64[ncpu, 8]: accesses, hits, misses, full flushes, stale hits, violations, ipis received
    # initiator continuation -----------------------------------------------------
    "in_sd", "in_phase", "in_idx", "in_ntargets", "in_targets", "in_ticket",
    "in_poll0", "in_deadline", "in_spins_left", "in_vpn", "in_pages", "in_kind",
    "in_step_start", "in_deliv",
    # handler continuation ----------------------------------------------------
    "h_phase", "h_t0", "h_seq_drained", "h_slot_end",
    # mailboxes and acknowledgements --------------------------------------------
    "q_count", "q_kind", "q_vpn", "q_pages", "q_sd", "q_ticket", "q_lock_free",
    "ack_flag", "push_seq", "done_seq", "pend_head", "pend_tail",
    # waiters on a target's ACK ---------------------------------------------------
    "waiting_on", "w_head", "w_next", "w_prev",
    # TLBs and the page table -------------------------------------------------------
    "tlb_vpn", "tlb_ver", "tlb_lru", "tlb_sd", "tlb_win", "pte_ver", "safe_ver",
    # event heap -------------------------------------------------------------------
    "hp_time", "hp_prio", "hp_seq", "hp_kind", "hp_cpu", "hp_arg", "hp_pos",
    # shootdown table ---------------------------------------------------------------
    "sd_init", "sd_start", "sd_end", "sd_safe", "sd_vpn", "sd_pages", "sd_kind",
    "sd_op", "sd_targets", "sd_ipis", "sd_timeouts", "sd_upgraded", "sd_local",
    "sd_dispatch", "sd_ipi", "sd_wait", "sd_unapplied",
    # logs --------------------------------------------------------------------------
    "dv_sd", "dv_cpu", "dv_pushed", "dv_ipi", "dv_handler", "dv_flushed",
    "dv_acked", "dv_next", "dv_slot",
    "wn_sd", "wn_cpu", "wn_vpn", "wn_start", "wn_end",
    "vi_time", "vi_cpu", "vi_vpn", "vi_sd",
    "ev_time", "ev_cpu", "ev_kind", "ev_other", "ev_sd", "ev_arg",
])


def make_machine(params, costs, socket, online, op_start, op_kind, op_vpn,
                 op_pages, op_think):
    """Build the read-only :class:`Machine`.

    ``op_min_ahead[i]`` is the fewest cycles from the start of op ``i`` until
    the next non-ACCESS op of the same CPU starts (every access hitting the
    TLB): the engine uses it as a lower bound to let a CPU run its accesses
    ahead without an event per access.  ``op_next_inter[i]`` is the index of
    that next non-ACCESS op, or the CPU's end offset when there is none.
    """
    from .._tables import OP_ACCESS
    n = len(socket)
    nops = len(op_kind)
    step = np.where(op_kind == OP_ACCESS,
                    min(int(costs[C_TLB_HIT]), int(costs[C_PAGE_WALK])) + op_think, 0)
    min_ahead = np.zeros(nops + n, dtype=np.int64)
    next_inter = np.zeros(nops, dtype=np.int64)
    for c in range(n):
        lo, hi = int(op_start[c]), int(op_start[c + 1])
        acc = 0
        nxt = hi
        for i in range(hi - 1, lo - 1, -1):
            if op_kind[i] != OP_ACCESS:
                acc = 0
                nxt = i
            else:
                acc += int(step[i])
            min_ahead[i] = acc
            next_inter[i] = nxt
    return Machine(params.astype(np.int64), costs.astype(np.int64),
                   socket.astype(np.int64), online.astype(np.int64),
                   op_start.astype(np.int64), op_kind.astype(np.int64),
                   op_vpn.astype(np.int64), op_pages.astype(np.int64),
                   op_think.astype(np.int64), min_ahead, next_inter)


def make_state(m):
    """Allocate a fresh :class:`State` for machine ``m``; every array is sized
    once here (nothing grows during the run).

    Sizes: ``n`` CPUs, ``S x W`` TLB, ``Q`` mailbox slots, ``V`` pages,
    ``D`` shootdowns (= UNMAP/PROTECT ops in the workload), ``R`` log rows,
    ``E`` event rows, ``H`` heap capacity = n * (n + 8) + 64 (at most one CPU
    event, one IRQ event and one store per CPU, plus one IPI in flight per
    (sender, target) pair).
    """
    from .._tables import OP_UNMAP, OP_PROTECT
    p = m.params
    n = int(p[P_NCPU])
    S, W = int(p[P_SETS]), int(p[P_WAYS])
    Q = int(p[P_QUEUE_SLOTS])
    V = int(p[P_VM_PAGES])
    D = int(np.count_nonzero((m.op_kind == OP_UNMAP) | (m.op_kind == OP_PROTECT)))
    D = max(D, 1)
    R = int(p[P_CAP_ROWS])
    E = int(p[P_CAP_EVENTS])
    H = n * (n + 8) + 64

    def full(shape, value):
        return np.full(shape, value, dtype=np.int64)

    def zeros(shape):
        return np.zeros(shape, dtype=np.int64)

    counters = zeros(N_COUNTERS)
    return State(
        counters=counters,
        mode=zeros(n),                 # ST_* code
        mode_since=zeros(n),           # when the current mode began (cycle accounting)
        saved_mode=full(n, -1),        # mode interrupted by the running handler
        suspend_t=zeros(n),            # when the running handler was taken
        op_idx=m.op_start[:n].copy(),  # next op to start, global index
        next_op_time=zeros(n),         # when that op starts if not interrupted
        busy_until=zeros(n),           # end of the current atomic step
        span_end=zeros(n),             # end of the running IRQ_OFF / IDLE op
        ipi_pending=zeros(n),          # APIC IRR bit of the shootdown vector
        cpu_cycles=zeros((n, 7)),
        cpu_counts=zeros((n, 8)),
        in_sd=full(n, -1),             # shootdown this CPU is initiating, -1 none
        in_phase=zeros(n),
        in_idx=zeros(n),               # position in in_targets
        in_ntargets=zeros(n),
        in_targets=full((n, n), -1),   # targets of the current shootdown, in order
        in_ticket=zeros((n, n)),       # mailbox_fixed: sequence number to wait for
        in_poll0=zeros(n),             # origin of the current polling grid
        in_deadline=full(n, NEVER),    # give-up instant of the current wait
        in_spins_left=zeros(n),
        in_vpn=zeros(n), in_pages=zeros(n), in_kind=zeros(n),
        in_step_start=zeros(n),        # when the current phase (wait) began
        in_deliv=full((n, n), -1),     # delivery row of each target, -1 not logged
        h_phase=zeros(n),              # handler continuation step
        h_t0=zeros(n),                 # handler's take time
        h_seq_drained=zeros(n),        # mailbox_fixed: highest ticket drained
        h_slot_end=zeros((n, Q)),      # completion time of each drained slot's op
        q_count=zeros(n),
        q_kind=zeros((n, Q)), q_vpn=zeros((n, Q)), q_pages=zeros((n, Q)),
        q_sd=full((n, Q), -1), q_ticket=zeros((n, Q)),
        q_lock_free=zeros(n),          # the queue's spinlock is free from this instant
        ack_flag=full(n, 1),           # seed: flags start true
        push_seq=zeros(n),             # mailbox_fixed: tickets handed out per target
        done_seq=zeros(n),             # mailbox_fixed: tickets performed per target
        pend_head=full(n, -1), pend_tail=full(n, -1),  # logged deliveries awaiting drain
        waiting_on=full(n, -1),        # target whose ACK this CPU polls, -1 none
        w_head=full(n, -1), w_next=full(n, -1), w_prev=full(n, -1),
        tlb_vpn=full((n, S, W), -1),   # -1: empty way
        tlb_ver=zeros((n, S, W)),      # PTE version the entry was filled from
        tlb_lru=zeros((n, S, W)),      # last use (cycles); smallest is evicted
        tlb_sd=full((n, S, W), -1),    # shootdown that made the entry stale
        tlb_win=full((n, S, W), -1),   # row of its stale window (-1 none / not logged)
        pte_ver=zeros(V),              # version = sequence of the last change (sd id + 1)
        safe_ver=zeros(V),             # versions below this may no longer be used
        hp_time=zeros(H), hp_prio=zeros(H), hp_seq=zeros(H),
        hp_kind=zeros(H), hp_cpu=zeros(H),
        hp_arg=zeros(H),               # EK_IPI: the sender
        hp_pos=full((n, 4), -1),       # heap index of the CPU's EK_CPU / EK_IRQ event
        sd_init=full(D, -1), sd_start=full(D, -1), sd_end=full(D, -1),
        sd_safe=full(D, -1), sd_vpn=zeros(D), sd_pages=zeros(D), sd_kind=zeros(D),
        sd_op=zeros(D), sd_targets=zeros(D), sd_ipis=zeros(D), sd_timeouts=zeros(D),
        sd_upgraded=zeros(D), sd_local=zeros(D), sd_dispatch=zeros(D),
        sd_ipi=zeros(D), sd_wait=zeros(D),
        sd_unapplied=zeros(D),         # lazy protocols: CPUs yet to apply it
        dv_sd=zeros(R), dv_cpu=zeros(R), dv_pushed=full(R, -1), dv_ipi=full(R, -1),
        dv_handler=full(R, -1), dv_flushed=full(R, -1), dv_acked=full(R, -1),
        dv_next=full(R, -1),           # next logged delivery pending on the same target
        dv_slot=full(R, -1),           # mailbox slot holding its op
        wn_sd=zeros(R), wn_cpu=zeros(R), wn_vpn=zeros(R), wn_start=zeros(R),
        wn_end=full(R, -1),
        vi_time=zeros(R), vi_cpu=zeros(R), vi_vpn=zeros(R), vi_sd=zeros(R),
        ev_time=zeros(E), ev_cpu=zeros(E), ev_kind=zeros(E), ev_other=zeros(E),
        ev_sd=zeros(E), ev_arg=zeros(E),
    )
