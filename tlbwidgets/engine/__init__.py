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

__all__ = ["run_engine", "Machine", "State", "make_machine", "make_state",
           "make_machine_state", "PROTO_IDS"]


def run_engine(state, machine):
    """Play the simulation in place with the engine compiled for the
    machine's protocol (the first run of a protocol compiles it)."""
    run(state, machine, PROTOCOL_STEPS[int(machine.params[P_PROTO])])
