"""The event heap: a binary min-heap in the table ``hp[i, HP_*]``.

Ordered on ``(time, prio, seq)``: earliest first; among equal times the lower
priority class first (``PRIO_*`` in ``_layout``); then first-in first-out by a
monotonic sequence number, so every run is deterministic.

A CPU has at most one pending ``EK_CPU`` (its next step) and one ``EK_IRQ``
event; their heap indices are kept in ``cpu[c, POS_STEP]`` /
``cpu[c, POS_IRQ]`` and rescheduling moves the entry in place.  So the heap
never holds superseded entries, and its size is bounded (see ``make_state``).

Functions take only the tables they touch (``hp``, ``cpu``, ``k`` =
counters): calls stay cheap.
"""

from .._jit import jit
from ._layout import (
    K_HEAP_N, K_SEQ, NEVER, EK_CPU, EK_IRQ, POS_STEP, POS_IRQ,
    HP_TIME, HP_PRIO, HP_SEQ, HP_KIND, HP_CPU, HP_ARG,
)

__all__ = ["heap_push", "heap_pop", "heap_top_time", "heap_set", "heap_cancel"]


@jit
def _pos_col(kind):
    return POS_STEP if kind == EK_CPU else POS_IRQ


@jit
def _less(hp, i, j):
    if hp[i, HP_TIME] != hp[j, HP_TIME]:
        return hp[i, HP_TIME] < hp[j, HP_TIME]
    if hp[i, HP_PRIO] != hp[j, HP_PRIO]:
        return hp[i, HP_PRIO] < hp[j, HP_PRIO]
    return hp[i, HP_SEQ] < hp[j, HP_SEQ]


@jit
def _track(hp, cpu, i):
    kind = hp[i, HP_KIND]
    if kind == EK_CPU or kind == EK_IRQ:
        cpu[hp[i, HP_CPU], _pos_col(kind)] = i


@jit
def _swap(hp, cpu, i, j):
    for col in range(6):
        a = hp[i, col]
        hp[i, col] = hp[j, col]
        hp[j, col] = a
    _track(hp, cpu, i)
    _track(hp, cpu, j)


@jit
def _sift_up(hp, cpu, i):
    while i > 0:
        parent = (i - 1) >> 1
        if _less(hp, i, parent):
            _swap(hp, cpu, i, parent)
            i = parent
        else:
            break
    return i


@jit
def _sift_down(hp, cpu, n, i):
    while True:
        left = 2 * i + 1
        if left >= n:
            break
        best = left
        right = left + 1
        if right < n and _less(hp, right, left):
            best = right
        if _less(hp, best, i):
            _swap(hp, cpu, i, best)
            i = best
        else:
            break


@jit
def heap_push(hp, cpu, k, time, prio, kind, c, arg):
    """Insert an event.  The heap is sized so that it cannot overflow (see
    ``make_state``); an overflow would be an engine bug and raises."""
    i = k[K_HEAP_N]
    if i >= hp.shape[0]:
        raise RuntimeError("event heap overflow (engine bug)")
    hp[i, HP_TIME] = time
    hp[i, HP_PRIO] = prio
    hp[i, HP_SEQ] = k[K_SEQ]
    hp[i, HP_KIND] = kind
    hp[i, HP_CPU] = c
    hp[i, HP_ARG] = arg
    k[K_SEQ] += 1
    k[K_HEAP_N] = i + 1
    _track(hp, cpu, i)
    _sift_up(hp, cpu, i)


@jit
def heap_set(hp, cpu, k, time, prio, kind, c):
    """Schedule CPU c's unique event of this kind at ``time``, replacing the
    pending one if any (it takes a fresh sequence number)."""
    i = cpu[c, _pos_col(kind)]
    if i < 0:
        heap_push(hp, cpu, k, time, prio, kind, c, 0)
        return
    hp[i, HP_TIME] = time
    hp[i, HP_SEQ] = k[K_SEQ]
    k[K_SEQ] += 1
    i = _sift_up(hp, cpu, i)
    _sift_down(hp, cpu, k[K_HEAP_N], i)


@jit
def _remove_at(hp, cpu, k, i):
    kind = hp[i, HP_KIND]
    if kind == EK_CPU or kind == EK_IRQ:
        cpu[hp[i, HP_CPU], _pos_col(kind)] = -1
    n = k[K_HEAP_N] - 1
    k[K_HEAP_N] = n
    if i != n:
        for col in range(6):
            hp[i, col] = hp[n, col]
        _track(hp, cpu, i)
        i = _sift_up(hp, cpu, i)
        _sift_down(hp, cpu, n, i)


@jit
def heap_cancel(hp, cpu, k, kind, c):
    """Drop CPU c's pending event of this kind, if any."""
    i = cpu[c, _pos_col(kind)]
    if i >= 0:
        _remove_at(hp, cpu, k, i)


@jit
def heap_pop(hp, cpu, k):
    """Remove the earliest event; return (time, kind, cpu, arg)."""
    t, kind, c, arg = hp[0, HP_TIME], hp[0, HP_KIND], hp[0, HP_CPU], hp[0, HP_ARG]
    _remove_at(hp, cpu, k, 0)
    return t, kind, c, arg


@jit
def heap_top_time(hp, k):
    """Time of the earliest pending event, or NEVER when the heap is empty."""
    if k[K_HEAP_N] == 0:
        return NEVER
    return hp[0, HP_TIME]
