"""Compile the engine ahead of time, and never twice at once.

The first run of a protocol on a machine compiles its engine (15-60 s,
docs/performance.md).  :func:`warm` does it ahead: ``python -m tlbwidgets
warm`` runs one small simulation per protocol, which compiles the engine and
the workload generators into numba's on-disk cache (or loads them when they
are there already).  ``tlbwidgets course`` and ``tlbwidgets app`` start it in
the background as they launch (:func:`start_warmer`), so the cache is
usually ready by the time a learner runs a cell.

Guarantee: two processes never compile one protocol's engine at the same
time.  Before a process first runs a protocol, :func:`engine_lock` takes that
protocol's lock file next to the engine's cache; a kernel that needs a
protocol the warmer is still compiling waits there, then loads the engine
the warmer saved instead of compiling the same code again.  The locks are
``flock`` locks, released by the system when their process ends, so a
killed warmer leaves nothing stale behind; a waiter gives up waiting after
``LOCK_WAIT_S`` and compiles on its own rather than hang.  Where no lock can
be taken (no writable directory, no ``fcntl``) runs are simply not
serialised.
"""

import contextlib
import os
import subprocess
import sys
import tempfile
import time

try:
    import fcntl
except ImportError:                 # not POSIX: runs are not serialised
    fcntl = None

__all__ = ["warm", "engine_lock", "lock_path", "start_warmer", "main", "LOCK_WAIT_S"]

LOCK_WAIT_S = 900.0
"""Longest wait for another process's compile before compiling anyway."""

_POLL_S = 0.1

# Tiny runs: numba compiles per argument types, not values, so one run of a
# protocol compiles everything any run of it uses.
_WARM_RUN = dict(cpus=4, sockets=2, seed=0)


def _engine_name(protocol):
    from .engine import PROTO_IDS
    from .engine._protocols import PROTOCOL_STEPS
    return PROTOCOL_STEPS[PROTO_IDS[protocol]].name


def _compiled_here(protocol):
    """Whether this process already holds the protocol's compiled engine."""
    from .engine import _core
    from .engine._protocols import ProtocolType
    signatures = getattr(_core.run, "signatures", None)
    if signatures is None:          # interpreted: nothing to compile
        return True
    return any(sig[-1] == ProtocolType(_engine_name(protocol)) for sig in signatures)


def lock_path(protocol):
    """The lock file that guards compiling ``protocol``'s engine: in the
    directory the engine's cache writes to, else (one per user) in the
    temporary directory."""
    from .engine import _core
    name = f"tlbwidgets-compile-{_engine_name(protocol)}.lock"
    cache = getattr(_core.run, "_cache", None)
    path = getattr(cache, "cache_path", None)
    if path and os.access(path, os.W_OK):
        return os.path.join(path, name)
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return os.path.join(tempfile.gettempdir(), f"{uid}-{name}")


@contextlib.contextmanager
def engine_lock(protocol, wait_s=LOCK_WAIT_S):
    """Hold the lock on compiling ``protocol``'s engine while the block runs.

    Free at once when this process already has the engine; otherwise waits
    (at most ``wait_s``) while another process holds it.  Yields the seconds
    spent waiting."""
    fh = None
    if fcntl is not None and not _compiled_here(protocol):
        try:
            fh = open(lock_path(protocol), "a+")
        except OSError:             # nowhere to lock: no serialisation
            fh = None
    if fh is None:
        yield 0.0
        return
    t0 = time.monotonic()
    locked = False
    with fh:
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                locked = True
                break
            except OSError:
                if time.monotonic() - t0 >= wait_s:
                    break
                time.sleep(_POLL_S)
        try:
            yield time.monotonic() - t0
        finally:
            if locked:
                fcntl.flock(fh, fcntl.LOCK_UN)


def warm(protocols=None, report=None):
    """Compile (or load from the cache) the engine of each protocol and every
    workload generator; returns {protocol: seconds}.

    ``protocols``: names from ``tw.PROTOCOLS`` (default: all, ``mailbox``
    first, the one the course starts with).  ``report(protocol, seconds)`` is
    called after each."""
    import tlbwidgets as tw
    chosen = list(tw.PROTOCOLS) if protocols is None else list(protocols)
    for p in chosen:
        if p not in tw.PROTOCOLS:
            raise ValueError(f"protocol must be one of {', '.join(tw.PROTOCOLS)}, got {p!r}")
    from .api import validate_args, run_validated
    times = {}
    for i, protocol in enumerate(chosen):
        t0 = time.perf_counter()
        # The first protocol also runs every workload: their generators are
        # compiled kernels too, shared by all protocols.  The lock is held
        # over all of them, so a process waiting for this protocol finds
        # every kernel of it in the cache.
        workloads = tw.WORKLOADS if i == 0 else tw.WORKLOADS[:1]
        with engine_lock(protocol):
            for workload in workloads:
                run_validated(*validate_args(protocol=protocol, workload=workload,
                                             **_WARM_RUN))
        times[protocol] = time.perf_counter() - t0
        if report is not None:
            report(protocol, times[protocol])
    return times


def start_warmer(protocols=None, env=None, preexec_fn=None):
    """Start ``python -m tlbwidgets warm`` in the background and return its
    ``Popen`` (its output is discarded); the caller stops it when done.
    ``preexec_fn`` runs in the child before it starts (the launcher passes one
    that ends the warmer with it)."""
    argv = [sys.executable, "-m", "tlbwidgets", "warm", "--quiet"]
    if protocols:
        argv += ["--protocol", *protocols]
    return subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=preexec_fn)


def main(argv=None):
    """``python -m tlbwidgets warm [--protocol P ...] [--quiet]``."""
    import argparse
    import tlbwidgets as tw
    p = argparse.ArgumentParser(
        prog="python -m tlbwidgets warm",
        description="Compile the simulation engine into numba's cache ahead of the first run "
                    "(or check that it loads from there).")
    p.add_argument("--protocol", nargs="+", default=None, metavar="NAME",
                   help=f"protocols to warm (default: all): {', '.join(tw.PROTOCOLS)}")
    p.add_argument("--quiet", action="store_true", help="print nothing")
    args = p.parse_args(argv)
    if args.protocol:
        bad = [x for x in args.protocol if x not in tw.PROTOCOLS]
        if bad:
            p.error(f"argument --protocol: {bad[0]!r} is not one of {', '.join(tw.PROTOCOLS)}")

    def report(protocol, seconds):
        if not args.quiet:
            print(f"warm: {protocol} ready in {seconds:.1f} s", flush=True)

    warm(args.protocol, report)
    return 0
