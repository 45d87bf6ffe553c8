"""Protocols bound into the engine at compile time.

Each protocol provides four steps (see ``_mailbox.py`` for the reference
implementation):

* ``initiate(s, m, c, t, op)`` -- CPU c starts the shootdown of op at t;
  returns the instant of its next step boundary;
* ``initiator_step(s, m, c, t)`` -- the initiator reaches a step boundary;
* ``handler_step(s, m, c, t)`` -- CPU c's interrupt handler reaches a step;
* ``store(s, m, c, t)`` -- a store by CPU c that pollers observe lands.

and, optionally:

* ``tick(s, m, c, t)`` -- CPU c's scheduler tick event (``EK_TICK``) fires;
* ``switch(s, m, c, t)`` -- CPU c switches: an IDLE op starts or ends
  (called after the mode change; a no-op for protocols without lazy state).

A :class:`Protocol` holds one protocol's steps.  The engine's ``run`` takes
it as an argument whose numba type names the protocol (``Protocol(linux)``),
and calls its steps as methods (``proto.initiate(s, m, c, t, op)``).  Those
calls resolve while ``run`` is typed, so ``run`` compiles one version per
protocol with that protocol's steps called directly, and a run of ``mailbox``
compiles no other protocol's code: dispatching on the protocol id at run
time made every first run compile all six (the other five protocols' modules
were 29% of its compile time, the dispatch layer 6%:
``benchmarks/bench_compile.py --profile``).  Interpreted
(``NUMBA_DISABLE_JIT=1``) the methods are the step functions themselves.

``mailbox`` and ``mailbox_fixed`` share their code (it reads the protocol id
where they differ), so they share one :class:`Protocol` and one compiled
``run``.
"""

from numba.core import types
from numba.core.typing.templates import AttributeTemplate
from numba.extending import (
    NativeValue, infer_getattr, lower_getattr_generic, models, register_model, typeof_impl,
    unbox,
)

from .._jit import jit
from ._layout import PR_MAILBOX, PR_MAILBOX_FIXED, PR_GLOBAL_LOCK, PR_BROADCAST, PR_LATR, PR_LINUX
from ._linux import (
    linux_initiate, linux_initiator_step, linux_handler_step, linux_store, linux_switch,
)
from ._mailbox import (
    mailbox_initiate, mailbox_initiator_step, mailbox_handler_step, mailbox_ack_store,
)
from ._broadcast import broadcast_initiate, broadcast_initiator_step
from ._latr import (
    latr_initiate, latr_initiator_step, latr_handler_step, latr_tick, latr_switch,
)
from ._global_lock import (
    global_lock_initiate, global_lock_initiator_step, global_lock_handler_step,
    global_lock_store,
)

__all__ = ["Protocol", "PROTOCOL_STEPS"]


@jit
def no_step(s, m, c, t):
    """The step of a protocol that has nothing to do at this point."""


class Protocol:
    """One protocol's steps.  ``name`` names its compiled engine."""

    __slots__ = ("name", "initiate", "initiator_step", "handler_step", "store", "tick",
                 "switch")

    def __init__(self, name, initiate, initiator_step, handler_step=no_step, store=no_step,
                 tick=no_step, switch=no_step):
        self.name = name
        self.initiate = initiate
        self.initiator_step = initiator_step
        self.handler_step = handler_step
        self.store = store
        self.tick = tick
        self.switch = switch

    def __repr__(self):
        return f"Protocol({self.name!r})"


_MAILBOX = Protocol("mailbox", mailbox_initiate, mailbox_initiator_step, mailbox_handler_step,
                    mailbox_ack_store)

PROTOCOL_STEPS = {
    PR_MAILBOX: _MAILBOX,
    PR_MAILBOX_FIXED: _MAILBOX,
    PR_LINUX: Protocol("linux", linux_initiate, linux_initiator_step, linux_handler_step,
                       linux_store, switch=linux_switch),
    PR_BROADCAST: Protocol("broadcast", broadcast_initiate, broadcast_initiator_step),
    PR_LATR: Protocol("latr", latr_initiate, latr_initiator_step, latr_handler_step,
                      tick=latr_tick, switch=latr_switch),
    PR_GLOBAL_LOCK: Protocol("global_lock", global_lock_initiate, global_lock_initiator_step,
                             global_lock_handler_step, global_lock_store),
}
"""Protocol id (``PR_*``) -> its steps."""

_BY_NAME = {p.name: p for p in PROTOCOL_STEPS.values()}


# ---- numba: a Protocol is a type that names it, with no run-time value ----------

class ProtocolType(types.Type):
    """numba type of a :class:`Protocol`: one type per protocol, so a
    function that takes one compiles a version per protocol."""

    def __init__(self, protocol):
        self.protocol = protocol
        super().__init__(name=f"Protocol({protocol})")


@typeof_impl.register(Protocol)
def _typeof_protocol(val, c):
    return ProtocolType(val.name)


# The value carries nothing: everything it stands for is in its type.
register_model(ProtocolType)(models.OpaqueModel)


@unbox(ProtocolType)
def _unbox_protocol(typ, obj, c):
    return NativeValue(c.context.get_dummy_value())


@infer_getattr
class _ProtocolSteps(AttributeTemplate):
    """``proto.<step>`` is typed as that protocol's step function itself, so
    ``proto.initiate(s, m, c, t, op)`` compiles to a direct call of it."""

    key = ProtocolType

    def generic_resolve(self, typ, attr):
        if attr in Protocol.__slots__[1:]:
            return types.Dispatcher(getattr(_BY_NAME[typ.protocol], attr))
        return None


@lower_getattr_generic(ProtocolType)
def _lower_step(context, builder, typ, val, attr):
    # A function is a constant: its type says which, its value is empty.
    return context.get_dummy_value()
