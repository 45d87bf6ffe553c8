"""Scenarios that teach one protocol lesson each, deterministically.

Each function validates its parameters and returns a :class:`Workload` spec
(built once the CPU count is known), like the generators of
``tlbwidgets.workloads``; pass it as ``workload=`` to ``simulate``.

* :func:`mutual_wait` -- two initiators spin with interrupts off, each
  waiting for the other: the seed times out and violates, its repair
  reports a deadlock.
* :func:`idle_cpus` -- half the CPUs are idle when the pages are unmapped:
  ``linux`` skips them (lazy TLB mode) and they flush once when they come
  back; ``mailbox`` interrupts every CPU.
* :func:`concurrent_initiators` -- many CPUs unmap at the same instant:
  ``global_lock`` serialises them (latency grows with the number of
  initiators), ``broadcast`` queues them on the fabric only briefly.
* :func:`threshold_edge` -- ranges one page under, at and over a full-flush
  threshold (33 pages in ``linux``, 64 elsewhere).
* :func:`two_unmappers` and :func:`irq_off_window` -- small runs with no
  violation at the default timings, for ``search_races`` to perturb: two
  initiators at the same instant while the other CPUs keep reading their
  pages; an unmap just before another CPU's interrupts-off section.
* :func:`short_range` -- an unmap named in bytes that is shorter than a
  page or not page-aligned: the seed's page count rounds it down and leaves
  stale entries behind (violations); ``mailbox_fixed`` rounds outward.
"""

import numpy as np

from ._tables import OP_ACCESS, OP_UNMAP, OP_IDLE, OP_IRQ_OFF
from ._validate import check_int as _int, check_cycles as _check_cycles, check_fraction
from ._workload import Workload, LIST_BYTES, PAGE_BYTES, byte_range_pages, _csr

__all__ = ["mutual_wait", "idle_cpus", "concurrent_initiators", "threshold_edge",
           "two_unmappers", "irq_off_window", "short_range", "SCENARIOS"]


# ---- idle CPUs ---------------------------------------------------------------------------

def _build_idle(cpus, rng, vm_pages, idle_share, unmaps, idle_cycles, gap_cycles):
    if unmaps > vm_pages:
        raise ValueError(f"unmaps={unmaps} needs vm_pages >= {unmaps}, got {vm_pages}")
    n_idle = int(round((cpus - 1) * idle_share))
    idle = set(range(cpus - n_idle, cpus))
    per_cpu = []
    for c in range(cpus):
        kind, vpn, pages, think = [], [], [], []
        for r in range(unmaps):
            # everybody warms page r, then: CPU 0 unmaps it in the middle of
            # the round while the idle CPUs sit in an idle span.
            kind.append(OP_ACCESS), vpn.append(r), pages.append(1)
            if c == 0:
                think.append(gap_cycles // 2)
                kind.append(OP_UNMAP), vpn.append(r), pages.append(1)
                think.append(gap_cycles // 2 + idle_cycles)
            elif c in idle:
                think.append(1_000)
                kind.append(OP_IDLE), vpn.append(0), pages.append(0)
                think.append(idle_cycles)
                kind.append(OP_ACCESS), vpn.append(r), pages.append(1)
                think.append(gap_cycles)
            else:
                think.append(gap_cycles + idle_cycles)
        per_cpu.append((kind, vpn, pages, think))
    return _csr(per_cpu)


def idle_cpus(idle_share=0.5, unmaps=5, idle_cycles=400_000, gap_cycles=100_000):
    """CPU 0 unmaps one page per round; the last ``idle_share`` of the other
    CPUs spend each round's unmap inside an idle span of ``idle_cycles``
    (``gap_cycles`` separate the rounds).  Every CPU first touches the page,
    and the idle ones touch it again after their idle span.

    Lesson: ``linux`` sends no IPI to the idle (lazy) CPUs -- they flush their
    whole TLB once when they switch back -- while ``mailbox`` interrupts every
    CPU, idle or not.
    """
    idle_share = check_fraction("idle_share", idle_share, what="a share of the CPUs")
    unmaps = _int("unmaps", unmaps, 1, 100_000)
    idle_cycles = _check_cycles("idle_cycles", idle_cycles, 1)
    gap_cycles = _check_cycles("gap_cycles", gap_cycles, 2)
    if idle_cycles <= gap_cycles // 2:
        raise ValueError(f"idle_cycles={idle_cycles} must exceed gap_cycles // 2 = "
                         f"{gap_cycles // 2}, so the unmap falls inside the idle span")
    return Workload("idle_cpus", dict(idle_share=float(idle_share), unmaps=unmaps,
                                      idle_cycles=idle_cycles, gap_cycles=gap_cycles),
                    _build_idle, size=_size_idle)


# ---- concurrent initiators -------------------------------------------------------------

def _build_concurrent(cpus, rng, vm_pages, initiators, rounds, pages, gap_cycles):
    n_init = cpus if initiators is None else min(initiators, cpus)
    if n_init * pages > vm_pages:
        raise ValueError(f"{n_init} initiators x {pages} pages need vm_pages >= "
                         f"{n_init * pages}, got {vm_pages}")
    per_cpu = []
    for c in range(cpus):
        kind, vpn, pages_, think = [], [], [], []
        for _ in range(rounds):
            # touch every initiator's range (so every TLB holds it), then
            # the initiators unmap their own range at about the same instant
            for i in range(n_init):
                for p in range(pages):
                    kind.append(OP_ACCESS), vpn.append(i * pages + p), pages_.append(1)
                    think.append(0)
            think[-1] = 1_000
            if c < n_init:
                kind.append(OP_UNMAP), vpn.append(c * pages), pages_.append(pages)
                think.append(gap_cycles)
            else:
                think[-1] = 1_000 + gap_cycles
        per_cpu.append((kind, vpn, pages_, think))
    return _csr(per_cpu)


def concurrent_initiators(initiators=None, rounds=1, pages=1, gap_cycles=500_000):
    """The first ``initiators`` CPUs (default: all) each unmap their own
    ``pages``-page range at about the same instant, ``rounds`` times; every
    CPU touches every range first.

    Lesson: ``global_lock`` serialises the shootdowns (its latencies spread
    from one shootdown's cost to ``initiators`` times it); the others overlap.
    Only the first round starts aligned: each initiator's next round starts
    ``gap_cycles`` after its own return, so serialised rounds drift apart.
    """
    if initiators is not None:
        initiators = _int("initiators", initiators, 1, 1024)
    rounds = _int("rounds", rounds, 1, 10_000)
    pages = _int("pages", pages, 1, 1 << 16)
    gap_cycles = _check_cycles("gap_cycles", gap_cycles)
    return Workload("concurrent_initiators", dict(initiators=initiators, rounds=rounds,
                                                  pages=pages, gap_cycles=gap_cycles),
                    _build_concurrent, size=_size_concurrent)


# ---- a range around a full-flush threshold ----------------------------------------------

def _build_edge(cpus, rng, vm_pages, threshold, gap_cycles):
    sizes = [threshold - 1, threshold, threshold + 1] if threshold > 1 else [1, 2]
    if max(sizes) > vm_pages:
        raise ValueError(f"a {max(sizes)}-page range needs vm_pages >= {max(sizes)}, "
                         f"got {vm_pages}")
    per_cpu = []
    for c in range(cpus):
        kind, vpn, pages, think = [], [], [], []
        for size in sizes:
            for p in range(size):
                kind.append(OP_ACCESS), vpn.append(p), pages.append(1), think.append(0)
            if c == 0:
                kind.append(OP_UNMAP), vpn.append(0), pages.append(size)
                think.append(gap_cycles)
            else:
                think[-1] = gap_cycles
        per_cpu.append((kind, vpn, pages, think))
    return _csr(per_cpu)


def threshold_edge(threshold=33, gap_cycles=300_000):
    """CPU 0 unmaps ranges of ``threshold - 1``, ``threshold`` and
    ``threshold + 1`` pages (every CPU touches them first).

    Lesson: a protocol whose full-flush threshold is ``threshold`` performs
    the first two as ranges (cost grows with the pages) and the last as one
    full flush (cheaper to perform, but every later access misses).  Use 33
    for ``linux`` and 64 for the others.
    """
    threshold = _int("threshold", threshold, 1, 1 << 16)
    gap_cycles = _check_cycles("gap_cycles", gap_cycles)
    return Workload("threshold_edge", dict(threshold=threshold, gap_cycles=gap_cycles),
                    _build_edge, size=_size_edge)


# ---- two initiators waiting on each other with interrupts off ----------------------

def _build_mutual(cpus, rng, vm_pages, section_cycles):
    if cpus < 2:
        raise ValueError(f"mutual_wait needs at least 2 CPUs (two initiators), got cpus={cpus}")
    if vm_pages < 3:
        raise ValueError(f"mutual_wait uses pages 1 and 2: vm_pages must be >= 3, got {vm_pages}")
    per_cpu = []
    for c in range(cpus):
        kinds = [OP_ACCESS, OP_ACCESS]
        vpns = [1, 2]
        npages = [1, 1]
        thinks = [10, 1000]
        if c in (0, 1):
            mine, theirs = (1, 2) if c == 0 else (2, 1)
            # unmap my page, then -- still in the same interrupts-off section
            # -- read the other initiator's page
            kinds += [OP_UNMAP, OP_IRQ_OFF]
            vpns += [mine, theirs]
            npages += [1, 1]
            thinks += [0, section_cycles]
        per_cpu.append((kinds, vpns, npages, thinks))
    return _csr(per_cpu)


def mutual_wait(section_cycles=30_000):
    """CPUs 0 and 1 unmap pages 1 and 2 at the same instant and then, in the
    same interrupts-off section (``section_cycles`` long), read each other's
    page.  Run it with ``wait_irqs_off=True``: each initiator spins with
    interrupts off waiting for the other's ACK.  The seed gives up after
    ``ack_timeout_spins`` and the reads are violations; ``mailbox_fixed``
    never gives up, so the run ends as a ``deadlock``; with interrupts
    enabled while waiting (the default) both protocols complete cleanly.
    """
    section_cycles = _check_cycles("section_cycles", section_cycles, 1)
    return Workload("mutual_wait", dict(section_cycles=section_cycles), _build_mutual,
                    size=_size_mutual)


# ---- small runs for the schedule search -----------------------------------------------

def _build_two_unmappers(cpus, rng, vm_pages, rounds, think_cycles):
    if cpus < 3:
        raise ValueError(f"two_unmappers needs at least 3 CPUs (two initiators and a "
                         f"reader), got cpus={cpus}")
    if vm_pages < 3:
        raise ValueError(f"two_unmappers uses pages 1 and 2: vm_pages must be >= 3, "
                         f"got {vm_pages}")
    per_cpu = []
    for c in range(cpus):
        # everybody touches both pages; CPUs 0 and 1 then unmap pages 1 and 2
        # at the same instant, while the others keep reading both
        kinds, vpns, npages, thinks = [OP_ACCESS, OP_ACCESS], [1, 2], [1, 1], [1_000, 1_000]
        if c < 2:
            kinds.append(OP_UNMAP), vpns.append(1 + c), npages.append(1)
            thinks.append(1_000)
        else:
            for _ in range(rounds):
                kinds += [OP_ACCESS, OP_ACCESS]
                vpns += [1, 2]
                npages += [1, 1]
                thinks += [think_cycles, think_cycles]
        per_cpu.append((kinds, vpns, npages, thinks))
    return _csr(per_cpu)


def two_unmappers(rounds=40, think_cycles=200):
    """Every CPU touches pages 1 and 2; then CPUs 0 and 1 unmap page 1 and
    page 2 at the same instant while the other CPUs read both pages,
    ``rounds`` times, ``think_cycles`` apart.

    At the default timings no protocol violates (both pushes reach every
    queue before its first drain).  ``search_races`` finds the seed's
    shared-ACK race here by delaying a few steps (docs/model.md, "Searching
    schedules").
    """
    rounds = _int("rounds", rounds, 1, 100_000)
    think_cycles = _check_cycles("think_cycles", think_cycles)
    return Workload("two_unmappers", dict(rounds=rounds, think_cycles=think_cycles),
                    _build_two_unmappers, size=_size_two_unmappers)


def _build_irq_off_window(cpus, rng, vm_pages, lead_cycles, section_cycles):
    if cpus < 2:
        raise ValueError(f"irq_off_window needs at least 2 CPUs, got cpus={cpus}")
    if vm_pages < 2:
        raise ValueError(f"irq_off_window uses page 1: vm_pages must be >= 2, got {vm_pages}")
    per_cpu = []
    for c in range(cpus):
        kinds, vpns, npages, thinks = [OP_ACCESS], [1], [1], [1_000]
        if c == 0:
            # after lead_cycles, an interrupts-off section that reads page 1
            # in its last cycles; then page 1 again
            thinks[0] = lead_cycles
            kinds += [OP_IRQ_OFF, OP_ACCESS]
            vpns += [1, 1]
            npages += [1, 1]
            thinks += [section_cycles, 0]
        elif c == 1:
            kinds.append(OP_UNMAP), vpns.append(1), npages.append(1), thinks.append(0)
        per_cpu.append((kinds, vpns, npages, thinks))
    return _csr(per_cpu)


def irq_off_window(lead_cycles=4_000, section_cycles=20_000):
    """CPU 1 unmaps page 1 about 1,000 cycles in; CPU 0 enters an
    interrupts-off section ``lead_cycles`` in, reads page 1 at its end
    (``section_cycles`` later) and once more after it.

    At the default timings CPU 0 serves the shootdown before its section
    starts; an IPI that arrives later waits for the section's end, and a
    seed whose ``ack_timeout_spins`` x ``pause`` is shorter than the rest of
    the section gives up: the read at its end is a violation.
    """
    lead_cycles = _check_cycles("lead_cycles", lead_cycles)
    section_cycles = _check_cycles("section_cycles", section_cycles, 1)
    return Workload("irq_off_window", dict(lead_cycles=lead_cycles,
                                           section_cycles=section_cycles),
                    _build_irq_off_window, size=_size_irq_off_window)


# ---- an unmap in bytes that the seed rounds down ---------------------------------------

# short_range's pages: the range starts inside page 1; every CPU touches
# pages 1 to SHORT_RANGE_PAGES before and after the unmap.
SHORT_RANGE_PAGES = 3


def _build_short_range(cpus, rng, vm_pages, byte_offset, byte_len, rounds, think_cycles):
    if cpus < 2:
        raise ValueError(f"short_range needs at least 2 CPUs (an initiator and a reader), "
                         f"got cpus={cpus}")
    if vm_pages < SHORT_RANGE_PAGES + 1:
        raise ValueError(f"short_range uses pages 1 to {SHORT_RANGE_PAGES}: vm_pages must "
                         f"be >= {SHORT_RANGE_PAGES + 1}, got {vm_pages}")
    first, pages, short = byte_range_pages(PAGE_BYTES + byte_offset, byte_len)
    reads = list(range(1, SHORT_RANGE_PAGES + 1))
    per_cpu = []
    shorts = []
    for c in range(cpus):
        # everybody touches the pages; CPU 0 unmaps the bytes, then every CPU
        # (CPU 0 too) keeps reading the pages
        kinds, vpns, npages, thinks = ([OP_ACCESS] * len(reads), list(reads),
                                       [1] * len(reads), [1_000] * len(reads))
        miss = [0] * len(reads)
        if c == 0:
            kinds.append(OP_UNMAP), vpns.append(first), npages.append(pages)
            thinks.append(1_000), miss.append(short)
        for _ in range(rounds):
            kinds += [OP_ACCESS] * len(reads)
            vpns += reads
            npages += [1] * len(reads)
            thinks += [think_cycles] * len(reads)
            miss += [0] * len(reads)
        per_cpu.append((kinds, vpns, npages, thinks))
        shorts += miss
    return (*_csr(per_cpu), np.array(shorts, dtype=np.int64))


def short_range(byte_offset=2048, byte_len=4096, rounds=20, think_cycles=1_000):
    """Every CPU touches pages 1 to 3; CPU 0 then unmaps ``byte_len`` bytes
    starting ``byte_offset`` bytes into page 1, and every CPU reads the
    three pages again, ``rounds`` times, ``think_cycles`` apart.

    The unmap removes every page its bytes touch.  The seed (``mailbox``)
    counts ``(end - start) // 4096`` pages from the page of the start: at the
    defaults (4 KiB from the middle of page 1) it flushes page 1 and leaves
    page 2 in every TLB, and the reads of page 2 after it returns are
    violations; a range shorter than a page (``byte_len < 4096``) counts 0
    pages and flushes nothing at all.  ``mailbox_fixed`` (and every other protocol)
    rounds outward and flushes both.
    """
    byte_offset = _int("byte_offset", byte_offset, 0, PAGE_BYTES - 1)
    most = (SHORT_RANGE_PAGES * PAGE_BYTES) - byte_offset
    byte_len = _int("byte_len", byte_len, 1, most)
    rounds = _int("rounds", rounds, 1, 100_000)
    think_cycles = _check_cycles("think_cycles", think_cycles)
    return Workload("short_range", dict(byte_offset=byte_offset, byte_len=byte_len,
                                        rounds=rounds, think_cycles=think_cycles),
                    _build_short_range, size=_size_short_range)


# ---- sizes: Workload.size, from the parameters alone -------------------------------

def _size_idle(cpus, unmaps, **_):
    return cpus * 3 * unmaps, LIST_BYTES, "unmaps"


def _size_concurrent(cpus, initiators, rounds, pages, **_):
    n_init = cpus if initiators is None else min(initiators, cpus)
    return cpus * rounds * (n_init * pages + 1), LIST_BYTES, "rounds x initiators x pages"


def _size_edge(cpus, threshold, **_):
    return cpus * (3 * threshold + 3), LIST_BYTES, "threshold"


def _size_mutual(cpus, **_):
    return cpus * 4, LIST_BYTES, "cpus"


def _size_two_unmappers(cpus, rounds, **_):
    return 6 + max(cpus - 2, 0) * (2 * rounds + 2), LIST_BYTES, "rounds"


def _size_irq_off_window(cpus, **_):
    return cpus + 3, LIST_BYTES, "cpus"


def _size_short_range(cpus, rounds, **_):
    return cpus * SHORT_RANGE_PAGES * (rounds + 1) + 1, LIST_BYTES, "rounds"


SCENARIOS = {
    "mutual_wait": mutual_wait,
    "idle_cpus": idle_cpus,
    "concurrent_initiators": concurrent_initiators,
    "threshold_edge": threshold_edge,
    "two_unmappers": two_unmappers,
    "irq_off_window": irq_off_window,
    "short_range": short_range,
}
