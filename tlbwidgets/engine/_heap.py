"""The event heap: a binary min-heap in parallel arrays.

Ordered on ``(time, prio, seq)``: earliest first; among equal times the lower
priority class first (``PRIO_*`` in ``_layout``); then first-in first-out by a
monotonic sequence number, so every run is deterministic.

A CPU has at most one pending ``EK_CPU`` and one pending ``EK_IRQ`` event:
their heap positions are tracked (``hp_pos[cpu, kind]``) and rescheduling
moves the entry in place.  So the heap never holds superseded entries and its
size is bounded by ``2 * cpus`` + stores in flight + IPIs in flight.
"""

from .._jit import jit, jit_inline
from ._layout import K_HEAP_N, K_SEQ, NEVER, EK_CPU, EK_IRQ

__all__ = ["heap_push", "heap_pop", "heap_top_time", "heap_set", "heap_cancel"]


@jit_inline
def _less(s, i, j):
    if s.hp_time[i] != s.hp_time[j]:
        return s.hp_time[i] < s.hp_time[j]
    if s.hp_prio[i] != s.hp_prio[j]:
        return s.hp_prio[i] < s.hp_prio[j]
    return s.hp_seq[i] < s.hp_seq[j]


@jit_inline
def _track(s, i):
    k = s.hp_kind[i]
    if k == EK_CPU or k == EK_IRQ:
        s.hp_pos[s.hp_cpu[i], k] = i


@jit_inline
def _swap(s, i, j):
    a = s.hp_time
    a[i], a[j] = a[j], a[i]
    a = s.hp_prio
    a[i], a[j] = a[j], a[i]
    a = s.hp_seq
    a[i], a[j] = a[j], a[i]
    a = s.hp_kind
    a[i], a[j] = a[j], a[i]
    a = s.hp_cpu
    a[i], a[j] = a[j], a[i]
    a = s.hp_arg
    a[i], a[j] = a[j], a[i]
    _track(s, i)
    _track(s, j)


@jit_inline
def _sift_up(s, i):
    while i > 0:
        parent = (i - 1) >> 1
        if _less(s, i, parent):
            _swap(s, i, parent)
            i = parent
        else:
            break
    return i


@jit_inline
def _sift_down(s, i):
    n = s.counters[K_HEAP_N]
    while True:
        left = 2 * i + 1
        if left >= n:
            break
        best = left
        right = left + 1
        if right < n and _less(s, right, left):
            best = right
        if _less(s, best, i):
            _swap(s, i, best)
            i = best
        else:
            break


@jit_inline
def heap_push(s, time, prio, kind, cpu, arg):
    """Insert an event.  The heap is sized so that it cannot overflow (see
    ``make_state``); an overflow would be an engine bug and raises."""
    c = s.counters
    i = c[K_HEAP_N]
    if i >= s.hp_time.shape[0]:
        raise RuntimeError("event heap overflow (engine bug)")
    s.hp_time[i] = time
    s.hp_prio[i] = prio
    s.hp_seq[i] = c[K_SEQ]
    s.hp_kind[i] = kind
    s.hp_cpu[i] = cpu
    s.hp_arg[i] = arg
    c[K_SEQ] += 1
    c[K_HEAP_N] = i + 1
    _track(s, i)
    _sift_up(s, i)


@jit_inline
def heap_set(s, time, prio, kind, cpu):
    """Schedule the CPU's unique event of this kind at ``time``, replacing
    the pending one if any (it takes a fresh sequence number)."""
    i = s.hp_pos[cpu, kind]
    if i < 0:
        heap_push(s, time, prio, kind, cpu, 0)
        return
    s.hp_time[i] = time
    s.hp_seq[i] = s.counters[K_SEQ]
    s.counters[K_SEQ] += 1
    i = _sift_up(s, i)
    _sift_down(s, i)


@jit_inline
def _remove_at(s, i):
    k = s.hp_kind[i]
    if k == EK_CPU or k == EK_IRQ:
        s.hp_pos[s.hp_cpu[i], k] = -1
    n = s.counters[K_HEAP_N] - 1
    s.counters[K_HEAP_N] = n
    if i != n:
        s.hp_time[i] = s.hp_time[n]
        s.hp_prio[i] = s.hp_prio[n]
        s.hp_seq[i] = s.hp_seq[n]
        s.hp_kind[i] = s.hp_kind[n]
        s.hp_cpu[i] = s.hp_cpu[n]
        s.hp_arg[i] = s.hp_arg[n]
        _track(s, i)
        i = _sift_up(s, i)
        _sift_down(s, i)


@jit_inline
def heap_cancel(s, kind, cpu):
    """Drop the CPU's pending event of this kind, if any."""
    i = s.hp_pos[cpu, kind]
    if i >= 0:
        _remove_at(s, i)


@jit_inline
def heap_pop(s):
    """Remove the earliest event; return (time, kind, cpu, arg)."""
    t, k, cpu, arg = s.hp_time[0], s.hp_kind[0], s.hp_cpu[0], s.hp_arg[0]
    _remove_at(s, 0)
    return t, k, cpu, arg


@jit_inline
def heap_top_time(s):
    """Time of the earliest pending event, or NEVER when the heap is empty."""
    if s.counters[K_HEAP_N] == 0:
        return NEVER
    return s.hp_time[0]
