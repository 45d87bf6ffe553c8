"""Argument checks shared by the API, the workloads and the scenarios.

Each returns the value in canonical form (a Python ``int`` or ``float``,
never a NumPy scalar) or raises ``TypeError`` (wrong kind) / ``ValueError``
(out of range) naming the parameter, the value and what is allowed.

The simulator's limits live here, so every check and ``docs/model.md``
("Limits") quote the same numbers.
"""

import numbers

__all__ = ["check_int", "check_cycles", "check_fraction", "MAX_CYCLES", "MAX_SIM_CYCLES",
           "MAX_VM_PAGES"]

# The largest address space, in 4 KiB pages (64 GiB): the page table is a
# 16-byte row per page.
MAX_VM_PAGES = 1 << 24

# The largest single cycle value the simulator accepts (a cost, a think time,
# a gap, a section, a tick): 10**12 cycles is about 5.5 minutes at 3 GHz,
# far beyond any hardware step, and small enough that a run of them cannot
# overflow the engine's clock (see MAX_SIM_CYCLES).
MAX_CYCLES = 10**12

# The engine keys events by ``time * 4 + priority`` in int64, so simulated
# time must stay below 2**61; runs whose worst case could pass 2**60 cycles
# (about 12 years at 3 GHz) are refused before they start.
MAX_SIM_CYCLES = 2**60


def check_int(name, value, lo, hi=None):
    """An integer (not a bool) in ``[lo, hi]`` (``hi=None``: no upper bound)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    value = int(value)        # a NumPy scalar compares and computes in its own width
    if value < lo or (hi is not None and value > hi):
        rng = f">= {lo}" if hi is None else f"between {lo} and {hi}"
        raise ValueError(f"{name} must be {rng}, got {value}")
    return value


def check_cycles(name, value, lo=0):
    """A cycle count (an integer) in ``[lo, MAX_CYCLES]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer number of cycles, got {value!r} "
                        f"({type(value).__name__})")
    value = int(value)
    if not lo <= value <= MAX_CYCLES:
        raise ValueError(f"{name} must be between {lo} and {MAX_CYCLES:,} cycles (the "
                         f"simulator's largest cycle value), got {value:,}")
    return value


def check_fraction(name, value, what="a probability"):
    """A real number (not a bool) in [0, 1], returned as float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {what} (a number in [0, 1]), got {value!r}")
    if not (0.0 <= float(value) <= 1.0):
        raise ValueError(f"{name} must be {what} in [0, 1], got {value}")
    return float(value)
