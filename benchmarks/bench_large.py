"""Large machines finish: every protocol on 1,024 CPUs with the explorer's defaults.

    python benchmarks/bench_large.py                  # every workload x protocol
    python benchmarks/bench_large.py --workloads uniform munmap_storm

Each run is a fresh process (peak RSS is per process), the configuration the
explorer builds for ``cpus=1024`` (one socket, the default preset, seed 0, the
workload's own defaults).  Targets (issue "first run in seconds", item 7):
outcome ``completed``, at most 5 s of ``simulate`` per run once compiled, peak
RSS at most 600 MiB.  The first run of each protocol loads the compiled engine
from numba's cache in a warm-up call that is not timed.
"""

import argparse
import json
import subprocess
import sys
import textwrap

import tlbwidgets as tw

__all__ = ["TARGET_S", "TARGET_RSS_MIB", "measure_one", "main"]

TARGET_S = 5.0
TARGET_RSS_MIB = 600

_CHILD = textwrap.dedent("""
    import json, resource, sys, time
    import tlbwidgets as tw
    from tlbwidgets.widgets.controls import workload_knobs
    protocol, workload = sys.argv[1], sys.argv[2]
    tw.simulate(cpus=2, protocol=protocol, workload="single")      # load from the cache
    kw = dict(cpus=1024, sockets=1, protocol=protocol, workload=workload,
              costs="default", seed=0, **workload_knobs(workload))
    t0 = time.perf_counter()
    r = tw.simulate(**kw)
    dt = time.perf_counter() - t0
    print(json.dumps({"outcome": r.outcome, "seconds": dt,
                      "shootdowns": r.summary()["shootdowns"],
                      "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
""")


def measure_one(protocol, workload):
    """One run in a fresh process: {outcome, seconds, shootdowns, rss_mib}."""
    out = subprocess.run([sys.executable, "-c", _CHILD, protocol, workload],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", nargs="+", default=["single", "uniform", "munmap_storm",
                                                       "big_unmap", "irq_off", "ack_race"])
    ap.add_argument("--protocols", nargs="+", default=list(tw.PROTOCOLS))
    args = ap.parse_args(argv)
    failed = 0
    print(f"{'workload':14} {'protocol':14} {'outcome':11} {'shootdowns':>10} {'s':>6} "
          f"{'RSS MiB':>8}   targets: completed, <= {TARGET_S:g} s, <= {TARGET_RSS_MIB} MiB")
    for wl in args.workloads:
        for p in args.protocols:
            m = measure_one(p, wl)
            ok = (m["outcome"] == "completed" and m["seconds"] <= TARGET_S
                  and m["rss_mib"] <= TARGET_RSS_MIB)
            failed += not ok
            print(f"{wl:14} {p:14} {m['outcome']:11} {m['shootdowns']:>10,} "
                  f"{m['seconds']:>6.2f} {m['rss_mib']:>8.0f}   {'met' if ok else 'NOT met'}",
                  flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
