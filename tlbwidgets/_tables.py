"""Codes and table layouts shared by the engine, the Python API and the widgets.

This module is the contract between the jitted core (which only speaks small
integers) and everything above it (which speaks names).  Every integer code the
engine writes into a log is defined here once, with the name the API shows.

Tables are NumPy structured arrays.  Times are int64 cycles; ``-1`` means
"never happened" (for example ``ipi_sent`` of a target that was skipped, or the
``end`` of a stale window still open when the simulation stopped).
"""

import numpy as np

__all__ = [
    "OP_ACCESS", "OP_UNMAP", "OP_PROTECT", "OP_IRQ_OFF", "OP_IDLE", "OP_NAMES",
    "SD_PAGE", "SD_RANGE", "SD_FULL", "SD_KIND_NAMES",
    "ST_USER", "ST_HANDLER", "ST_WAIT", "ST_IRQ_OFF", "ST_IDLE", "ST_KERNEL",
    "ST_DONE", "STATE_NAMES",
    "EV_NAMES", "EV_STATE", "EV_PTE_CHANGE", "EV_LOCAL_FLUSH", "EV_PUSH",
    "EV_OVERFLOW", "EV_ACK_CLEAR", "EV_IPI_SEND", "EV_IPI_ARRIVE", "EV_IPI_TAKE",
    "EV_DRAIN", "EV_INVALIDATE", "EV_ACK_STORE", "EV_ACK_SEEN", "EV_TIMEOUT",
    "EV_RETURN", "EV_STALE_HIT", "EV_VIOLATION", "EV_SAFE", "EV_WARNING",
    "EV_APPLY", "EV_LOCK_WAIT",
    "OUTCOME_COMPLETED", "OUTCOME_DEADLOCK", "OUTCOME_EVENT_LIMIT", "OUTCOME_NAMES",
    "SHOOTDOWN_DTYPE", "DELIVERY_DTYPE", "WINDOW_DTYPE", "VIOLATION_DTYPE",
    "CPU_STATS_DTYPE", "EVENT_DTYPE",
]

# ---- workload op kinds (DESIGN.md section 2) --------------------------------
OP_ACCESS = 0
OP_UNMAP = 1
OP_PROTECT = 2
OP_IRQ_OFF = 3
OP_IDLE = 4
OP_NAMES = ("access", "unmap", "protect", "irq_off", "idle")

# ---- shootdown kinds as finally performed ------------------------------------
SD_PAGE = 0
SD_RANGE = 1
SD_FULL = 2
SD_KIND_NAMES = ("page", "range", "full")

# ---- what a CPU is doing (lanes of the timeline) -----------------------------
ST_USER = 0      # running its op stream (accesses and think time)
ST_HANDLER = 1   # inside the shootdown IPI handler
ST_WAIT = 2      # initiator spinning: on a queue lock or for ACKs
ST_IRQ_OFF = 3   # IRQ_OFF op: interrupts disabled, IPIs wait
ST_IDLE = 4      # IDLE op: idle or kernel thread (lazy-TLB candidate)
ST_KERNEL = 5    # initiator doing shootdown work: local flush, pushes, IPI sends
ST_DONE = 6      # op stream finished
STATE_NAMES = ("user", "handler", "wait", "irq_off", "idle", "kernel", "done")

# ---- event log kinds ---------------------------------------------------------
# Each event row is (time, cpu, kind, other, shootdown, arg).  ``other`` is the
# second CPU involved (target of a push or IPI, -1 if none); ``arg`` is
# kind-specific and documented on each code.
EV_STATE = 0         # cpu enters state arg (ST_*)
EV_PTE_CHANGE = 1    # initiator bumps PTE versions; arg = pages changed
EV_LOCAL_FLUSH = 2   # initiator's own flush completed; arg = SD_* kind
EV_PUSH = 3          # cpu pushed an op into other's mailbox; arg = queue length after
EV_OVERFLOW = 4      # that push overflowed: the queue became one Full op
EV_ACK_CLEAR = 5     # cpu cleared other's ACK flag
EV_IPI_SEND = 6      # cpu sent an IPI to other
EV_IPI_ARRIVE = 7    # IPI reached cpu (from other); arg = 1 if it must wait (irqs off / busy)
EV_IPI_TAKE = 8      # cpu enters its IPI handler
EV_DRAIN = 9         # cpu drained its mailbox; arg = ops drained
EV_INVALIDATE = 10   # cpu finished performing one drained op; arg = SD_* kind performed
EV_ACK_STORE = 11    # cpu stored its ACK (flag true / sequence number)
EV_ACK_SEEN = 12     # initiator cpu saw other's ACK
EV_TIMEOUT = 13      # initiator cpu gave up waiting on other
EV_RETURN = 14       # initiator returns from the shootdown (safe time for sync protocols)
EV_STALE_HIT = 15    # access hit a stale entry before its safe time; arg = vpn
EV_VIOLATION = 16    # access hit a stale entry after its safe time; arg = vpn
EV_SAFE = 17         # the shootdown's pages may be reused from now on
EV_WARNING = 18      # a range with end <= start was turned into a Full flush
EV_APPLY = 19        # lazy protocols: cpu applied pending flushes; arg = SD_* kind
EV_LOCK_WAIT = 20    # cpu found a lock held; arg = cycles it will wait
EV_NAMES = (
    "state", "pte_change", "local_flush", "push", "overflow", "ack_clear",
    "ipi_send", "ipi_arrive", "ipi_take", "drain", "invalidate", "ack_store",
    "ack_seen", "timeout", "return", "stale_hit", "violation", "safe",
    "warning", "apply", "lock_wait",
)

OUTCOME_COMPLETED = 0
OUTCOME_DEADLOCK = 1
OUTCOME_EVENT_LIMIT = 2
OUTCOME_NAMES = ("completed", "deadlock", "event_limit")

# ---- result tables -----------------------------------------------------------
SHOOTDOWN_DTYPE = np.dtype([
    ("id", np.int64),
    ("initiator", np.int32),
    ("start", np.int64),      # T0: op started, PTEs changed
    ("end", np.int64),        # initiator returned (-1: never)
    ("safe", np.int64),       # pages reusable from here (-1: never)
    ("vpn", np.int64),        # first page of the range
    ("pages", np.int64),      # pages whose PTE changed
    ("flushed_pages", np.int64),  # pages a range flush names: pages, or fewer when the
                              # seed rounds a byte range down (a Full flush takes all)
    ("kind", "U5"),           # as performed: "page" | "range" | "full"
    ("op", "U7"),             # "unmap" | "protect"
    ("targets", np.int32),    # CPUs the initiator had to reach
    ("ipis", np.int32),       # IPIs it sent
    ("timed_out", np.int32),  # targets it gave up on
    ("upgraded", np.bool_),   # a range turned into Full (>threshold or bad range)
    # The initiator's time: for a shootdown that returned, these six parts
    # sum to its latency, end - start, exactly.
    ("local_cycles", np.int64),     # initiator: local flush
    ("dispatch_cycles", np.int64),  # initiator: pushes, ACK clears, lock and line transfers
    ("ipi_cycles", np.int64),       # initiator: IPI sends
    ("wait_cycles", np.int64),      # initiator: waiting for ACKs / sync
    ("serve_cycles", np.int64),     # initiator: in its handler, serving other CPUs' IPIs
    ("lock_cycles", np.int64),      # initiator: waiting for a lock, line or fabric held elsewhere
])

DELIVERY_DTYPE = np.dtype([
    ("shootdown", np.int64),
    ("cpu", np.int32),
    ("pushed", np.int64),         # op visible in the target's mailbox
    ("ipi_sent", np.int64),       # -1: no IPI for this delivery (coalesced or none)
    ("handler_start", np.int64),  # handler (or lazy apply) that drained the op
    ("flushed", np.int64),        # the op's invalidation completed on the target
    ("acked", np.int64),          # the target's ACK store for the drain that took it
])

WINDOW_DTYPE = np.dtype([
    ("shootdown", np.int64),
    ("cpu", np.int32),
    ("vpn", np.int64),
    ("start", np.int64),
    ("end", np.int64),            # -1: still stale when the run stopped
])

VIOLATION_DTYPE = np.dtype([
    ("time", np.int64),
    ("cpu", np.int32),
    ("vpn", np.int64),
    ("shootdown", np.int64),
])

CPU_STATS_DTYPE = np.dtype([
    ("cpu", np.int32),
    ("socket", np.int32),
    ("user", np.int64),
    ("handler", np.int64),
    ("wait", np.int64),
    ("kernel", np.int64),
    ("irq_off", np.int64),
    ("idle", np.int64),
    ("accesses", np.int64),
    ("tlb_hits", np.int64),
    ("tlb_misses", np.int64),
    ("full_flushes", np.int64),
    ("stale_hits", np.int64),
    ("violations", np.int64),
    ("ipis_received", np.int64),
])

EVENT_DTYPE = np.dtype([
    ("time", np.int64),
    ("cpu", np.int32),
    ("kind", np.int16),
    ("other", np.int32),
    ("shootdown", np.int64),
    ("arg", np.int64),
])
