"""Borrowed views: arrays without a reference count, for inside one run.

numba reference-counts every array it passes to a call (two atomic
operations per array per call), which made the engine's small helpers cost
more than their work.  Inside ``run`` the state and machine arrays are owned
by the caller for the whole run, so the loop works on *borrowed* views whose
meminfo is NULL: same data, same shape, no counting.  Interpreted
(``NUMBA_DISABLE_JIT=1``) there is nothing to borrow and ``borrow`` returns
its argument.
"""

import numba
from numba.core import cgutils
from numba.extending import intrinsic

from .._jit import jit
from ._layout import State, Machine

__all__ = ["borrow_state", "borrow_machine"]


@intrinsic
def _borrow_intrinsic(typingctx, arr):
    sig = arr(arr)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        src = context.make_array(aryty)(context, builder, value=args[0])
        out = context.make_array(aryty)(context, builder)
        for field in ("data", "shape", "strides", "itemsize", "nitems"):
            setattr(out, field, getattr(src, field))
        out.meminfo = cgutils.get_null_value(out.meminfo.type)
        out.parent = cgutils.get_null_value(out.parent.type)
        return out._getvalue()

    return sig, codegen


if numba.config.DISABLE_JIT:
    def borrow(arr):
        return arr
else:
    borrow = _borrow_intrinsic


@jit
def borrow_state(s):
    return State(borrow(s.counters), borrow(s.cpu), borrow(s.pair), borrow(s.q),
                 borrow(s.tlb), borrow(s.pte), borrow(s.hp), borrow(s.sd), borrow(s.dv),
                 borrow(s.wn), borrow(s.vi), borrow(s.ev))


@jit
def borrow_machine(m):
    return Machine(borrow(m.params), borrow(m.costs), borrow(m.topo), borrow(m.op_start),
                   borrow(m.ops))
