"""The far part of the event queue: an indexed binary min-heap of event nodes.

``far[0 .. k[K_EQ_FAR_N])`` holds the far nodes ordered on ``(FH_KEY,
FH_TIE)``, copies of the node's ``(nd[x, ND_KEY], nd[x, ND_TIE])`` (the
queue's canonical order), with the node itself in ``FH_NODE``; a node's
index in it is kept in ``nd[x, ND_AT]`` so that a far event can be cancelled
or rescheduled in place.  ``_queue`` keeps here only the events too far ahead
for its calendar (timeouts, long think times).

Why the keys live in the heap: a sift compares at every level, and with the
keys only in ``nd`` each comparison loaded another node's row, most of them
out of cache.  A 256-CPU storm schedules a quarter of its events here (CPU
steps and stores 4,096 to about 70,000 cycles ahead), and taking them into
the calendar was 39% of ``eq_pop``'s perf samples.  Now a sift reads only
the heap's own rows, whose top levels stay in cache, and writes ``ND_AT`` of
the nodes it moves: that store is most of what is left (docs/performance.md).
"""

from .._jit import jit
from ._layout import K_EQ_FAR_N, ND_KEY, ND_TIE, ND_AT, FH_KEY, FH_TIE, FH_NODE, N_FH_COLS

__all__ = ["far_push", "far_remove"]


@jit
def _less(key, tie, other_key, other_tie):
    """(key, tie) comes before (other_key, other_tie)."""
    return key < other_key or (key == other_key and tie < other_tie)


@jit
def _sift(nd, far, n, i, key, tie, x):
    """Place node x with this (key, tie) at index i or where the heap order
    takes it: it travels up or down while the others shift into the hole
    it leaves."""
    moved = False
    while i > 0:
        parent = (i - 1) >> 1
        if not _less(key, tie, far[parent, FH_KEY], far[parent, FH_TIE]):
            break
        for col in range(N_FH_COLS):             # the row moves into the hole
            far[i, col] = far[parent, col]
        nd[far[i, FH_NODE], ND_AT] = i
        i = parent
        moved = True
    if not moved:
        while True:
            child = 2 * i + 1
            if child >= n:
                break
            if child + 1 < n and _less(far[child + 1, FH_KEY], far[child + 1, FH_TIE],
                                       far[child, FH_KEY], far[child, FH_TIE]):
                child += 1
            if not _less(far[child, FH_KEY], far[child, FH_TIE], key, tie):
                break
            for col in range(N_FH_COLS):         # the row moves into the hole
                far[i, col] = far[child, col]
            nd[far[i, FH_NODE], ND_AT] = i
            i = child
    far[i, FH_KEY] = key
    far[i, FH_TIE] = tie
    far[i, FH_NODE] = x
    nd[x, ND_AT] = i


@jit
def far_push(nd, far, k, x):
    """Insert node x (its key and tie already written)."""
    i = k[K_EQ_FAR_N]
    k[K_EQ_FAR_N] = i + 1
    _sift(nd, far, i + 1, i, nd[x, ND_KEY], nd[x, ND_TIE], x)


@jit
def far_remove(nd, far, k, i):
    """Remove the node at heap index i (0: the earliest far event)."""
    n = k[K_EQ_FAR_N] - 1
    k[K_EQ_FAR_N] = n
    if i != n:
        _sift(nd, far, n, i, far[n, FH_KEY], far[n, FH_TIE], far[n, FH_NODE])
