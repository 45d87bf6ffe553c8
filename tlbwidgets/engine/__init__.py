"""The jitted discrete-event core.  Private: use ``tlbwidgets.simulate``.

``run_engine(state, machine)`` plays a whole simulation in place;
``make_machine_state`` builds both from a workload's blocks (``make_machine`` /
``make_state`` from whole arrays); the layout is documented in ``_layout``.
"""

from ._core import run
from ._layout import (
    Machine, State, make_machine, make_state, make_machine_state, PROTO_IDS, P_PROTO,
)
from ._protocols import PROTOCOL_STEPS

__all__ = ["run_engine", "engine_for", "Machine", "State", "make_machine", "make_state",
           "make_machine_state", "PROTO_IDS"]


def run_engine(state, machine):
    """Play the simulation in place with the engine compiled for the
    machine's protocol (the first run of a protocol compiles it)."""
    run(state, machine, PROTOCOL_STEPS[int(machine.params[P_PROTO])])


def engine_for(state, machine):
    """A function ``play(state, machine)`` that does what :func:`run_engine`
    does, for tables of the same types as these (the same protocol), without
    numba's per-call work: typing the two tuples of arrays and looking the
    signature up took about 100 µs a call, most of a small run's time, which
    a search making thousands of runs pays each time.  Compiles (or loads
    from the cache) the engine for these types first if needed; interpreted
    (``NUMBA_DISABLE_JIT=1``) it simply calls ``run``."""
    proto = PROTOCOL_STEPS[int(machine.params[P_PROTO])]
    overloads = getattr(run, "overloads", None)
    if overloads is None:                       # interpreted
        return lambda st, m: run(st, m, proto)
    sig = tuple(run.typeof_pyval(a) for a in (state, machine, proto))
    if sig not in overloads:
        run.compile(sig)
    entry = overloads[sig].entry_point
    return lambda st, m: entry(st, m, proto)
