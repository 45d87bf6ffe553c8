"""Argument checks shared by the API, the workloads and the scenarios.

Each returns the value in canonical form or raises ``TypeError`` (wrong
kind) / ``ValueError`` (out of range) naming the parameter, the value and
what is allowed.
"""

import numbers

__all__ = ["check_int", "check_fraction"]


def check_int(name, value, lo, hi=None):
    """An integer (not a bool) in ``[lo, hi]`` (``hi=None``: no upper bound)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    if value < lo or (hi is not None and value > hi):
        rng = f">= {lo}" if hi is None else f"between {lo} and {hi}"
        raise ValueError(f"{name} must be {rng}, got {value}")
    return int(value)


def check_fraction(name, value, what="a probability"):
    """A real number (not a bool) in [0, 1], returned as float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {what} (a number in [0, 1]), got {value!r}")
    if not (0.0 <= float(value) <= 1.0):
        raise ValueError(f"{name} must be {what} in [0, 1], got {value}")
    return float(value)
