"""Benchmark: what a learner sees after running ``tw.explore()``, cold and warm.

For each checkout (``--checkout``, default this one) and each numba cache
state (an empty ``NUMBA_CACHE_DIR``, then the same directory filled by that
run), a fresh Python process imports tlbwidgets, builds the explorer and
displays it the way a notebook does (``_repr_mimebundle_``), then waits for
its first run.  It reports, from the start of the process:

- shown: the explorer is on screen (the cell's output exists), with its
  status line;
- compiling: the status line, on screen, first says "compiling …" (a cold
  cache only; never where the explorer runs before it is displayed, as its
  status changes happen before anyone can see them);
- done: the first run is drawn.

Checkouts alternate within each repetition (same machine load).

    python benchmarks/bench_first_status.py --checkout /path/to/main . --repeat 2
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

_SCRIPT = r"""
import json, time
t0 = time.monotonic()
import tlbwidgets as tw
marks = {}
from tlbwidgets.widgets import StatusBar
StatusBar.__init__ = (lambda init: lambda self, *a, **k: (init(self, *a, **k),
                      self.observe(lambda c: self.kind == "compiling" and "shown_s" in marks
                                   and marks.setdefault("compiling_s", time.monotonic() - t0),
                                   names="value"))[0])(
                      StatusBar.__init__)
view = tw.explore()
view._repr_mimebundle_()
marks["shown_s"] = time.monotonic() - t0
marks["status_when_shown"] = view.status.message
if hasattr(view, "wait"):
    view.wait()
marks["done_s"] = time.monotonic() - t0
marks["final"] = view.status.kind
print(json.dumps(marks))
"""


def measure(checkout, cache_dir):
    env = dict(os.environ, PYTHONPATH=os.path.abspath(checkout), NUMBA_CACHE_DIR=cache_dir)
    env.pop("NUMBA_DISABLE_JIT", None)
    out = subprocess.run([sys.executable, "-c", _SCRIPT], env=env, capture_output=True,
                         text=True, check=True, timeout=1800, cwd=tempfile.gettempdir())
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkout", nargs="+", default=["."], help="source trees to compare")
    ap.add_argument("--repeat", type=int, default=1, help="repetitions (alternating)")
    args = ap.parse_args(argv)
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    for rep in range(args.repeat):
        for checkout in args.checkout:
            with tempfile.TemporaryDirectory() as cache:
                for state in ("cold", "warm"):
                    m = measure(checkout, cache)
                    comp = (f"{m['compiling_s']:6.1f} s" if "compiling_s" in m
                            else "   never")   # on screen
                    print(f"rep {rep} {checkout:30} {state}: shown {m['shown_s']:6.1f} s  "
                          f"compiling {comp}  done {m['done_s']:6.1f} s  ({m['final']}; "
                          f"status when shown: {m['status_when_shown']!r})", flush=True)
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")


if __name__ == "__main__":
    main()
