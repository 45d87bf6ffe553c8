"""Layout of the engine's state: a few 2-D int64 tables with named columns.

The jitted core receives two namedtuples of NumPy arrays:

* :class:`Machine` -- read-only inputs: scalar parameters (``params``,
  indexed by ``P_*``), costs (``costs``, indexed by ``C_*`` in
  ``COST_FIELDS`` order), the topology, the workload in CSR form and a
  schedule's perturbations (``sched``, zero rows for none).
* :class:`State` -- everything the simulation mutates: one table per entity
  (CPUs, mailbox slots, TLB entries, pages, event nodes, shootdowns, log
  rows), each a plain int64 array whose last axis is indexed by the column
  constants below, plus the exact ``counters`` (``K_*``).

Why tables and not one array per field: numba passes a tuple by value, every
array of it, to every call, so a state of a hundred arrays made each call cost
about a microsecond.  A dozen tables, passed by reference inside the run
(``_ref``), keep calls cheap.

All times are int64 cycles.  Sentinels: ``-1`` for "none / never";
``NEVER`` (2**62) for "no deadline".
"""

from collections import namedtuple

import numpy as np

from .._jit import jit
from .._tables import OP_ACCESS, OP_UNMAP, OP_PROTECT, OP_IRQ_OFF

__all__ = ["Machine", "State", "make_machine", "make_state", "make_machine_state",
           "ops_block", "queue_nodes", "NEVER", "PROTO_IDS"]

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

# ---- Machine.params -------------------------------------------------------------
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
P_APIC_MODE = 15         # linux: APIC_* destination mode of its IPI sends
P_PV_PREEMPTED_PPM = 16  # linux: share of targets found preempted, parts per million
P_PV_SEED = 17           # linux: the run's seed mod 2**31, picks the preempted targets
P_ACK_PER_LINE = 18      # mailbox protocols: ACK fields per cache line (0: one line each)
N_PARAMS = 19

# ---- ACK layouts (P_ACK_PER_LINE; names in tlbwidgets.api.ACK_LAYOUTS) -------------
ACK_PACKED_FLAGS = 64    # the seed's one-byte AtomicBool flags: 64 per 64-byte line
ACK_PACKED_SEQS = 8      # mailbox_fixed's 8-byte sequence numbers, packed: 8 per line

# ---- APIC destination modes (P_APIC_MODE; names in tlbwidgets.api.APIC_MODES) -----
APIC_X2APIC_CLUSTER = 0  # one ICR write per cluster of up to 16 logical CPUs of a socket
APIC_PHYSICAL = 1        # one ICR write per target
APIC_CLUSTER_CPUS = 16   # Intel SDM vol. 3, 10.12.10: a logical x2APIC ID's 16-bit mask

# ---- Machine.costs (COST_FIELDS order) ------------------------------------------
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
C_MLP = 14               # a count, not cycles: transfers one core keeps in flight
C_IDLE_WAKE = 15         # a halted (idle-op) CPU's wake-up before it takes an interrupt

# ---- Machine.topo[cpu, *] ----------------------------------------------------------
T_SOCKET = 0
T_ONLINE = 1

# ---- Machine.ops[op, *]: the workload, CSR by CPU (Machine.op_start) ------------
O_KIND = 0       # OP_* code
O_VPN = 1        # first page
O_PAGES = 2      # pages (<= 0 for UNMAP/PROTECT: a bad range)
O_THINK = 3      # cycles after the op (duration of IRQ_OFF / IDLE)
O_AHEAD = 4      # fewest cycles from this op's start to the next non-access op
O_SHORT = 5      # a byte-range UNMAP/PROTECT: pages at the end of [O_VPN, O_VPN + O_PAGES)
                 # that the seed's page count (end - start) // 4096 leaves out (0..2)
N_OP_COLS = 6

# ---- State.counters ------------------------------------------------------------------
K_NOW = 0            # time of the event being processed
K_EVENTS = 1         # events processed
K_EQ_N = 2           # events pending in the event queue (_queue)
K_SEQ = 3            # unused (was the event sequence number; ties are now canonical)
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
K_SKIPPED = 28       # targets skipped (offline)
# Global (machine-wide) protocol state lives here too: one value each.
K_GL_NEXT = 29       # global_lock: next ticket of the shootdown lock
K_GL_SERVING = 30    # global_lock: ticket allowed to take the lock
K_GL_FREE_AT = 31    # global_lock: instant the lock was last released
K_GL_LOCK_OWNER = 32 # global_lock: last CPU that held the lock (-1 none): its cache line
K_GL_HOLDER = 33     # global_lock: CPU holding the lock now (-1 none)
K_GL_SD = 34         # global_lock: the one request (shootdown id) in flight, -1 none
K_GL_PENDING = 35    # global_lock: bits set in the shared pending-CPU mask
K_LINE_FREE = 36     # global_lock: the mask's cache line is free from this instant
K_LINE_OWNER = 37    # global_lock: last CPU that wrote the mask line (-1 none)
K_FABRIC_FREE = 38   # broadcast: the fabric takes the next INVLPGB from this instant
K_LZ_HEAD = 39       # latr: first published record (shootdown id), -1 none
K_LZ_TAIL = 40       # latr: last published record, -1 none
K_MM_GEN = 41        # linux: the mm's tlb_gen (flushes requested so far)
K_LAZY_SKIPPED = 42  # linux: targets skipped because they were lazy (idle)
K_EQ_BASE = 43       # event queue: time of the last popped event (the calendar's start)
K_EQ_FAR_N = 44      # event queue: nodes in the far heap (_heap)
K_EQ_NODES = 45      # event queue: nodes ever handed out (the fixed 2n included)
K_EQ_FREE = 46       # event queue: first free node (linked through ND_NEXT), -1 none
K_MM_GEN_WRITER = 47 # linux: the CPU that last bumped tlb_gen (owns its cache line), -1 none
K_NSTAGE = 48        # stage records of the delivery log written (State.lg)
K_NOW_KEY = 49       # event queue: ND_KEY of the event being processed (_queue.eq_pop)
K_NOW_TIE = 50       # event queue: ND_TIE of the event being processed
N_COUNTERS = 51

# ---- State.cpu[cpu, *] ------------------------------------------------------------
MODE = 0             # ST_* code
MODE_SINCE = 1       # when the current mode began (cycle accounting)
SAVED_MODE = 2       # mode interrupted by the running handler, -1 none
SUSPEND_T = 3        # when the running handler was taken
OP_IDX = 4           # next op to start (global index into Machine.ops)
NEXT_OP = 5          # when that op starts if not interrupted
BUSY = 6             # end of the current atomic step (an interrupt waits for it)
SPAN_END = 7         # end of the running IRQ_OFF / IDLE op
IPI_PENDING = 8      # APIC IRR bit of the shootdown vector
IN_SD = 9            # shootdown this CPU is initiating, -1 none
IN_PHASE = 10        # initiator continuation (protocol's B_* / D_* phase)
IN_IDX = 11          # position in the target list
IN_NTARGETS = 12
IN_POLL0 = 13        # origin of the current polling grid
IN_DEADLINE = 14     # give-up instant of the current wait (NEVER: none)
IN_VPN = 15
IN_PAGES = 16
IN_KIND = 17         # SD_* flush kind decided at the start
IN_STEP_START = 18   # when the ACK (or lock) wait began, moved on by the handler time since
H_PHASE = 19         # handler continuation step
H_T0 = 20            # handler's take time
H_SEQ = 21           # mailbox_fixed: highest ticket drained by this handler
Q_COUNT = 22         # ops in this CPU's mailbox
Q_LOCK_FREE = 23     # the mailbox spinlock is free from this instant
ACK_FLAG = 24        # seed: the shared ACK flag (starts true)
PUSH_SEQ = 25        # mailbox_fixed: tickets handed out for this target
DONE_SEQ = 26        # mailbox_fixed: tickets this target has performed
PEND_LOGGED = 27     # mailbox: logged deliveries awaiting this CPU's drain
PEND_MOVED = 28      # mailbox: how many of them the latest overflow moved to slot 0
WAITING_ON = 29      # target whose ACK this CPU polls, -1 none
W_HEAD = 30          # first CPU polling this CPU's ACK (doubly linked list)
W_NEXT = 31
W_PREV = 32
CYC = 33             # CYC + ST_*: cycles spent in each state (7 columns)
CNT = 40             # CNT + CNT_*: per-CPU counts (8 columns)
GL_TICKET = 48       # global_lock: this CPU's ticket for the shootdown lock
GL_PENDING = 49      # global_lock: this CPU's bit in the shared pending mask
DV_ROW = 50          # delivery row of the request this CPU must serve, -1 none
LZ_LAST = 51         # latr: last record this CPU applied (shootdown id), -1 none
LZ_TICK_AT = 52      # latr: instant of this CPU's scheduled tick event, -1 none
LZ_UPTO = 53         # latr: last record the running tick handler took
LZ_FROM = 54         # latr: LZ_LAST before the running tick handler took its records
LX_GEN = 55          # linux: this CPU's local tlb_gen (flushes its TLB is up to date with)
LX_QHEAD = 56        # linux: first request (node id) in this CPU's call queue, -1 none
LX_QTAIL = 57        # linux: last request in the call queue, -1 none
LX_RUN = 58          # linux: next request the running handler performs, -1 none
# Occurrence counters of the steps a schedule may delay (_schedule): how many
# of each this CPU has had so far.
SC_N_IPI = 59        # IPIs sent to this CPU
SC_N_ENTRY = 60      # interrupt handler entries of this CPU
SC_N_PUSH = 61       # queue pushes this CPU made as an initiator
IN_H0 = 62           # the initiator's handler cycles (CYC + ST_HANDLER) when its shootdown began
IPI_HEAD = 63        # first IPI in flight to this CPU (an event node, _inflight), -1 none
H_DRAINED = 64       # mailbox: 1 if the running handler's drain was logged (LS_DRAIN), -1 not
WAKE_AT = 65         # an idle CPU woken by an interrupt is awake from this instant, -1 halted
LX_GEN_LINE = 66     # linux: the mm tlb_gen value this CPU's copy of its cache line holds,
                     # -1 none yet (valid while it equals K_MM_GEN: every write bumps it)
DRAINS_LOGGED = 67   # mailbox: drains of this CPU logged so far (LS_DRAIN records)
IPI_TAIL = 68        # last IPI in flight to this CPU, -1 none
IN_LOGS = 69         # 1 if the delivery log had room when this CPU's shootdown began
N_CPU_COLS = 70

CNT_ACCESSES = 0
CNT_HITS = 1
CNT_MISSES = 2
CNT_FULL_FLUSHES = 3
CNT_STALE_HITS = 4
CNT_VIOLATIONS = 5
CNT_IPIS = 6

# ---- State.pair[*, initiator, k]: the initiator's k-th target --------------------
# Column first: an initiator walks its targets in order, one column at a time
# (push, send, wait), and with 256 initiators in flight a row-first table
# (48 bytes a target) missed the cache on most steps.
TG_CPU = 0           # target CPU
TG_TICKET = 1        # mailbox_fixed: ticket to wait for
TG_DELIV = 2         # delivery row, -1 not logged
TG_DONE = 3          # linux: the target released this request (its csd flag)
TG_NEXT = 4          # linux: next request (node id = initiator * ncpu + k) in the queue
TG_IPI = 5           # linux: 1 if the push found the queue empty (an IPI is due)
N_PAIR_COLS = 6

# ---- State.q[cpu, slot, *]: mailbox slots -------------------------------------------
QS_KIND = 0
QS_VPN = 1
QS_PAGES = 2
QS_SD = 3
QS_TICKET = 4
QS_END = 5           # unused (a drain logs its slots' flush ends: LS_SLOT)
N_Q_COLS = 6

# ---- State.tlb[cpu, set, way, *] ------------------------------------------------------
TL_VPN = 0           # -1: empty way
TL_VER = 1           # PTE version the entry was filled from
TL_LRU = 2           # last use (cycles); smallest is evicted
TL_SD = 3            # shootdown that made the entry stale, -1 not stale
TL_WIN = 4           # row of its stale window, -1 none / not logged
TL_GONE = 5          # -1 live; else the instant a flush in progress removes it
N_TLB_COLS = 6

# ---- State.pte[vpn, *] -----------------------------------------------------------------
PT_VER = 0           # version = id + 1 of the last shootdown that changed it
PT_SAFE = 1          # translations of versions below this may no longer be used

# ---- State.nd[node, *]: pending events (_queue) ---------------------------------------
ND_KEY = 0           # time * 4 + priority class: one comparison orders both
ND_TIE = 1           # order among equal keys, and what the event is: (cpu, kind, arg)
                     # packed as cpu << TIE_CPU_SHIFT | kind << TIE_KIND_SHIFT | arg
ND_PREV = 2          # calendar list links (ND_NEXT also links the free list)
ND_NEXT = 3
ND_AT = 4            # AT_NONE, AT_RING, or the node's index in the far heap
ND_LPREV = 5         # EK_IPI: the target's list of IPIs in flight (_inflight), -1 none
ND_LNEXT = 6
N_ND_COLS = 8        # one column unused: a row is one 64-byte cache line (queue_nodes aligns)
TIE_CPU_SHIFT = 32
TIE_KIND_SHIFT = 28  # kinds below 16
TIE_ARG_MASK = (1 << TIE_KIND_SHIFT) - 1    # args (a CPU number or 0) below 2**28
AT_NONE = -1         # not queued
AT_RING = -2         # in the calendar

# ---- State.rl[bucket * 4 + prio, *]: the calendar's FIFO lists; State.rb: its bitmap ----
EQ_BUCKETS = 4096    # one-cycle buckets (a power of two, at most 64 * 64)
EQ_WORDS = EQ_BUCKETS // 64   # bitmap words; rb[EQ_WORDS] is the summary word
RL_HEAD = 0
RL_TAIL = 1

# ---- State.far[i, *]: the far heap (_heap), a node's key and tie kept beside it ----------
FH_KEY = 0           # the node's ND_KEY
FH_TIE = 1           # the node's ND_TIE
FH_NODE = 2          # the node (row of nd)
N_FH_COLS = 3

# ---- State.sd[id, *]: shootdowns --------------------------------------------------------
S_INIT = 0
S_START = 1
S_END = 2
S_SAFE = 3
S_VPN = 4
S_PAGES = 5
S_KIND = 6
S_OP = 7
S_TARGETS = 8
S_IPIS = 9
S_TIMEOUTS = 10
S_UPGRADED = 11
# The initiator's latency (S_END - S_START) is charged to exactly one of
# S_LOCAL, S_DISPATCH, S_IPI, S_WAIT, S_SERVE and S_LOCK.
S_LOCAL = 12
S_DISPATCH = 13
S_IPI = 14
S_WAIT = 15
S_UNAPPLIED = 16     # lazy protocols: CPUs yet to apply it
S_REC_NEXT = 17      # latr: next published record (shootdown id), -1 none
S_DV0 = 18           # first delivery row of this shootdown, -1 none
S_GEN = 19           # linux: the mm tlb_gen this flush brings CPUs to
S_SERVE = 20         # initiator cycles in its interrupt handler during the shootdown
S_LOCK = 21          # initiator cycles waiting for a lock or a resource another CPU holds
S_FLUSH_PAGES = 22   # pages a range flush invalidates (the seed rounds a byte range down)
N_SD_COLS = 23

# ---- State.al[line, *]: the packed ACK lines (_ack_line; one unused row when padded) ----
AL_FREE = 0          # the line takes its next write from this instant
AL_WRITER = 1        # CPU of the last write, -1 none yet
AL_SPIN = 2          # CPUs polling a field of this line now
AL_SOCK_SUM = 3      # sum of their sockets
AL_SOCK_SQ = 4       # sum of their sockets squared (with AL_SOCK_SUM: are all on one socket?)
N_AL_COLS = 5

# ---- log tables ----------------------------------------------------------------------------
# The delivery log is append-only: a row per logged delivery, written whole
# when the delivery is made (State.dv), and a record per later stage of it
# (State.lg), never a write into an earlier row.  Result joins them into the
# deliveries table (result.py, docs/model.md section 7).
DV_SD, DV_CPU, DV_PUSHED, DV_DRAIN, DV_RANK = range(5)
# Mailbox protocols (0 for the others): DV_DRAIN, the target's drains logged
# before the push (the row's is the next one); DV_RANK, its logged rows
# already awaiting that drain.
N_DV_COLS = 5
# State.lg[i, *]: one stage record: what it is about (LG_ID), which stage
# (LS_*), and one or two instants, as each stage says.
LG_ID, LG_STAGE, LG_T0, LG_T1 = range(4)
N_LG_COLS = 4
LS_IPI = 0           # id: delivery row; T0: the IPI to its target left
LS_SERVED = 1        # id: delivery row; T0: its handler was taken, T1: its flush ended
LS_ACKED = 2         # id: delivery row; T0: its acknowledgement landed
LS_DRAIN = 3         # mailbox, a drain that takes logged rows; id: CPU; T0: its handler
                     # was taken; T1: how many of them the last overflow moved to slot 0
LS_SLOT = 4          # mailbox, right after its LS_DRAIN; id: CPU; T0: flush end of slot T1
LS_STORE = 5         # mailbox; id: CPU; T0: the ACK store after its latest LS_DRAIN landed
LS_SD_PUSHED = 6     # broadcast; id: shootdown; T0: every row of it was pushed then
LS_SD_FLUSHED = 7    # broadcast; id: shootdown; T0: flushed (on every target) then
LS_SD_ACKED = 8      # broadcast; id: shootdown; T0: acknowledged then
LG_PER_ROW = 4       # stage records a delivery row can cause at most (State.lg is sized so)
WN_SD, WN_CPU, WN_VPN, WN_START, WN_END = range(5)
N_WN_COLS = 5
VI_TIME, VI_CPU, VI_VPN, VI_SD = range(4)
N_VI_COLS = 4
E_TIME, E_CPU, E_KIND, E_OTHER, E_SD, E_ARG = range(6)
N_E_COLS = 6

# ---- event kinds and priorities ------------------------------------------------------
# Among events at the same time, lower priority fires first; then the lower CPU,
# the lower kind, the lower arg (docs/model.md section 7: the canonical order).
EK_CPU = 0           # the CPU's own activity continues (user ops or a protocol step)
EK_IPI = 1           # an IPI reaches the CPU
EK_IRQ = 2           # the CPU takes its pending interrupt now
EK_ACK = 3           # a store that pollers may observe (ACK flag / sequence)
EK_TICK = 4          # latr: the CPU's scheduler tick (at most one pending per CPU)
PRIO_STORE = 0       # stores land before polls at the same instant
PRIO_CPU = 1
PRIO_IPI = 2
PRIO_IRQ = 3

# ---- Machine.sched[row, *]: a schedule's perturbations (_schedule) --------------------
SC_CPU = 0           # the CPU whose step is delayed
SC_WHAT = 1          # SW_* step kind
SC_OCC = 2           # which occurrence of it (0: the first), counted per CPU
SC_DELAY = 3         # cycles added to that step
N_SC_COLS = 4
SW_IPI = 0           # the latency of the k-th IPI sent to the CPU
SW_HANDLER = 1       # the entry of the CPU's k-th interrupt handler
SW_PUSH = 2          # the cache-line transfers of the CPU's k-th queue push
SW_THINK = 3         # the think time of the CPU's k-th op (an irq_off op: its length)
SW_IRQ_OFF = 4       # the length of the CPU's k-th irq_off op
# SW_THINK and SW_IRQ_OFF are applied to the op table when the Machine is built.

Machine = namedtuple("Machine", ["params", "costs", "topo", "op_start", "ops", "sched"])
State = namedtuple("State", ["counters", "cpu", "pair", "q", "tlb", "pte", "nd", "rl", "rb",
                             "far", "sd", "dv", "lg", "wn", "vi", "ev", "al"])


@jit
def _write_ops(ops, op_start, c_lo, c_hi, vpn, think, at, at_kind, at_pages, fastest):
    """Write the op-table rows of CPUs ``[c_lo, c_hi)`` from a block (the
    layout of :func:`make_machine_state`), every column of every row; returns
    the number of UNMAP/PROTECT ops among them.

    One backward pass per CPU: the run-ahead bound of an op is its own step
    plus the bound of the next op, so it is known when the op is written.
    A run of accesses ends at every other op (its bound is 0).  Sums wrap
    on int64 overflow, as NumPy's would.
    """
    base = op_start[c_lo]
    n_changes = 0
    j = at.shape[0] - 1                 # the last listed op not yet written
    for c in range(c_hi - 1, c_lo - 1, -1):
        ahead = 0
        for i in range(op_start[c + 1] - base - 1, op_start[c] - base - 1, -1):
            kind = OP_ACCESS
            pages = 1
            if j >= 0 and at[j] == i:
                kind = at_kind[j]
                pages = at_pages[j]
                j -= 1
                if kind == OP_UNMAP or kind == OP_PROTECT:
                    n_changes += 1
            # an access's fewest cycles: the fastest lookup, then its think time
            ahead = ahead + (think[i] + fastest) if kind == OP_ACCESS else 0
            r = base + i
            ops[r, O_KIND] = kind
            ops[r, O_VPN] = vpn[i]
            ops[r, O_PAGES] = pages
            ops[r, O_THINK] = think[i]
            ops[r, O_AHEAD] = ahead
            ops[r, O_SHORT] = 0
    return n_changes


def make_machine(params, costs, socket, online, op_start, op_kind, op_vpn,
                 op_pages, op_think, sched=None, short_pages=None):
    """Build the read-only :class:`Machine` from the workload as int64 CSR
    arrays (``op_start[0] == 0``, ``op_start[-1] == len(op_kind)``).

    ``ops[i, O_AHEAD]`` is the fewest cycles from the start of op ``i`` until
    the next non-ACCESS op of the same CPU starts (every access hitting the
    TLB): a lower bound that lets a user CPU run its accesses without an
    event per access.  Every array of the Machine is a new one: the inputs
    are only read.  ``sched``: the schedule table (``SC_*`` columns, see
    :func:`apply_think_delays`); None: no perturbation.  ``short_pages``:
    one entry per op, the ``O_SHORT`` column of byte-range ops
    (``Workload.from_ops(byte_start=, byte_len=)``); None: every op is in
    whole pages.
    """
    op_start = np.array(op_start, dtype=np.int64)
    block = (0, len(op_start) - 1, *ops_block(op_kind, op_vpn, op_pages, op_think))
    return _build_machine(params, costs, socket, online, op_start, [block], sched,
                          short_pages)[0]


def ops_block(kind, vpn, pages, think):
    """``(vpn, think, at, at_kind, at_pages)`` for ops given as full arrays:
    the layout of a block's ops in :func:`make_machine_state`."""
    kind, vpn, pages, think = (np.asarray(a, dtype=np.int64)
                               for a in (kind, vpn, pages, think))
    at = np.flatnonzero((kind != OP_ACCESS) | (pages != 1))
    return vpn, think, at, kind[at], pages[at]


def make_machine_state(params, costs, socket, online, op_start, blocks, sched=None,
                       short_pages=None):
    """A :class:`Machine` and a fresh :class:`State` for it, the workload
    given as blocks of consecutive CPUs (``Workload.build_blocks``).

    ``op_start`` holds the CSR offsets of every CPU's ops; ``blocks`` yields,
    in CPU order and covering every CPU, ``(cpu_lo, cpu_hi, vpn, think, at,
    at_kind, at_pages)`` for the ops ``op_start[cpu_lo]`` to
    ``op_start[cpu_hi]``: int64 arrays of every op's first page and think
    time; every op is an ACCESS of one page except those at the ascending
    positions ``at`` (counted from the block's first op), whose kinds and
    page counts are ``at_kind`` and ``at_pages``.  A block is copied before
    the next is taken, so a generator may reuse its arrays.

    The op table is written a block at a time (no whole-workload columns in
    between) and the state is sized from the UNMAP/PROTECT ops counted on
    the way: the same Machine as :func:`make_machine` and the same State as
    :func:`make_state`.  ``sched`` and ``short_pages`` as in
    :func:`make_machine`.
    """
    op_start = np.array(op_start, dtype=np.int64)
    # The tables that do not depend on the ops first: while a worker thread
    # makes the first blocks (Workload.build_blocks), if it does.
    tables = _fixed_tables(params, op_start)
    m, n_changes = _build_machine(params, costs, socket, online, op_start, blocks, sched,
                                  short_pages)
    return m, _state(tables, m.params, n_changes)


def _build_machine(params, costs, socket, online, op_start, blocks, sched=None,
                   short_pages=None):
    """The Machine for ``blocks`` (see :func:`make_machine_state`), plus the
    number of UNMAP/PROTECT ops.

    Each block is written straight into the op table by one jitted pass
    (:func:`_write_ops`), which fills every row: the table needs no zeroing,
    and no whole-workload scratch is made on the way."""
    # an access's fewest cycles: a hit, or a walk if that is cheaper
    fastest = min(int(costs[C_TLB_HIT]), int(costs[C_PAGE_WALK]))
    n_cpus = len(op_start) - 1
    ops = np.empty((int(op_start[-1]), N_OP_COLS), dtype=np.int64)
    n_changes = 0
    covered = 0                         # CPUs whose rows are written
    for c_lo, c_hi, vpn, think, at, at_kind, at_pages in blocks:
        if c_lo != covered or not c_lo < c_hi <= n_cpus:
            raise ValueError(f"a block of CPUs [{c_lo}, {c_hi}) does not follow CPUs "
                             f"[0, {covered}) of {n_cpus}: blocks must cover every CPU "
                             "in order")
        covered = c_hi
        n_changes += _write_ops(ops, op_start, c_lo, c_hi,
                                *(np.ascontiguousarray(a, dtype=np.int64)
                                  for a in (vpn, think, at, at_kind, at_pages)), fastest)
    if covered != n_cpus:
        raise ValueError(f"the blocks cover CPUs [0, {covered}) of {n_cpus}: "
                         "blocks must cover every CPU in order")
    if short_pages is not None:
        ops[:, O_SHORT] = short_pages
    topo = np.zeros((len(socket), 2), dtype=np.int64)
    topo[:, T_SOCKET] = socket
    topo[:, T_ONLINE] = online
    if sched is None:
        sched = np.zeros((0, N_SC_COLS), dtype=np.int64)
    sched = np.array(sched, dtype=np.int64).reshape(-1, N_SC_COLS)
    apply_think_delays(ops, op_start, sched)
    machine = Machine(params.astype(np.int64), costs.astype(np.int64), topo, op_start, ops,
                      sched)
    return machine, n_changes


def apply_think_delays(ops, op_start, sched):
    """Lengthen the think times a schedule delays (``SW_THINK`` and
    ``SW_IRQ_OFF`` rows of ``sched``) in the op table, in place, keeping
    every ``O_AHEAD`` bound exact: a delay is a workload change, so the
    engine needs no lookup for it.  An access's bound includes its think
    time and those of the accesses after it up to the next other op, so the
    op's own bound and those of the accesses right before it grow by the
    delay.  Occurrences past the CPU's last op (or irq_off op) change
    nothing."""
    for row in sched:
        if row[SC_WHAT] != SW_THINK and row[SC_WHAT] != SW_IRQ_OFF:
            continue
        c, k, delay = int(row[SC_CPU]), int(row[SC_OCC]), int(row[SC_DELAY])
        lo, hi = int(op_start[c]), int(op_start[c + 1])
        if row[SC_WHAT] == SW_IRQ_OFF:
            sections = lo + np.flatnonzero(ops[lo:hi, O_KIND] == OP_IRQ_OFF)
            r = int(sections[k]) if k < len(sections) else hi
        else:
            r = lo + k
        if r >= hi:
            continue
        ops[r, O_THINK] += delay
        i = r
        while i >= lo and ops[i, O_KIND] == OP_ACCESS:
            ops[i, O_AHEAD] += delay
            i -= 1


def make_state(m):
    """Allocate a fresh :class:`State` for machine ``m``; every table is sized
    once here (nothing grows during the run).  See :func:`_new_state`."""
    kinds = m.ops[:, O_KIND]
    return _new_state(m, int(np.count_nonzero((kinds == OP_UNMAP) | (kinds == OP_PROTECT))))


def _new_state(m, n_changes):
    """The :class:`State` for machine ``m`` whose workload has ``n_changes``
    UNMAP/PROTECT ops.

    Sizes: ``n`` CPUs, ``S x W`` TLB, ``Q`` mailbox slots, ``V`` pages,
    ``D`` shootdowns (= ``max(1, n_changes)``: one per UNMAP/PROTECT op),
    ``E`` event rows, ``H`` event nodes = n * (n + 4) + 64: at most one
    step event, one IRQ event, one store and one tick per CPU, plus one IPI
    in flight per (sender, target) pair.  Violation and stale-window logs
    have ``R`` rows (``max_log_rows``); the delivery log has
    ``min(R, n_changes * n)``, because a shootdown logs at most one delivery
    per target (DESIGN.md: one row per (shootdown, target)), so the log is
    cut exactly where an ``R``-row one would be.  Its stage records
    (``lg``) have ``LG_PER_ROW`` (4) times as many rows, the most logged
    rows can cause: per row at most one IPI, one served or slot record and
    one ACK; a mailbox drain and its store are recorded only when the drain
    takes logged rows, at least one each, and their slot records number at
    most those rows; a broadcast shootdown's three records only when it has
    logged rows.  So the records of logged rows always fit, and a cut log
    is the first rows of the whole one, each with all its stages.

    Untouched rows cost nothing: the tables are zero-filled lazily by the OS
    (``np.zeros``), except those whose unwritten columns must read ``-1``
    (CPU pairs).  The logs rely on ``_log.log_delivery`` and
    ``_log.log_window`` writing every column of the rows they open (the
    engine reads no row past a log's count).
    """
    return _state(_fixed_tables(m.params, m.op_start), m.params, n_changes)


def queue_nodes(rows, n):
    """The event queue's node table ``State.nd`` of ``rows`` nodes for ``n``
    CPUs, none queued.  The CPUs' own nodes (``2c``: ``EK_CPU``, ``2c + 1``:
    ``EK_IRQ``) have their ties for good; the others are written when taken
    (``_queue.eq_node``).

    Its first byte starts a 64-byte cache line (NumPy aligns to 16), so each
    8-column row is one line: a node read costs one miss, not two."""
    buf = np.zeros(rows * N_ND_COLS + 8, dtype=np.int64)
    skip = (-buf.ctypes.data % 64) // 8
    nd = buf[skip:skip + rows * N_ND_COLS].reshape(rows, N_ND_COLS)
    own = np.arange(2 * n, dtype=np.int64)
    kind = np.where(own & 1, EK_IRQ, EK_CPU)
    nd[:2 * n, ND_TIE] = ((own >> 1) << TIE_CPU_SHIFT) | (kind << TIE_KIND_SHIFT)
    nd[:2 * n, ND_AT] = AT_NONE
    return nd


def _fixed_tables(params, op_start):
    """The tables of :func:`_new_state` whose sizes do not depend on the
    workload's UNMAP/PROTECT ops, by State field name."""
    p = params
    n = int(p[P_NCPU])
    S, W = int(p[P_SETS]), int(p[P_WAYS])
    Q = int(p[P_QUEUE_SLOTS])
    V = int(p[P_VM_PAGES])
    R = int(p[P_CAP_ROWS])
    E = int(p[P_CAP_EVENTS])
    H = n * (n + 4) + 64

    cpu_row = np.zeros(N_CPU_COLS, dtype=np.int64)
    cpu_row[SAVED_MODE] = -1
    cpu_row[IN_SD] = -1
    cpu_row[IN_DEADLINE] = NEVER
    cpu_row[ACK_FLAG] = 1              # seed: flags start true
    for col in (WAITING_ON, W_HEAD, W_NEXT, W_PREV,
                DV_ROW, LZ_LAST, LZ_TICK_AT, LZ_UPTO, LZ_FROM,
                LX_QHEAD, LX_QTAIL, LX_RUN, IPI_HEAD, IPI_TAIL, H_DRAINED, WAKE_AT,
                LX_GEN_LINE):
        cpu_row[col] = -1
    cpu = np.empty((n, N_CPU_COLS), dtype=np.int64)
    cpu[:] = cpu_row
    cpu[:, OP_IDX] = op_start[:n]
    pair = np.full((N_PAIR_COLS, n, n), -1, dtype=np.int64)
    q = np.zeros((n, Q, N_Q_COLS), dtype=np.int64)
    q[:, :, QS_SD] = -1
    tlb_row = np.zeros(N_TLB_COLS, dtype=np.int64)
    tlb_row[[TL_VPN, TL_SD, TL_WIN, TL_GONE]] = -1
    tlb = np.empty((n, S, W, N_TLB_COLS), dtype=np.int64)
    tlb[:] = tlb_row
    pte = np.zeros((V, 2), dtype=np.int64)
    nd = queue_nodes(H, n)
    rl = np.full((EQ_BUCKETS * 4, 2), -1, dtype=np.int64)
    rb = np.zeros(EQ_WORDS + 1, dtype=np.int64)
    far = np.zeros((H, N_FH_COLS), dtype=np.int64)
    wn = np.zeros((R, N_WN_COLS), dtype=np.int64)
    vi = np.zeros((R, N_VI_COLS), dtype=np.int64)
    ev = np.zeros((E, N_E_COLS), dtype=np.int64)
    counters = np.zeros(N_COUNTERS, dtype=np.int64)
    for col in (K_GL_LOCK_OWNER, K_GL_HOLDER, K_GL_SD, K_LINE_OWNER, K_LZ_HEAD, K_LZ_TAIL,
                K_EQ_FREE, K_MM_GEN_WRITER):
        counters[col] = -1
    counters[K_EQ_NODES] = 2 * n
    per_line = int(p[P_ACK_PER_LINE])
    al = np.zeros((max(1, -(-n // per_line) if per_line else 0), N_AL_COLS), dtype=np.int64)
    al[:, AL_WRITER] = -1
    return dict(counters=counters, cpu=cpu, pair=pair, q=q, tlb=tlb, pte=pte, nd=nd, rl=rl,
                rb=rb, far=far,
                wn=wn, vi=vi, ev=ev, al=al)


def _state(tables, params, n_changes):
    """The :class:`State` of :func:`_new_state` from its ``_fixed_tables``
    and the number of UNMAP/PROTECT ops."""
    n = int(params[P_NCPU])
    D = max(1, n_changes)
    R = int(params[P_CAP_ROWS])
    sd = np.zeros((D, N_SD_COLS), dtype=np.int64)
    sd[:, [S_INIT, S_START, S_END, S_SAFE, S_REC_NEXT, S_DV0]] = -1
    dv = np.zeros((min(R, n_changes * n), N_DV_COLS), dtype=np.int64)
    lg = np.zeros((LG_PER_ROW * dv.shape[0], N_LG_COLS), dtype=np.int64)
    return State(sd=sd, dv=dv, lg=lg, **tables)
