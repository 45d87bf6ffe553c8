"""Source to put at the top of a test's subprocess script: it records, in the
list ``compiled``, each function numba compiles (not loads from its cache) as
``[module.qualname, [argument types]]``, from numba's compile events."""

import textwrap

__all__ = ["COUNT_COMPILES"]

COUNT_COMPILES = textwrap.dedent("""
    from numba.core import event

    compiled = []

    class _CountCompiles(event.Listener):
        def on_start(self, ev):
            pass

        def on_end(self, ev):
            d = ev.data["dispatcher"]
            compiled.append([d.py_func.__module__ + "." + d.py_func.__qualname__,
                             [str(a) for a in ev.data["args"]]])

    event.register("numba:compile", _CountCompiles())
""")
