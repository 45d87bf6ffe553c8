"""Engine benchmarks (run by hand; targets printed beside results).

    python benchmarks/bench_engine.py            # everything (several minutes)
    python benchmarks/bench_engine.py --quick    # smaller large run, no cold start

1. Classroom: 16 CPUs, `uniform`, 1,000,000 accesses -- target >= 10 M simulated
   accesses/s once compiled (measured with and without shootdowns).
2. Large: 256 CPUs, `munmap_storm`, >= 50,000 shootdowns -- target >= 5 M
   (shootdown, target) deliveries/s, peak memory < 1 GiB.
3. JIT vs interpreted on the same small run -- expect >= 100x.
4. Cold start: first `simulate` in a fresh process with an empty numba cache,
   and with a warm one.
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import textwrap
import time

import tlbwidgets as tw


def _timed(**kw):
    t0 = time.perf_counter()
    r = tw.simulate(**kw)
    return r, time.perf_counter() - t0


def _row(name, value, target, ok):
    print(f"{name:58} {value:>22}   target {target:<16} {'met' if ok else 'NOT met'}")


def classroom():
    # Load every kernel these runs use from numba's cache first ("once compiled"):
    # numba loads a function's machine code at its first call.
    tw.simulate(cpus=2, workload="single")
    tw.simulate(cpus=2, workload="uniform", seed=1)
    for rate in (0.0, 0.002):
        best = None
        for _ in range(3):
            r, dt = _timed(cpus=16, workload="uniform", accesses=62_500, unmap_rate=rate,
                           seed=1)
            best = dt if best is None else min(best, dt)
        acc = r.summary()["accesses"]
        rate_macc = acc / best / 1e6
        _row(f"classroom 16 CPUs, 1M accesses, unmap_rate={rate} "
             f"({r.summary()['shootdowns']} shootdowns)",
             f"{rate_macc:.1f} M acc/s ({best:.3f} s)", ">= 10 M acc/s", rate_macc >= 10)
    r, dt = _timed(cpus=16, workload="uniform", seed=1)
    _row("explore() default run: 16 CPUs, uniform defaults", f"{dt * 1e3:.0f} ms",
         "(slider redraw)", True)


def large(unmaps):
    # Every ACK flag on its own line: the charging this figure has been measured
    # with since the first engine (the seed's packed line, the default since,
    # turns the storm into a queue on one cache line: docs/model.md section 5).
    r, dt = _timed(cpus=256, workload="munmap_storm", unmaps=unmaps, seed=1,
                   max_events=10**9, max_log_rows=1_000_000, max_log_events=100_000,
                   ack_layout="padded")
    s = r.summary()
    deliv = s["deliveries"] / dt / 1e6
    _row(f"large 256 CPUs munmap_storm: {s['shootdowns']} shootdowns, "
         f"{s['deliveries']} deliveries, {s['events']} events ({s['outcome']})",
         f"{deliv:.2f} M deliv/s ({dt:.1f} s)", ">= 5 M deliv/s", deliv >= 5)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    _row("peak resident memory of this process", f"{peak_mib:.0f} MiB", "< 1024 MiB",
         peak_mib < 1024)
    _row("engine events per second in that run", f"{s['events'] / dt / 1e6:.2f} M ev/s",
         "(information)", True)


_SMALL = dict(cpus=8, workload="uniform", accesses=3_000, unmap_rate=0.01, seed=2)

# Times one simulate() call and, inside it, the engine alone (api.run_engine).
_TIME_BOTH = """
import time, tlbwidgets as tw
from tlbwidgets import api
tw.simulate(cpus=2, workload="single")
engine = []
_run = api.run_engine
def _timed(state, machine):
    t0 = time.perf_counter(); _run(state, machine); engine.append(time.perf_counter() - t0)
api.run_engine = _timed
best = None
for _ in range({reps}):
    t0 = time.perf_counter(); tw.simulate(**{kw!r}); total = time.perf_counter() - t0
    if best is None or total < best[0]:
        best = (total, engine[-1])
print(best[0], best[1])
"""


def _time_both(jit, reps):
    env = dict(os.environ)
    if not jit:
        env["NUMBA_DISABLE_JIT"] = "1"
    out = subprocess.run([sys.executable, "-c", _TIME_BOTH.format(reps=reps, kw=_SMALL)],
                         env=env, capture_output=True, text=True, check=True)
    total, engine = map(float, out.stdout.strip().splitlines()[-1].split())
    return total, engine


def jit_vs_interpreted():
    """The same small run jitted and with NUMBA_DISABLE_JIT=1, each in a fresh
    process: the engine alone (what the JIT compiles) and the whole simulate()
    call (which adds the same Python-side work to both)."""
    jit_total, jit_engine = _time_both(True, reps=5)
    int_total, int_engine = _time_both(False, reps=1)
    ratio = int_engine / jit_engine
    _row(f"jit vs interpreted, engine only, {_SMALL}",
         f"{ratio:.0f}x ({jit_engine * 1e3:.2f} ms vs {int_engine:.2f} s)", ">= 100x",
         ratio >= 100)
    _row("jit vs interpreted, whole simulate() call",
         f"{int_total / jit_total:.0f}x ({jit_total * 1e3:.1f} ms vs {int_total:.2f} s)",
         "(information)", True)


def cold_start():
    code = ("import time; t=time.perf_counter(); import tlbwidgets as tw; "
            "tw.simulate(cpus=4, workload='single'); print(time.perf_counter()-t)")
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        runs = []
        for _ in range(2):   # first: empty cache (compiles); second: warm cache
            out = subprocess.run([sys.executable, "-c", code], env=env,
                                 capture_output=True, text=True, check=True)
            runs.append(float(out.stdout.strip().splitlines()[-1]))
    _row("cold start: import + first simulate, empty numba cache", f"{runs[0]:.1f} s",
         "(compile time)", True)
    _row("warm start: import + first simulate, warm numba cache", f"{runs[1]:.2f} s",
         "(information)", True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   help="a smaller large run (about 5,000 shootdowns) and no cold start")
    args = p.parse_args(argv)
    print(f"tlbwidgets {tw.__version__}, python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs")
    classroom()
    large(20 if args.quick else 200)
    jit_vs_interpreted()
    if not args.quick:
        cold_start()


if __name__ == "__main__":
    main()
