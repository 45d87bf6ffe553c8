"""The event queue: a calendar of one-cycle buckets for the near future, an
indexed binary heap (``_heap``) for events further ahead.

Guarantee: events come out in the canonical order ``(time, prio, cpu, kind,
arg)`` -- earliest first; among equal times the lower priority class first
(``PRIO_*`` in ``_layout``); then the lower CPU, the lower kind, the lower
arg (an IPI's sender) -- so the order of the pending events depends only on
what they are, never on when or in what order they were scheduled
(docs/model.md, section 7).  Two pending events equal in all five are the
same event twice and may come out either way.  Every run is deterministic,
jitted or not.

Why canonical and not first-in first-out: a step that the engine computes
ahead of its instant, or fuses with the next step of the same CPU, is
scheduled at another moment than it would be step by step, or not at all.
With FIFO ties that moved the same-instant events of other CPUs around it;
with a canonical order every other event keeps its place.

Why a calendar: a 256-CPU storm has about 0.9 events per simulated cycle and
most are scheduled a few hundred cycles ahead.  The binary heap that held them
(several hundred entries, nine levels) took 53% of the engine's samples; here
an insertion, a removal and a pop are O(1) apart from a bit scan and the
walk to an insertion's place among the events of its own instant and class
(a handful at most).

Structure (tables of ``State``):

* Every pending event is a *node*, a row of ``nd``.  CPU ``c``'s ``EK_CPU``
  event (its next step) is node ``2c`` and its ``EK_IRQ`` event node
  ``2c + 1``: each CPU has at most one of each, so rescheduling one moves
  its node.  The other kinds take a node from a free list (``K_EQ_FREE``,
  linked through ``ND_NEXT``) or a fresh one (``K_EQ_NODES``); an IPI's node
  may also wait unqueued in its target's list of IPIs in flight (``_inflight``).
* ``ND_KEY`` is ``time * 4 + prio`` and ``ND_TIE`` packs ``(cpu, kind,
  arg)`` (see ``eq_node``): two comparisons order any two events, and the
  tie is also the only record of what the event is.  A node's row is one
  64-byte cache line (``_layout.queue_nodes``): a pop, whose node was last touched
  hundreds of events earlier, misses once.
* ``base`` (``K_EQ_BASE``) is the time of the last popped event; nothing is
  scheduled before it.  An event at ``t < base + EQ_BUCKETS`` lives in the
  calendar, in bucket ``t % EQ_BUCKETS``, which therefore holds one time
  only, in the list ``rl[bucket * 4 + prio]`` of its priority class, sorted
  on ``ND_TIE``.  Later events wait in the far heap; each pop moves the far
  events that its new ``base`` brings into range.
* ``rb`` marks the non-empty buckets: bit ``b % 64`` of word ``b // 64``,
  and bit ``w`` of the summary word ``rb[EQ_WORDS]`` when word ``w`` is not
  zero.  The next event is at most two word scans away.
"""

import numpy as np
from numba.cpython.unsafe.numbers import trailing_zeros
from numba.extending import overload

from .._jit import jit
from ._heap import far_push, far_remove
from ._layout import (
    NEVER, EK_CPU, EK_IRQ, EQ_BUCKETS, EQ_WORDS,
    K_EQ_N, K_EQ_BASE, K_EQ_FAR_N, K_EQ_NODES, K_EQ_FREE, K_NOW_KEY, K_NOW_TIE,
    ND_KEY, ND_TIE, ND_PREV, ND_NEXT, ND_AT, AT_NONE, AT_RING,
    RL_HEAD, RL_TAIL, FH_KEY, FH_NODE, TIE_CPU_SHIFT, TIE_KIND_SHIFT, TIE_ARG_MASK,
)

__all__ = ["eq_push", "eq_set", "eq_cancel", "eq_pop", "eq_top_time", "eq_node", "eq_queue",
           "eq_unqueue"]

_MASK = EQ_BUCKETS - 1


def _lowest_bit(x):
    """Index of the lowest set bit of the int64 x (x != 0)."""
    x = int(x)
    return (x & -x).bit_length() - 1


@overload(_lowest_bit)
def _lowest_bit_jit(x):
    # Jitted: one instruction (tzcnt); interpreted: the Python above.  Not
    # cached on its own: its code is cached inside its callers, and numba's
    # own cache of it would fail to import from a read-only install.
    return lambda x: trailing_zeros(x)


# _FROM[i]: the int64 mask of bits i..63 (i in 0..64).
_FROM = np.array([-(1 << i) if i < 64 else 0 for i in range(65)], dtype=np.int64)


@jit
def _first_bucket(rb, start):
    """The first non-empty bucket at or after ``start``, going round the
    calendar once; -1 when the calendar is empty."""
    w = start >> 6
    word = rb[w] & _FROM[start & 63]
    if word != 0:
        return (w << 6) | _lowest_bit(word)
    summary = rb[EQ_WORDS]
    if summary == 0:
        return -1
    later = summary & _FROM[w + 1]
    if later != 0:
        w = _lowest_bit(later)
    else:
        # Wrap round: word w's bits at or after start are clear, so its
        # lowest set bit (if w is the one found) comes before start.
        w = _lowest_bit(summary)
    return (w << 6) | _lowest_bit(rb[w])


@jit
def _place(key):
    """(bucket, list index) of an event with this key in the calendar."""
    b = (key >> 2) & _MASK
    return b, (b << 2) | (key & 3)


@jit
def _ring_link(s, x):
    """Insert node x (key and tie written) in its bucket's list, after every
    node whose tie is not larger (from the tail: the usual place)."""
    nd = s.nd
    rl = s.rl
    b, li = _place(nd[x, ND_KEY])
    tie = nd[x, ND_TIE]
    prev = rl[li, RL_TAIL]
    nxt = -1
    while prev >= 0 and nd[prev, ND_TIE] > tie:
        nxt = prev
        prev = nd[prev, ND_PREV]
    nd[x, ND_PREV] = prev
    nd[x, ND_NEXT] = nxt
    nd[x, ND_AT] = AT_RING
    if nxt >= 0:
        nd[nxt, ND_PREV] = x
    else:
        rl[li, RL_TAIL] = x
    if prev >= 0:
        nd[prev, ND_NEXT] = x
    else:
        if nxt < 0:
            rb = s.rb
            rb[b >> 6] |= 1 << (b & 63)
            rb[EQ_WORDS] |= 1 << (b >> 6)
        rl[li, RL_HEAD] = x


@jit
def _clear_if_empty(s, b):
    """Clear bucket b's bit once all four of its lists are empty."""
    rl = s.rl
    b4 = b << 2
    if (rl[b4, RL_HEAD] < 0 and rl[b4 + 1, RL_HEAD] < 0 and rl[b4 + 2, RL_HEAD] < 0
            and rl[b4 + 3, RL_HEAD] < 0):
        rb = s.rb
        w = b >> 6
        rb[w] &= ~(1 << (b & 63))
        if rb[w] == 0:
            rb[EQ_WORDS] &= ~(1 << w)


@jit
def _ring_unlink(s, x):
    nd = s.nd
    rl = s.rl
    b, li = _place(nd[x, ND_KEY])
    prev = nd[x, ND_PREV]
    nxt = nd[x, ND_NEXT]
    if prev >= 0:
        nd[prev, ND_NEXT] = nxt
    else:
        rl[li, RL_HEAD] = nxt
    if nxt >= 0:
        nd[nxt, ND_PREV] = prev
    else:
        rl[li, RL_TAIL] = prev
    if prev < 0 and nxt < 0:
        _clear_if_empty(s, b)


@jit
def eq_queue(s, x, time, prio):
    """Queue node x (its tie written; not queued) at (time, prio)."""
    k = s.counters
    base = k[K_EQ_BASE]
    if time < base:
        raise RuntimeError("event scheduled before the current event (engine bug)")
    k[K_EQ_N] += 1
    s.nd[x, ND_KEY] = time * 4 + prio
    if time - base < EQ_BUCKETS:
        _ring_link(s, x)
    else:
        far_push(s.nd, s.far, k, x)


@jit
def eq_unqueue(s, x):
    """Take queued node x out of the queue; the node stays the caller's (a
    CPU's own node, or one of :func:`eq_node`: queue it again or give it
    back to the free list, ``K_EQ_FREE`` linked through ``ND_NEXT``)."""
    nd = s.nd
    at = nd[x, ND_AT]
    if at == AT_RING:
        _ring_unlink(s, x)
    else:
        far_remove(nd, s.far, s.counters, at)
    nd[x, ND_AT] = AT_NONE
    s.counters[K_EQ_N] -= 1


@jit
def _own_node(kind, c):
    """The node of CPU c's unique event of this kind (EK_CPU or EK_IRQ); its
    tie is written once, by ``make_state``."""
    return 2 * c + (kind == EK_IRQ)


@jit
def eq_node(s, kind, c, arg):
    """A free node for an event of a kind a CPU may have many of (IPIs,
    stores, ticks), with its tie written; not queued yet.
    The node table is sized so that it cannot run out (see
    ``make_state``); running out would be an engine bug and raises."""
    k = s.counters
    nd = s.nd
    x = k[K_EQ_FREE]
    if x >= 0:
        k[K_EQ_FREE] = nd[x, ND_NEXT]
    else:
        x = k[K_EQ_NODES]
        if x >= nd.shape[0]:
            raise RuntimeError("event queue overflow (engine bug)")
        k[K_EQ_NODES] = x + 1
    # The order among the events of one instant and class: by CPU, then
    # kind, then arg.
    nd[x, ND_TIE] = (c << TIE_CPU_SHIFT) | (kind << TIE_KIND_SHIFT) | arg
    nd[x, ND_AT] = AT_NONE
    return x


@jit
def eq_push(s, time, prio, kind, c, arg):
    """Insert an event of a kind a CPU may have many of (IPIs, stores,
    ticks); its node goes back to the free list once popped."""
    eq_queue(s, eq_node(s, kind, c, arg), time, prio)


@jit
def eq_set(s, time, prio, kind, c):
    """Schedule CPU c's unique event of this kind (EK_CPU or EK_IRQ) at
    ``time``, replacing the pending one if any."""
    x = _own_node(kind, c)
    if s.nd[x, ND_AT] != AT_NONE:
        eq_unqueue(s, x)
    eq_queue(s, x, time, prio)


@jit
def eq_cancel(s, kind, c):
    """Drop CPU c's pending event of this kind (EK_CPU or EK_IRQ), if any."""
    x = _own_node(kind, c)
    if s.nd[x, ND_AT] != AT_NONE:
        eq_unqueue(s, x)


@jit
def eq_pop(s):
    """Take the earliest event (the queue is not empty); return
    (time, kind, cpu, arg).  A node of :func:`eq_push` goes back to the free
    list at once (its ``ND_L*`` links are left as they were)."""
    k = s.counters
    nd = s.nd
    base = k[K_EQ_BASE]
    b = _first_bucket(s.rb, base & _MASK)
    if b < 0:
        t = s.far[0, FH_KEY] >> 2
    else:
        t = base + ((b - base) & _MASK)
    k[K_EQ_BASE] = t
    # Far events that the new base brings into the calendar's range.
    far = s.far
    limit = (t + EQ_BUCKETS) * 4
    while k[K_EQ_FAR_N] > 0 and far[0, FH_KEY] < limit:
        y = far[0, FH_NODE]
        far_remove(nd, far, k, 0)
        _ring_link(s, y)
    rl = s.rl
    li = (t & _MASK) << 2
    x = rl[li, RL_HEAD]
    while x < 0:
        li += 1
        x = rl[li, RL_HEAD]
    # x heads its list: unlink it there.
    nxt = nd[x, ND_NEXT]
    rl[li, RL_HEAD] = nxt
    if nxt >= 0:
        nd[nxt, ND_PREV] = -1
    else:
        rl[li, RL_TAIL] = -1
        _clear_if_empty(s, t & _MASK)
    nd[x, ND_AT] = AT_NONE
    k[K_EQ_N] -= 1
    # Where the event being processed stands in the canonical order (_inflight
    # places an interrupt taken now among the IPIs that arrive at this instant).
    k[K_NOW_KEY] = nd[x, ND_KEY]
    tie = nd[x, ND_TIE]
    k[K_NOW_TIE] = tie
    kind = (tie >> TIE_KIND_SHIFT) & 15
    c, arg = tie >> TIE_CPU_SHIFT, tie & TIE_ARG_MASK
    if kind != EK_CPU and kind != EK_IRQ:
        nd[x, ND_NEXT] = k[K_EQ_FREE]
        k[K_EQ_FREE] = x
    return t, kind, c, arg


@jit
def eq_top_time(s):
    """Time of the earliest pending event, or NEVER when there is none."""
    k = s.counters
    base = k[K_EQ_BASE]
    b = _first_bucket(s.rb, base & _MASK)
    if b >= 0:
        return base + ((b - base) & _MASK)
    if k[K_EQ_FAR_N] > 0:
        return s.far[0, FH_KEY] >> 2
    return NEVER
