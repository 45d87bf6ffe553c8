"""What a first run is doing while numba compiles the engine.

The first run of a protocol on a machine compiles its engine (15-60 s,
docs/performance.md); later runs load it from numba's on-disk cache in about
a second.  :func:`compile_progress` listens to numba's compile events
(``numba.core.event``, kind ``"numba:compile"``), which fire once per function
*compiled* and never for one loaded from the cache, so a warm start reports
nothing and a cold one reports each function as it is done.

:func:`expected_compiles` says how many functions a first run compiles, from
the per-protocol counts measured in tests/test_jit_compiles.py; it is an
estimate for a progress bar (a workload's generator or a helper compiled
earlier changes it by a few), so callers cap their bar below 100% until the
run returns.
"""

import contextlib
import sys
import time

__all__ = ["compile_progress", "expected_compiles", "compiling_message",
           "CliCompileLine", "FIRST_RUN_COMPILES"]

FIRST_RUN_COMPILES = {"mailbox": 85, "mailbox_fixed": 0, "linux": 14, "broadcast": 9,
                      "latr": 15, "global_lock": 13}
"""Functions each protocol's first run compiles from an empty cache, after the
protocols before it in ``tw.PROTOCOLS`` (so ``mailbox``'s figure is the shared
core, its engine's steps and the uniform workload's generator, and the others
add their own steps).  Measured: tests/test_jit_compiles.py fails when a count
grows past its figure or falls far below it (the progress bar would lie)."""

_SHARED_COMPILES = FIRST_RUN_COMPILES["mailbox"]


def expected_compiles(protocols):
    """About how many functions running ``protocols`` compiles in this
    process from an empty cache (0 when all of them are compiled here)."""
    from .warm import _compiled_here
    todo = [p for p in dict.fromkeys(protocols) if not _compiled_here(p)]
    if not todo:
        return 0
    shared = 0 if any(_compiled_here(p) for p in protocols) else _SHARED_COMPILES
    extra = {p: n for p, n in FIRST_RUN_COMPILES.items() if p != "mailbox"}
    return max(1, shared + sum(extra.get(p, 15) for p in todo))


def compiling_message(protocols):
    """The words a learner reads while the engine compiles."""
    return (f"compiling the engine for {' and '.join(dict.fromkeys(protocols))} "
            f"(first run on this machine)")


@contextlib.contextmanager
def compile_progress(on_compile):
    """Call ``on_compile(done)`` each time numba starts (``done`` functions
    finished so far, first call with 0) and finishes (``done`` counted) a
    function while the block runs.  Called in the compiling thread.  Without
    numba's event API (or with the JIT disabled) it calls nothing."""
    try:
        from numba.core import event
    except ImportError:             # no event API: nothing to report
        yield
        return
    done = 0

    class _Listener(event.Listener):
        def on_start(self, ev):
            on_compile(done)

        def on_end(self, ev):
            nonlocal done
            done += 1
            on_compile(done)

    with event.install_listener("numba:compile", _Listener()):
        yield


class CliCompileLine:
    """One progress line on ``stream`` (stderr) while a command's first run
    compiles: rewritten in place on a terminal (at most every
    ``interval_s``), printed once then closed with the time taken elsewhere.
    Prints nothing when nothing compiles (a warm cache).

    Use as ``with CliCompileLine(["mailbox"]): tw.simulate(...)``.
    """

    def __init__(self, protocols, stream=None, interval_s=0.25):
        self.protocols = list(protocols)
        self.stream = sys.stderr if stream is None else stream
        self.interval_s = interval_s
        self.started = None
        self._shown_at = 0.0
        self._expected = 1
        self._done = 0
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._ctx = None
        self._ended = False

    def __enter__(self):
        self._expected = expected_compiles(self.protocols) or 1
        self._ctx = compile_progress(self._on_compile)
        self._ctx.__enter__()
        return self

    def __exit__(self, *exc):
        self._ctx.__exit__(*exc)
        self.end()
        return False

    def end(self):
        """Close the line now (when something else is about to write to the
        stream, such as a progress bar); later compiles are not reported."""
        if self.started is not None and not self._ended:
            took = time.monotonic() - self.started
            end = f"{self._head()}: done, {self._done} functions in {took:.1f} s"
            self.stream.write(("\r" + end + "\033[K\n") if self._tty
                              else f" done in {took:.1f} s\n")
            self.stream.flush()
        self._ended = True

    def _head(self):
        return compiling_message(self.protocols)

    def _on_compile(self, done):
        if self._ended:
            return
        self._done = done
        now = time.monotonic()
        if self.started is None:
            self.started = now
            self.stream.write(f"{self._head()}…" if not self._tty else "")
        if self._tty and now - self._shown_at >= self.interval_s:
            self._shown_at = now
            pct = min(99, 100 * done // self._expected)
            self.stream.write(f"\r{self._head()}: {pct:2d}% ({done} functions)\033[K")
        self.stream.flush()
