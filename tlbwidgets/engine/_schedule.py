"""A schedule's perturbations, looked up where the delayed steps happen.

A schedule (``Machine.sched``, ``SC_*`` columns) lists a few steps of
particular CPUs to make longer: the k-th IPI sent to a CPU, its k-th handler
entry, its k-th queue push (``SW_*``).  Each CPU counts its occurrences of
each step as they happen (``SC_N_*`` columns of ``State.cpu``); the step
asks :func:`step_delay` for the cycles to add.  Think-time delays
(``SW_THINK``) are not looked up: they are written into the op table when
the Machine is built (``_layout.apply_think_delays``).

With no schedule (zero rows) every lookup adds 0 and the run is the one it
would be without this module; a schedule has a handful of rows (the search's
bound), so the scan is a few comparisons.
"""

from .._jit import jit
from ._layout import SC_CPU, SC_WHAT, SC_OCC, SC_DELAY

__all__ = ["step_delay"]


@jit
def step_delay(s, m, c, what, count_col):
    """The cycles a schedule adds to CPU c's next step of kind ``what``
    (``SW_*``), whose occurrences CPU c counts in column ``count_col``;
    counts this occurrence."""
    k = s.cpu[c, count_col]
    s.cpu[c, count_col] = k + 1
    sched = m.sched
    delay = 0
    for r in range(sched.shape[0]):
        if sched[r, SC_CPU] == c and sched[r, SC_WHAT] == what and sched[r, SC_OCC] == k:
            delay += sched[r, SC_DELAY]
    return delay
