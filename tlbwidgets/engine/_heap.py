"""The far part of the event queue: an indexed binary min-heap of event nodes.

``far[0 .. k[K_EQ_FAR_N])`` holds node ids (rows of ``nd``) ordered on
``(nd[x, ND_KEY], nd[x, ND_TIE])`` (the queue's canonical order); a node's index in it is kept in
``nd[x, ND_AT]`` so that a far event can be cancelled or rescheduled in
place.  ``_queue`` keeps here only the events too far ahead for its calendar
(timeouts, long think times): a few percent of the events, so this is the
simple structure.
"""

from .._jit import jit
from ._layout import K_EQ_FAR_N, ND_KEY, ND_TIE, ND_AT

__all__ = ["far_push", "far_remove"]


@jit
def _before(nd, a, b):
    return nd[a, ND_KEY] < nd[b, ND_KEY] or (
        nd[a, ND_KEY] == nd[b, ND_KEY] and nd[a, ND_TIE] < nd[b, ND_TIE])


@jit
def _sift(nd, far, n, i):
    """Restore the heap order around index i, whose node may be out of place:
    it travels up or down while the others shift into the hole it leaves."""
    x = far[i]
    moved = False
    while i > 0:
        parent = (i - 1) >> 1
        if not _before(nd, x, far[parent]):
            break
        far[i] = far[parent]
        nd[far[i], ND_AT] = i
        i = parent
        moved = True
    if not moved:
        while True:
            child = 2 * i + 1
            if child >= n:
                break
            if child + 1 < n and _before(nd, far[child + 1], far[child]):
                child += 1
            if not _before(nd, far[child], x):
                break
            far[i] = far[child]
            nd[far[i], ND_AT] = i
            i = child
    far[i] = x
    nd[x, ND_AT] = i


@jit
def far_push(nd, far, k, x):
    """Insert node x (its key and tie already written)."""
    i = k[K_EQ_FAR_N]
    k[K_EQ_FAR_N] = i + 1
    far[i] = x
    _sift(nd, far, i + 1, i)


@jit
def far_remove(nd, far, k, i):
    """Remove the node at heap index i (0: the earliest far event)."""
    n = k[K_EQ_FAR_N] - 1
    k[K_EQ_FAR_N] = n
    if i != n:
        far[i] = far[n]
        _sift(nd, far, n, i)
