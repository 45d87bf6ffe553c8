"""The one jit policy of tlbwidgets.

Every jitted kernel is decorated with :data:`jit`, so the policy is set here
and nowhere else:

* ``cache=True``: compiled machine code is kept on disk (``__pycache__`` or
  ``NUMBA_CACHE_DIR``), so a new Python process does not recompile.
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
"""

import numba

__all__ = ["jit"]

jit = numba.njit(cache=True, nogil=True, error_model="python", _nrt=False)
