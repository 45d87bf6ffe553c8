"""The vectorised workload generators against slow, obviously correct
per-CPU references (the generators as first written): same seed, same ops."""

import numpy as np
import pytest

import tlbwidgets as tw
from tlbwidgets import _draws as D
from tlbwidgets import workloads as W
from tlbwidgets._tables import OP_ACCESS, OP_UNMAP, OP_PROTECT, OP_IRQ_OFF


def _csr(per_cpu):
    counts = [len(p[0]) for p in per_cpu]
    op_start = np.zeros(len(per_cpu) + 1, dtype=np.int64)
    op_start[1:] = np.cumsum(counts)
    return (op_start, *[np.concatenate([np.asarray(p[i], dtype=np.int64) for p in per_cpu])
                        for i in range(4)])


def _think(rng, n, mean):
    if mean <= 0:
        return np.zeros(n, dtype=np.int64)
    return rng.geometric(1.0 / (mean + 1), size=n).astype(np.int64) - 1


def _uniform(cpus, rng, vm_pages, accesses, working_set_pages, unmap_rate, unmap_pages,
             protect_share, irq_off_share, irq_off_cycles, think_cycles):
    ws = min(working_set_pages, vm_pages)
    per_op = think_cycles + 1.0
    p_irq = (irq_off_share * per_op / (irq_off_cycles * (1 - irq_off_share)
                                       + irq_off_share * per_op)) if irq_off_share > 0 else 0.0
    p_irq = min(p_irq, 1.0 - unmap_rate)
    per_cpu = []
    for _ in range(cpus):
        u = rng.random(accesses)
        kind = np.full(accesses, OP_ACCESS, dtype=np.int64)
        is_unmap = u < unmap_rate
        is_irq = (~is_unmap) & (u < unmap_rate + p_irq)
        kind[is_unmap] = OP_UNMAP
        if protect_share > 0:
            kind[is_unmap & (rng.random(accesses) < protect_share)] = OP_PROTECT
        kind[is_irq] = OP_IRQ_OFF
        vpn = rng.integers(0, ws, size=accesses)
        starts = rng.integers(0, ws - unmap_pages + 1, size=accesses)
        vpn = np.where(is_unmap, starts, vpn)
        pages = np.where(is_unmap, unmap_pages, 1)
        think = np.where(is_irq, irq_off_cycles, _think(rng, accesses, think_cycles))
        per_cpu.append((kind, np.where(is_irq, 0, vpn), np.where(is_irq, 0, pages), think))
    return _csr(per_cpu)


def _storm(cpus, rng, vm_pages, initiators, unmaps, unmap_pages, accesses_between,
           working_set_pages, think_cycles):
    ws = min(working_set_pages, vm_pages)
    n_init = cpus if initiators is None else min(initiators, cpus)
    per_cpu = []
    block = accesses_between + 1
    for c in range(cpus):
        n_ops = unmaps * block
        kind = np.full(n_ops, OP_ACCESS, dtype=np.int64)
        vpn = rng.integers(0, ws, size=n_ops)
        pages = np.ones(n_ops, dtype=np.int64)
        if c < n_init:
            at = np.arange(unmaps) * block + accesses_between
            kind[at] = OP_UNMAP
            vpn[at] = rng.integers(0, ws - unmap_pages + 1, size=unmaps)
            pages[at] = unmap_pages
        per_cpu.append((kind, vpn, pages, _think(rng, n_ops, think_cycles)))
    return _csr(per_cpu)


def _same(spec, reference, cpus, seed, vm_pages=4096):
    got = spec.build(cpus, seed, vm_pages)
    want = reference(cpus=cpus, rng=np.random.default_rng(seed), vm_pages=vm_pages,
                     **spec.params)
    for g, w in zip(got, want):
        assert g.dtype == np.int64 and w.dtype == np.int64
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("mean", [1, 2, 3, 7, 20, 1000, 10**9, 2**62])
def test_think_times_are_numpys_geometric_draws(mean):
    for seed in range(3):
        fast, slow = np.random.default_rng(seed), np.random.default_rng(seed)
        got = D.think(fast, 5_000, mean)
        np.testing.assert_array_equal(got, _think(slow, 5_000, mean))
        assert fast.bit_generator.state == slow.bit_generator.state


@pytest.mark.parametrize("cpus,seed,params", [
    (1, 0, dict(accesses=500)),
    (5, 1, dict(accesses=900, unmap_rate=0.05, protect_share=0.4, irq_off_share=0.2,
                unmap_pages=9, think_cycles=2)),
    (16, 2, dict(accesses=300, unmap_rate=0.5, irq_off_share=0.9, think_cycles=1,
                 working_set_pages=9)),
    (3, 3, dict(accesses=200, unmap_rate=1.0, protect_share=1.0, think_cycles=0)),
    # long enough that only the unmaps' starts are computed (a power-of-two range)
    (3, 4, dict(accesses=70_000, unmap_rate=0.002, protect_share=0.5, irq_off_share=0.01)),
    (2, 5, dict(accesses=3_000, unmap_rate=0.0, working_set_pages=64)),
    (2, 6, dict(accesses=4_097, unmap_rate=0.003, unmap_pages=5, working_set_pages=36)),
    # ... and where they are all drawn: a range of 254 pages, dense unmaps
    (2, 7, dict(accesses=5_000, unmap_rate=0.01, unmap_pages=3)),
    (2, 8, dict(accesses=2_048, unmap_rate=0.2)),
])
def test_uniform_matches_the_per_cpu_reference(cpus, seed, params):
    _same(W.uniform(**params), _uniform, cpus, seed)


@pytest.mark.parametrize("cpus,seed,params", [
    (1, 0, dict(unmaps=5)),
    (9, 1, dict(unmaps=3, initiators=2, unmap_pages=7, accesses_between=0, think_cycles=0)),
    (64, 2, dict(unmaps=2, working_set_pages=5, accesses_between=3, think_cycles=2)),
])
def test_munmap_storm_matches_the_per_cpu_reference(cpus, seed, params):
    _same(W.munmap_storm(**params), _storm, cpus, seed)


def _blocks_as_arrays(op_start, blocks):
    kind, vpn, pages, think = [], [], [], []
    for c_lo, c_hi, v, t, at, at_kind, at_pages in blocks:
        assert (np.diff(at) > 0).all() and len(v) == len(t) == op_start[c_hi] - op_start[c_lo]
        k = np.full(len(v), OP_ACCESS, np.int64)
        k[at] = at_kind
        p = np.ones(len(v), np.int64)
        p[at] = at_pages
        kind.append(k), vpn.append(v.copy()), pages.append(p), think.append(t.copy())
    return (op_start, *[np.concatenate(c) for c in (kind, vpn, pages, think)])


@pytest.mark.parametrize("spec,cpus", [
    (W.uniform(accesses=5_000, unmap_rate=0.0), 40),        # many CPUs per block
    (W.uniform(accesses=100_000, unmap_rate=0.001, irq_off_share=0.01), 2),
    (W.munmap_storm(unmaps=500, initiators=100), 300),       # a block of both kinds
    (W.munmap_storm(unmaps=3, initiators=1), 1024),
    (W.single(pages=3), 7),
    (W.big_unmap(sizes=(2, 70)), 5),
])
def test_blocks_hold_the_same_ops_as_build(spec, cpus):
    built = spec.build(cpus, 4, 4096)
    streamed = _blocks_as_arrays(*spec.build_blocks(cpus, 4, 4096))
    for b, s in zip(built, streamed):
        np.testing.assert_array_equal(b, s)


def _assert_blocks_build_the_machine_and_state(spec, cpus, seed, cap_rows, blocks=None):
    """make_machine_state on the streamed blocks equals make_machine +
    make_state on the whole-array build, table by table; returns the State."""
    from tlbwidgets.engine import make_machine, make_state
    from tlbwidgets.engine import _layout as L
    from tlbwidgets.costs import resolve_costs
    params = np.zeros(L.N_PARAMS, dtype=np.int64)
    params[[L.P_NCPU, L.P_SETS, L.P_WAYS, L.P_QUEUE_SLOTS, L.P_VM_PAGES]] = cpus, 16, 4, 16, 4096
    params[[L.P_CAP_ROWS, L.P_CAP_EVENTS]] = cap_rows, 50
    costs = resolve_costs("default").as_array()
    topo = (np.zeros(cpus, np.int64), np.ones(cpus, np.int64))
    if blocks is None:
        blocks = spec.build_blocks(cpus, seed, 4096)
    m2, s2 = L.make_machine_state(params, costs, *topo, *blocks)
    m1 = make_machine(params, costs, *topo, *spec.build(cpus, seed, 4096))
    for a, b in zip(m1, m2):
        np.testing.assert_array_equal(a, b)
    for name, a, b in zip(L.State._fields, make_state(m1), s2):
        np.testing.assert_array_equal(a, b, err_msg=name)
    return s2


def test_simulate_builds_the_machine_and_state_of_make_machine_and_make_state():
    cpus = 100
    s2 = _assert_blocks_build_the_machine_and_state(W.munmap_storm(unmaps=40, initiators=3),
                                                    cpus, 0, cap_rows=50_000)
    # a shootdown logs at most one delivery per target: 3 x 40 unmaps x 100
    # CPUs = 12,000 rows hold them all, fewer than max_log_rows
    assert len(s2.dv) == 3 * 40 * cpus


def test_a_block_outside_the_machine_raises_the_build_error():
    def builder(cpus, rng, vm_pages):
        op_start = np.arange(cpus + 1, dtype=np.int64) * 2
        vpn = np.array([0, vm_pages + 5] * cpus, dtype=np.int64)
        empty = np.zeros(0, np.int64)
        return W._Blocks(op_start, iter([(0, cpus, vpn, np.zeros(2 * cpus, np.int64), empty,
                                          empty, empty)]))
    spec = W.Workload("outside", {}, builder)
    with pytest.raises(ValueError, match=r"touches pages up to 105 but vm_pages=100"):
        spec.build(3, 0, 100)
    op_start, blocks = spec.build_blocks(3, 0, 100)
    with pytest.raises(ValueError, match=r"touches pages up to 105 but vm_pages=100"):
        list(blocks)


def _raw_blocks(spec, cpus, seed):
    """The generator's own blocks (not made ahead, not checked)."""
    return spec._generate(cpus, seed, 4096).blocks


@pytest.mark.parametrize("spec,cpus", [
    (W.uniform(accesses=40_000, unmap_rate=0.01, protect_share=0.5), 5),   # one CPU a block
    (W.uniform(accesses=5_000, unmap_rate=0.01), 40),                       # 13 CPUs a block
    (W.munmap_storm(unmaps=500, initiators=100), 300),
])
def test_a_block_stays_valid_while_the_next_blocks_are_made(spec, cpus):
    # _made_ahead makes up to _BLOCKS_AHEAD blocks while the caller copies one
    held = []                           # (block, copies of its arrays)
    n = 0
    for block in _raw_blocks(spec, cpus, 3):
        for old, kept in held:
            for a, b in zip(old[2:], kept):
                np.testing.assert_array_equal(a, b)
        held = (held + [(block, [a.copy() for a in block[2:]])])[-W._BLOCKS_AHEAD:]
        n += 1
    assert n >= 2 + W._BLOCKS_AHEAD


def test_blocks_made_ahead_are_the_blocks_in_order_with_the_same_error():
    def source():
        for i in range(5):
            if i == 3:
                raise ValueError("block 3 does not fit")
            yield i
    got = []
    with pytest.raises(ValueError, match="block 3 does not fit"):
        for item in W._made_ahead(source()):
            got.append(item)
    assert got == [0, 1, 2]
    assert list(W._made_ahead(iter(range(7)))) == list(range(7))
    assert list(W._made_ahead(iter([]))) == []


def test_blocks_are_made_ahead_before_the_first_is_taken():
    import threading
    started = threading.Event()

    def source():
        started.set()
        yield from range(3)
    items = W._made_ahead(source())
    assert started.wait(timeout=10)     # the worker began on its own
    assert list(items) == [0, 1, 2]


def test_blocks_made_ahead_build_the_machine_of_make_machine():
    # more than one block: build_blocks makes them in a worker thread
    spec = W.uniform(accesses=50_000, unmap_rate=0.01, irq_off_share=0.01)
    op_start, blocks = spec.build_blocks(3, 2, 4096)
    assert not isinstance(blocks, list) and op_start[-1] > W._BLOCK_OPS
    _assert_blocks_build_the_machine_and_state(spec, 3, 2, cap_rows=1000,
                                               blocks=(op_start, blocks))


@pytest.mark.parametrize("high", [1, 2, 4, 8, 256, 4096, 2**20, 2**31, 2**32,
                                  3, 255, 257, 5000, 2**32 - 1, 2**32 + 1, 2**40])
@pytest.mark.parametrize("n", [0, 1, 2, 3, 64, 1001, 62_500])
@pytest.mark.parametrize("pending", [False, True])
@pytest.mark.parametrize("always_jump", [False, True])
def test_integers_at_picks_what_generator_integers_draws(high, n, pending, always_jump,
                                                         monkeypatch):
    # the picked values, then the generator's state and what it draws next
    if always_jump:                     # however few the draws or dense the picks
        monkeypatch.setattr(D, "_JUMP_COST_DRAWS", 0)
        monkeypatch.setattr(D, "JUMP_MIN_DRAWS", 1)
    seed = high % 1000 + n + pending
    picks = np.random.default_rng(seed)
    at = np.unique(picks.integers(0, max(n, 1), size=min(n, 1 + n // 200)))
    at = at[at < n]
    if n > 2:
        at = np.unique(np.r_[0, at, n - 1])
    fast, slow = np.random.default_rng(seed), np.random.default_rng(seed)
    if pending:                         # a 32-bit half waits in the state
        fast.integers(0, 7, size=1), slow.integers(0, 7, size=1)
    got = D.integers_at(fast, high, n, at)
    want = slow.integers(0, high, size=n)[at]
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, want)
    assert fast.bit_generator.state == slow.bit_generator.state
    np.testing.assert_array_equal(fast.integers(0, 100, size=5), slow.integers(0, 100, size=5))
    np.testing.assert_array_equal(fast.random(3), slow.random(3))


def test_pcg_jump_lands_on_the_outputs_of_the_stream():
    bg = np.random.PCG64(2024)
    start = bg.state["state"]
    raw = bg.random_raw(5000)
    s, inc = start["state"], start["inc"]
    parts = [np.uint64(x) for x in (s >> 64, s & (2**64 - 1), inc >> 64, inc & (2**64 - 1))]
    for k in (0, 1, 2, 63, 64, 4999):
        hi, lo = D.pcg_jump(*parts, k + 1)
        assert D.pcg_output(np.uint64(hi), np.uint64(lo)) == raw[k]


# ---- default sizes scale down above 256 CPUs (quadratic work) -----------------------

@pytest.mark.parametrize("cpus,expected", [(1, 20_000), (256, 20_000), (257, 19_767),
                                           (512, 2_500), (1024, 312)])
def test_uniform_default_accesses_shrink_with_the_cube_above_256_cpus(cpus, expected):
    assert W.scaled_default(20_000, cpus) == expected
    built = W.uniform().build(cpus, 0, 4096)
    assert built[0][1] - built[0][0] == expected


def test_storm_default_unmaps_shrink_but_never_to_zero():
    assert W.scaled_default(100, 256) == 100
    assert W.scaled_default(100, 1024) == 1
    assert W.scaled_default(100, 2048) == 1
    assert W.scaled_default(1, 1024) == 1


def test_an_explicit_size_is_never_scaled():
    built = W.uniform(accesses=20_000).build(1024, 0, 4096)
    assert built[0][1] - built[0][0] == 20_000
    built = W.munmap_storm(unmaps=100, accesses_between=0).build(1024, 0, 4096)
    assert built[0][1] - built[0][0] == 100


def test_scaled_defaults_deliver_no_more_ipis_on_a_larger_machine():
    # Every CPU unmaps and every unmap reaches every other CPU: deliveries are
    # about cpus x size x (cpus - 1) x unmap rate, which must not grow past 256 CPUs.
    def deliveries(cpus):
        return cpus * W.scaled_default(20_000, cpus) * (cpus - 1)
    counts = [deliveries(n) for n in (256, 320, 512, 768, 1024)]
    assert counts == sorted(counts, reverse=True)
    assert counts[-1] < counts[0] / 3


def test_uniform_on_1024_cpus_with_default_sizes_completes():
    r = tw.simulate(cpus=1024, protocol="linux", workload="uniform")
    assert r.outcome == "completed"
    assert r.summary()["shootdowns"] > 300       # still hundreds to average over
