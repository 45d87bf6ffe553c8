"""Views are on screen before their first run, and say when the engine compiles.

A view's first simulation starts when it is displayed (``_repr_mimebundle_``,
what a notebook and Voila call), not when it is built; while a run compiles,
its status line reads "compiling the engine for <protocol> (first run on this
machine)" above a progress bar that numba's compile events move.  The CLI
prints one such line on stderr.
"""

import io
import json
import os
import subprocess
import sys
import textwrap
import threading
import time

import numba
import pytest

import tlbwidgets as tw
import tlbwidgets.widgets as W
from tlbwidgets._progress import CliCompileLine
from tlbwidgets.widgets import StatusBar

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def _fresh_kernel():
    """A jitted function no cache holds: calling it compiles for real (numba
    emits its compile events), in a fraction of a second."""
    ns = {}
    exec(f"def kernel_{time.monotonic_ns()}(x):\n    return x * 2 + 1\n", ns)
    fn = next(v for k, v in ns.items() if k.startswith("kernel_"))
    return numba.njit(fn)


def test_a_run_that_compiles_says_so_with_a_progress_bar():
    status = StatusBar()
    seen = []
    status.observe(lambda c: seen.append((status.kind, status.message, c["new"])), names="value")
    kernel = _fresh_kernel()
    ok, value = status.guarded("running…", kernel, 20, for_protocols=["linux"])
    assert ok and value == 41
    compiling = [s for s in seen if s[0] == "compiling"]
    assert compiling, seen
    assert compiling[0][1] == "compiling the engine for linux (first run on this machine)"
    # A bar when this process has not compiled linux's engine yet (its
    # estimate is known), else a count: either way the number moves.
    assert all("<progress" in html or "functions compiled" in html
               for _, _, html in compiling)
    assert status.compiled >= 1 and status.kind == "ok"


def test_the_progress_bar_shows_the_share_of_the_expected_functions_compiled():
    status = StatusBar()
    status.show("running", "running…")
    status.expected = 80
    status._on_compile(["mailbox"], 20)
    assert status.kind == "compiling"
    assert '<progress value="25" max="100"' in status.value and "25%" in status.value
    status._on_compile(["mailbox"], 95)             # more than estimated: never full
    assert '<progress value="99"' in status.value


def test_a_run_that_compiles_nothing_shows_only_its_busy_message():
    status = StatusBar()
    kernel = _fresh_kernel()
    kernel(1)                                   # compiled now: the next call loads nothing
    seen = []
    status.observe(lambda c: seen.append(status.kind), names="value")
    assert status.guarded("running…", kernel, 2, for_protocols=["mailbox"]) == (True, 5)
    assert "compiling" not in seen and seen[0] == "running"


def test_the_cli_compile_line_is_one_line_on_stderr():
    stream = io.StringIO()
    kernel = _fresh_kernel()
    with CliCompileLine(["mailbox"], stream=stream):
        kernel(3)
    text = stream.getvalue()
    assert text.startswith("compiling the engine for mailbox (first run on this machine)")
    assert text.endswith(" s\n") and text.count("\n") == 1
    stream = io.StringIO()
    with CliCompileLine(["mailbox"], stream=stream):
        kernel(4)                               # nothing compiles: nothing printed
    assert stream.getvalue() == ""


def _hold(monkeypatch, module, name):
    """Make ``module.name`` block until the returned event is set."""
    release = threading.Event()
    real = getattr(module, name)

    def held(*args, **kwargs):
        assert release.wait(600)
        return real(*args, **kwargs)
    monkeypatch.setattr(module, name, held)
    return release


@pytest.mark.parametrize("make", [
    lambda: W.explore(cpus=4, workload="single"),
    lambda: W.stepper(cpus=4, workload="single"),
])
def test_views_are_displayed_before_their_first_run_ends(monkeypatch, make):
    release = _hold(monkeypatch, tw, "simulate")
    view = make()
    assert view.status.kind == "running" and "first run" in view.status.message
    t0 = time.monotonic()
    bundle = view._repr_mimebundle_()
    assert time.monotonic() - t0 < 5.0
    assert WIDGET_MIME in bundle
    assert not view.wait(timeout=0.2)           # the run is under way, held
    assert view.status.kind == "running"
    release.set()
    assert view.wait(timeout=600)
    assert view.status.kind == "ok", view.status.message


def test_the_scaling_view_sweeps_after_it_is_displayed(monkeypatch):
    from test_widgets_scaling import InlineExecutor
    release = _hold(monkeypatch, tw, "sweep")
    view = W.scaling(protocols=["mailbox"], cpu_counts=[2, 3], workload="single",
                     executor=InlineExecutor())
    assert WIDGET_MIME in view._repr_mimebundle_()
    assert view.rows is None and not view.wait(timeout=0.2)
    release.set()
    assert view.wait(timeout=600) and view.status.kind == "ok", view.status.message
    assert len(view.rows) == 2


def test_a_control_change_during_the_first_run_waits_for_it(monkeypatch):
    release = _hold(monkeypatch, tw, "simulate")
    view = W.explore(cpus=4, workload="single")
    view._repr_mimebundle_()
    changed = threading.Thread(target=lambda: view.controls.apply(seed=5))
    changed.start()
    time.sleep(0.2)
    release.set()
    changed.join(600)
    assert view.wait(timeout=600)
    assert view.status.kind == "ok", view.status.message
    assert next(iter(view.results.values())).config["seed"] == 5


_COLD_SCRIPT = textwrap.dedent("""
    import json, time
    t0 = time.monotonic()
    import tlbwidgets as tw
    view = tw.explore(cpus=4, workload="uniform")
    seen = []
    view.status.observe(lambda c: seen.append(
        [time.monotonic() - t0, view.status.kind, view.status.message, c["new"]]),
        names="value")
    view._repr_mimebundle_()
    shown_s = time.monotonic() - t0
    view.wait()
    print(json.dumps({"shown_s": shown_s, "seen": seen,
                      "final": [view.status.kind, view.status.message]}))
""")


@pytest.mark.slow
def test_a_cold_explorer_and_cli_say_they_compile_and_a_warm_one_does_not(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba-cache"))
    env.pop("NUMBA_DISABLE_JIT", None)

    def explore():
        out = subprocess.run([sys.executable, "-c", _COLD_SCRIPT], env=env,
                             capture_output=True, text=True, check=True, timeout=1200)
        return json.loads(out.stdout.strip().splitlines()[-1])

    cold = explore()
    compiling = [s for s in cold["seen"] if s[1] == "compiling"]
    assert compiling, cold["seen"]
    assert compiling[0][2] == "compiling the engine for mailbox (first run on this machine)"
    assert compiling[0][0] >= cold["shown_s"]           # displayed before it compiled
    pcts = [int(html.rsplit("</progress> ", 1)[1].split("%")[0]) for _, _, _, html in compiling]
    assert pcts == sorted(pcts) and pcts[-1] >= 50      # the bar moves, and far
    assert cold["final"][0] == "ok", cold["final"]
    warm = explore()                                    # the same cache, now full
    assert [s for s in warm["seen"] if s[1] == "compiling"] == []
    assert warm["final"][0] == "ok", warm["final"]
    def simulate(protocol):
        cli = subprocess.run([sys.executable, "-m", "tlbwidgets", "simulate", "--cpus", "4",
                              "--protocol", protocol],
                             env=env, capture_output=True, text=True, timeout=1200)
        assert cli.returncode == 0, cli.stderr
        return cli.stderr

    assert "compiling" not in simulate("mailbox")       # compiled by the explorer
    line = simulate("linux")                            # never run in this cache
    assert line.startswith("compiling the engine for linux (first run on this machine)")
    assert line.count("\n") == 1 and line.endswith(" s\n")
