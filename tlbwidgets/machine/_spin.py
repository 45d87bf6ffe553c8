"""The spinner of a real-machine measurement: a jitted loop that holds a CPU.

A spinner thread keeps its CPU running user code of this process, so Linux
counts the CPU in the process's mm cpumask and does not treat it as lazy: every
TLB flush of the process must reach it with an IPI.  The loop runs without the
GIL (the jit policy's ``nogil``), so it never waits for the measuring thread;
a thread that blocked on the GIL would let its CPU go idle, and an idle CPU is
skipped by the flush (lazy TLB), which is exactly what must not happen.

The loop reads its stop flag from the shared mapping with an atomic load: a
plain load of memory the loop never writes could be hoisted out of the loop by
the compiler, and the spinner would never see the flag.  It stores its
heartbeat (iterations so far) with an atomic store, so the measuring side can
see that it started.
"""

from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .._jit import jit

__all__ = ["spin", "STOP_SLOT", "heartbeat_slot", "SLOT_STRIDE"]

STOP_SLOT = 0
"""Index (in int64 words) of the stop flag in the control array: 0 runs, 1 stops."""

SLOT_STRIDE = 8
"""int64 words between two heartbeats: one 64-byte cache line each, so that
spinners do not bounce a shared line between their CPUs."""


def heartbeat_slot(spinner):
    """Index (in int64 words) of spinner ``spinner``'s heartbeat in the control array."""
    return (spinner + 1) * SLOT_STRIDE


def _element_pointer(context, builder, aryty, ary_value, index_value):
    ary = context.make_array(aryty)(context, builder, ary_value)
    return cgutils.get_item_pointer(context, builder, aryty, ary, [index_value],
                                    wraparound=False)


@intrinsic
def _load_acquire(typingctx, ary, index):
    """``ary[index]`` read with an atomic acquire load (never hoisted)."""
    if not (isinstance(ary, types.Array) and ary.dtype == types.int64
            and isinstance(index, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        ptr = _element_pointer(context, builder, signature.args[0], args[0], args[1])
        return builder.load_atomic(ptr, "acquire", 8)
    return types.int64(ary, index), codegen


@intrinsic
def _store_release(typingctx, ary, index, value):
    """``ary[index] = value`` as an atomic release store (never sunk out of a loop)."""
    if not (isinstance(ary, types.Array) and ary.dtype == types.int64
            and isinstance(index, types.Integer) and value == types.int64):
        return None

    def codegen(context, builder, signature, args):
        ptr = _element_pointer(context, builder, signature.args[0], args[0], args[1])
        builder.store_atomic(args[2], ptr, "release", 8)
        return context.get_dummy_value()
    return types.void(ary, index, value), codegen


@jit
def spin(control, slot):
    """Spin until ``control[STOP_SLOT]`` is non-zero; returns the iterations run.

    ``control`` is a C-contiguous int64 view of the shared mapping.  Every
    iteration reads the stop flag and stores the iteration count at
    ``control[slot]``.  The caller must keep the mapping alive until this
    returns.
    """
    n = 0
    while _load_acquire(control, STOP_SLOT) == 0:
        n += 1
        _store_release(control, slot, n)
    return n
