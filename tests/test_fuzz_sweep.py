"""Random sweep arguments and random checkpoint contents: ``check_sweep``
returns a row count or a ValueError/TypeError naming a parameter, and a
sweep over any checkpoint gives the table of a fresh sweep (never a NaN row,
never a float count, never a row taken from a record that is not valid)."""

import json

import numpy as np
import pytest
from hypothesis import given, strategies as st

import tlbwidgets as tw
from tlbwidgets.api import MACHINE_OPTIONS
from tlbwidgets.result import SUMMARY_TYPES
from tlbwidgets.sweep import check_sweep, sweep

from inline_executor import CountingInline
from fuzz_values import anything, fuzz_settings, huge_ints, names_in

FAST = dict(workload="uniform", accesses=100)
_NAMES = ({"cpus", "protocol", "workload", "costs", "sockets", "seeds", "seed", "progress",
           "executor", "checkpoint", "accesses", "unmap_rate", "offline[]"}
          | set(MACHINE_OPTIONS) | set(tw.workloads.workload_params("uniform")))

sweep_values = st.one_of(
    anything,
    st.lists(st.one_of(st.integers(1, 8), anything), min_size=0, max_size=3),
    st.lists(st.integers(1, 4), min_size=1, max_size=3).map(np.array),
    st.just(np.zeros((2, 2), dtype=np.int64)),
    st.just(range(2, 4)),
)


@fuzz_settings(250)
@given(args=st.dictionaries(
    st.sampled_from(["cpus", "protocol", "costs", "sockets", "seeds", "accesses",
                     "unmap_rate", "vm_pages", "ack_timeout_spins", "offline", "seed",
                     "progress", "executor", "checkpoint"]),
    sweep_values, max_size=3))
def test_check_sweep_counts_rows_or_names_the_bad_parameter(args, tmp_path_factory):
    args = {"workload": "uniform", **args}
    try:
        n = check_sweep(**args)
    except (ValueError, TypeError) as exc:
        assert names_in(str(exc), _NAMES | set(args)), repr(exc)
        return
    assert isinstance(n, int) and n >= 1


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """A fresh two-row sweep and its checkpoint records."""
    ckpt = tmp_path_factory.mktemp("ref") / "runs.jsonl"
    table = sweep(cpus=[2, 3], checkpoint=str(ckpt), executor=CountingInline(), **FAST)
    return table, [json.loads(line) for line in ckpt.read_text().splitlines()]


def _mutations(record):
    """Strategies for a record that looks like ``record`` but is not valid."""
    keys = sorted(SUMMARY_TYPES)
    summary = record["summary"]
    return st.one_of(
        st.builds(lambda k, v: {**record, "summary": {**summary, k: v}},
                  st.sampled_from(keys),
                  st.one_of(st.text(max_size=3), st.booleans(), st.lists(st.integers()),
                            st.dictionaries(st.text(max_size=2), st.integers(), max_size=1))),
        st.builds(lambda k: {**record, "summary": {x: v for x, v in summary.items()
                                                   if x != k}}, st.sampled_from(keys)),
        st.builds(lambda v: {**record, "summary": v}, anything),
        st.builds(lambda v: {**record, "key": v}, anything),
        st.just({k: v for k, v in record.items() if k != "summary"}),
    )


@fuzz_settings(60)
@given(data=st.data())
def test_a_sweep_over_any_checkpoint_gives_the_fresh_table(reference, tmp_path_factory,
                                                           data):
    table, records = reference
    lines = []
    for _ in range(data.draw(st.integers(0, 6))):
        choice = data.draw(st.sampled_from(["valid", "broken", "bytes", "cut"]))
        record = data.draw(st.sampled_from(records))
        if choice == "valid":
            lines.append(json.dumps(record).encode())
        elif choice == "broken":
            lines.append(json.dumps(data.draw(_mutations(record)), default=str).encode())
        elif choice == "bytes":
            lines.append(data.draw(st.binary(max_size=12)).replace(b"\n", b""))
        else:
            text = json.dumps(record).encode()
            lines.append(text[:data.draw(st.integers(0, len(text) - 1))])
    ckpt = tmp_path_factory.mktemp("fuzz") / "runs.jsonl"
    ckpt.write_bytes(b"\n".join(lines))
    executor = CountingInline()
    got = sweep(cpus=[2, 3], checkpoint=str(ckpt), executor=executor, **FAST)
    assert got.dtype == table.dtype
    for name in table.dtype.names:
        np.testing.assert_array_equal(got[name], table[name])
    assert executor.runs <= 2


@fuzz_settings(60)
@given(spins=st.one_of(st.integers(1, 10**13), huge_ints),
       think=st.one_of(st.integers(0, 10**13), huge_ints))
def test_cycle_values_of_a_sweep_are_bounded_before_any_run(spins, think):
    try:
        check_sweep(cpus=[2, 4], ack_timeout_spins=[spins], think_cycles=think, **FAST)
    except (ValueError, TypeError) as exc:
        assert names_in(str(exc), ("ack_timeout_spins", "think_cycles")), str(exc)
        return
    assert spins * 140 <= 10**12 and think <= 10**12
