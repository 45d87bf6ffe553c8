"""The :class:`Workload` object and the CSR / block helpers its builders use.

A workload is, per CPU, a stream of ops (DESIGN.md section 2).  The named
generators (``tlbwidgets.workloads``) and the teaching scenarios
(``tlbwidgets.scenarios``) both build on this module; neither imports the
other's internals.
"""

import itertools
import numbers
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._validate import check_int as _check_int, MAX_CYCLES, MAX_VM_PAGES
from ._tables import OP_ACCESS, OP_UNMAP, OP_PROTECT, OP_IRQ_OFF, OP_IDLE, OP_NAMES
from .engine._layout import ops_block

__all__ = ["Workload", "OP_TABLE_BYTES", "STREAMED_BYTES", "ARRAY_BYTES", "LIST_BYTES",
           "CHANGE_BYTES", "PAGE_BYTES", "byte_range_pages"]

# Bytes an op costs while a workload is built and simulated (for the memory
# estimate of ``simulate``): the engine's op table (6 int64 columns,
# engine/_layout.py ``N_OP_COLS``), plus the builder's working copies -- none
# kept for streamed blocks, four int64 columns twice over for whole-array
# builders (``_csr_blocks``), four Python lists of ints for the list builders
# (``_csr``).
OP_TABLE_BYTES = 48
STREAMED_BYTES = OP_TABLE_BYTES + 8
ARRAY_BYTES = OP_TABLE_BYTES + 64
LIST_BYTES = OP_TABLE_BYTES + 160
# and each unmap/protect op a row of the engine's shootdown table (23 int64,
# engine/_layout.py ``N_SD_COLS``)
CHANGE_BYTES = 184

# The seed's page size (strat9 arch/x86_64/tlb.rs steps its ranges by 4096).
PAGE_BYTES = 4096


def byte_range_pages(byte_start, byte_len):
    """``(vpn, pages, short)`` of the byte range ``[byte_start, byte_start +
    byte_len)``, ``byte_len >= 1``: its first page, the pages it touches
    (what an unmap really removes, and what ``mailbox_fixed`` flushes: the
    range rounded outward), and how many of those the seed's page count
    ``(end - start) // 4096``, counted from the page of ``start``, leaves
    out at the end (0, 1 or 2).  A range inside one page touches 1 page and
    the seed flushes 0 of it."""
    first = byte_start // PAGE_BYTES
    last = (byte_start + byte_len - 1) // PAGE_BYTES
    pages = last - first + 1
    return first, pages, pages - byte_len // PAGE_BYTES


class Workload:
    """Per-CPU op streams, built lazily for a given machine.

    Attributes: ``name``, ``params`` (the generator's keyword arguments, all
    of them, defaults included, so a run can be reproduced).  Build with
    :meth:`build`; arrays are returned in CSR form (``op_start`` has
    ``cpus + 1`` offsets).  :meth:`build_blocks` gives the same ops a group
    of CPUs at a time, the form ``simulate`` writes into the engine.
    :meth:`size` says how many ops a build makes, before making any.

    Byte ranges: an unmap or protect op may name bytes rather than pages
    (:meth:`from_ops` ``byte_start=`` / ``byte_len=``, or a builder that
    returns a sixth array).  Its ``vpn`` and ``pages`` are then the pages the
    bytes touch, and its *short pages* (``build(..., with_short=True)``) say
    how many of those the seed's rounding down leaves unflushed;
    ``byte_ranges`` keeps a :meth:`from_ops` workload's ``(byte_start,
    byte_len)`` arrays as given (None otherwise), so its echo rebuilds it.
    """

    def __init__(self, name, params, builder=None, arrays=None, cpus=None, size=None,
                 short_pages=None):
        self.name = name
        self.params = dict(params)
        self._builder = builder
        self._arrays = arrays
        self._size = size
        self.cpus = cpus  # fixed CPU count of a from_ops workload, else None
        # with arrays: the short pages of each op (None: every op in whole pages)
        self._short = short_pages
        # from_ops: (byte_start, byte_len) of every op as given, else None
        self.byte_ranges = None

    def size(self, cpus):
        """``(ops, bytes_per_op, what)`` of a build for ``cpus`` CPUs, worked
        out from the parameters alone: at most ``ops`` ops, each costing about
        ``bytes_per_op`` bytes while it is built and held (the engine's op
        table and the builder's working copies); ``what`` names the
        parameters the count grows with.  ``None`` when the builder does not
        say (a Workload made by hand)."""
        if self._arrays is not None:
            return len(self._arrays[1]), OP_TABLE_BYTES, "the ops given"
        if self._size is None:
            return None
        return self._size(cpus, **self.params)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"Workload({self.name}: {args})"

    def build(self, cpus, seed, vm_pages, with_short=False):
        """Return ``(op_start, kind, vpn, pages, think)`` int64 arrays; with
        ``with_short=True`` a sixth, ``short``: per op, the pages at the end
        of a byte-range op that the seed's page count leaves out (see
        :func:`byte_range_pages`), or None when every op is in whole pages.

        Raises ValueError when the workload does not fit the machine (a page
        outside ``vm_pages``, a CPU outside ``cpus``)."""
        spec = self._generate(cpus, seed, vm_pages)
        arrays = spec.assemble() if isinstance(spec, _Blocks) else spec
        short = arrays[5] if len(arrays) == 6 else None
        arrays = arrays[:5]
        self._check_fit(*arrays[1:], vm_pages)
        return (*arrays, short) if with_short else arrays

    def build_blocks(self, cpus, seed, vm_pages, totals=None):
        """The ops of :meth:`build` as ``(op_start, blocks)``, for simulate.

        ``blocks`` yields ``(cpu_lo, cpu_hi, vpn, think, at, at_kind,
        at_pages)`` for consecutive groups of CPUs in CPU order, valid until
        the next block is taken: the layout of
        :func:`tlbwidgets.engine._layout.make_machine_state` (every op an
        access of one page except those listed in ``at``).  The same ops and
        the same errors as :meth:`build` (an error may come while the blocks
        are taken); the large generators make them a group of CPUs at a time,
        so no whole-workload column is ever built, and a worker thread makes
        the next blocks while the caller handles one.

        ``totals``, a dict, receives ``"think_cycles"``: the sum of every
        op's think time (a float), complete once every block was taken --
        summed as the blocks are made, where it costs least -- and
        ``"short_pages"``: the ``short`` array of :meth:`build` (None when
        every op is in whole pages; the block generators make none).
        """
        if totals is not None:
            totals["think_cycles"] = 0.0
            totals["short_pages"] = None
        spec = self._generate(cpus, seed, vm_pages)
        if not isinstance(spec, _Blocks):
            if len(spec) == 6:
                if totals is not None:
                    totals["short_pages"] = spec[5]
                spec = spec[:5]
            self._check_fit(*spec[1:], vm_pages)
            if totals is not None:
                totals["think_cycles"] = float(spec[4].sum(dtype=np.float64))
            return spec[0], [(0, cpus, *ops_block(*spec[1:]))]
        blocks = self._checked(spec.blocks, cpus, seed, vm_pages, totals)
        if spec.op_start[-1] > _BLOCK_OPS:       # more than one block
            blocks = _made_ahead(blocks)
        return spec.op_start, blocks

    def _generate(self, cpus, seed, vm_pages):
        """The builder's output: CSR arrays (five, or six with the short
        pages of byte-range ops) or :class:`_Blocks`."""
        if self._arrays is not None:
            if cpus != self.cpus:
                raise ValueError(f"cpus={cpus} does not match the custom workload, which "
                                 f"was built for cpus={self.cpus}")
            if self._short is not None:
                return (*self._arrays, self._short)
            return self._arrays
        rng = np.random.default_rng(seed)
        return self._builder(cpus=cpus, rng=rng, vm_pages=vm_pages, **self.params)

    def _checked(self, blocks, cpus, seed, vm_pages, totals=None):
        """``blocks``, each checked to fit the machine; a block that may not
        fit is settled by :meth:`build` (which raises the error, worded from
        the whole workload, or finds that everything fits).  Each block's
        think times are added to ``totals["think_cycles"]``."""
        settled = False
        for block in blocks:
            _, _, vpn, think, _, _, at_pages = block
            if totals is not None:
                totals["think_cycles"] += float(think.sum(dtype=np.float64))
            if not settled and not _fits(vpn, at_pages, vm_pages):
                self.build(cpus, seed, vm_pages)
                settled = True
            yield block

    def _check_fit(self, kind, vpn, pages, think, vm_pages):
        """Raise ValueError if a memory op of the CSR arrays touches a page
        outside ``[0, vm_pages)``."""
        if _fits(vpn, pages, vm_pages):
            return
        hi = vpn + np.where(kind == OP_ACCESS, 1, np.maximum(pages, 1))
        mem = ((kind == OP_ACCESS) | (kind == OP_UNMAP) | (kind == OP_PROTECT)
               | ((kind == OP_IRQ_OFF) & (pages > 0)))
        if mem.any() and (vpn[mem].min() < 0 or hi[mem].max() > vm_pages):
            raise ValueError(
                f"workload {self.name!r} touches pages up to {int(hi[mem].max()) - 1} "
                f"but vm_pages={vm_pages}; raise vm_pages or shrink the workload")

    @classmethod
    def from_ops(cls, cpu, kind, vpn, pages, think, cpus=None, name="custom", *,
                 byte_start=None, byte_len=None):
        """A custom workload from equal-length arrays, one entry per op.

        ``cpu``: which CPU runs the op (ops of one CPU run in array order);
        ``kind``: op names ("access", "unmap", "protect", "irq_off", "idle")
        or their integer codes; ``vpn``: first page (``0 <= vpn <
        2**24``, the largest ``vm_pages``); ``pages``: page count (1 for an
        access; an unmap or protect with ``pages <= 0`` is a bad range, which
        the seed turns into a Full flush; ``|pages| <= 2**24``); ``think``:
        cycles after the op (the duration of irq_off and idle ops), ``0 <=
        think <= MAX_CYCLES``.  ``cpus`` defaults to ``max(cpu) + 1``.

        ``byte_start``, ``byte_len`` (both or neither): an unmap or protect
        whose ``byte_len`` is >= 1 names the bytes ``[byte_start, byte_start
        + byte_len)`` instead of whole pages (``byte_len`` 0: the op uses
        ``vpn`` and ``pages``).  The page table change covers every page the
        bytes touch, and so does the flush of every protocol but the seed:
        ``mailbox`` counts ``(end - start) // 4096`` pages from the page of
        ``start``, so a range inside one page flushes nothing and an
        unaligned one misses its last page (docs/model.md, "Byte ranges").
        The op's ``vpn`` and ``pages`` entries are worked out from its bytes:
        give 0 and 0, or the values they come to.

        Raises ``TypeError``/``ValueError`` naming the column, the value and
        what is allowed; every value is checked in its own type, before any
        conversion, so nothing wraps.
        """
        k = _kind_codes(kind)
        n = len(k)
        specs = [("cpu", cpu, 0, 1023), ("vpn", vpn, 0, MAX_VM_PAGES - 1),
                 ("pages", pages, -MAX_VM_PAGES, MAX_VM_PAGES), ("think", think, 0, MAX_CYCLES)]
        if (byte_start is None) != (byte_len is None):
            raise ValueError("byte_start and byte_len go together: give both (one entry "
                             "per op) or neither")
        if byte_start is not None:
            specs += [("byte_start", byte_start, 0, MAX_VM_PAGES * PAGE_BYTES - 1),
                      ("byte_len", byte_len, 0, MAX_VM_PAGES * PAGE_BYTES)]
        cols = {nm: _int_column(nm, arr, lo, hi) for nm, arr, lo, hi in specs}
        for nm, a in cols.items():
            if len(a) != n:
                raise ValueError(f"{nm} has {len(a)} entries but kind has {n}; "
                                 "all arrays must have one entry per op")
        short = _byte_ranges(k, cols) if byte_start is not None else None
        c = cols["cpu"]
        if cpus is None:
            cpus = int(c.max()) + 1 if n else 1
        cpus = _check_int("cpus", cpus, 1, 1024)
        if n and c.max() >= cpus:
            raise ValueError(f"cpu {int(c.max())} is outside 0..{cpus - 1} (cpus={cpus})")
        acc = k == OP_ACCESS
        if n and (cols["pages"][acc] != 1).any():
            raise ValueError("pages must be 1 for access ops (an access touches one page)")
        span = (k == OP_IRQ_OFF) | (k == OP_IDLE)
        if n and (cols["pages"][span] < 0).any():
            raise ValueError("pages must be >= 0 for irq_off and idle ops (pages an "
                             "irq_off section touches at its end; idle ignores it)")
        order = np.argsort(c, kind="stable")
        counts = np.bincount(c, minlength=cpus)
        op_start = np.zeros(cpus + 1, dtype=np.int64)
        op_start[1:] = np.cumsum(counts)
        arrays = (op_start, k[order], cols["vpn"][order], cols["pages"][order],
                  cols["think"][order])
        wl = cls(name, {"ops": n}, arrays=arrays, cpus=cpus,
                 short_pages=None if short is None else short[order])
        # the bytes as given, in op order, so that a run's echo can rebuild them
        wl.byte_ranges = (None if short is None else
                          (cols["byte_start"][order], cols["byte_len"][order]))
        return wl


def _byte_ranges(kind, cols):
    """Check the byte ranges of :meth:`Workload.from_ops` and write their
    pages into ``cols["vpn"]`` and ``cols["pages"]``; returns the short
    pages of every op (0 for ops in whole pages)."""
    start, length = cols["byte_start"], cols["byte_len"]
    short = np.zeros(len(kind), dtype=np.int64)
    ranged = np.flatnonzero(length > 0)
    if not len(ranged):
        return short
    changes = (kind[ranged] == OP_UNMAP) | (kind[ranged] == OP_PROTECT)
    if not changes.all():
        i = int(ranged[np.argmin(changes)])
        raise ValueError(f"byte_len[{i}]={int(length[i]):,} on a {OP_NAMES[kind[i]]} op: "
                         "only unmap and protect ops take a byte range; give byte_len 0 "
                         "for the others")
    limit = MAX_VM_PAGES * PAGE_BYTES
    end = start[ranged] + length[ranged]
    if (end > limit).any():
        i = int(ranged[np.argmax(end)])
        raise ValueError(f"byte_start[{i}] + byte_len[{i}] = {int(end.max()):,} is past the "
                         f"largest address space ({limit:,} bytes, 2**24 pages)")
    for i in ranged.tolist():
        first, npages, miss = byte_range_pages(int(start[i]), int(length[i]))
        for nm, want in (("vpn", first), ("pages", npages)):
            got = int(cols[nm][i])
            if got not in (0, want):
                raise ValueError(
                    f"{nm}[{i}]={got} but bytes [{int(start[i]):,}, "
                    f"{int(start[i]) + int(length[i]):,}) give {nm} {want}: give 0 or {want}")
        cols["vpn"][i], cols["pages"][i], short[i] = first, npages, miss
    return short


def _column(name, values):
    """``values`` as a 1-D array (a list of Python ints too large for int64
    stays an object array, checked value by value)."""
    try:
        a = np.asarray(values)
    except (ValueError, TypeError) as exc:     # ragged nesting, ...
        raise ValueError(f"{name} must be a 1-D sequence, got {values!r:.80}") from exc
    if a.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {a.shape}")
    return a


def _int_column(name, values, lo, hi):
    """An integer column of :meth:`Workload.from_ops` as int64, every value
    in ``[lo, hi]``; compared in its own dtype (or as Python ints), so a
    uint64 or a huge int is reported as given, never wrapped."""
    a = _column(name, values)
    if a.dtype == object:
        bad = [v for v in a.tolist() if isinstance(v, (bool, np.bool_))
               or not isinstance(v, numbers.Integral)]
        if bad:
            raise TypeError(f"{name} must hold integers, got {bad[0]!r} "
                            f"({type(bad[0]).__name__})")
        vals = [int(v) for v in a.tolist()]
        low, high = (min(vals), max(vals)) if vals else (lo, lo)
    elif a.size and (a.dtype == np.bool_ or not np.issubdtype(a.dtype, np.integer)):
        raise TypeError(f"{name} must hold integers, got dtype {a.dtype}")
    else:
        low, high = (int(a.min()), int(a.max())) if a.size else (lo, lo)
    for v in (low, high):
        if not lo <= v <= hi:
            raise ValueError(f"{name} must be between {lo:,} and {hi:,}, got {v:,}")
    return np.array(a.tolist() if a.dtype == object else a, dtype=np.int64)


def _kind_codes(kind):
    """The ``kind`` column of :meth:`Workload.from_ops` as int64 op codes:
    each entry an op name or an integer code (never a bool or a float)."""
    k = _column("kind", kind)
    if not k.size:
        return np.zeros(0, dtype=np.int64)
    if k.dtype.kind in "iu":
        lo, hi = int(k.min()), int(k.max())
        if lo < 0 or hi >= len(OP_NAMES):
            raise ValueError(f"kind codes must be in 0..{len(OP_NAMES) - 1} "
                             f"({list(OP_NAMES)}), got {lo if lo < 0 else hi}")
        return k.astype(np.int64)
    codes = []
    values = k.tolist()
    for x in values:
        if isinstance(x, str):
            if x not in OP_NAMES:
                unknown = sorted({y for y in values if isinstance(y, str)} - set(OP_NAMES))
                raise ValueError(f"kind has unknown op name(s) {unknown}; "
                                 f"allowed: {list(OP_NAMES)}")
            codes.append(OP_NAMES.index(x))
        elif isinstance(x, numbers.Integral) and not isinstance(x, (bool, np.bool_)):
            if not 0 <= x < len(OP_NAMES):
                raise ValueError(f"kind codes must be in 0..{len(OP_NAMES) - 1} "
                                 f"({list(OP_NAMES)}), got {x}")
            codes.append(int(x))
        else:
            raise TypeError(f"kind must hold op names {list(OP_NAMES)} or their integer "
                            f"codes, got {x!r} ({type(x).__name__})")
    return np.array(codes, dtype=np.int64)


def _fits(vpn, pages, vm_pages):
    """A cheap sufficient test that ops fit the machine: every op's range
    ``[vpn, vpn + max(pages, 1))`` inside it, in Python ints (no overflow);
    ``pages`` may list only the ops of more than one page.  False only means
    "check exactly"."""
    if not len(vpn):
        return True
    widest = max(int(pages.max()), 1) if len(pages) else 1
    return int(vpn.min()) >= 0 and int(vpn.max()) + widest <= vm_pages


class _Blocks:
    """A builder's ops made a group of CPUs at a time: ``op_start`` (CSR
    offsets, known up front) and ``blocks`` (a one-shot iterator, see
    :meth:`Workload.build_blocks`).  A block's arrays stay valid while the
    next ``_BLOCKS_AHEAD`` blocks are made (a generator that reuses its
    arrays cycles through ``_BLOCKS_AHEAD + 1`` sets), so that
    :func:`_made_ahead` can make them early."""

    def __init__(self, op_start, blocks):
        self.op_start = op_start
        self.blocks = blocks

    def assemble(self):
        """All the blocks as CSR ``(op_start, kind, vpn, pages, think)``."""
        nops = int(self.op_start[-1])
        kind = np.full(nops, OP_ACCESS, dtype=np.int64)
        vpn = np.empty(nops, dtype=np.int64)
        pages = np.ones(nops, dtype=np.int64)
        think = np.empty(nops, dtype=np.int64)
        for c_lo, c_hi, v, t, at, at_kind, at_pages in self.blocks:
            lo, hi = self.op_start[c_lo], self.op_start[c_hi]
            vpn[lo:hi] = v
            think[lo:hi] = t
            kind[lo + at] = at_kind
            pages[lo + at] = at_pages
        return self.op_start, kind, vpn, pages, think


# Ops per block of the large generators: a block's arrays stay in cache
# until simulate has copied them into the engine's op table.
_BLOCK_OPS = 65536
# Blocks the worker of _made_ahead may make beyond the one the caller holds:
# with two, the worker always has the next block to make when it finishes
# one (making is slower than copying), instead of waiting for the caller to
# take a block and hand it the next (about 0.15 ms a block).
_BLOCKS_AHEAD = 2


def _made_ahead(blocks):
    """The items of ``blocks``, made in a worker thread that starts at once
    and stays up to ``_BLOCKS_AHEAD`` items ahead of the one the caller
    handles.

    The generators spend their time in NumPy's random fills and the caller
    in jitted copies, both without the GIL, so on two free cores the making
    and the copying overlap (and so does whatever the caller does before it
    takes the first item).  The items, their order and any error raised are
    those of ``blocks``; ``blocks`` is only ever advanced by the one worker,
    one item at a time, and the item after the next ``_BLOCKS_AHEAD`` only
    once the caller has taken the next (so an item must stay valid while
    ``_BLOCKS_AHEAD`` more are made: _Blocks)."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tlbwidgets-blocks")
    pending = deque(pool.submit(next, blocks, None) for _ in range(_BLOCKS_AHEAD))
    return _taken(pool, pending, blocks)


def _taken(pool, pending, blocks):
    """The results of the ``pending`` futures of :func:`_made_ahead`, one
    more asked of ``pool`` as each is taken; the pool is shut down when the
    caller stops (after the items, an error, or giving up)."""
    try:
        while True:
            block = pending.popleft().result()
            if block is None:
                return
            pending.append(pool.submit(next, blocks, None))
            yield block
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _csr(per_cpu):
    """Concatenate per-CPU (kind, vpn, pages, think) lists into CSR arrays."""
    counts = [len(p[0]) for p in per_cpu]
    total = sum(counts)
    op_start = np.zeros(len(per_cpu) + 1, dtype=np.int64)
    op_start[1:] = np.cumsum(counts)
    # one pass over all the CPUs' values per column, not one array per CPU
    cat = [np.fromiter(itertools.chain.from_iterable(p[i] for p in per_cpu),
                       dtype=np.int64, count=total) for i in range(4)]
    return (op_start, *cat)


def _csr_blocks(blocks):
    """CSR arrays from blocks of consecutive CPUs, in CPU order.

    Each block is (kind, vpn, pages, think): 2-D arrays with one row per CPU
    of the block (every CPU of a block runs the same number of ops)."""
    counts = np.concatenate([np.full(len(b[0]), b[0].shape[1], dtype=np.int64)
                             for b in blocks])
    op_start = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=op_start[1:])
    cat = [np.concatenate([np.asarray(b[i], dtype=np.int64).ravel() for b in blocks])
           for i in range(4)]
    return (op_start, *cat)


def _by_role(role, patterns):
    """CSR arrays for CPUs that each run one of a few op patterns.

    ``role[c]`` indexes ``patterns``, a list of (kind, vpn, pages, think)
    sequences; runs of CPUs with the same role become one block."""
    role = np.asarray(role)
    cuts = np.flatnonzero(np.diff(role)) + 1
    blocks = []
    for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(role)]):
        pattern = patterns[role[lo]]
        blocks.append(tuple(np.broadcast_to(np.asarray(col, dtype=np.int64),
                                            (hi - lo, len(col))) for col in pattern))
    return _csr_blocks(blocks)
