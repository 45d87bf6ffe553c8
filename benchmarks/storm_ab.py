"""The engine benchmark's storm, old code against new, in one sitting.

Runs the 256-CPU ``munmap_storm`` of 51,200 shootdowns (``bench_engine.py``'s
large run) in fresh processes, alternating between two source trees (say, a
``git worktree`` of main and this one), and prints each run's deliveries per
second (and its process's CPU time: on a shared machine a neighbour's burst
stretches the wall time of one run, not its CPU time), events per delivery,
the per-pair ratios, their median, and ``uptime`` before and after.  Each
process first runs a tiny storm, so that the timed run loads nothing from
numba's cache; both trees need a warm cache (run once first)::

    python benchmarks/storm_ab.py /path/to/old/tree /path/to/new/tree --runs 3
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

__all__ = ["main"]

_CHILD = """
import time
import tlbwidgets as tw
tw.simulate(cpus=4, workload="munmap_storm", unmaps=2, seed=1)
t0, c0 = time.perf_counter(), time.process_time()
# The same charging in both trees: each ACK flag on its own line (a tree with
# the packed ACK line says so; an older one has no other layout).
same = {{"ack_layout": "padded"}} if "ack_layout" in tw.api.MACHINE_OPTIONS else {{}}
r = tw.simulate(cpus=256, workload="munmap_storm", unmaps={unmaps}, seed=1, max_events=10**9,
                max_log_rows=1_000_000, max_log_events=100_000, **same)
dt, cpu = time.perf_counter() - t0, time.process_time() - c0
s = r.summary()
assert s["outcome"] == "completed", s["outcome"]
print(s["deliveries"], s["events"], dt, cpu)
"""


def _run(tree, unmaps):
    env = dict(os.environ, PYTHONPATH=tree)
    # Not from the current directory: "python -c" imports from it first.
    out = subprocess.run([sys.executable, "-c", _CHILD.format(unmaps=unmaps)], env=env,
                         cwd=tempfile.gettempdir(), check=True, capture_output=True,
                         text=True).stdout.split()
    return int(out[0]), int(out[1]), float(out[2]), float(out[3])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--runs", type=int, default=3, help="runs of each, alternating")
    ap.add_argument("--unmaps", type=int, default=200, help="unmaps per CPU")
    args = ap.parse_args(argv)
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    ratios = []
    for i in range(args.runs):
        times = []
        for name, tree in (("old", args.old), ("new", args.new)):
            deliveries, events, seconds, cpu = _run(tree, args.unmaps)
            times.append((seconds, cpu))
            print(f"{name} {deliveries:,} deliveries {events:,} events "
                  f"({events / deliveries:.3f} per delivery) {seconds:.2f} s "
                  f"{deliveries / seconds / 1e6:.2f} M deliveries/s "
                  f"(CPU {cpu:.2f} s)", flush=True)
        ratios.append((times[0][0] / times[1][0], times[0][1] / times[1][1]))
        print(f"  pair {i + 1}: new / old = {ratios[-1][0]:.2f}x "
              f"(by CPU time {ratios[-1][1]:.2f}x)", flush=True)
    wall, cpu = [r[0] for r in ratios], [r[1] for r in ratios]
    print(f"new / old: median {statistics.median(wall):.2f}x, range {min(wall):.2f}-"
          f"{max(wall):.2f}x (by CPU time: median {statistics.median(cpu):.2f}x, range "
          f"{min(cpu):.2f}-{max(cpu):.2f}x)")
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
