"""Schedules: named delays of particular steps of particular CPUs.

A *schedule* perturbs the timing of one run: each :class:`Perturbation`
makes one step of one CPU ``delay_cycles`` longer than its cost says.  The
steps a schedule may delay are durations the model already has:

* ``"ipi"``: the latency of the k-th IPI sent to the CPU;
* ``"handler"``: the entry of the CPU's k-th interrupt handler;
* ``"push"``: the cache-line transfers of the CPU's k-th queue push as an
  initiator (``mailbox``, ``mailbox_fixed``, ``linux``: the protocols that
  push into a per-CPU queue);
* ``"think"``: the think time after the CPU's k-th op (for an ``irq_off`` or
  ``idle`` op: its length);
* ``"irq_off"``: the length of the CPU's k-th interrupts-off section (its
  k-th ``irq_off`` op).

Occurrences count from 0, per CPU, in the order the steps happen in the
perturbed run.  A perturbation whose step never happens (no k-th IPI, a
protocol without pushes) changes nothing.  Pass a schedule to
:func:`tlbwidgets.simulate` as ``schedule=``; :func:`tlbwidgets.search_races`
finds schedules that break a protocol.
"""

import numbers
from collections import namedtuple

import numpy as np

from ._validate import check_int, check_cycles
from .engine import _layout as L

__all__ = ["Perturbation", "STEP_KINDS", "MAX_PERTURBATIONS", "check_schedule",
           "schedule_table", "describe"]

STEP_KINDS = {"ipi": L.SW_IPI, "handler": L.SW_HANDLER, "push": L.SW_PUSH,
              "think": L.SW_THINK, "irq_off": L.SW_IRQ_OFF}
"""Step kind name -> the engine's ``SW_*`` code."""

# A schedule is a handful of perturbations (the engine scans them at every
# delayed kind of step); searches use at most a few.
MAX_PERTURBATIONS = 64

_STEP_WORDS = {"ipi": "IPI's latency", "handler": "handler entry", "push": "push",
               "think": "op's think time", "irq_off": "interrupts-off section"}


class Perturbation(namedtuple("Perturbation", ["cpu", "what", "occurrence", "delay_cycles"])):
    """CPU ``cpu``'s ``occurrence``-th step of kind ``what`` (see
    :data:`STEP_KINDS`) takes ``delay_cycles`` longer."""

    __slots__ = ()

    def describe(self):
        """One sentence, e.g. "CPU 2's 2nd handler entry took 600 cycles longer"."""
        nth = _ordinal(self.occurrence + 1)
        if self.what == "ipi":
            return (f"the {nth} IPI sent to CPU {self.cpu} took {self.delay_cycles:,} "
                    "cycles longer to arrive")
        return (f"CPU {self.cpu}'s {nth} {_STEP_WORDS[self.what]} took "
                f"{self.delay_cycles:,} cycles longer")


def _ordinal(n):
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def describe(schedule):
    """The perturbations of a checked schedule as one sentence each."""
    return [p.describe() for p in schedule]


def check_schedule(schedule, cpus):
    """A schedule in canonical form: a tuple of :class:`Perturbation` sorted
    by (cpu, what, occurrence), or None for ``None`` or an empty schedule.

    Each entry is a :class:`Perturbation` or a sequence ``(cpu, what,
    occurrence, delay_cycles)``: ``0 <= cpu < cpus``, ``what`` one of
    :data:`STEP_KINDS`, ``occurrence >= 0``, ``1 <= delay_cycles <=
    MAX_CYCLES``; no step may be named twice; at most
    :data:`MAX_PERTURBATIONS` entries.  Raises ``TypeError``/``ValueError``
    naming ``schedule``, the entry and what is allowed."""
    if schedule is None:
        return None
    if isinstance(schedule, (str, bytes, dict)) or not hasattr(schedule, "__iter__"):
        raise TypeError(f"schedule must be a sequence of (cpu, what, occurrence, "
                        f"delay_cycles) perturbations, got {schedule!r}")
    out = []
    for i, entry in enumerate(schedule):
        name = f"schedule[{i}]"
        if isinstance(entry, (str, bytes)) or not hasattr(entry, "__len__") or len(entry) != 4:
            raise TypeError(f"{name} must be (cpu, what, occurrence, delay_cycles), "
                            f"got {entry!r}")
        cpu, what, occ, delay = entry
        cpu = check_int(f"{name} cpu", cpu, 0, cpus - 1)
        if not isinstance(what, str) or what not in STEP_KINDS:
            raise ValueError(f"{name} what={what!r} is not a step a schedule can delay; "
                             f"choose one of {list(STEP_KINDS)}")
        occ = check_int(f"{name} occurrence", occ, 0, 2**40)
        delay = check_cycles(f"{name} delay_cycles", delay, 1)
        out.append(Perturbation(cpu, what, occ, delay))
        if len(out) > MAX_PERTURBATIONS:
            raise ValueError(f"schedule has more than {MAX_PERTURBATIONS} perturbations")
    out.sort(key=lambda p: (p.cpu, STEP_KINDS[p.what], p.occurrence))
    for a, b in zip(out, out[1:]):
        if a[:3] == b[:3]:
            raise ValueError(f"schedule names CPU {a.cpu}'s {a.what} #{a.occurrence} twice; "
                             "give each step one delay")
    return tuple(out) or None


def schedule_table(schedule):
    """The engine's table (``Machine.sched``) of a checked schedule."""
    rows = [] if schedule is None else [
        (p.cpu, STEP_KINDS[p.what], p.occurrence, p.delay_cycles) for p in schedule]
    return np.array(rows, dtype=np.int64).reshape(-1, L.N_SC_COLS)
