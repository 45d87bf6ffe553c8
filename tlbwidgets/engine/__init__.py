"""The jitted discrete-event core.  Private: use ``tlbwidgets.simulate``.

``run_engine(machine, state)`` plays a whole simulation in place; the state
layout is documented in ``_layout.make_state``.
"""

from ._core import run as run_engine
from ._layout import Machine, State, make_machine, make_state, PROTO_IDS

__all__ = ["run_engine", "Machine", "State", "make_machine", "make_state", "PROTO_IDS"]
