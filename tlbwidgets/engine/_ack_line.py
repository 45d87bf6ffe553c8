"""The packed ACK line: many CPUs' ACK fields in one cache line.

The seed keeps its ACK flags in one array of one-byte ``AtomicBool``\\ s
(``TLB_ACKS`` in strat9 ``arch/x86_64/tlb.rs``), so 64 CPUs' flags share one
64-byte line, and every clear (an initiator's push), every store (a handler's
ACK) and every poll (a waiting initiator) touches that line.
``ack_layout="padded"`` gives every field its own line (``P_ACK_PER_LINE``
0): nothing here is used and the charging is the one of docs/protocols.md.

Rules for a packed line (``P_ACK_PER_LINE`` fields per line; CPU ``j``'s
field is in line ``j // P_ACK_PER_LINE``), docs/model.md section 5, "The
packed ACK line":

* Writes to one line are served one at a time, in the order they are asked
  for (a write asked for at ``t`` starts at ``max(t, AL_FREE)``): a store must
  own the line, and a line has one owner.  A push asks for its clear when its
  step begins (the clear lands under the target's queue lock), a handler for
  its store when its flushes end.
* A write costs one transfer from where the line is: ``cacheline_remote`` if
  its last writer, or any CPU polling the line now, is on another socket than
  the writer, else ``cacheline`` (the first write of a run: ``cacheline``).
* Every CPU polling a field of the line holds a shared copy, so after a write
  they all read the line again: it stays busy for one more transfer (remote if
  any of them is on another socket than the writer; the reads are served
  together, one transfer for all).  That re-read delays the line's next write;
  the pollers themselves see a store when it lands, as with padded fields
  (their polls keep the ``pause`` grid of docs/protocols.md).

Each rule costs O(1) per write: the line keeps its pollers' count, the sum of
their sockets and the sum of their squares, which together say whether they
all sit on one socket (``sum (x - a)^2 == 0``).
"""

from .._jit import jit
from ._layout import (
    P_ACK_PER_LINE, C_CACHELINE, C_CACHELINE_REMOTE, T_SOCKET,
    AL_FREE, AL_WRITER, AL_SPIN, AL_SOCK_SUM, AL_SOCK_SQ,
)

__all__ = ["ack_packed", "ack_line_write", "ack_line_poller"]


@jit
def ack_packed(m):
    """True when the ACK fields share lines (``ack_layout="packed"``)."""
    return m.params[P_ACK_PER_LINE] > 0


@jit
def ack_line_write(s, m, w, j, t):
    """CPU w asks at t to write CPU j's ACK field in a packed line.

    Returns ``(start, end)``: when the line is its (``start - t`` is time
    spent waiting for it) and when the write lands.  Reserves the line until
    ``end`` plus the pollers' re-read."""
    al = s.al
    line = j // m.params[P_ACK_PER_LINE]
    sock = m.topo[w, T_SOCKET]
    start = max(t, al[line, AL_FREE])
    prev = al[line, AL_WRITER]
    n = al[line, AL_SPIN]
    # A poller on another socket: the pollers' sockets x are not all sock,
    # i.e. sum (x - sock)^2 != 0.
    elsewhere = n > 0 and (al[line, AL_SOCK_SQ] - 2 * sock * al[line, AL_SOCK_SUM]
                           + n * sock * sock) != 0
    far = elsewhere or (prev >= 0 and m.topo[prev, T_SOCKET] != sock)
    end = start + (m.costs[C_CACHELINE_REMOTE] if far else m.costs[C_CACHELINE])
    reread = 0
    if n > 0:
        reread = m.costs[C_CACHELINE_REMOTE] if elsewhere else m.costs[C_CACHELINE]
    al[line, AL_FREE] = end + reread
    al[line, AL_WRITER] = w
    return start, end


@jit
def ack_line_poller(s, m, c, j, delta):
    """CPU c starts (``delta`` 1) or stops (-1) polling CPU j's ACK field."""
    al = s.al
    line = j // m.params[P_ACK_PER_LINE]
    sock = m.topo[c, T_SOCKET]
    al[line, AL_SPIN] += delta
    al[line, AL_SOCK_SUM] += delta * sock
    al[line, AL_SOCK_SQ] += delta * sock * sock
