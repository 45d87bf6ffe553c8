"""Measure your own machine: real TLB shootdowns beside the simulated ones.

>>> m = tw.measure(calls=500)            # doctest: +SKIP
>>> print(m.table())                     # doctest: +SKIP
>>> tw.simulate(cpus=2, protocol="linux", workload="single", costs=m.to_costs())  # doctest: +SKIP

The method, its limits and how to read the result: docs/measure.md.
"""

import datetime
import numbers
import os
import sys
import threading
import time

import numpy as np

from .._validate import check_int
from .measurement import Measurement, Run, SAME_SOCKET, OTHER_SOCKET, MIN_LABELLED_CALLS
from .procfs import Host, machine_facts, socket_of
from .runner import OPS, IPI_PROBE, PAGE_BYTES, WARMUP_CALLS, MeasureTimeout, run_points
from .vmexit import BATCHES, CPUIDS_PER_BATCH, time_cpuid

__all__ = ["measure", "Measurement", "measured_costs", "plan_runs", "OPS"]

_MEASURED = {}
_MEASURED_LOCK = threading.Lock()
# The fitted presets of the measurements taken in this process (name -> Costs).
# This is state of the kernel on purpose: the explorer's costs menu offers what
# was measured here.  It is separate from tw.COST_PRESETS, which never changes.


def measured_costs():
    """Cost presets fitted to measurements taken in this process, by name
    (a copy; ``tw.COST_PRESETS`` is never changed)."""
    with _MEASURED_LOCK:
        return dict(_MEASURED)


def _remember(costs):
    with _MEASURED_LOCK:
        _MEASURED[costs.name] = costs


def plan_runs(cpus, socket):
    """The runs for measuring CPU ``cpus[0]``: (series, spinner CPUs) with 0,
    1, 2, ... spinners on its socket, then 1, 2, ... on the other sockets.

    ``socket`` maps a CPU to its socket id.  Spinners are added in the order
    of ``cpus``.
    """
    home = socket(cpus[0])
    same = [c for c in cpus[1:] if socket(c) == home]
    other = [c for c in cpus[1:] if socket(c) != home]
    runs = [(SAME_SOCKET, tuple(same[:k])) for k in range(len(same) + 1)]
    runs += [(OTHER_SOCKET, tuple(other[:k])) for k in range(1, len(other) + 1)]
    return runs


def _check_cpus(cpus, allowed):
    if cpus is None:
        chosen = sorted(allowed)
    else:
        if isinstance(cpus, (str, bytes)) or not hasattr(cpus, "__iter__"):
            raise TypeError(f"cpus must be a list of CPU numbers (or None for every CPU this "
                            f"process may use), got {cpus!r}")
        chosen = [check_int("cpus[]", c, 0) for c in cpus]
        if len(set(chosen)) != len(chosen):
            raise ValueError(f"cpus={list(cpus)} names a CPU twice")
        bad = sorted(set(chosen) - set(allowed))
        if bad:
            raise ValueError(f"cpus={list(cpus)}: CPU(s) {bad} are not in this process's "
                             f"affinity mask; allowed: {sorted(allowed)}")
    if len(chosen) < 2:
        raise RuntimeError(
            f"tw.measure needs at least 2 usable CPUs (one measures, the others spin), "
            f"and {'cpus=' + str(list(cpus)) + ' names' if cpus is not None else 'this process may use'} "
            f"{len(chosen)}: {chosen}; run it on a machine or container with 2 or more CPUs, "
            f"or load the stored example with tw.Measurement.example()")
    return chosen


_PROGRESS_WIDTH = 79


class _TextProgress:
    """One line on stderr, rewritten in place at most every 0.1 s."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.last_s = 0.0

    def __call__(self, done, total, text):
        now = time.monotonic()
        final = text == "done"
        if not final and now - self.last_s < 0.1:
            return
        self.last_s = now
        width = 30
        filled = width * done // max(total, 1)
        end = "\n" if final else ""
        line = f"measuring [{'#' * filled}{'.' * (width - filled)}] {done}/{total} calls, {text}"
        # Padding, not a terminal escape, clears a longer previous line: the
        # same text reads well in a terminal and in a notebook's output.
        self.stream.write(f"\r{line:<{_PROGRESS_WIDTH}}{end}")
        self.stream.flush()


def _part(progress, base, total, last):
    """``progress`` for one part of a measurement: ``done`` counts from
    ``base`` of ``total``, and only the ``last`` part says "done"."""
    if progress is None:
        return None

    def report(done, _total, text):
        if text != "done" or last:
            progress(base + done, total, text)
    return report


def _probe_run(runs_plan):
    """(series, spinners) of the first one-target run (own socket first), or None."""
    return next(((series, s) for series, s in runs_plan if len(s) == 1), None)


def measure(cpus=None, calls=2000, op="madvise", progress=True, timeout_s=60, probes=True,
            _host=Host()):
    """Time real TLB shootdowns on this machine (Linux, x86) and return a
    :class:`Measurement`.

    For 0, 1, ..., n-1 spinner CPUs (and, with two or more sockets, 1, 2, ...
    on another socket), ``calls`` one-page system calls (``op``:
    ``"madvise"`` or ``"mprotect"``) are timed on ``cpus[0]`` and each is
    labelled by the per-CPU "TLB shootdowns" counts of ``/proc/interrupts``
    (see docs/measure.md).  With ``probes`` (default), two single operations
    are timed too: the IPI round trip (``calls`` ``membarrier`` calls with no
    spinner and with one, labelled by the ``CAL:`` line) and one CPUID (a VM
    exit on a vCPU); a probe this machine cannot run is left out and
    ``Measurement.notes`` says why.

    Parameters: ``cpus`` (CPU numbers, the first one measures; default: every
    CPU this process may use), ``calls`` per run (>= MIN_LABELLED_CALLS),
    ``progress`` (True: a line on stderr; a callable(done, total, text); or
    False), ``timeout_s`` (the whole measurement; past it, RuntimeError).

    Guarantees: every spinner thread is stopped and joined and the mapping is
    unmapped on success, error, KeyboardInterrupt and timeout; the calling
    thread's CPU affinity is restored.  Raises ``ValueError``/``TypeError``
    for bad arguments and ``RuntimeError`` when this machine cannot be
    measured (not Linux, no TLB counter, fewer than 2 usable CPUs, affinity or
    the system call refused), saying what is missing and what to do.  On
    success the fitted costs (``Measurement.to_costs()``, name
    ``"this_machine"``) join :func:`measured_costs`, when the fit succeeds.
    """
    calls = check_int("calls", calls, MIN_LABELLED_CALLS, 1_000_000)
    if op not in OPS:
        raise ValueError(f"op={op!r} is not a timed call; choose one of {list(OPS)}")
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, numbers.Real) \
            or not 0 < timeout_s <= 86_400:
        raise ValueError(f"timeout_s must be a number of seconds in (0, 86400], "
                         f"got {timeout_s!r}")
    if not (isinstance(progress, bool) or callable(progress)):
        raise TypeError(f"progress must be True, False or a callable(done, total, text), "
                        f"got {progress!r}")
    if not isinstance(probes, bool):
        raise TypeError(f"probes must be True or False, got {probes!r}")
    if not _host.platform.startswith("linux"):
        raise RuntimeError(
            f"tw.measure needs Linux (it reads /proc/interrupts and pins threads with "
            f"sched_setaffinity); this is {_host.platform!r}. Run it on a Linux machine, or "
            f"load the stored example with tw.Measurement.example()")
    allowed = os.sched_getaffinity(0)
    chosen = _check_cpus(cpus, allowed)
    runs_plan = plan_runs(chosen, lambda c: socket_of(c, _host))
    report = _TextProgress() if progress is True else (progress or None)
    probe_run = _probe_run(runs_plan) if probes else None
    probe_sets = [(), probe_run[1]] if probe_run is not None else []
    total = calls * (len(runs_plan) + len(probe_sets))
    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.perf_counter()
    notes = []
    ipi_results = []
    vm_exit_ns = np.zeros(0)
    try:
        results = run_points(chosen[0], [s for _, s in runs_plan], calls, op, timeout_s,
                             progress=_part(report, 0, total, not probe_sets), host=_host)
        if probe_sets:
            try:
                ipi_results = run_points(
                    chosen[0], probe_sets, calls, IPI_PROBE,
                    max(timeout_s - (time.perf_counter() - t0), 1e-3),
                    progress=_part(report, calls * len(runs_plan), total, True), host=_host)
            except MeasureTimeout:
                raise
            except RuntimeError as exc:
                notes.append(f"IPI round trip not measured: {exc}")
            try:
                vm_exit_ns = time_cpuid(chosen[0])
            except RuntimeError as exc:
                notes.append(f"CPUID not timed: {exc}")
    except MeasureTimeout as exc:
        raise MeasureTimeout(
            f"tw.measure stopped at timeout_s={timeout_s} ({exc}; {len(runs_plan)} runs of "
            f"{calls} calls were planned{', and the probes' if probe_sets else ''}): pass "
            f"fewer cpus or calls, or a larger timeout_s") from None
    seconds = time.perf_counter() - t0
    runs = tuple(Run(series, spinners, latency, labels)
                 for (series, spinners), (latency, labels) in zip(runs_plan, results))
    method = {
        "op": op, "calls": calls, "warmup_calls": WARMUP_CALLS, "page_bytes": PAGE_BYTES,
        "measuring_cpu": chosen[0], "cpus": chosen, "timeout_s": float(timeout_s),
        "clock": "time.perf_counter_ns (CLOCK_MONOTONIC)",
        "counter": "per-CPU 'TLB:' line of /proc/interrupts, read before and after each call",
        "spinner": "one thread per target CPU, pinned, a jitted nogil loop reading the "
                   "mapping's control page",
        "min_labelled_calls": MIN_LABELLED_CALLS,
    }
    if probes:
        method.update({
            "ipi_probe": "membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED), calls labelled by the "
                         "'CAL:' line, a TLB shootdown anywhere makes a call foreign",
            "cpuid_batches": BATCHES, "cpuids_per_batch": CPUIDS_PER_BATCH,
        })
    ipi_runs = tuple(Run(probe_run[0], spinners, latency, labels)
                     for spinners, (latency, labels) in zip(probe_sets, ipi_results))
    m = Measurement(machine=machine_facts(_host), method=method, runs=runs,
                    started=started.isoformat(timespec="seconds"), seconds=round(seconds, 3),
                    notes=tuple(notes), ipi_runs=ipi_runs, vm_exit_ns=vm_exit_ns)
    try:
        _remember(m.to_costs())
    except RuntimeError:
        pass            # too few labelled calls: nothing to offer the explorer
    return m
