"""The first run of a protocol compiles that protocol's engine and nothing
more: one version of each function, none per constant, no other protocol's
code.  numba's compile events are counted in a fresh process with an empty
cache (``NUMBA_CACHE_DIR`` in a temporary directory), one protocol after the
other."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

import tlbwidgets as tw
from tlbwidgets._progress import FIRST_RUN_COMPILES
from compile_events import COUNT_COMPILES

pytestmark = pytest.mark.slow

# Versions compiled by each protocol's first run, after the protocols before
# it in tw.PROTOCOLS' order (helpers compiled once are not compiled again):
# the figures the compile progress bar counts on.  Measured; a change that
# makes one grow must say why and update the figure.  mailbox 75: 74, plus the
# schedule's one lookup function (engine/_schedule.py), called where a
# delayable step happens; every protocol shares its one version.  79: plus the
# packed ACK line's three functions (engine/_ack_line.py) and the mailbox
# handler's ACK store, now one function for both layouts.  85: plus the lists of
# IPIs in flight (engine/_inflight.py, four functions), the queue's node
# allocation (eq_node, shared with eq_push) and _shootdown.target_cpu, which
# computes a full target list's CPUs.
COMPILES_BUDGET = FIRST_RUN_COMPILES

_OTHER_PROTOCOL_MODULES = ("_linux", "_broadcast", "_latr", "_global_lock")

_SCRIPT = COUNT_COMPILES + textwrap.dedent("""
    import json
    import tlbwidgets as tw
    out = {}
    for protocol in tw.PROTOCOLS:
        compiled.clear()
        tw.simulate(cpus=4, protocol=protocol, workload="uniform", accesses=300)
        out[protocol] = list(compiled)
    print(json.dumps(out))
""")


@pytest.fixture(scope="module")
def compiles(tmp_path_factory):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path_factory.mktemp("numba-cache")))
    env.pop("NUMBA_DISABLE_JIT", None)
    out = subprocess.run([sys.executable, "-c", _SCRIPT], env=env, capture_output=True,
                         text=True, check=True, timeout=1200)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_no_function_is_compiled_once_per_constant(compiles):
    literal = [(name, args) for runs in compiles.values() for name, args in runs
               if any("Literal" in a for a in args)]
    assert literal == []


def test_each_function_compiles_once_per_protocol_engine_at_most(compiles):
    engines = {id_: steps.name for id_, steps in _protocol_steps().items()}
    versions = {}
    for runs in compiles.values():
        for name, args in runs:
            versions.setdefault(name, []).append(args)
    for name, sigs in versions.items():
        if any(a.startswith("Protocol(") for a in sigs[0]):
            assert len(sigs) <= len(set(engines.values())), name
        else:
            assert len(sigs) == 1, (name, sigs)


def test_mailbox_compiles_no_other_protocol(compiles):
    names = [name for name, _ in compiles["mailbox"]]
    assert [n for n in names if n.split(".")[2] in _OTHER_PROTOCOL_MODULES] == []
    assert "tlbwidgets.engine._core.run" in names


def test_mailbox_fixed_shares_the_mailbox_engine(compiles):
    assert compiles["mailbox_fixed"] == []


@pytest.mark.parametrize("protocol", tw.PROTOCOLS)
def test_first_run_compiles_no_more_than_its_budget(compiles, protocol):
    assert len(compiles[protocol]) <= COMPILES_BUDGET[protocol], compiles[protocol]


@pytest.mark.parametrize("protocol", tw.PROTOCOLS)
def test_the_progress_bars_compile_count_is_close_to_what_compiles(compiles, protocol):
    # The bar's total is the figure: one far above the real count would stall
    # the bar at a fraction while the run is already done.
    assert len(compiles[protocol]) >= 0.8 * COMPILES_BUDGET[protocol], compiles[protocol]


def _protocol_steps():
    from tlbwidgets.engine._protocols import PROTOCOL_STEPS
    return PROTOCOL_STEPS
