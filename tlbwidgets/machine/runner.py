"""Timing real TLB shootdowns on this machine (Linux): spinners, mapping, calls.

One *run* measures ``calls`` system calls with a given set of spinner CPUs:

1. one spinner thread per spinner CPU, pinned there, runs the jitted loop of
   :mod:`._spin` on the control page of a private anonymous mapping, so its
   CPU runs this process's mm and every flush of it must reach that CPU;
2. the calling thread, pinned to the measuring CPU, repeats: write the
   target page (a fault brings it in), read the per-CPU TLB shootdown counts,
   time one ``madvise(MADV_DONTNEED)`` (or ``mprotect(PROT_READ)``) of the
   page with ``time.perf_counter_ns``, read the counts again.  The count
   deltas label the call (see :func:`label_calls`).

Spinners read the control page, never the target page: a spinner touching
the discarded page would fault the zero page in after each discard, and the
measuring thread's next write would then need a flush of its own.  Linux
picks the CPUs to interrupt from the mm's cpumask, not from what their TLBs
hold, so holding the mm is what makes a CPU a target.

Guarantees of :func:`run_points`: whatever happens (success, an error,
``KeyboardInterrupt``, the timeout), every spinner is told to stop and is
joined, the calling thread's CPU affinity is restored, and the mapping is
unmapped, before it returns or raises.
"""

import ctypes
import gc
import mmap
import os
import platform
import threading
import time

import numpy as np
import numba

from ._spin import spin, STOP_SLOT, heartbeat_slot
from .procfs import Host, TlbCounter, TLB_LABEL, CALL_LABEL

__all__ = [
    "OPS", "IPI_PROBE", "PAGE_BYTES", "FOREIGN", "AMBIGUOUS", "WARMUP_CALLS",
    "SPINNER_THREAD_PREFIX", "label_calls", "run_points", "compile_spinner", "MeasureTimeout",
]

PAGE_BYTES = mmap.PAGESIZE
OPS = ("madvise", "mprotect")
"""System calls that can be timed: ``madvise(MADV_DONTNEED)`` frees the page
(what ``free`` does in an allocator); ``mprotect(PROT_READ)`` write-protects it."""
IPI_PROBE = "membarrier"
"""The IPI round-trip probe: ``membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)``
sends a function-call IPI to every other CPU running this process and waits
until each has run it (``smp_call_function_many`` with ``wait``, the path a
TLB flush takes, with an empty function instead of the flush).  Its calls
are labelled by the ``CAL:`` line; a call during which a TLB shootdown landed
anywhere, or another CPU took a function call, is foreign."""

# x86-64 system call number and commands of membarrier(2) (linux/membarrier.h).
_NR_MEMBARRIER_X86_64 = 324
_MEMBARRIER_CMD_QUERY = 0
_MEMBARRIER_CMD_PRIVATE_EXPEDITED = 1 << 3
_MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED = 1 << 4

FOREIGN = -1
"""Label of a call during which a CPU that is not a spinner (the measuring CPU
included) handled a shootdown: another process's flush, or one of this
process's other threads; the call says nothing clean and is left out."""
AMBIGUOUS = -2
"""Label of a call during which a spinner CPU handled more than one shootdown."""

WARMUP_CALLS = 20
"""Calls made and dropped at the start of each run (caches, the page's first fault)."""
SPINNER_START_S = 5.0
"""How long spinners may take to start spinning before the run is refused."""
JOIN_S = 5.0
"""How long a stopped spinner may take to end; it needs one loop iteration."""
SPINNER_THREAD_PREFIX = "tlbwidgets-spinner-cpu"

_PROT_READ = 0x1
_PROT_READ_WRITE = 0x3


class MeasureTimeout(RuntimeError):
    """The measurement ran past its ``timeout_s``."""


def label_calls(deltas, spinner_columns):
    """Label each call from its per-CPU shootdown-count deltas.

    ``deltas`` is (calls, cpus): counts after minus counts before the call,
    one column per CPU of the measurement; ``spinner_columns`` are the columns
    of the spinner CPUs.  Returns int16 labels: the number of spinner CPUs
    that handled exactly one shootdown (0 = the call sent no IPI), or
    :data:`FOREIGN` / :data:`AMBIGUOUS`.
    """
    deltas = np.asarray(deltas, dtype=np.int64)
    spinner = np.zeros(deltas.shape[1], dtype=bool)
    spinner[list(spinner_columns)] = True
    labels = np.count_nonzero(deltas[:, spinner] == 1, axis=1).astype(np.int16)
    labels[(deltas[:, spinner] > 1).any(axis=1)] = AMBIGUOUS
    labels[(deltas[:, ~spinner] != 0).any(axis=1)] = FOREIGN
    return labels


class _Mapping:
    """A private anonymous mapping: page 0 is the target page, page 1 the
    spinners' control page.  ``release()`` drops the NumPy views and unmaps."""

    def __init__(self):
        self.mm = mmap.mmap(-1, 2 * PAGE_BYTES, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        words = PAGE_BYTES // 8
        self.target = np.frombuffer(self.mm, dtype=np.int64, count=words, offset=0)
        self.control = np.frombuffer(self.mm, dtype=np.int64, count=words, offset=PAGE_BYTES)
        self.address = self.target.ctypes.data

    def release(self):
        self.target = self.control = None
        try:
            self.mm.close()
        except BufferError:
            gc.collect()         # a traceback frame may still hold a view
            self.mm.close()


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _membarrier():
    """The membarrier(2) system call, registered for private expedited use.
    Raises OSError when this machine does not offer it."""
    if platform.machine() not in ("x86_64", "AMD64"):
        raise OSError(f"the membarrier probe knows the system call number on x86-64 only, "
                      f"this is {platform.machine()!r}")
    syscall = _libc().syscall
    # syscall(number, cmd, flags, cpu_id): declared so that a call builds no
    # ctypes objects inside the timed interval.
    syscall.argtypes = (ctypes.c_long, ctypes.c_int, ctypes.c_uint, ctypes.c_int)
    syscall.restype = ctypes.c_long

    def membarrier(cmd):
        return syscall(_NR_MEMBARRIER_X86_64, cmd, 0, 0)
    supported = membarrier(_MEMBARRIER_CMD_QUERY)
    if supported < 0:
        raise OSError(ctypes.get_errno(), "membarrier(MEMBARRIER_CMD_QUERY) failed")
    if not supported & _MEMBARRIER_CMD_PRIVATE_EXPEDITED:
        raise OSError(f"this kernel's membarrier lacks MEMBARRIER_CMD_PRIVATE_EXPEDITED "
                      f"(supported commands: {supported:#x})")
    if membarrier(_MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) != 0:
        raise OSError(ctypes.get_errno(), "membarrier(REGISTER_PRIVATE_EXPEDITED) failed")
    return membarrier


class _Op:
    """The timed system call and, for mprotect, the untimed undo after it."""

    def __init__(self, name, mapping):
        self.name = name
        self.mapping = mapping
        if name == "mprotect":
            self._mprotect = _libc().mprotect
            self._mprotect.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
            self._mprotect.restype = ctypes.c_int
        elif name == IPI_PROBE:
            self._membarrier = _membarrier()

    @property
    def counter_labels(self):
        """The /proc/interrupts lines that label a call: the spinners' columns
        are those of the first line."""
        return (CALL_LABEL, TLB_LABEL) if self.name == IPI_PROBE else (TLB_LABEL,)

    def timed(self):
        """Run the call once; returns its duration in ns.  Raises OSError."""
        if self.name == IPI_PROBE:
            membarrier, cmd = self._membarrier, _MEMBARRIER_CMD_PRIVATE_EXPEDITED
            t0 = time.perf_counter_ns()
            rc = membarrier(cmd)
            t1 = time.perf_counter_ns()
            if rc != 0:
                raise OSError(ctypes.get_errno(), "membarrier(PRIVATE_EXPEDITED) failed")
        elif self.name == "madvise":
            madvise, dontneed = self.mapping.mm.madvise, mmap.MADV_DONTNEED
            t0 = time.perf_counter_ns()
            madvise(dontneed, 0, PAGE_BYTES)
            t1 = time.perf_counter_ns()
        else:
            mprotect, address = self._mprotect, self.mapping.address
            t0 = time.perf_counter_ns()
            rc = mprotect(address, PAGE_BYTES, _PROT_READ)
            t1 = time.perf_counter_ns()
            if rc != 0:
                raise OSError(ctypes.get_errno(), "mprotect(PROT_READ) failed")
        return t1 - t0

    def undo(self):
        if self.name == "mprotect":
            if self._mprotect(self.mapping.address, PAGE_BYTES, _PROT_READ_WRITE) != 0:
                raise OSError(ctypes.get_errno(), "mprotect(PROT_READ|PROT_WRITE) failed")


class _Spinners:
    """Spinner threads on ``cpus``; ``stop()`` ends and joins them.  ``stuck``
    lists spinners that did not end: their mapping must then stay mapped."""

    def __init__(self, cpus, control):
        self.control = control
        self.errors = {}
        self.threads = []
        self.stuck = []
        control[:] = 0
        for i, cpu in enumerate(cpus):
            t = threading.Thread(target=self._spin, args=(i, cpu),
                                 name=f"{SPINNER_THREAD_PREFIX}{cpu}", daemon=True)
            self.threads.append((cpu, i, t))

    def _spin(self, i, cpu):
        try:
            os.sched_setaffinity(0, {cpu})      # pid 0: this thread only
            if os.sched_getaffinity(0) != {cpu}:
                raise OSError(f"affinity is {os.sched_getaffinity(0)} after asking for {{{cpu}}}")
        except OSError as exc:
            self.errors[cpu] = exc
            return
        spin(self.control, heartbeat_slot(i))

    def start(self, deadline):
        """Start every spinner and wait until each one spins.  Raises
        RuntimeError if one could not be pinned, MeasureTimeout past deadline."""
        for _, _, t in self.threads:
            t.start()
        waiting = list(self.threads)
        while waiting:
            if self.errors:
                cpu, exc = next(iter(self.errors.items()))
                raise RuntimeError(
                    f"could not pin a spinner thread to CPU {cpu} with os.sched_setaffinity "
                    f"({exc}); the process may not be allowed to choose its CPUs (a "
                    f"container's cpuset, a seccomp policy): pass cpus= with CPUs it may use")
            waiting = [w for w in waiting if self.control[heartbeat_slot(w[1])] == 0]
            if waiting and time.monotonic() > deadline:
                raise MeasureTimeout(f"spinner(s) on CPU {[w[0] for w in waiting]} did not "
                                     f"start spinning in time")
            if waiting:
                time.sleep(0.001)

    def stop(self):
        """Tell every spinner to stop and join it; then drop the view of the
        mapping (unless one is stuck, see ``stuck``)."""
        self.control[STOP_SLOT] = 1
        for cpu, _, t in self.threads:
            if t.ident is not None:
                t.join(JOIN_S)
            if t.is_alive():
                self.stuck.append(cpu)
        if not self.stuck:
            self.control = None


def _all_ended(groups):
    """True once every spinner thread of ``groups`` has ended (each was told
    to stop; give each up to JOIN_S more)."""
    threads = [t for g in groups for _, _, t in g.threads if t.ident is not None]
    for t in threads:
        t.join(JOIN_S)
    return not any(t.is_alive() for t in threads)


def _pinned(cpu):
    """Pin the calling thread to ``cpu``; returns its previous affinity."""
    before = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {cpu})
    except OSError as exc:
        raise RuntimeError(f"could not pin the measuring thread to CPU {cpu} with "
                           f"os.sched_setaffinity ({exc}); the process may not be allowed "
                           f"to choose its CPUs: pass cpus= with CPUs it may use") from exc
    return before


def compile_spinner():
    """Compile (or load from numba's cache) the spinner here, once, so that
    spinner threads do not compile it at the same time."""
    stopped = np.zeros(2 * heartbeat_slot(0), dtype=np.int64)
    stopped[STOP_SLOT] = 1
    spin(stopped, heartbeat_slot(0))


def _one_run(op, mapping, counter, spinner_columns, calls, deadline, report):
    """Time ``calls`` calls with the spinners already spinning; returns
    (latency_ns int64[calls], labels int16[calls])."""
    latency_ns = np.empty(calls, dtype=np.int64)
    deltas = np.empty((calls, len(counter.cpus) * len(counter.labels)), dtype=np.int64)
    for i in range(-WARMUP_CALLS, calls):
        if time.monotonic() > deadline:
            raise MeasureTimeout(f"ran out of time after {max(i, 0)} of {calls} calls")
        # Fault the page in (madvise) or dirty it (mprotect).  No local name
        # for the view: a traceback must not keep the mapping exported.
        mapping.target[0] = i
        before = counter.read()
        ns = op.timed()
        after = counter.read()
        op.undo()
        if i >= 0:
            latency_ns[i] = ns
            deltas[i] = after - before
            if report is not None and (i + 1) % 100 == 0:
                report(i + 1)
    return latency_ns, label_calls(deltas, spinner_columns)


def run_points(measuring_cpu, spinner_sets, calls, op, timeout_s, progress=None,
               host=Host()):
    """Measure one run per spinner set; returns a list of (latency_ns, labels).

    ``spinner_sets`` is a list of tuples of CPUs; ``op`` one of :data:`OPS`
    or :data:`IPI_PROBE`; ``progress(done, total, text)`` (optional) is
    called every 100 calls.  Raises RuntimeError (a refusal),
    MeasureTimeout, or what interrupts it, after cleaning up.
    """
    if numba.config.DISABLE_JIT:
        raise RuntimeError("tw.measure needs the JIT: its spinner threads run compiled code "
                           "without the GIL, and NUMBA_DISABLE_JIT=1 is set; unset it")
    deadline = time.monotonic() + timeout_s
    cpus = [measuring_cpu] + sorted({c for s in spinner_sets for c in s})
    column = {c: i for i, c in enumerate(cpus)}
    total = calls * len(spinner_sets)
    compile_spinner()
    results = []
    counter = None
    mapping = None
    groups = []
    previous_affinity = None
    was_gc = gc.isenabled()
    try:
        mapping = _Mapping()
        try:
            op_ = _Op(op, mapping)
            counter = TlbCounter(cpus, host, op_.counter_labels)
            previous_affinity = _pinned(measuring_cpu)
            mapping.target[0] = 1
            op_.timed()
            op_.undo()
        except OSError as exc:
            if op == IPI_PROBE:
                raise RuntimeError(f"membarrier, the IPI probe, is not available ({exc})") \
                    from exc
            raise RuntimeError(f"{op} on an anonymous page failed ({exc}); this kernel or "
                               f"sandbox does not allow it: try op="
                               f"{'mprotect' if op == 'madvise' else 'madvise'!r}") from exc
        gc.disable()             # no collection pauses inside the timed loop
        for n, spinners in enumerate(spinner_sets):
            text = (f"{len(spinners)} target(s)" + (f" (CPU {', '.join(map(str, spinners))})"
                                                    if spinners else ""))
            report = None
            if progress is not None:
                def report(done, base=n * calls, text=text):
                    progress(base + done, total, text)
                progress(n * calls, total, text)
            group = _Spinners(spinners, mapping.control)
            groups.append(group)
            try:
                group.start(deadline)
                results.append(_one_run(op_, mapping, counter,
                                        [column[c] for c in spinners], calls, deadline,
                                        report))
            finally:
                group.stop()
                if group.stuck:
                    raise RuntimeError(f"spinner thread(s) on CPU {group.stuck} did not "
                                       f"stop; the mapping they read is left mapped")
        if progress is not None:
            progress(total, total, "done")
        return results
    finally:
        if was_gc:
            gc.enable()
        if previous_affinity is not None:
            os.sched_setaffinity(0, previous_affinity)
        if counter is not None:
            counter.close()
        # A spinner that did not end still reads the mapping: leave it mapped
        # (a leak) rather than crash the process.  Checked here again because
        # a second interrupt may have cut a stop() short.
        if mapping is not None:
            mapping.control[STOP_SLOT] = 1
            if _all_ended(groups):
                mapping.release()
