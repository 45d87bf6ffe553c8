"""A cached kernel never runs stale code: after any jitted module of the package
changes, every kernel is compiled again, also those whose own file did not
change but which call into the changed one.

numba alone stamps a function's cache with its own file's time and size, so
``run`` (engine/_core.py) would keep the old copy of a callee from another
file compiled into it.  The package is copied into a temporary directory, run
in a fresh process, a callee in engine/_tlb.py is changed, and the next fresh
process must run the changed code."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

import tlbwidgets
from compile_events import COUNT_COMPILES

pytestmark = pytest.mark.slow

_RUN = COUNT_COMPILES + textwrap.dedent("""
    import json
    import tlbwidgets as tw
    r = tw.simulate(cpus=2, protocol="mailbox", workload="uniform", accesses=200, seed=3)
    print(json.dumps({"compiled": [name for name, _ in compiled],
                      "accesses": r.summary()["accesses"]}))
""")

_COUNTED = "    k[K_ACCESSES] += accesses\n"
_COUNTED_TWICE = "    k[K_ACCESSES] += 2 * accesses\n"


def _run(site, cache):
    env = {k: v for k, v in os.environ.items()
           if k not in ("NUMBA_DISABLE_JIT", "PYTHONPATH", "NUMBA_CACHE_DIR")}
    env.update(PYTHONPATH=str(site), NUMBA_CACHE_DIR=str(cache), PYTHONDONTWRITEBYTECODE="1")
    out = subprocess.run([sys.executable, "-c", _RUN], env=env, capture_output=True,
                         text=True, timeout=900, cwd=site)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_changed_callee_in_another_file_recompiles_its_callers(tmp_path):
    if os.environ.get("NUMBA_DISABLE_JIT") == "1":
        pytest.skip("interpreted: nothing is compiled or cached")
    site, cache = tmp_path / "site", tmp_path / "cache"
    shutil.copytree(os.path.dirname(tlbwidgets.__file__), site / "tlbwidgets",
                    ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
    first = _run(site, cache)
    assert "tlbwidgets.engine._core.run" in first["compiled"]
    assert _run(site, cache)["compiled"] == []          # warm: everything loads

    tlb = site / "tlbwidgets" / "engine" / "_tlb.py"
    source = tlb.read_text()
    assert source.count(_COUNTED) == 1, "the line this test edits has moved"
    tlb.write_text(source.replace(_COUNTED, _COUNTED_TWICE))
    changed = _run(site, cache)
    # run's own file is unchanged, yet it is compiled again, with the new callee.
    assert "tlbwidgets.engine._core.run" in changed["compiled"]
    assert changed["accesses"] == 2 * first["accesses"]
