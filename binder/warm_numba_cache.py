"""Compile tlbwidgets' numba kernels into NUMBA_CACHE_DIR, or check that they load from it.

Run by binder/postBuild at image build time (default mode): runs a small simulation for every
protocol and every named workload, which compiles every jitted kernel a widget can reach and,
because the jit policy has ``cache=True``, writes each to the cache.

``--check`` runs the same simulations and exits non-zero if any kernel had to be compiled
instead of loaded from the cache; tests/test_binder.py uses it in a fresh process to prove
that a Binder session would start warm.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

__all__ = ["main", "run_warmup", "tlbwidgets_dispatchers"]

# Small enough to run in a second once compiled; 2 sockets so cross-socket paths are typed too
# (numba compiles per type signature, not per value, so one size covers all sizes).
WARMUP_CPUS = 4
WARMUP_SOCKETS = 2
WARMUP_SEED = 0


def tlbwidgets_dispatchers() -> list:
    """Every numba dispatcher defined in an imported ``tlbwidgets`` module, deduplicated."""
    from numba.core.dispatcher import Dispatcher

    found = {}
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "tlbwidgets" or name.startswith("tlbwidgets.")):
            continue
        for value in vars(module).values():
            if isinstance(value, Dispatcher):
                found[id(value)] = value
    return list(found.values())


def run_warmup() -> int:
    """Run one small simulation per protocol and per workload; return how many ran."""
    import tlbwidgets as tw

    runs = 0
    first_workload = tw.WORKLOADS[0]
    for protocol in tw.protocols.IMPLEMENTED:   # the others are not simulated yet
        tw.simulate(cpus=WARMUP_CPUS, sockets=WARMUP_SOCKETS, protocol=protocol,
                    workload=first_workload, seed=WARMUP_SEED)
        runs += 1
    for workload in tw.WORKLOADS[1:]:
        tw.simulate(cpus=WARMUP_CPUS, sockets=WARMUP_SOCKETS, protocol=tw.PROTOCOLS[0],
                    workload=workload, seed=WARMUP_SEED)
        runs += 1
    # The spinner of tw.measure (notebook 7): compiled, not run.
    from tlbwidgets.machine.runner import compile_spinner
    compile_spinner()
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="fail if any kernel is compiled instead of loaded from the cache")
    args = parser.parse_args(argv)

    cache_dir = os.environ.get("NUMBA_CACHE_DIR")
    if not cache_dir:
        print("warm_numba_cache: error: NUMBA_CACHE_DIR is not set "
              "(source binder/numba-env.sh first)", file=sys.stderr)
        return 2

    started_s = time.perf_counter()
    runs = run_warmup()
    elapsed_s = time.perf_counter() - started_s

    dispatchers = tlbwidgets_dispatchers()
    used = [d for d in dispatchers if d.signatures]
    hits = sum(sum(d.stats.cache_hits.values()) for d in used)
    misses = sum(sum(d.stats.cache_misses.values()) for d in used)
    index_files = sorted(Path(cache_dir).rglob("*.nbi"))
    print(f"warm_numba_cache: {runs} simulations in {elapsed_s:.1f} s; "
          f"{len(used)} of {len(dispatchers)} kernels used; cache loads {hits}, "
          f"compilations {misses}; {len(index_files)} index files in {cache_dir} "
          f"(NUMBA_CPU_NAME={os.environ.get('NUMBA_CPU_NAME', '<host>')})")

    if not used:
        print("warm_numba_cache: error: no tlbwidgets kernel was compiled", file=sys.stderr)
        return 1
    if not index_files:
        print(f"warm_numba_cache: error: nothing was cached in {cache_dir}", file=sys.stderr)
        return 1
    if args.check and misses:
        compiled = sorted(d.py_func.__qualname__ for d in used
                          if sum(d.stats.cache_misses.values()))
        print(f"warm_numba_cache: error: compiled instead of loaded: {', '.join(compiled)}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
