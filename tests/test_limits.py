"""The API refuses what the engine cannot run exactly, naming the parameter:
values that would wrap in int64, cycle values past the largest one, runs whose
simulated time could overflow the clock, workloads that do not fit in memory,
zero-cost accesses; NumPy scalars run as the Python values they stand for."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import tlbwidgets as tw
from tlbwidgets._validate import MAX_CYCLES
from tlbwidgets.api import MAX_OPS


def test_custom_ops_whose_range_would_wrap_are_refused_not_run():
    # These crashed the interpreter (rc 139) or read out of bounds: run them
    # where a crash cannot take the test session down.
    code = textwrap.dedent("""
        import tlbwidgets as tw
        for args in (([0], ['unmap'], [12], [2**63 - 1], [0]),
                     ([0], ['access'], [2**63 - 1], [1], [0]),
                     ([0], ['unmap'], [12], [-2**63], [0])):
            try:
                tw.simulate(cpus=1, vm_pages=16, workload=tw.Workload.from_ops(*args))
            except ValueError as exc:
                print(str(exc).split(' must ')[0])
            else:
                print('ran')
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["pages", "vpn", "pages"]


@pytest.mark.parametrize("kwargs,name", [
    ({"costs": {"ipi_latency": 2**61}}, "ipi_latency"),
    ({"costs": {"pause": 2**40}}, "pause"),
    ({"think_cycles": 2**62}, "think_cycles"),
    ({"workload": "big_unmap", "gap_cycles": 2**62}, "gap_cycles"),
    ({"workload": "single", "quiet_cycles": 2**62}, "quiet_cycles"),
    ({"workload": "irq_off", "irq_off_cycles": MAX_CYCLES + 1}, "irq_off_cycles"),
    ({"workload": "idle_cpus", "idle_cycles": 2**62}, "idle_cycles"),
    ({"tick_cycles": 2**62}, "tick_cycles"),
])
def test_a_cycle_value_past_the_largest_is_refused_naming_it_and_the_limit(kwargs, name):
    for check in (tw.simulate, tw.validate_args, tw.check_sweep):
        with pytest.raises(ValueError) as info:
            check(**kwargs)
        assert name in str(info.value)
        assert f"{MAX_CYCLES:,}" in str(info.value)


def test_the_largest_cycle_value_itself_is_accepted():
    config = tw.validate_args(workload="single", quiet_cycles=MAX_CYCLES,
                              costs={"ipi_latency": MAX_CYCLES})[0]
    assert config["quiet_cycles"] == MAX_CYCLES


def test_a_give_up_wait_past_the_largest_cycle_value_is_refused_naming_both_factors():
    with pytest.raises(ValueError, match=r"ack_timeout_spins x pause .*pause") as info:
        tw.simulate(ack_timeout_spins=10**12, costs={"pause": 10**7})
    assert "None" in str(info.value)          # says how to wait forever instead
    tw.validate_args(ack_timeout_spins=10**12 // 140)        # at the limit: fine


def test_a_run_whose_simulated_time_could_overflow_the_clock_is_refused_before_it_runs():
    # 2,000,000 think times of about 10**12 cycles: about 2e18 cycles, past 2**60
    with pytest.raises(ValueError, match=r"2\*\*60 cycles.*think times"):
        tw.simulate(cpus=2, accesses=1_000_000, think_cycles=MAX_CYCLES, unmap_rate=0.0)


def test_numpy_scalar_arguments_run_as_their_python_values():
    a = tw.simulate(cpus=np.uint8(200), workload="munmap_storm", unmaps=np.int16(3),
                    seed=np.uint64(1), max_events=np.int32(10**7))
    b = tw.simulate(cpus=200, workload="munmap_storm", unmaps=3, seed=1)
    assert a.summary() == b.summary()
    assert a.summary()["shootdowns"] == 600
    assert type(a.config["cpus"]) is int and a.config["cpus"] == 200
    json.loads(a.to_json())


def test_accesses_that_cost_nothing_are_refused_and_the_cheapest_ones_complete():
    for field in ("tlb_hit", "page_walk"):
        with pytest.raises(ValueError, match=f"{field} must be at least 1 cycle"):
            tw.simulate(cpus=4, workload="uniform", accesses=500, think_cycles=0,
                        costs={field: 0})
    # the run that spun 50 M events at t=0: one cycle a hit is enough to finish
    r = tw.simulate(cpus=4, workload="uniform", accesses=500, think_cycles=0,
                    costs={"tlb_hit": 1, "page_walk": 1})
    assert r.outcome == "completed" and r.summary()["accesses"] > 0


def test_costs_hold_python_ints_and_refuse_values_past_the_largest_cycle_value():
    with pytest.raises(ValueError, match=r"Costs.invlpg .*1,000,000,000,000"):
        tw.Costs(invlpg=2**70)
    c = tw.Costs(invlpg=np.int64(250), clock_ghz=np.float32(2.5))
    assert type(c.invlpg) is int and type(c.clock_ghz) is float
    json.dumps(c.to_dict())
    r = tw.simulate(cpus=2, workload="single", costs={"invlpg": np.int64(250)})
    assert json.loads(r.to_json())["config"]["costs"]["invlpg"] == 250


@pytest.mark.parametrize("kind,exc,words", [
    ([None, "access"], TypeError, ["kind", "None"]),
    (["jump", None], ValueError, ["kind", "jump"]),
    ([0.9, 0.0], TypeError, ["kind", "0.9"]),
    ([True, False], TypeError, ["kind", "True"]),
    ([0, 7], ValueError, ["kind", "7"]),
])
def test_from_ops_refuses_kinds_that_are_not_names_or_integer_codes(kind, exc, words):
    with pytest.raises(exc) as info:
        tw.Workload.from_ops([0, 0], kind, [0, 0], [1, 1], [0, 0])
    for w in words:
        assert w in str(info.value)


@pytest.mark.parametrize("column,values,shown", [
    ("vpn", [-5], "-5"),
    ("vpn", np.array([2**64 - 1], dtype=np.uint64), "18,446,744,073,709,551,615"),
    ("vpn", [2**70], "1,180,591,620,717,411,303,424"),
    ("think", np.array([2**63 + 5], dtype=np.uint64), "9,223,372,036,854,775,813"),
    ("cpu", [-1], "-1"),
])
def test_from_ops_names_the_column_and_shows_the_value_as_given(column, values, shown):
    cols = {"cpu": [0], "kind": ["access"], "vpn": [0], "pages": [1], "think": [0]}
    cols[column] = values
    with pytest.raises(ValueError) as info:
        tw.Workload.from_ops(**cols)
    assert str(info.value).startswith(f"{column} must be between")
    assert shown in str(info.value)


def test_a_workload_larger_than_the_largest_is_refused_naming_what_it_grows_with():
    with pytest.raises(ValueError, match=r"cpus x accesses.*2,147,483,648 ops") as info:
        tw.validate_args(cpus=1024, accesses=50_000_000)
    assert "lower accesses or cpus" in str(info.value)
    with pytest.raises(ValueError, match=r"rounds x initiators x pages"):
        tw.check_sweep(cpus=1024, workload="concurrent_initiators", rounds=10_000,
                       pages=60_000)


def test_a_workload_that_does_not_fit_in_memory_is_refused(monkeypatch):
    import tlbwidgets.api as api
    monkeypatch.setattr(api, "_physical_memory_bytes", lambda: 2**30)
    with pytest.raises(ValueError, match=r"needs about .* GiB of memory .*1.0 GiB"):
        tw.validate_args(cpus=64, accesses=1_000_000)
    tw.validate_args(cpus=64, accesses=100_000)          # about 0.3 GiB: fine


@pytest.mark.parametrize("name", tw.WORKLOADS)
@pytest.mark.parametrize("cpus", [3, 8, 33])
def test_a_workload_size_is_at_least_the_ops_it_builds(name, cpus):
    spec = tw.workloads.get_workload(name)()
    try:
        op_start = spec.build(cpus, 0, 4096)[0]
    except ValueError:          # the workload does not fit this machine
        return
    n_ops, bytes_per_op, what = spec.size(cpus)
    assert op_start[-1] <= n_ops <= max(2 * op_start[-1], 64)
    assert bytes_per_op >= 40 and what


def test_max_ops_is_what_the_docs_say():
    text = (Path(__file__).parents[1] / "docs" / "model.md").read_text(encoding="utf-8")
    assert MAX_OPS == 2**31 and "**2^31 ops**" in text
    assert MAX_CYCLES == 10**12 and "**10^12 cycles**" in text


@pytest.mark.parametrize("spec,cpus", [
    (tw.workloads.uniform(accesses=50_000, unmap_rate=0.01, irq_off_share=0.01), 3),
    (tw.workloads.munmap_storm(unmaps=50), 5),
    (tw.workloads.single(pages=4), 4),
    (tw.Workload.from_ops([0, 1, 1], ["access", "idle", "access"], [0, 0, 3], [1, 0, 1],
                          [7, 10**12, 5]), 2),
])
def test_the_think_total_of_the_blocks_is_the_sum_of_the_built_think_times(spec, cpus):
    # simulate bounds the run's time with this total, summed as blocks are made
    totals = {}
    _, blocks = spec.build_blocks(cpus, 1, 4096, totals)
    for _ in blocks:
        pass
    think = spec.build(cpus, 1, 4096)[4]
    assert totals["think_cycles"] == float(think.sum())
