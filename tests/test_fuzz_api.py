"""Random values of every type, size and shape thrown at ``simulate``,
``Costs`` and ``Workload.from_ops``: only a ValueError/TypeError naming a
parameter comes back, or a run that ends (completed, deadlock or
event_limit) in bounded time.  ``from_ops`` once crashed the interpreter, so
its fuzzing runs in a child process."""

import json
import subprocess
import sys
import textwrap
from dataclasses import fields
from pathlib import Path

from hypothesis import given, strategies as st

import tlbwidgets as tw
from tlbwidgets._tables import OUTCOME_NAMES
from tlbwidgets.api import MACHINE_OPTIONS
from tlbwidgets.costs import COST_FIELDS
from tlbwidgets.workloads import workload_params

from fuzz_values import RUN_SECONDS, Timed, anything, fuzz_settings, huge_ints, names_in

# Runs that pass validation are run only when this small (ops of all CPUs),
# so the suite stays fast; bigger valid ones are validated, not run.
RUN_OPS = 100_000
EVENTS = 30_000

_ALL_NAMES = ({"cpus", "sockets", "seed", "protocol", "workload", "costs", "offline[]",
               "sizes[]", "ack_timeout_spins x pause"} | set(MACHINE_OPTIONS)
              | set(COST_FIELDS) | {"clock_ghz", "preset"}
              | {p for w in tw.WORKLOADS for p in workload_params(w)})


def _small_valid(name):
    """Plausible values for a parameter, so that many examples pass and run."""
    if name.endswith("_rate") or name.endswith("_share"):
        return st.floats(0, 0.3)
    if name.endswith("_cycles") or name == "tick_cycles":
        return st.integers(1, 200_000)
    if name == "wait_irqs_off":
        return st.booleans()
    if name == "sizes":
        return st.lists(st.integers(1, 70), min_size=1, max_size=3)
    if name in ("tlb_sets", "tlb_ways"):
        return st.sampled_from([1, 2, 4, 16])
    if name == "vm_pages":
        return st.sampled_from([64, 256, 4096])
    if name == "apic_mode":
        return st.sampled_from(["x2apic_cluster", "physical"])
    if name == "ack_timeout_spins":
        return st.one_of(st.none(), st.integers(1, 10_000))
    if name in ("accesses", "unmaps", "repeats", "rounds"):
        return st.integers(1, 300)
    return st.integers(0, 40)


@st.composite
def simulate_kwargs(draw):
    """simulate()'s arguments: plausible values, with none, one or a few of
    them replaced by values of any type, size and shape."""
    valid = {
        "workload": st.sampled_from(tw.WORKLOADS),
        "cpus": st.integers(1, 12),
        "sockets": st.sampled_from([1, 1, 2]),
        "seed": st.integers(0, 5),
        "protocol": st.sampled_from(tw.PROTOCOLS),
        "costs": st.one_of(st.sampled_from(sorted(tw.COST_PRESETS)), st.dictionaries(
            st.sampled_from(COST_FIELDS), st.integers(1, 3000), max_size=3)),
    }
    kwargs = {k: draw(v) for k, v in valid.items()}
    params = list(workload_params(kwargs["workload"]))
    names = sorted(set(MACHINE_OPTIONS) - {"max_events", "offline"}) + params
    for name in draw(st.lists(st.sampled_from(names), max_size=3, unique=True)):
        kwargs[name] = draw(_small_valid(name))
    bad = draw(st.lists(st.sampled_from(sorted(set(kwargs) | set(names) | {"offline"})),
                        max_size=draw(st.sampled_from([0, 0, 1, 1, 2, 3])), unique=True))
    for name in bad:
        kwargs[name] = draw(anything)
    if "costs" in bad and draw(st.booleans()):     # a dict of any values, too
        kwargs["costs"] = draw(st.dictionaries(
            st.sampled_from(COST_FIELDS + ("clock_ghz", "preset")), anything, max_size=3))
    return kwargs


def _assert_named_error(exc):
    assert isinstance(exc, (ValueError, TypeError)), repr(exc)
    assert names_in(str(exc), _ALL_NAMES), f"names no parameter: {exc!r}"


@fuzz_settings(500)
@given(kwargs=simulate_kwargs())
def test_simulate_returns_a_run_or_an_error_naming_a_parameter(kwargs):
    try:
        config, wl, _, _ = tw.validate_args(**kwargs)
    except Exception as exc:  # noqa: BLE001 - anything else is the failure we look for
        _assert_named_error(exc)
        return
    size = wl.size(config["cpus"])
    if size is None or size[0] > RUN_OPS:
        return
    with Timed() as t:
        try:
            r = tw.simulate(max_events=EVENTS, **kwargs)
        except Exception as exc:  # noqa: BLE001
            _assert_named_error(exc)     # e.g. a workload that does not fit vm_pages
            return
    assert t.seconds < RUN_SECONDS
    assert r.outcome in OUTCOME_NAMES
    assert r.config["cpus"] == config["cpus"] and type(r.config["cpus"]) is int
    json.loads(r.to_json())


@fuzz_settings(300)
@given(values=st.dictionaries(
    st.sampled_from(COST_FIELDS + ("clock_ghz", "name")),
    st.one_of(st.integers(0, 5000), anything), max_size=4))
def test_costs_hold_python_numbers_or_refuse_naming_the_field(values):
    try:
        c = tw.Costs(**values)
    except (ValueError, TypeError) as exc:
        assert "Costs." in str(exc) and names_in(str(exc), values), str(exc)
        return
    for f in COST_FIELDS:
        assert type(getattr(c, f)) is int and 0 <= getattr(c, f) <= 10**12
    assert min(c.pause, c.tlb_hit, c.page_walk) >= 1
    json.dumps(c.to_dict())


@fuzz_settings(150)
@given(spins=st.one_of(st.integers(1, 10**13), huge_ints, st.none()),
       pause=st.one_of(st.integers(1, 10**7), huge_ints))
def test_a_give_up_wait_is_within_the_largest_cycle_value_or_refused(spins, pause):
    try:
        config = tw.validate_args(ack_timeout_spins=spins, costs={"pause": pause})[0]
    except (ValueError, TypeError) as exc:
        assert "ack_timeout_spins" in str(exc) or "pause" in str(exc), str(exc)
        return
    if spins is not None:
        assert config["ack_timeout_spins"] * pause <= 10**12


_FROM_OPS_CHILD = textwrap.dedent("""
    import json, sys
    import numpy as np
    from hypothesis import given, strategies as st
    sys.path.insert(0, {tests!r})
    import tlbwidgets as tw
    from tlbwidgets._tables import OP_NAMES, OUTCOME_NAMES
    from fuzz_values import anything, fuzz_settings, huge_ints, names_in

    NAMES = ("cpu", "kind", "vpn", "pages", "think", "cpus", "vm_pages")
    ints = st.one_of(st.integers(-2, 20), huge_ints, st.integers())
    column = st.one_of(
        st.lists(ints, min_size=1, max_size=6),
        st.lists(anything, min_size=1, max_size=3),
        st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=3).map(
            lambda v: np.array(v, dtype=np.uint64)),
        anything)
    kinds = st.one_of(
        st.lists(st.sampled_from(OP_NAMES), min_size=1, max_size=6),
        st.lists(st.one_of(st.sampled_from(OP_NAMES), st.integers(-1, 6), anything),
                 min_size=1, max_size=6),
        anything)
    ran = []

    @fuzz_settings({examples})
    @given(cpu=column, kind=kinds, vpn=column, pages=column, think=column,
           vm_pages=st.sampled_from([1, 16, 4096]), fit=st.booleans(), data=st.data())
    def check(cpu, kind, vpn, pages, think, vm_pages, fit, data):
        if fit:     # columns of one length and mostly valid values: ops reach the engine
            if data.draw(st.booleans()):
                kind = data.draw(st.lists(st.sampled_from(OP_NAMES), min_size=1, max_size=8))
            n = len(kind) if isinstance(kind, list) else 1
            small = st.one_of(st.integers(0, 15), st.integers(0, 15), st.integers(0, 15), ints)
            cpu = data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
            vpn = data.draw(st.lists(small, min_size=n, max_size=n))
            pages = data.draw(st.lists(st.one_of(st.just(1), st.just(1), small),
                                       min_size=n, max_size=n))
            think = data.draw(st.lists(st.one_of(st.integers(0, 5000), st.integers(0, 50), ints),
                                       min_size=n, max_size=n))
            if isinstance(kind, list) and data.draw(st.booleans()):    # every value valid
                vpn = [v % vm_pages for v in
                       data.draw(st.lists(st.integers(0, 15), min_size=n, max_size=n))]
                pages = [1 if k == "access" else p % 5 for k, p in zip(kind, vpn)]
                think = [t % 5001 for t in
                         data.draw(st.lists(st.integers(0, 10**6), min_size=n, max_size=n))]
        try:
            wl = tw.Workload.from_ops(cpu, kind, vpn, pages, think)
            r = tw.simulate(cpus=wl.cpus, vm_pages=vm_pages, workload=wl, max_events=20_000)
        except (ValueError, TypeError) as exc:
            assert names_in(str(exc), NAMES), repr(exc)
            return
        except Exception as exc:
            raise AssertionError(f"{{type(exc).__name__}}: {{exc}}") from exc
        assert r.outcome in OUTCOME_NAMES
        ran.append(r.summary()["accesses"])

    check()
    print(json.dumps({{"ran": len(ran)}}))
""")


def test_from_ops_never_crashes_and_errors_name_a_column():
    tests = str(Path(__file__).parent)
    code = _FROM_OPS_CHILD.format(tests=tests, examples=800)
    with Timed() as t:
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           timeout=600)
    assert p.returncode == 0, f"rc={p.returncode}\n{p.stderr[-3000:]}"
    ran = json.loads(p.stdout.strip().splitlines()[-1])["ran"]
    assert ran > 0            # some examples reached the engine and ran to an outcome
    assert t.seconds < 3 * RUN_SECONDS
