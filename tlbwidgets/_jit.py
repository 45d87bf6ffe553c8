"""The one jit policy of tlbwidgets.

Every jitted kernel is decorated with :data:`jit`, so the policy is set here
and nowhere else:

* ``cache=True``: compiled machine code is kept on disk (``__pycache__`` or
  ``NUMBA_CACHE_DIR``), so a new Python process does not recompile; a
  read-only cache is read too, and a read-only install still imports
  (``_cache``).
* ``nogil=True``: a widget's worker thread can run a simulation while the
  kernel's main thread stays responsive.
* no ``fastmath``: results must be bit-identical between runs, between the
  jitted and the interpreted (``NUMBA_DISABLE_JIT=1``) engine.
* ``error_model="python"``: an integer division by zero is a bug in the engine
  and should raise, not return garbage.
* ``_nrt=False``: no numba runtime, so no reference counting.  The engine
  allocates nothing while it runs (Python builds every array beforehand), and
  the counting it would do is pure overhead: it was 14% of a 256-CPU run's
  samples (``perf``), and turning it off took that run from 6.4 s to 4.3 s.
  The price: a jitted function that calls ``np.empty`` or returns a new array
  does not compile -- it fails loudly, at the first call.
* one compiled version per argument *types*, never per constant *value*.
  numba types a constant argument (``log_event(..., EV_PUSH, -1, 0)``, a
  module-level int or a literal in the code) as that very value, and so
  compiles a callee once per combination of constants passed to it: 71 of
  the 182 versions the first ``simulate`` compiled were such copies
  (``log_event`` alone had 37).  :class:`_Dispatcher` types every argument of
  a call between jitted functions by its plain type (``int64``, ``bool``)
  before it compiles the callee.  The machine code is no slower: LLVM still
  sees the constant wherever it inlines the callee.
* ``no_cfunc_wrapper=True``: numba otherwise adds to every function a C
  wrapper that only lets it be passed around as a first-class function
  value, which the engine never does; compiling them was 5-7% of the first
  run's CPU time.
"""

import numba
from numba.core import types
from numba.core.registry import CPUDispatcher

from ._cache import make_cache

__all__ = ["jit"]

_TARGET_OPTIONS = {"nopython": True, "nogil": True, "error_model": "python", "_nrt": False,
                   "no_cfunc_wrapper": True}


class _Dispatcher(CPUDispatcher):
    """numba's CPU dispatcher, compiling a callee for plain argument types."""

    def get_call_template(self, args, kws):
        args = tuple(types.unliteral(a) for a in args)
        kws = {name: types.unliteral(a) for name, a in kws.items()}
        return super().get_call_template(args, kws)

    def enable_caching(self):
        self._cache = make_cache(self.py_func)


def jit(func):
    """Compile ``func`` lazily, at its first call, under the policy above;
    interpreted (``NUMBA_DISABLE_JIT=1``), return ``func`` itself."""
    if numba.config.DISABLE_JIT:
        return func
    dispatcher = _Dispatcher(py_func=func, locals={}, targetoptions=dict(_TARGET_OPTIONS))
    dispatcher.enable_caching()
    return dispatcher
