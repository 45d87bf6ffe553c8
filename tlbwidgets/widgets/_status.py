"""The status line every view shows: compiling, running, done or error.

Errors are caught here and shown as a message in the widget, so a bad
combination never prints a traceback into the notebook and the charts keep
showing the last good run.
"""

import html
import sys
import time
import traceback

import ipywidgets as widgets
from traitlets import Enum, Unicode

__all__ = ["StatusBar", "simulator_compiled"]

_COLORS = {"idle": "#555555", "compiling": "#0072B2", "running": "#0072B2",
           "ok": "#009E73", "error": "#D55E00"}


def simulator_compiled():
    """True when the engine's jitted kernels already hold compiled code.

    Read-only introspection of numba dispatchers in the loaded engine modules.
    With ``NUMBA_DISABLE_JIT=1`` (no dispatchers) it answers True: nothing will
    compile.  Used only to choose between "compiling…" and "running…".
    """
    dispatchers = []
    for name, mod in list(sys.modules.items()):
        if not name.startswith("tlbwidgets.") or mod is None or name.startswith("tlbwidgets.widgets"):
            continue
        for value in vars(mod).values():
            if hasattr(value, "signatures") and hasattr(value, "py_func"):
                dispatchers.append(value)
    if not dispatchers:
        return True
    return any(len(d.signatures) for d in dispatchers)


class StatusBar(widgets.HTML):
    """One line saying what the view is doing; errors stay until the next success."""

    kind = Enum(("idle", "compiling", "running", "ok", "error"), default_value="idle",
                help="What the view is doing now.")
    message = Unicode("", help="The text shown (plain text, escaped when drawn).")
    detail = Unicode("", help="Traceback of the last unexpected error, for instructors.")

    def show(self, kind, message):
        """Display ``message`` in the colour of ``kind``."""
        self.kind = kind
        self.message = message
        icon = {"compiling": "⏳ ", "running": "⏳ ", "error": "⚠ ", "ok": "✓ "}.get(kind, "")
        self.value = (f'<span style="color:{_COLORS[kind]};font-size:13px">'
                      f'{icon}{html.escape(message)}</span>')

    def guarded(self, busy_message, fn, *args, **kwargs):
        """Run ``fn`` showing a busy state; return ``(ok, value_or_None)``.

        Shows "compiling the simulator…" instead of ``busy_message`` when the
        engine has not been compiled yet in this kernel.  ValueError and
        TypeError (bad input) show their message; any other exception shows
        its type and message and keeps the traceback in ``detail``.
        """
        if simulator_compiled():
            self.show("running", busy_message)
        else:
            self.show("compiling", "compiling the simulator… (first run in this kernel, "
                                   "this takes a while once)")
        t0 = time.perf_counter()
        try:
            value = fn(*args, **kwargs)
        except (ValueError, TypeError) as exc:
            self.show("error", f"{exc} — the charts still show the last good run.")
            return False, None
        except Exception as exc:  # noqa: BLE001 - the learner must never see a traceback
            self.detail = traceback.format_exc()
            self.show("error", f"{type(exc).__name__}: {exc} — the charts still show "
                               f"the last good run.")
            return False, None
        self.show("ok", f"done in {time.perf_counter() - t0:.2f} s")
        return True, value
