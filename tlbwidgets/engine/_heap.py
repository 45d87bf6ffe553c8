"""The event heap: a binary min-heap in parallel arrays.

Ordered on ``(time, prio, seq)``: earliest first; among equal times the lower
priority class first (``PRIO_*`` in ``_layout``); then first-in first-out by a
monotonic sequence number, so every run is deterministic.  Entries carry a
``token``: an event whose token no longer matches its CPU's current token was
superseded and is skipped by the loop (lazy deletion, O(log n) reschedules).
"""

from .._jit import jit
from ._layout import K_HEAP_N, K_SEQ, NEVER

__all__ = ["heap_push", "heap_pop", "heap_top_time"]


@jit
def _less(s, i, j):
    if s.hp_time[i] != s.hp_time[j]:
        return s.hp_time[i] < s.hp_time[j]
    if s.hp_prio[i] != s.hp_prio[j]:
        return s.hp_prio[i] < s.hp_prio[j]
    return s.hp_seq[i] < s.hp_seq[j]


@jit
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
    a = s.hp_tok
    a[i], a[j] = a[j], a[i]


@jit
def heap_push(s, time, prio, kind, cpu, token):
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
    s.hp_tok[i] = token
    c[K_SEQ] += 1
    c[K_HEAP_N] = i + 1
    while i > 0:
        parent = (i - 1) >> 1
        if _less(s, i, parent):
            _swap(s, i, parent)
            i = parent
        else:
            break


@jit
def heap_pop(s):
    """Remove the earliest event; return (time, kind, cpu, token)."""
    c = s.counters
    n = c[K_HEAP_N]
    t, k, cpu, tok = s.hp_time[0], s.hp_kind[0], s.hp_cpu[0], s.hp_tok[0]
    n -= 1
    c[K_HEAP_N] = n
    if n > 0:
        _swap(s, 0, n)
        i = 0
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
    return t, k, cpu, tok


@jit
def heap_top_time(s):
    """Time of the earliest pending event, or NEVER when the heap is empty."""
    if s.counters[K_HEAP_N] == 0:
        return NEVER
    return s.hp_time[0]
