"""Workloads: per-CPU streams of ops (DESIGN.md section 2).

Each op has a kind (access, unmap, protect, irq_off, idle), a first page
(``vpn``), a page count and a think time in cycles before the CPU's next op
(for irq_off and idle ops the think time is the op's duration).

A named workload is a seeded generator: ``tw.workloads.uniform(unmap_rate=0.01)``
returns a :class:`Workload` *spec* that is built when the machine is known
(``build(cpus, seed, vm_pages)``); the same seed always gives the same ops.
:meth:`Workload.from_ops` wraps explicit arrays for custom scenarios.
"""

import inspect
import math

import numpy as np

from ._draws import (
    JUMP_MIN_DRAWS as _JUMP_MIN_DRAWS, integers_at as _integers_at,
    think_draw as _think_draw, think_finish as _think_finish,
)
from ._validate import (
    check_int as _check_int, check_cycles as _check_cycles, check_fraction as _check_prob,
    MAX_VM_PAGES,
)
from ._tables import OP_ACCESS, OP_UNMAP, OP_PROTECT, OP_IRQ_OFF
# _made_ahead is imported for the tests, which reach the block helpers as workloads._*.
from ._workload import (  # noqa: F401
    Workload, STREAMED_BYTES, ARRAY_BYTES, CHANGE_BYTES, _Blocks, _BLOCK_OPS, _BLOCKS_AHEAD,
    _made_ahead, _csr_blocks, _by_role,
)
from .scenarios import SCENARIOS as _SCENARIOS

__all__ = [
    "Workload", "WORKLOADS", "get_workload", "workload_params",
    "single", "uniform", "munmap_storm", "big_unmap", "irq_off", "ack_race",
    "scaled_default", "FULL_SIZE_MAX_CPUS",
]

# The quiet gap after the warm-up of `single`: long enough for a shootdown on
# 1024 CPUs under every cost preset to finish before the targets touch the
# pages again, so the lesson's "after" accesses are clean.
SINGLE_QUIET_CYCLES = 5_000_000

# Above this many CPUs, the defaults of the workloads whose work grows with the
# square of the CPU count (every CPU unmaps, every unmap interrupts every CPU:
# `uniform`, `munmap_storm`) shrink with the cube of the count: the IPIs a run
# delivers then fall as 1/cpus, so no larger machine takes longer than 256 CPUs
# (at 1,024, a quarter of the deliveries: seconds instead of the event limit),
# while a run still has hundreds of shootdowns to average.  An explicit size is
# never scaled.
FULL_SIZE_MAX_CPUS = 256
UNIFORM_ACCESSES = 20_000
STORM_UNMAPS = 100


def scaled_default(full, cpus):
    """``full`` up to :data:`FULL_SIZE_MAX_CPUS` CPUs, then ``full x (256 / cpus)^3``
    rounded down, at least 1: the per-CPU size of a default quadratic workload."""
    if cpus <= FULL_SIZE_MAX_CPUS:
        return full
    return max(1, full * FULL_SIZE_MAX_CPUS ** 3 // cpus ** 3)


# Timings of the ack_race scenario, found by scanning offset_cycles and
# victim_section_cycles (steps of 25 over 1,000..8,000 each, then steps of 5) on
# the default preset with 8 CPUs on one socket and the seed's packed ACK line:
# the race shows for offsets 3065..3140 only, every one of them with sections
# 3540..3580 and 3680..3705.  tests/test_mailbox_seed.py re-checks them.
ACK_RACE_DEFAULTS = {"offset_cycles": 3_100, "victim_section_cycles": 3_560, "a_cpu": 0}


# ---- generators ------------------------------------------------------------------
# Each public function validates its parameters and returns a Workload spec;
# the private _build_* does the seeded generation once cpus/vm_pages are known.

def _build_single(cpus, rng, vm_pages, pages, initiator, vpn, start_cycles,
                  quiet_cycles, think_cycles):
    if initiator >= cpus:
        raise ValueError(f"initiator must be a CPU in 0..{cpus - 1}, got {initiator}")
    rng_pages = np.arange(vpn, vpn + pages)
    order = np.empty((cpus, pages), dtype=np.int64)
    for c in range(cpus):
        order[c] = rng.permutation(rng_pages)
    # Every CPU but the initiator touches its pages, waits out the shootdown
    # and touches them again: misses if the shootdown reached it, stale hits
    # or violations if not.
    other_think = np.full((cpus, 2 * pages), think_cycles, dtype=np.int64)
    other_think[:, pages - 1] = start_cycles + quiet_cycles
    others = (np.zeros((cpus, 2 * pages), dtype=np.int64),      # OP_ACCESS
              np.concatenate([order, order], axis=1),
              np.ones((cpus, 2 * pages), dtype=np.int64), other_think)
    # The initiator waits until every CPU is warm, then unmaps, then thinks.
    init_think = [think_cycles] * pages + [quiet_cycles]
    init_think[pages - 1] = max(think_cycles, start_cycles - pages * (think_cycles + 1))
    init = ([OP_ACCESS] * pages + [OP_UNMAP], list(order[initiator]) + [vpn],
            [1] * pages + [pages], init_think)
    init = tuple(np.array([col], dtype=np.int64) for col in init)
    return _csr_blocks([tuple(a[:initiator] for a in others), init,
                        tuple(a[initiator + 1:] for a in others)])


def single(pages=1, initiator=0, vpn=0, start_cycles=20_000,
           quiet_cycles=SINGLE_QUIET_CYCLES, think_cycles=10):
    """One shootdown of ``pages`` pages from CPU ``initiator``.

    Every CPU first touches the pages (warm TLBs), the initiator unmaps them
    at about ``start_cycles``, and after ``quiet_cycles`` of think time every
    other CPU touches them again.  With no other activity the shootdown is
    contention-free: this is the step-by-step lesson and the latency-formula
    test.  The seed only shuffles the order of the warm-up touches.
    """
    pages = _check_int("pages", pages, 1, 1 << 20)
    initiator = _check_int("initiator", initiator, 0, 1023)
    vpn = _check_int("vpn", vpn, 0, MAX_VM_PAGES - 1)
    start_cycles = _check_cycles("start_cycles", start_cycles)
    quiet_cycles = _check_cycles("quiet_cycles", quiet_cycles)
    think_cycles = _check_cycles("think_cycles", think_cycles)
    return Workload("single", dict(pages=pages, initiator=initiator, vpn=vpn,
                                   start_cycles=start_cycles, quiet_cycles=quiet_cycles,
                                   think_cycles=think_cycles), _build_single,
                    size=_size_single)


def _build_uniform(cpus, rng, vm_pages, accesses, working_set_pages, unmap_rate,
                   unmap_pages, protect_share, irq_off_share, irq_off_cycles,
                   think_cycles):
    if accesses is None:
        accesses = scaled_default(UNIFORM_ACCESSES, cpus)
    ws = min(working_set_pages, vm_pages)
    if unmap_pages > ws:
        raise ValueError(f"unmap_pages={unmap_pages} is larger than the working set "
                         f"({ws} pages = min(working_set_pages, vm_pages))")
    # Probability of an irq_off op such that, on average, irq_off_share of a
    # CPU's time has interrupts disabled (an access costs ~ think + 1).
    per_op = think_cycles + 1.0
    if irq_off_share > 0:
        p_irq = irq_off_share * per_op / (irq_off_cycles * (1 - irq_off_share)
                                           + irq_off_share * per_op)
    else:
        p_irq = 0.0
    p_irq = min(p_irq, 1.0 - unmap_rate)
    op_start = np.arange(cpus + 1, dtype=np.int64) * accesses
    return _Blocks(op_start, _uniform_blocks(
        cpus, rng, accesses, ws, unmap_rate, unmap_pages, protect_share, p_irq,
        irq_off_cycles, think_cycles))


def _uniform_blocks(cpus, rng, accesses, ws, unmap_rate, unmap_pages, protect_share, p_irq,
                    irq_off_cycles, think_cycles):
    # Per CPU, in this order: one uniform draw per op (what the op is), one
    # more if some unmaps are mprotects, a page per op, an unmap start per op
    # (drawn for every op, used by unmaps), the think-time draws.  Only the
    # draws are per CPU; what they mean is worked out per block of CPUs.
    per_block = max(1, _BLOCK_OPS // accesses)          # CPUs per block
    shape = (min(per_block, cpus), accesses)
    u = np.empty(shape)
    prot = np.empty(shape) if protect_share > 0 else None
    starts = np.empty(shape, dtype=np.int64)
    raw_think = np.empty(shape)
    # the yielded columns, in sets that stay valid while later blocks are made
    vpns = np.empty((_BLOCKS_AHEAD + 1, *shape), dtype=np.int64)
    thinks = np.empty((_BLOCKS_AHEAD + 1, *shape), dtype=np.int64)
    # u < unmap_rate: an unmap; else u < unmap_rate + p_irq: an irq_off op
    # (every unmap is below the second bound too: adding p_irq >= 0 rounds up)
    odd_below = unmap_rate + p_irq
    for b, c_lo in enumerate(range(0, cpus, per_block)):
        c_hi = min(c_lo + per_block, cpus)
        rows = c_hi - c_lo
        vpn, think = vpns[b % len(vpns)], thinks[b % len(thinks)]
        for r in range(rows):
            rng.random(out=u[r])
            if prot is not None:
                rng.random(out=prot[r])
            vpn[r] = rng.integers(0, ws, size=accesses)
            # an unmap start is drawn for every op; only the unmaps' are read
            if accesses < _JUMP_MIN_DRAWS:
                starts[r] = rng.integers(0, ws - unmap_pages + 1, size=accesses)
            else:
                row_unmaps = np.flatnonzero(u[r] < unmap_rate)
                starts[r, row_unmaps] = _integers_at(rng, ws - unmap_pages + 1, accesses,
                                                     row_unmaps)
            _think_draw(rng, think_cycles, think[r], raw_think[r])
        # the block's ops, in CPU order, counted from its first op (views)
        block_u = u[:rows].ravel()
        block_vpn = vpn[:rows].ravel()
        block_think = think[:rows].ravel()
        _think_finish(think_cycles, block_think, raw_think[:rows].ravel())
        odd = np.flatnonzero(block_u < odd_below)
        is_unmap = block_u[odd] < unmap_rate
        kinds = np.where(is_unmap, OP_UNMAP, OP_IRQ_OFF)
        if prot is not None:
            kinds[is_unmap & (prot[:rows].ravel()[odd] < protect_share)] = OP_PROTECT
        unmaps = odd[is_unmap]
        block_vpn[unmaps] = starts[:rows].ravel()[unmaps]
        irqs = odd[~is_unmap]
        block_vpn[irqs] = 0
        block_think[irqs] = irq_off_cycles
        # unmaps span unmap_pages; irq_off sections touch no user page
        yield (c_lo, c_hi, block_vpn, block_think, odd, kinds,
               np.where(is_unmap, unmap_pages, 0))


def uniform(accesses=None, working_set_pages=256, unmap_rate=0.002, unmap_pages=1,
            protect_share=0.0, irq_off_share=0.0, irq_off_cycles=2_000,
            think_cycles=20):
    """Every CPU runs ``accesses`` ops over a shared working set.

    ``accesses`` defaults to 20,000 per CPU on up to 256 CPUs and to
    ``20,000 x (256 / cpus)^3`` above (:func:`scaled_default`): every CPU
    unmaps and every unmap interrupts every CPU, so the work grows with the
    square of the CPU count; scaled, 1,024 CPUs get 312 accesses each and
    deliver a quarter of the IPIs of 256.  Pass ``accesses`` to fix the size.

    Each op is, independently: an unmap of ``unmap_pages`` pages at a random
    place (probability ``unmap_rate``; a ``protect_share`` of them are
    mprotects instead), an interrupts-off stretch of ``irq_off_cycles``
    (chosen so that about ``irq_off_share`` of the time has interrupts off),
    or an access to a uniformly random page.  Think times are geometric with
    mean ``think_cycles``.
    """
    if accesses is not None:
        accesses = _check_int("accesses", accesses, 1, 50_000_000)
    working_set_pages = _check_int("working_set_pages", working_set_pages, 1)
    unmap_rate = _check_prob("unmap_rate", unmap_rate)
    unmap_pages = _check_int("unmap_pages", unmap_pages, 1, 1 << 20)
    protect_share = _check_prob("protect_share", protect_share)
    irq_off_share = _check_prob("irq_off_share", irq_off_share)
    if irq_off_share >= 1.0:
        raise ValueError("irq_off_share must be below 1 (a CPU that never enables "
                         f"interrupts never acknowledges), got {irq_off_share}")
    irq_off_cycles = _check_cycles("irq_off_cycles", irq_off_cycles, 1)
    think_cycles = _check_cycles("think_cycles", think_cycles)
    return Workload("uniform", dict(
        accesses=accesses, working_set_pages=working_set_pages, unmap_rate=unmap_rate,
        unmap_pages=unmap_pages, protect_share=protect_share, irq_off_share=irq_off_share,
        irq_off_cycles=irq_off_cycles, think_cycles=think_cycles), _build_uniform,
        size=_size_uniform)


def _build_storm(cpus, rng, vm_pages, initiators, unmaps, unmap_pages, accesses_between,
                 working_set_pages, think_cycles):
    ws = min(working_set_pages, vm_pages)
    if unmap_pages > ws:
        raise ValueError(f"unmap_pages={unmap_pages} is larger than the working set ({ws})")
    n_init = cpus if initiators is None else min(initiators, cpus)
    if unmaps is None:
        unmaps = scaled_default(STORM_UNMAPS, cpus)
    n_ops = unmaps * (accesses_between + 1)
    op_start = np.arange(cpus + 1, dtype=np.int64) * n_ops
    return _Blocks(op_start, _storm_blocks(cpus, rng, n_init, unmaps, unmap_pages,
                                           accesses_between, ws, think_cycles))


def _storm_blocks(cpus, rng, n_init, unmaps, unmap_pages, accesses_between, ws,
                  think_cycles):
    block = accesses_between + 1
    n_ops = unmaps * block
    at = np.arange(unmaps) * block + accesses_between   # each CPU's unmaps
    per_block = max(1, _BLOCK_OPS // n_ops)             # CPUs per block
    rows = min(per_block, cpus)
    # the yielded columns, in sets that stay valid while later blocks are made
    vpns = np.empty((_BLOCKS_AHEAD + 1, rows, n_ops), dtype=np.int64)
    thinks = np.empty((_BLOCKS_AHEAD + 1, rows, n_ops), dtype=np.int64)
    raw_think = np.empty((rows, n_ops))
    # the unmaps of every initiator of a block, counted from its first op
    block_at = (np.arange(rows)[:, None] * n_ops + at).ravel()
    for b, c_lo in enumerate(range(0, cpus, per_block)):
        c_hi = min(c_lo + per_block, cpus)
        n = c_hi - c_lo
        vpn, think = vpns[b % len(vpns)], thinks[b % len(thinks)]
        # Per CPU, in this order: a page per op, the unmap starts
        # (initiators only), the think-time draws.
        for c in range(c_lo, c_hi):
            vpn[c - c_lo] = rng.integers(0, ws, size=n_ops)
            if c < n_init:
                vpn[c - c_lo, at] = rng.integers(0, ws - unmap_pages + 1, size=unmaps)
            _think_draw(rng, think_cycles, think[c - c_lo], raw_think[c - c_lo])
        _think_finish(think_cycles, think[:n].ravel(), raw_think[:n].ravel())
        unmapping = block_at[:min(max(n_init - c_lo, 0), n) * unmaps]
        yield (c_lo, c_hi, vpn[:n].ravel(), think[:n].ravel(), unmapping,
               np.full(len(unmapping), OP_UNMAP, dtype=np.int64),
               np.full(len(unmapping), unmap_pages, dtype=np.int64))


def munmap_storm(initiators=None, unmaps=None, unmap_pages=1, accesses_between=8,
                 working_set_pages=128, think_cycles=20):
    """Many threads unmapping small ranges at once: lock contention on the
    mailboxes, coalesced IPIs and the shared-ACK-flag race.

    The first ``initiators`` CPUs (default: all) each perform ``unmaps``
    unmaps of ``unmap_pages`` pages, with ``accesses_between`` random accesses
    before each; the other CPUs only access.  ``unmaps`` defaults to 100 on up
    to 256 CPUs and to ``100 x (256 / cpus)^3`` above (:func:`scaled_default`,
    as for :func:`uniform`); pass it to fix the size.
    """
    if initiators is not None:
        initiators = _check_int("initiators", initiators, 1, 1024)
    if unmaps is not None:
        unmaps = _check_int("unmaps", unmaps, 1, 10_000_000)
    unmap_pages = _check_int("unmap_pages", unmap_pages, 1, 1 << 20)
    accesses_between = _check_int("accesses_between", accesses_between, 0, 1_000_000)
    working_set_pages = _check_int("working_set_pages", working_set_pages, 1)
    think_cycles = _check_cycles("think_cycles", think_cycles)
    return Workload("munmap_storm", dict(
        initiators=initiators, unmaps=unmaps, unmap_pages=unmap_pages,
        accesses_between=accesses_between, working_set_pages=working_set_pages,
        think_cycles=think_cycles), _build_storm, size=_size_storm)


def _build_big(cpus, rng, vm_pages, sizes, repeats, initiator, gap_cycles, think_cycles):
    if initiator >= cpus:
        raise ValueError(f"initiator must be a CPU in 0..{cpus - 1}, got {initiator}")
    top = max(sizes)
    if top > vm_pages:
        raise ValueError(f"sizes up to {top} pages need vm_pages >= {top}, got {vm_pages}")
    plan = [s for s in sizes for _ in range(repeats)]
    # Every CPU re-warms (up to 64 of) the pages about to be unmapped, size by
    # size; the initiator then unmaps the range, the others wait out the gap.
    touches = [min(size, 64) for size in plan]
    ends = np.cumsum(touches)
    vpn = np.empty((cpus, int(ends[-1])), dtype=np.int64)
    for c in range(cpus):
        for size, end, n_touch in zip(plan, ends, touches):
            vpn[c, end - n_touch:end] = rng.permutation(size)[:n_touch]
    think = np.full(vpn.shape, think_cycles, dtype=np.int64)
    kind = np.zeros(vpn.shape, dtype=np.int64)          # OP_ACCESS
    pages = np.ones(vpn.shape, dtype=np.int64)
    init = tuple(np.insert(a[initiator], ends, values)[None, :] for a, values in (
        (kind, OP_UNMAP), (vpn, 0), (pages, plan), (think, gap_cycles)))
    think[:, ends - 1] = gap_cycles
    return _csr_blocks([(kind[:initiator], vpn[:initiator], pages[:initiator],
                         think[:initiator]), init,
                        (kind[initiator + 1:], vpn[initiator + 1:], pages[initiator + 1:],
                         think[initiator + 1:])])


def big_unmap(sizes=(1, 8, 32, 33, 63, 64, 65, 128, 512), repeats=2, initiator=0,
              gap_cycles=200_000, think_cycles=10):
    """Range sizes across the full-flush thresholds (64 pages in the seed, 33
    in Linux): every CPU warms up to 64 of the range's pages, then
    ``initiator`` unmaps the range; repeated ``repeats`` times per size, with
    ``gap_cycles`` between rounds."""
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):
        raise TypeError(f"sizes must be a sequence of page counts, got {sizes!r}")
    sizes = tuple(_check_int("sizes[]", s, 1, 1 << 20) for s in sizes)
    if not sizes:
        raise ValueError("sizes must name at least one range size")
    repeats = _check_int("repeats", repeats, 1, 10_000)
    initiator = _check_int("initiator", initiator, 0, 1023)
    gap_cycles = _check_cycles("gap_cycles", gap_cycles)
    think_cycles = _check_cycles("think_cycles", think_cycles)
    return Workload("big_unmap", dict(sizes=sizes, repeats=repeats, initiator=initiator,
                                      gap_cycles=gap_cycles, think_cycles=think_cycles),
                    _build_big, size=_size_big)


def _build_irq_off(cpus, rng, vm_pages, unmaps, irq_off_cpus, irq_off_cycles,
                   working_set_pages, think_cycles, initiator, gap_cycles):
    if initiator >= cpus:
        raise ValueError(f"initiator must be a CPU in 0..{cpus - 1}, got {initiator}")
    ws = min(working_set_pages, vm_pages)
    n_off = min(irq_off_cpus, cpus - 1)
    off = [c for c in range(cpus) if c != initiator][:n_off]
    round_cycles = gap_cycles
    page = rng.integers(0, ws, size=unmaps)  # one page per round, for all CPUs
    ones = np.ones(unmaps, dtype=np.int64)

    def rounds(*ops):
        """One (kind, vpn, pages, think) pattern: ``ops`` per round, in order."""
        return tuple(np.stack([np.broadcast_to(op[i], unmaps) for op in ops], axis=1).ravel()
                     for i in range(4))

    # every CPU touches the page that this round will unmap, then:
    touch = (OP_ACCESS * ones, page, ones, think_cycles * ones)
    patterns = [
        # the initiator unmaps it
        rounds(touch, (OP_UNMAP * ones, page, ones, round_cycles * ones)),
        # the irq_off CPUs read it at the end of an interrupts-off section
        rounds(touch, (OP_IRQ_OFF * ones, page, ones, irq_off_cycles * ones),
               (OP_ACCESS * ones, page, ones,
                max(0, round_cycles - irq_off_cycles) * ones)),
        # the others touch it again after the round
        rounds(touch, (OP_ACCESS * ones, page, ones, round_cycles * ones)),
    ]
    role = np.full(cpus, 2)
    role[off] = 1
    role[initiator] = 0
    return _by_role(role, patterns)


def irq_off(unmaps=10, irq_off_cpus=1, irq_off_cycles=100_000, working_set_pages=64,
            think_cycles=50, initiator=0, gap_cycles=400_000):
    """Targets with interrupts disabled for long stretches.

    In each of ``unmaps`` rounds every CPU touches one page; ``initiator``
    unmaps it while ``irq_off_cpus`` other CPUs sit in an interrupts-off
    section of ``irq_off_cycles`` and then touch the page again.  The ACKs
    wait for the section to end; with ``ack_timeout_spins * pause`` shorter
    than it, the seed gives up and the later touch is a violation.
    """
    unmaps = _check_int("unmaps", unmaps, 1, 1_000_000)
    irq_off_cpus = _check_int("irq_off_cpus", irq_off_cpus, 0, 1023)
    irq_off_cycles = _check_cycles("irq_off_cycles", irq_off_cycles, 1)
    working_set_pages = _check_int("working_set_pages", working_set_pages, 1)
    think_cycles = _check_cycles("think_cycles", think_cycles)
    initiator = _check_int("initiator", initiator, 0, 1023)
    gap_cycles = _check_cycles("gap_cycles", gap_cycles)
    return Workload("irq_off", dict(
        unmaps=unmaps, irq_off_cpus=irq_off_cpus, irq_off_cycles=irq_off_cycles,
        working_set_pages=working_set_pages, think_cycles=think_cycles,
        initiator=initiator, gap_cycles=gap_cycles), _build_irq_off,
        size=_size_irq_off)


def _build_ack_race(cpus, rng, vm_pages, offset_cycles, victim_section_cycles,
                    section_cycles, a_cpu, b_cpu):
    if cpus < 3:
        raise ValueError(f"ack_race needs at least 3 CPUs (two initiators and a victim), "
                         f"got cpus={cpus}")
    b_cpu = cpus - 1 if b_cpu is None else b_cpu
    if a_cpu >= cpus or b_cpu >= cpus or a_cpu == b_cpu:
        raise ValueError(f"a_cpu={a_cpu} and b_cpu={b_cpu} must be two different CPUs "
                         f"in 0..{cpus - 1}")
    page_a, page_b = 1, 2
    warm = 1_000
    patterns = [
        # initiator A
        ([OP_ACCESS, OP_ACCESS, OP_UNMAP], [page_a, page_b, page_a], [1, 1, 1],
         [10, warm, 10]),
        # initiator B, a little later
        ([OP_ACCESS, OP_ACCESS, OP_UNMAP], [page_a, page_b, page_b], [1, 1, 1],
         [10, warm + offset_cycles, 10]),
        # victims: an interrupts-off section that reads page B
        ([OP_ACCESS, OP_ACCESS, OP_IRQ_OFF], [page_a, page_b, page_b], [1, 1, 1],
         [10, warm + victim_section_cycles, section_cycles]),
    ]
    role = np.full(cpus, 2)
    role[b_cpu] = 1
    role[a_cpu] = 0
    return _by_role(role, patterns)


def ack_race(offset_cycles=None, victim_section_cycles=None, section_cycles=20_000,
             a_cpu=None, b_cpu=None):
    """The seed's shared-ACK-flag race, deterministic.

    CPU 0 (A) unmaps page 1; the last CPU (B) unmaps page 2 ``offset_cycles``
    later, so B's push reaches a victim (CPUs 1..cpus-2) while the victim's handler
    for A's op is past its drain: the handler's ``ack = true`` then releases
    B before B's op was performed there.  Right after that handler the
    victim enters an interrupts-off section of ``section_cycles`` (starting
    ``victim_section_cycles`` after warm-up) that reads page 2 at its end;
    B's IPI waits for the section, B has already returned, and the read goes
    through the stale translation: a violation.  ``mailbox_fixed`` makes B
    wait for the victim's own performance of its op, so the same read comes
    before the safe time.  B is the last CPU, so A's IPI reaches it last
    and B can push before being interrupted.  Defaults are tuned for the
    default preset with 8 CPUs on one socket; other machines need other
    timings (scan ``offset_cycles`` and ``victim_section_cycles``).
    """
    if offset_cycles is None:
        offset_cycles = ACK_RACE_DEFAULTS["offset_cycles"]
    if victim_section_cycles is None:
        victim_section_cycles = ACK_RACE_DEFAULTS["victim_section_cycles"]
    offset_cycles = _check_cycles("offset_cycles", offset_cycles, 0)
    victim_section_cycles = _check_cycles("victim_section_cycles", victim_section_cycles, 0)
    section_cycles = _check_cycles("section_cycles", section_cycles, 1)
    if a_cpu is None:
        a_cpu = ACK_RACE_DEFAULTS["a_cpu"]
    a_cpu = _check_int("a_cpu", a_cpu, 0, 1023)
    if b_cpu is not None:
        b_cpu = _check_int("b_cpu", b_cpu, 0, 1023)
    return Workload("ack_race", dict(offset_cycles=offset_cycles,
                                     victim_section_cycles=victim_section_cycles,
                                     section_cycles=section_cycles, a_cpu=a_cpu,
                                     b_cpu=b_cpu),
                    _build_ack_race, size=_size_ack_race)


# ---- sizes: Workload.size, from the parameters alone -------------------------------

def _size_single(cpus, pages, **_):
    return cpus * 2 * pages + 1, ARRAY_BYTES, "pages"


def _size_uniform(cpus, accesses, unmap_rate, **_):
    if accesses is None:
        accesses = scaled_default(UNIFORM_ACCESSES, cpus)
    return (cpus * accesses, STREAMED_BYTES + math.ceil(CHANGE_BYTES * unmap_rate),
            "accesses")


def _size_storm(cpus, unmaps, accesses_between, **_):
    if unmaps is None:
        unmaps = scaled_default(STORM_UNMAPS, cpus)
    return (cpus * unmaps * (accesses_between + 1),
            STREAMED_BYTES + math.ceil(CHANGE_BYTES / (accesses_between + 1)),
            "unmaps x (accesses_between + 1)")


def _size_big(cpus, sizes, repeats, **_):
    per_round = sum(min(s, 64) for s in sizes)
    return cpus * repeats * per_round + repeats * len(sizes), ARRAY_BYTES, "sizes x repeats"


def _size_irq_off(cpus, unmaps, **_):
    return cpus * 3 * unmaps, ARRAY_BYTES, "unmaps"


def _size_ack_race(cpus, **_):
    return cpus * 3, ARRAY_BYTES, "cpus"


WORKLOADS = {
    "single": single,
    "uniform": uniform,
    "munmap_storm": munmap_storm,
    "big_unmap": big_unmap,
    "irq_off": irq_off,
    "ack_race": ack_race,
}


def workload_params(name):
    """The keyword parameters of a named workload with their defaults."""
    fn = get_workload(name)
    return {k: p.default for k, p in inspect.signature(fn).parameters.items()}


def get_workload(name):
    if not isinstance(name, str):
        raise TypeError(f"workload must be a name or a tlbwidgets.Workload, got "
                        f"{type(name).__name__}")
    if name not in WORKLOADS:
        raise ValueError(f"workload={name!r} is not a named workload; choose one of "
                         f"{sorted(WORKLOADS)} or pass a tlbwidgets.Workload")
    return WORKLOADS[name]


# The teaching scenarios live in their own module; they are named workloads
# like the generators above.
WORKLOADS.update(_SCENARIOS)
