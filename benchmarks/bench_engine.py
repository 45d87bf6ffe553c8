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
    tw.simulate(cpus=2, workload="single")       # compile / load the cache first
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
    r, dt = _timed(cpus=256, workload="munmap_storm", unmaps=unmaps, seed=1,
                   max_events=10**9, max_log_rows=1_000_000, max_log_events=100_000)
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


def jit_vs_interpreted():
    _, jitted = _timed(**_SMALL)
    code = textwrap.dedent(f"""
        import time, tlbwidgets as tw
        t = time.perf_counter(); tw.simulate(**{_SMALL!r}); print(time.perf_counter() - t)
    """)
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True)
    interp = float(out.stdout.strip().splitlines()[-1])
    ratio = interp / jitted
    _row(f"jit vs interpreted, {_SMALL}", f"{ratio:.0f}x ({jitted * 1e3:.1f} ms vs "
         f"{interp:.2f} s)", ">= 100x", ratio >= 100)


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
