"""Cold and warm start of the first ``simulate``, and where the compile time goes.

Cold start: a new process imports tlbwidgets and runs
``simulate(protocol="mailbox", workload="uniform")`` with an empty numba cache
(``NUMBA_CACHE_DIR`` a new temporary directory); warm start: the same again
with the cache that run filled.  With ``--old DIR`` (a checkout of another
commit, e.g. ``git worktree add /tmp/main main``) the two trees run
alternately, old first, so both see the same machine load::

    python benchmarks/bench_compile.py --old /tmp/main --rounds 2
    python benchmarks/bench_compile.py --profile [--old /tmp/main]   # compile time by part

``--profile`` counts numba's compile events (``numba.core.event``) during one
cold start and splits the time by compiler pass and by module, each event
charged only for the time not spent in the events nested inside it (a
caller's type inference compiles its callees).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap

__all__ = ["main"]

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_FIRST_RUN = textwrap.dedent("""
    import time
    t0 = time.perf_counter()
    import tlbwidgets as tw
    t1 = time.perf_counter()
    tw.simulate(protocol="mailbox", workload="uniform")
    t2 = time.perf_counter()
    print(t1 - t0, t2 - t1, t2 - t0, time.process_time())
""")

_PROFILE = textwrap.dedent("""
    import collections, json, time
    from numba.core import event

    by_pass = collections.Counter()
    by_module = collections.Counter()
    count = collections.Counter()
    stack = []      # [kind, label, module, start, time in nested events]

    class Split(event.Listener):
        def on_start(self, ev):
            if ev.kind == "numba:compile":
                d = ev.data["dispatcher"]
                module = d.py_func.__module__
                label = "other (signature checks, linking)"
                count["signatures"] += 1
                count[module + "." + d.py_func.__qualname__] += 1
            elif ev.kind == "numba:run_pass":
                module = stack[-1][2] if stack else "?"
                label = ev.data["name"].split(" [")[0]     # "native_lowering [f]"
            else:
                module = stack[-1][2] if stack else "?"
                label = "llvm (optimise, codegen)"
            stack.append([ev.kind, label, module, time.perf_counter(), 0.0])

        def on_end(self, ev):
            kind, label, module, start, nested = stack.pop()
            dt = time.perf_counter() - start
            if stack:
                stack[-1][4] += dt
            by_pass[label] += dt - nested
            by_module[module] += dt - nested

    for kind in ("numba:compile", "numba:run_pass", "numba:llvm_lock"):
        event.register(kind, Split())
    t0 = time.perf_counter()
    import tlbwidgets as tw
    tw.simulate(protocol="mailbox", workload="uniform")
    total = time.perf_counter() - t0
    functions = [k for k in count if k != "signatures"]
    print(json.dumps({"total": total, "signatures": count["signatures"],
                      "functions": len(functions),
                      "by_pass": by_pass.most_common(), "by_module": by_module.most_common()}))
""")


def _load():
    with open("/proc/loadavg") as fh:
        return " ".join(fh.read().split()[:3])


def _run(tree, cache_dir, script):
    env = dict(os.environ, PYTHONPATH=tree, NUMBA_CACHE_DIR=cache_dir)
    env.pop("NUMBA_DISABLE_JIT", None)
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, check=True, cwd=tempfile.gettempdir())
    return out.stdout.strip().splitlines()[-1]


def cold_and_warm(tree):
    """(cold import, cold first simulate, cold total, cold CPU time, warm total)
    in seconds.  The CPU time (the process's own) is the steadier figure on a
    shared machine: the wall time also counts the waits for a core."""
    with tempfile.TemporaryDirectory(prefix="tlbwidgets-cache-") as cache_dir:
        cold = [float(x) for x in _run(tree, cache_dir, _FIRST_RUN).split()]
        warm = [float(x) for x in _run(tree, cache_dir, _FIRST_RUN).split()]
    return cold[0], cold[1], cold[2], cold[3], warm[2]


def profile(tree):
    with tempfile.TemporaryDirectory(prefix="tlbwidgets-cache-") as cache_dir:
        res = json.loads(_run(tree, cache_dir, _PROFILE))
    total = res["total"]
    compiling = sum(dt for _, dt in res["by_pass"])
    print(f"cold start {total:.1f} s (load {_load()}), of which compiling {compiling:.1f} s: "
          f"{res['signatures']} signatures of {res['functions']} functions")
    for title, rows in (("by compiler pass", res["by_pass"]), ("by module", res["by_module"])):
        print(f"  {title}:")
        for name, dt in rows[:12]:
            print(f"    {name:48s} {dt:6.2f} s  {dt / total:5.1%}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", help="another checkout to alternate with (e.g. main)")
    ap.add_argument("--rounds", type=int, default=2, help="cold starts of each tree")
    ap.add_argument("--profile", action="store_true", help="split one cold start's compile time")
    args = ap.parse_args(argv)
    if args.profile:
        for name, tree in ([("old", args.old)] if args.old else []) + [("new", HERE)]:
            print(f"{name} ({tree}):")
            profile(tree)
        return 0
    trees = [("old", args.old)] if args.old else []
    trees.append(("new", HERE))
    results = {name: [] for name, _ in trees}
    for i in range(args.rounds):
        for name, tree in trees:
            load = _load()
            imp, first, cold, cpu, warm = cold_and_warm(tree)
            results[name].append((cold, cpu, warm))
            print(f"round {i + 1} {name}: cold {cold:6.1f} s (import {imp:.1f} s, first "
                  f"simulate {first:.1f} s; CPU {cpu:.1f} s), warm {warm:.2f} s; "
                  f"load before {load}", flush=True)
    for name, rows in results.items():
        cols = list(zip(*rows))
        print(f"{name}: cold {min(cols[0]):.1f}-{max(cols[0]):.1f} s (CPU {min(cols[1]):.1f}-"
              f"{max(cols[1]):.1f} s), warm {min(cols[2]):.2f}-{max(cols[2]):.2f} s")
    if args.old:
        for what, col in (("cold start", 0), ("its CPU time", 1)):
            ratios = [n[col] / o[col] for o, n in zip(results["old"], results["new"])]
            print(f"new / old {what}, per round: " + ", ".join(f"{r:.2f}x" for r in ratios)
                  + "  (target <= 0.45x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
