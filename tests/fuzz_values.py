"""Hypothesis strategies and settings shared by the ``test_fuzz_*`` suites.

Every fuzz test runs a fixed, derandomized budget of examples, so CI is
repeatable and the whole suite stays well under two minutes on two busy
cores; set ``TLBWIDGETS_FUZZ_EXAMPLES`` to run more (for example 2000) when
hunting.
"""

import os
import time

import numpy as np
from hypothesis import HealthCheck, settings, strategies as st

__all__ = ["fuzz_settings", "anything", "numpy_scalars", "huge_ints", "names_in",
           "RUN_SECONDS"]

# A run that passes validation must end (completed, deadlock or event_limit)
# within this wall-clock time, even on a loaded machine.
RUN_SECONDS = 120.0

_SCALE = int(os.environ.get("TLBWIDGETS_FUZZ_EXAMPLES", "0"))


def fuzz_settings(examples):
    """``examples`` derandomized examples (or the environment's budget)."""
    return settings(max_examples=_SCALE or examples, derandomize=True, deadline=None,
                    database=None, suppress_health_check=list(HealthCheck))


# The edges of every integer width the API could see: int64 and uint64 limits,
# past them, and the usual wrap points.
huge_ints = st.sampled_from([
    2**31 - 1, 2**31, 2**32, 2**40, 2**53 + 1, 2**62, 2**63 - 1, 2**63, 2**64 - 1, 2**64,
    2**70, -1, -2**31, -2**63, -2**63 - 1, 10**12, 10**12 + 1, 10**18])

_NUMPY_TYPES = (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
                np.uint64)


@st.composite
def numpy_scalars(draw):
    """A NumPy scalar of a random dtype (integers wrap into their width)."""
    kind = draw(st.sampled_from(["int", "float", "bool"]))
    if kind == "bool":
        return np.bool_(draw(st.booleans()))
    if kind == "float":
        return draw(st.sampled_from([np.float32, np.float64]))(
            draw(st.floats(allow_nan=True, allow_infinity=True, width=32)))
    dtype = draw(st.sampled_from(_NUMPY_TYPES))
    info = np.iinfo(dtype)
    return dtype(draw(st.integers(int(info.min), int(info.max))))


# Values of every type, size and shape.
anything = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 70), st.integers(), huge_ints,
    st.floats(allow_nan=True, allow_infinity=True), numpy_scalars(),
    st.text(max_size=5), st.binary(max_size=3),
    st.lists(st.integers(-3, 2**64), max_size=3).map(tuple),
    st.lists(st.integers(-3, 40), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def names_in(message, names):
    """True if ``message`` names at least one of ``names``."""
    return any(n in message for n in names)


class Timed:
    """``with Timed() as t: ...`` then ``t.seconds``."""

    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0
        return False
