"""IPIs in flight, per target CPU: only the first one is an event, and
arrivals that can only merge into a pending IPI cost none.

Every IPI sent to CPU c is an event node (``_queue.eq_node``) kept in c's
list of IPIs in flight (``IPI_HEAD`` / ``IPI_TAIL``, linked through
``ND_LPREV`` / ``ND_LNEXT``), sorted in the canonical order of its arrival
``(t, PRIO_IPI, c, EK_IPI, sender)``.  At most the first node of a list is
in the event queue, which is enough: the others arrive after it.

While c has an IPI pending its list is *parked*: its first node is not
queued once it comes up.  An IPI that arrives while one is pending merges
into it (one pending bit per vector, the APIC IRR) and does nothing but
count; the pending bit is cleared only when c takes the interrupt
(``_cpu.take_irq``), so the parked IPIs that arrive before that instant are
exactly the merged ones.  ``inflight_sync`` counts and logs them there and
queues the first IPI that arrives after it, which is then an event like any
other.  A 256-CPU storm merges 0.4 arrivals per delivery
(benchmarks/count_events.py): that many events fewer, and the queue is
shorter.

Guarantee: the run is the one in which every arrival is an event, table for
table and count for count, except ``K_EVENTS`` (smaller; so ``max_events``
stops a run later) and the event log, whose merged-arrival rows are written
when the interrupt is taken, with their own instants (readers order the log
by time).  A run stopped by ``max_events`` counts the parked IPIs that
arrived before its last event.
"""

from .._jit import jit
from ._layout import (
    EK_IPI, EK_CPU, PRIO_IPI, PRIO_CPU, K_NOW_KEY, K_NOW_TIE, K_COALESCED,
    ND_KEY, ND_TIE, ND_AT, ND_LPREV, ND_LNEXT, ND_NEXT, AT_NONE, K_EQ_FREE,
    IPI_HEAD, IPI_TAIL, IPI_PENDING, CNT, CNT_IPIS, TIE_CPU_SHIFT, TIE_KIND_SHIFT, TIE_ARG_MASK,
)
from .._tables import EV_IPI_ARRIVE
from ._log import log_event
from ._queue import eq_node, eq_queue, eq_unqueue

__all__ = ["inflight_send", "inflight_pop", "inflight_sync", "inflight_merge"]

# Park the IPIs in flight to a CPU with one pending.  A constant of the
# compiled engine; the interpreted engine reads it at each use, which is how
# tests/test_inflight.py plays the run with an event per arrival.
_PARK = True


@jit
def inflight_pop(s, c):
    """Unlink c's first IPI in flight from its list and return it (when its
    arrival is popped, whose node is then already free: call this before
    anything can allocate a node)."""
    nd = s.nd
    x = s.cpu[c, IPI_HEAD]
    nxt = nd[x, ND_LNEXT]
    s.cpu[c, IPI_HEAD] = nxt
    if nxt >= 0:
        nd[nxt, ND_LPREV] = -1
    else:
        s.cpu[c, IPI_TAIL] = -1
    return x


@jit
def inflight_merge(s, c, key, tie):
    """Count (and log) c's parked IPIs that arrive before the event (key,
    tie) as merged into its pending one, and free their nodes.  Returns the
    instant of the last one, -1 if none.

    When the run is over, every parked IPI merged if the queue ran dry (no
    take can come: ``key`` NEVER), else those before the last event
    processed (``_core.run``)."""
    nd = s.nd
    k = s.counters
    last = -1
    x = s.cpu[c, IPI_HEAD]
    while x >= 0 and nd[x, ND_AT] == AT_NONE and (
            nd[x, ND_KEY] < key or (nd[x, ND_KEY] == key and nd[x, ND_TIE] < tie)):
        inflight_pop(s, c)
        t = nd[x, ND_KEY] >> 2
        s.cpu[c, CNT + CNT_IPIS] += 1
        k[K_COALESCED] += 1
        log_event(s.ev, k, t, c, EV_IPI_ARRIVE, nd[x, ND_TIE] & TIE_ARG_MASK, -1, 2)
        last = t
        nd[x, ND_NEXT] = k[K_EQ_FREE]       # back to the queue's free list (_queue)
        k[K_EQ_FREE] = x
        x = s.cpu[c, IPI_HEAD]
    return last


@jit
def inflight_send(s, c, sender, t):
    """An IPI from ``sender`` will reach c at t: add it to c's list, and
    queue it if it is the first one and the list is not parked."""
    nd = s.nd
    cpu = s.cpu
    x = eq_node(s, EK_IPI, c, sender)
    key = t * 4 + PRIO_IPI
    tie = nd[x, ND_TIE]
    nd[x, ND_KEY] = key
    head = cpu[c, IPI_HEAD]
    if head >= 0 and nd[head, ND_AT] == AT_NONE:
        # Parked: the IPIs that have already arrived merged; let their
        # nodes go now, so that a long wait holds no more nodes than the
        # IPIs truly in flight.
        k = s.counters
        inflight_merge(s, c, k[K_NOW_KEY], k[K_NOW_TIE])
    # Sorted insert from the tail (sends mostly come in arrival order).
    prev = cpu[c, IPI_TAIL]
    nxt = -1
    while prev >= 0 and (nd[prev, ND_KEY] > key
                         or (nd[prev, ND_KEY] == key and nd[prev, ND_TIE] > tie)):
        nxt = prev
        prev = nd[prev, ND_LPREV]
    nd[x, ND_LPREV] = prev
    nd[x, ND_LNEXT] = nxt
    if nxt >= 0:
        nd[nxt, ND_LPREV] = x
    else:
        cpu[c, IPI_TAIL] = x
    if prev >= 0:
        nd[prev, ND_LNEXT] = x
        return
    cpu[c, IPI_HEAD] = x
    if nxt >= 0:
        if nd[nxt, ND_AT] == AT_NONE:
            return          # parked: so is the new first one
        eq_unqueue(s, nxt)
    elif _PARK and cpu[c, IPI_PENDING] != 0:
        return              # parked
    eq_queue(s, x, t, PRIO_IPI)


@jit
def inflight_sync(s, c, t):
    """Bring c's IPIs in flight up to date at t, after an arrival or once
    c takes its interrupt (its pending bit then clear): the parked ones
    that arrive before merged; the first one left is queued unless c has
    an IPI pending.

    The instant is part of the event being processed when t is its
    instant; a take at a later t is the one a handler exit played ahead
    (``_mailbox.mailbox_ack_store``) stands for: c's own step at t."""
    k = s.counters
    x = s.cpu[c, IPI_HEAD]
    if x < 0:
        return
    if t == k[K_NOW_KEY] >> 2:
        inflight_merge(s, c, k[K_NOW_KEY], k[K_NOW_TIE])
    else:
        inflight_merge(s, c, t * 4 + PRIO_CPU, (c << TIE_CPU_SHIFT) | (EK_CPU << TIE_KIND_SHIFT))
    x = s.cpu[c, IPI_HEAD]
    if x >= 0 and s.nd[x, ND_AT] == AT_NONE and (not _PARK or s.cpu[c, IPI_PENDING] == 0):
        eq_queue(s, x, s.nd[x, ND_KEY] >> 2, PRIO_IPI)
