"""The event queue (engine/_queue.py) against a plain model: a dict of the
pending events, the earliest taken by ``min`` on the canonical order
``(time, prio, cpu, kind, arg)``.

Random sequences of the engine's operations -- a CPU's step or IRQ event
(re)scheduled or cancelled, IPIs / stores / ticks pushed, pops -- with times
near the current one, just across the calendar's edge and far beyond it, so
that far events move into the calendar, buckets wrap round and bitmap words
fill up to bit 63.
"""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tlbwidgets.engine import _layout as L
from tlbwidgets.engine import _queue as Q

N_CPUS = 4


def _tables(H=N_CPUS * (N_CPUS + 4) + 64):
    """A State whose queue tables are as make_state builds them, for N_CPUS
    CPUs and H nodes (the other tables are empty).

    It must be the engine's own State type: the queue's functions cache
    what they compile, and a type defined in this test module would be
    pickled into numba's cache index, which other processes then fail to
    load (they cannot import this module)."""
    counters = np.zeros(L.N_COUNTERS, dtype=np.int64)
    counters[L.K_EQ_FREE] = -1
    counters[L.K_EQ_NODES] = 2 * N_CPUS
    queue = dict(counters=counters, nd=L.queue_nodes(H, N_CPUS), rl=np.full((L.EQ_BUCKETS * 4, 2), -1, dtype=np.int64),
                 rb=np.zeros(L.EQ_WORDS + 1, dtype=np.int64),
                 far=np.zeros((H, L.N_FH_COLS), dtype=np.int64))
    ndim = dict(pair=3, q=3, tlb=4)
    empty = {f: np.zeros((0,) * ndim.get(f, 2), dtype=np.int64)
             for f in L.State._fields if f not in queue}
    return L.State(**queue, **empty)


class Model:
    """The queue's contract, written plainly."""

    def __init__(self):
        self.live = {}          # key -> (time, prio, cpu, kind, arg)
        self.now = 0

    def add(self, key, time, prio, kind, c, arg):
        self.live[key] = (time, prio, c, kind, arg)

    def pop(self):
        # Equal tuples are the same event twice: either may come out.
        key = min(self.live, key=lambda k: self.live[k])
        time, _, c, kind, arg = self.live.pop(key)
        self.now = time
        return time, kind, c, arg

    def top(self):
        return min((v[0] for v in self.live.values()), default=int(L.NEVER))


_delta = st.one_of(
    st.integers(0, 40),                                        # the near future
    st.integers(L.EQ_BUCKETS - 3, L.EQ_BUCKETS + 3),           # the calendar's edge
    st.integers(0, 3 * L.EQ_BUCKETS),                          # round the calendar
    st.integers(10 ** 6, 10 ** 7),                             # far: timeouts
)
_op = st.one_of(
    st.tuples(st.just("set"), st.sampled_from([L.EK_CPU, L.EK_IRQ]), st.integers(0, N_CPUS - 1),
              _delta, st.integers(0, 3)),
    st.tuples(st.just("cancel"), st.sampled_from([L.EK_CPU, L.EK_IRQ]),
              st.integers(0, N_CPUS - 1)),
    st.tuples(st.just("push"), st.sampled_from([L.EK_IPI, L.EK_ACK, L.EK_TICK]),
              st.integers(0, N_CPUS - 1), _delta, st.integers(0, 3), st.integers(0, 99)),
    st.tuples(st.just("pop")),
)


def _play(ops):
    s = _tables()
    model = Model()
    pushed = 0
    for op in ops:
        if op[0] == "set":
            _, kind, c, dt, prio = op
            t = model.now + dt
            Q.eq_set(s, t, prio, kind, c)
            model.live.pop((kind, c), None)
            model.add((kind, c), t, prio, kind, c, 0)
        elif op[0] == "cancel":
            _, kind, c = op
            Q.eq_cancel(s, kind, c)
            model.live.pop((kind, c), None)
        elif op[0] == "push":
            _, kind, c, dt, prio, arg = op
            if len(model.live) >= 40:
                continue
            t = model.now + dt
            Q.eq_push(s, t, prio, kind, c, arg)
            model.add(("push", pushed), t, prio, kind, c, arg)
            pushed += 1
        elif model.live:
            assert tuple(int(v) for v in Q.eq_pop(s)) == model.pop()
        assert s.counters[L.K_EQ_N] == len(model.live)
        assert Q.eq_top_time(s) == model.top()
    while model.live:                                   # drain: the rest in order
        assert tuple(int(v) for v in Q.eq_pop(s)) == model.pop()
    assert Q.eq_top_time(s) == L.NEVER
    assert not s.rb.any(), "an empty queue leaves no bucket marked"
    return s


@settings(max_examples=300, deadline=None)
@given(st.lists(_op, max_size=120))
def test_events_come_out_in_time_priority_cpu_kind_arg_order(ops):
    _play(ops)


@pytest.mark.parametrize("gap", [0, 1, 2, 3, 100])
def test_far_events_take_their_canonical_place_when_they_enter_the_calendar(gap):
    """Three events at one time T, scheduled far apart in time: the first
    (CPU 2) is scheduled while T is beyond the calendar; the base then moves
    to T - EQ_BUCKETS + gap (T just in range for gap >= 1, just out for 0)
    and the others (CPUs 0 and 3) are scheduled.  They come out by CPU,
    whatever the order they were scheduled in."""
    s = _tables()
    T = 10 * L.EQ_BUCKETS
    Q.eq_push(s, T, L.PRIO_IPI, L.EK_IPI, 2, 1)          # far heap, oldest
    base = T - L.EQ_BUCKETS + gap
    Q.eq_set(s, base, L.PRIO_CPU, L.EK_CPU, 1)
    assert tuple(Q.eq_pop(s)) == (base, L.EK_CPU, 1, 0)
    Q.eq_push(s, T, L.PRIO_IPI, L.EK_IPI, 3, 0)
    Q.eq_push(s, T, L.PRIO_IPI, L.EK_IPI, 0, 3)
    assert tuple(Q.eq_pop(s)) == (T, L.EK_IPI, 0, 3)
    assert tuple(Q.eq_pop(s)) == (T, L.EK_IPI, 2, 1)
    assert tuple(Q.eq_pop(s)) == (T, L.EK_IPI, 3, 0)


def test_every_bucket_of_a_bitmap_word_and_the_wrap_round():
    """Buckets 0..EQ_BUCKETS-1 each hold one event, in reverse insertion
    order, then a second lap: the scan crosses every word, bit 63 included."""
    s = _tables(H=2 * N_CPUS + L.EQ_BUCKETS)
    model = Model()
    base = L.EQ_BUCKETS // 2
    Q.eq_set(s, base, 0, L.EK_CPU, 0)
    model.add((L.EK_CPU, 0), base, 0, L.EK_CPU, 0, 0)
    assert tuple(int(v) for v in Q.eq_pop(s)) == model.pop()
    for i, dt in enumerate(range(L.EQ_BUCKETS - 1, -1, -1)):
        Q.eq_push(s, base + dt, 1, L.EK_ACK, i % N_CPUS, i)
        model.add(i, base + dt, 1, L.EK_ACK, i % N_CPUS, i)
    assert s.counters[L.K_EQ_FAR_N] == 0
    while model.live:
        assert tuple(int(v) for v in Q.eq_pop(s)) == model.pop()


def test_scheduling_before_the_current_event_is_refused():
    s = _tables()
    Q.eq_set(s, 500, L.PRIO_CPU, L.EK_CPU, 0)
    Q.eq_pop(s)
    with pytest.raises(RuntimeError, match="before the current event"):
        Q.eq_push(s, 499, L.PRIO_IPI, L.EK_IPI, 1, 0)


@pytest.mark.parametrize("bit", [0, 1, 31, 62, 63])
def test_lowest_bit_interpreted_and_jitted(bit):
    word = np.int64(np.uint64(1) << np.uint64(bit))
    higher = np.int64(-1) << np.int64(bit)              # every bit from `bit` up
    assert Q._lowest_bit(word) == bit
    rb = np.zeros(L.EQ_WORDS + 1, dtype=np.int64)
    rb[0] = higher
    rb[L.EQ_WORDS] = 1
    assert Q._first_bucket(rb, 0) == bit
    assert Q._first_bucket(rb, bit) == bit
