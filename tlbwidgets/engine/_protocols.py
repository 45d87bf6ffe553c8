"""Protocol dispatch: the one place that maps a protocol id to its code.

Each protocol provides four entry points (see ``_mailbox.py`` for the
reference implementation):

* ``initiate(s, m, c, t, op)`` -- CPU c starts the shootdown of op at t;
  returns the instant of its next step boundary;
* ``initiator_step(s, m, c, t)`` -- the initiator reaches a step boundary;
* ``handler_step(s, m, c, t)`` -- CPU c's interrupt handler reaches a step;
* ``store(s, m, c, t)`` -- a store by CPU c that pollers observe lands.

and, optionally:

* ``tick(s, m, c, t)`` -- CPU c's scheduler tick event (``EK_TICK``) fires;
* ``switch(s, m, c, t)`` -- CPU c switches: an IDLE op starts or ends
  (called after the mode change; a no-op for protocols without lazy state).
"""

from .._jit import jit
from ._layout import (
    P_PROTO, PR_MAILBOX, PR_MAILBOX_FIXED, PR_GLOBAL_LOCK, PR_BROADCAST, PR_LATR, PR_LINUX,
)
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

__all__ = ["proto_initiate", "proto_initiator_step", "proto_handler_step", "proto_store",
           "proto_tick", "proto_switch"]


@jit
def proto_initiate(s, m, c, t, op):
    proto = m.params[P_PROTO]
    if proto == PR_MAILBOX or proto == PR_MAILBOX_FIXED:
        return mailbox_initiate(s, m, c, t, op)
    if proto == PR_GLOBAL_LOCK:
        return global_lock_initiate(s, m, c, t, op)
    if proto == PR_BROADCAST:
        return broadcast_initiate(s, m, c, t, op)
    if proto == PR_LATR:
        return latr_initiate(s, m, c, t, op)
    if proto == PR_LINUX:
        return linux_initiate(s, m, c, t, op)
    raise RuntimeError("protocol not implemented in the engine")


@jit
def proto_initiator_step(s, m, c, t):
    proto = m.params[P_PROTO]
    if proto == PR_MAILBOX or proto == PR_MAILBOX_FIXED:
        mailbox_initiator_step(s, m, c, t)
    elif proto == PR_GLOBAL_LOCK:
        global_lock_initiator_step(s, m, c, t)
    elif proto == PR_BROADCAST:
        broadcast_initiator_step(s, m, c, t)
    elif proto == PR_LATR:
        latr_initiator_step(s, m, c, t)
    elif proto == PR_LINUX:
        linux_initiator_step(s, m, c, t)


@jit
def proto_handler_step(s, m, c, t):
    proto = m.params[P_PROTO]
    if proto == PR_MAILBOX or proto == PR_MAILBOX_FIXED:
        mailbox_handler_step(s, m, c, t)
    elif proto == PR_GLOBAL_LOCK:
        global_lock_handler_step(s, m, c, t)
    elif proto == PR_LATR:
        latr_handler_step(s, m, c, t)
    elif proto == PR_LINUX:
        linux_handler_step(s, m, c, t)


@jit
def proto_store(s, m, c, t):
    proto = m.params[P_PROTO]
    if proto == PR_MAILBOX or proto == PR_MAILBOX_FIXED:
        mailbox_ack_store(s, m, c, t)
    elif proto == PR_GLOBAL_LOCK:
        global_lock_store(s, m, c, t)
    elif proto == PR_LINUX:
        linux_store(s, m, c, t)


@jit
def proto_tick(s, m, c, t):
    if m.params[P_PROTO] == PR_LATR:
        latr_tick(s, m, c, t)


@jit
def proto_switch(s, m, c, t):
    proto = m.params[P_PROTO]
    if proto == PR_LATR:
        latr_switch(s, m, c, t)
    elif proto == PR_LINUX:
        linux_switch(s, m, c, t)
