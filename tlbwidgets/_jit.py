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
"""

import numba

__all__ = ["jit"]

jit = numba.njit(cache=True, nogil=True, error_model="python")
