"""Benchmark: a 2..256-CPU sweep of every protocol on `uniform`, once compiled.

    python benchmarks/bench_sweep.py                 # all runnable protocols
    python benchmarks/bench_sweep.py --max-cpus 64 --workers 1

Prints three measurements (all wall-clock, this machine):
1. worker start-up: a fresh Python process importing tlbwidgets and running
   one tiny simulation, with numba's on-disk cache warm and with an empty
   cache directory (what every worker would pay without cache=True);
2. the sweep itself with the default executor (a process pool of
   os.cpu_count() workers), after the kernels are compiled and cached;
3. the per-row table of the sweep.

Protocols the engine does not run yet are skipped and listed.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

import tlbwidgets as tw
from tlbwidgets.sweep import check_sweep, format_table, sweep, _InlineExecutor

__all__ = ["main"]

WORKER_PROBE = (
    "import time; t0 = time.perf_counter(); import tlbwidgets as tw; "
    "tw.simulate(cpus=2, workload='uniform', protocol={protocol!r}); "
    "print(time.perf_counter() - t0)"
)


def runnable(protocols):
    ok, skipped = [], []
    for p in protocols:
        try:
            check_sweep(cpus=2, protocol=p, workload="uniform")
            ok.append(p)
        except (ValueError, NotImplementedError) as exc:
            skipped.append((p, str(exc).splitlines()[0]))
    return ok, skipped


def worker_startup_s(protocol, cache_dir=None):
    """Seconds for a new process to import tlbwidgets and run one tiny simulation."""
    env = dict(os.environ)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", WORKER_PROBE.format(protocol=protocol)],
                         env=env, check=True, capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-cpus", type=int, default=256)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--workers", type=int, default=None,
                    help="default: sweep()'s own pool (os.cpu_count()); 1: in process")
    ap.add_argument("--skip-startup", action="store_true",
                    help="do not measure worker start-up (cold compile is slow)")
    args = ap.parse_args(argv)

    protocols, skipped = runnable(tw.PROTOCOLS)
    cpus = [2 ** k for k in range(1, args.max_cpus.bit_length()) if 2 ** k <= args.max_cpus]
    print(f"machine: os.cpu_count()={os.cpu_count()}, python {sys.version.split()[0]}")
    print(f"protocols run: {protocols}")
    for p, why in skipped:
        print(f"protocol skipped: {p}: {why}")

    # Compile (or load from the on-disk cache) in this process first.
    t0 = time.perf_counter()
    for p in protocols:
        tw.simulate(cpus=2, workload="uniform", protocol=p)
    print(f"warm-up in this process: {time.perf_counter() - t0:.2f} s")

    if not args.skip_startup:
        warm = worker_startup_s(protocols[0])
        with tempfile.TemporaryDirectory() as empty:
            cold = worker_startup_s(protocols[0], cache_dir=empty)
        print(f"fresh worker, import + first simulate: {warm:.2f} s with the numba cache, "
              f"{cold:.2f} s with an empty cache (NUMBA_CACHE_DIR)")

    executor = _InlineExecutor() if args.workers == 1 else None
    pool = None
    if args.workers and args.workers > 1:
        from concurrent.futures import ProcessPoolExecutor
        executor = pool = ProcessPoolExecutor(max_workers=args.workers)
    t0 = time.perf_counter()
    table = sweep(cpus=cpus, protocol=protocols, workload="uniform", seeds=args.seeds,
                  executor=executor)
    elapsed = time.perf_counter() - t0
    if pool is not None:
        pool.shutdown()
    print(format_table(table, ["protocol", "cpus", "seed", "shootdowns", "ipis",
                               "latency_us_median", "violations", "sim_cycles", "outcome"]))
    print(f"sweep: {len(table)} rows ({len(protocols)} protocols x cpus {cpus} x "
          f"seeds {args.seeds}) in {elapsed:.1f} s wall "
          f"(workers={args.workers or 'default'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
