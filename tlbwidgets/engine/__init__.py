"""The jitted discrete-event core.  Private: use ``tlbwidgets.simulate``.

``run_engine(state, machine)`` plays a whole simulation in place;
``make_machine_state`` builds both from a workload's blocks (``make_machine`` /
``make_state`` from whole arrays); the layout is documented in ``_layout``.
"""

from ._core import run as run_engine
from ._layout import Machine, State, make_machine, make_state, make_machine_state, PROTO_IDS

__all__ = ["run_engine", "Machine", "State", "make_machine", "make_state",
           "make_machine_state", "PROTO_IDS"]
