"""The status line every view shows: compiling, running, done or error.

While a run compiles the engine (the first run of a protocol on a machine,
tens of seconds) the line says "compiling the engine for <protocol> (first
run on this machine)" above a progress bar that numba's compile events move
(:mod:`tlbwidgets._progress`); a warm cache compiles nothing and shows the
plain busy message.  The bar is only seen if the view is on screen before the
run starts: views run their first simulation after they are displayed
(:class:`DisplayFirst`).

Errors are caught here and shown as a message in the widget, so a bad
combination never prints a traceback into the notebook and the charts keep
showing the last good run.
"""

import html
import time
import threading
import traceback

import ipywidgets as widgets
from traitlets import Enum, Int, Unicode

from .._progress import compile_progress, compiling_message, expected_compiles

__all__ = ["StatusBar", "DisplayFirst"]

_COLORS = {"idle": "#555555", "compiling": "#0072B2", "running": "#0072B2",
           "ok": "#009E73", "error": "#D55E00"}


class StatusBar(widgets.HTML):
    """One line saying what the view is doing; errors stay until the next success."""

    kind = Enum(("idle", "compiling", "running", "ok", "error"), default_value="idle",
                help="What the view is doing now.")
    message = Unicode("", help="The text shown (plain text, escaped when drawn).")
    detail = Unicode("", help="Traceback of the last unexpected error, for instructors.")

    compiled = Int(0, help="Functions compiled so far by the run in progress.")
    expected = Int(0, help="About how many functions the run in progress compiles.")

    def show(self, kind, message):
        """Display ``message`` in the colour of ``kind``."""
        self.kind = kind
        self.message = message
        self._draw()

    def _draw(self):
        kind = self.kind
        icon = {"compiling": "⏳ ", "running": "⏳ ", "error": "⚠ ", "ok": "✓ "}.get(kind, "")
        bar = ""
        if kind == "compiling" and self.expected:
            # Capped below full: the estimate can be a few functions short.
            pct = min(99, 100 * self.compiled // self.expected)
            bar = (f' <progress value="{pct}" max="100" style="width:160px;'
                   f'vertical-align:middle"></progress> {pct}%')
        elif kind == "compiling":       # no estimate (the engine was compiled here)
            bar = f" ({self.compiled} functions compiled)"
        self.value = (f'<span style="color:{_COLORS[kind]};font-size:13px">'
                      f'{icon}{html.escape(self.message)}{bar}</span>')

    def _on_compile(self, protocols, done):
        if self.kind != "compiling":
            self.kind = "compiling"
            self.message = compiling_message(protocols)
        self.compiled = done
        self._draw()

    def guarded(self, busy_message, fn, *args, for_protocols=(), **kwargs):
        """Run ``fn`` showing a busy state; return ``(ok, value_or_None)``.

        ``for_protocols`` names the protocols the run uses: if it compiles
        the engine, the line says "compiling the engine for <them> (first run
        on this machine)" with a progress bar instead of ``busy_message``.
        ValueError and TypeError (bad input) show their message; any other
        exception shows its type and message and keeps the traceback in
        ``detail``.
        """
        protocols = list(for_protocols) or ["the simulator"]
        try:
            self.expected = expected_compiles(for_protocols) if for_protocols else 0
        except (KeyError, ValueError):      # an unknown name: the run reports it
            self.expected = 0
        self.compiled = 0
        self.show("running", busy_message)
        t0 = time.perf_counter()
        try:
            with compile_progress(lambda done: self._on_compile(protocols, done)):
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


class DisplayFirst:
    """Mixin for a view whose first simulation runs after it is displayed.

    Building the view runs nothing; showing it (the notebook or Voila calls
    ``_repr_mimebundle_``) starts the view's ``_first_run`` in a background
    thread, so the view, its status line and its compile progress are on
    screen while the engine compiles and runs.  :meth:`wait` starts the first
    run when nothing has shown the view (a script, a test) and blocks until
    it has ended.  Runs started by the controls meanwhile wait for it
    (``run_lock``), so two runs never draw at once.
    """

    def _init_display_first(self, status, message="starting the first run…"):
        self.run_lock = threading.RLock()
        self._first_thread = None
        self._first_started = threading.Lock()
        if message:
            status.show("running", message)

    def _first_run(self):
        raise NotImplementedError

    def _run_first(self):
        with self.run_lock:
            self._first_run()

    def start(self):
        """Start the first run in a background thread (once; later calls do
        nothing); returns the thread."""
        with self._first_started:
            if self._first_thread is None:
                self._first_thread = threading.Thread(
                    target=self._run_first, name=f"{type(self).__name__} first run",
                    daemon=True)
                self._first_thread.start()
        return self._first_thread

    def wait(self, timeout=None):
        """Block until the first run has ended (starting it if the view has
        not been displayed); True when it has, False after ``timeout``
        seconds.  Returns the view's state as the first run left it: read
        ``status`` for success or the error shown."""
        thread = self.start()
        thread.join(timeout)
        return not thread.is_alive()

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        self.start()
        return bundle
