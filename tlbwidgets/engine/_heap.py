"""The event heap: a binary min-heap in the table ``hp[i, HP_*]``.

Ordered on ``(time, prio, seq)``: earliest first; among equal times the lower
priority class first (``PRIO_*`` in ``_layout``); then first-in first-out by a
monotonic sequence number, so every run is deterministic.

A CPU has at most one pending ``EK_CPU`` (its next step) and one ``EK_IRQ``
event; their heap indices are kept in ``cpu[c, POS_STEP]`` /
``cpu[c, POS_IRQ]`` and rescheduling moves the entry in place.  So the heap
never holds superseded entries, and its size is bounded (see ``make_state``).

A popped ``EK_CPU`` entry is *held*, not removed (``K_HELD``): the CPU's step
almost always schedules its next step, and updating the held entry in place
costs one sift where removing it and pushing a new one cost two.  While it
is held it is logically absent: ``heap_top_time`` skips it, ``heap_set`` /
``heap_cancel`` take it over, and ``heap_release`` (after the dispatch)
removes it if nobody did.  Pop order is the same either way: it is fixed by
the unique ``(key, seq)`` of the live entries.

Functions take only the tables they touch (``hp``, ``cpu``, ``k`` =
counters): calls stay cheap.
"""

from .._jit import jit
from ._layout import (
    K_HEAP_N, K_SEQ, K_HELD, NEVER, EK_CPU, EK_IRQ, POS_STEP, POS_IRQ,
    HP_KEY, HP_SEQ, HP_KIND, HP_CPU, HP_ARG,
)

__all__ = ["heap_push", "heap_pop", "heap_release", "heap_top_time", "heap_set",
           "heap_cancel"]


@jit
def _pos_col(kind):
    return POS_STEP if kind == EK_CPU else POS_IRQ


@jit
def _key(time, prio):
    """Time and priority class in one sortable int64 (times stay < 2**60)."""
    return time * 4 + prio


@jit
def _before(key_a, seq_a, key_b, seq_b):
    return key_a < key_b or (key_a == key_b and seq_a < seq_b)


@jit
def _put(hp, cpu, i, key, seq, kind, c, arg):
    """Write an entry at index i and record where a CPU's own event now is."""
    hp[i, HP_KEY] = key
    hp[i, HP_SEQ] = seq
    hp[i, HP_KIND] = kind
    hp[i, HP_CPU] = c
    hp[i, HP_ARG] = arg
    if kind == EK_CPU or kind == EK_IRQ:
        cpu[c, _pos_col(kind)] = i


@jit
def _move(hp, cpu, src, dst):
    _put(hp, cpu, dst, hp[src, HP_KEY], hp[src, HP_SEQ], hp[src, HP_KIND],
         hp[src, HP_CPU], hp[src, HP_ARG])


@jit
def _sift(hp, cpu, n, i):
    """Restore the heap order around index i (which holds an entry that may
    be out of place): the entry travels up or down, the others shift into
    the hole it leaves (one write per level instead of a swap)."""
    key, seq, kind, c, arg = (hp[i, HP_KEY], hp[i, HP_SEQ], hp[i, HP_KIND],
                              hp[i, HP_CPU], hp[i, HP_ARG])
    moved = False
    while i > 0:
        parent = (i - 1) >> 1
        if not _before(key, seq, hp[parent, HP_KEY], hp[parent, HP_SEQ]):
            break
        _move(hp, cpu, parent, i)
        i = parent
        moved = True
    if not moved:
        while True:
            child = 2 * i + 1
            if child >= n:
                break
            right = child + 1
            if right < n and _before(hp[right, HP_KEY], hp[right, HP_SEQ],
                                     hp[child, HP_KEY], hp[child, HP_SEQ]):
                child = right
            if not _before(hp[child, HP_KEY], hp[child, HP_SEQ], key, seq):
                break
            _move(hp, cpu, child, i)
            i = child
    _put(hp, cpu, i, key, seq, kind, c, arg)


@jit
def heap_push(hp, cpu, k, time, prio, kind, c, arg):
    """Insert an event.  The heap is sized so that it cannot overflow (see
    ``make_state``); an overflow would be an engine bug and raises."""
    i = k[K_HEAP_N]
    if i >= hp.shape[0]:
        raise RuntimeError("event heap overflow (engine bug)")
    k[K_HEAP_N] = i + 1
    _put(hp, cpu, i, _key(time, prio), k[K_SEQ], kind, c, arg)
    k[K_SEQ] += 1
    _sift(hp, cpu, i + 1, i)


@jit
def heap_set(hp, cpu, k, time, prio, kind, c):
    """Schedule CPU c's unique event of this kind at ``time``, replacing the
    pending one if any (it takes a fresh sequence number)."""
    i = cpu[c, _pos_col(kind)]
    if i < 0:
        heap_push(hp, cpu, k, time, prio, kind, c, 0)
        return
    if kind == EK_CPU and k[K_HELD] == c + 1:
        k[K_HELD] = 0                       # the held entry is live again
    hp[i, HP_KEY] = _key(time, prio)
    hp[i, HP_SEQ] = k[K_SEQ]
    k[K_SEQ] += 1
    _sift(hp, cpu, k[K_HEAP_N], i)


@jit
def _remove_at(hp, cpu, k, i):
    kind = hp[i, HP_KIND]
    if kind == EK_CPU or kind == EK_IRQ:
        cpu[hp[i, HP_CPU], _pos_col(kind)] = -1
    n = k[K_HEAP_N] - 1
    k[K_HEAP_N] = n
    if i != n:
        _move(hp, cpu, n, i)
        _sift(hp, cpu, n, i)


@jit
def heap_cancel(hp, cpu, k, kind, c):
    """Drop CPU c's pending event of this kind, if any."""
    i = cpu[c, _pos_col(kind)]
    if i >= 0:
        if kind == EK_CPU and k[K_HELD] == c + 1:
            k[K_HELD] = 0
        _remove_at(hp, cpu, k, i)


@jit
def heap_pop(hp, cpu, k):
    """Take the earliest event; return (time, kind, cpu, arg).  An ``EK_CPU``
    entry is held until ``heap_release`` (see the module docstring)."""
    t, kind, c, arg = hp[0, HP_KEY] >> 2, hp[0, HP_KIND], hp[0, HP_CPU], hp[0, HP_ARG]
    if kind == EK_CPU:
        k[K_HELD] = c + 1
    else:
        _remove_at(hp, cpu, k, 0)
    return t, kind, c, arg


@jit
def heap_release(hp, cpu, k):
    """After an event's dispatch: remove the held entry, if its CPU did not
    reschedule or cancel it."""
    h = k[K_HELD]
    if h > 0:
        k[K_HELD] = 0
        _remove_at(hp, cpu, k, cpu[h - 1, POS_STEP])


@jit
def heap_top_time(hp, k):
    """Time of the earliest pending event (a held entry does not count), or
    NEVER when there is none."""
    n = k[K_HEAP_N]
    h = k[K_HELD]
    if h > 0 and hp[0, HP_KIND] == EK_CPU and hp[0, HP_CPU] == h - 1:
        # The held entry is the root: the earliest live entry is a child.
        if n <= 1:
            return NEVER
        if n == 2 or _before(hp[1, HP_KEY], hp[1, HP_SEQ], hp[2, HP_KEY], hp[2, HP_SEQ]):
            return hp[1, HP_KEY] >> 2
        return hp[2, HP_KEY] >> 2
    if n == 0:
        return NEVER
    return hp[0, HP_KEY] >> 2
