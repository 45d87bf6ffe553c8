"""The SimPy model of ``mailbox`` that the engine is benchmarked against plays the
same protocol: on runs where no two CPUs meet on one queue lock or ACK flag at one
instant, every shootdown and every delivery instant is identical to the engine's; on
contended storms, the first instant at which they differ comes after such a tie
(which the engine and SimPy may break in different orders).

``benchmarks/simpy_storm.py`` holds the model; SimPy is only in the ``bench`` extra,
so these tests skip without it.  A few small runs: seconds once the engine is compiled.
"""

import math

import pytest

pytest.importorskip("simpy")

import tlbwidgets as tw  # noqa: E402
from benchmark_script import load_benchmark  # noqa: E402

__all__ = []

model = load_benchmark("simpy_storm.py", "simpy_storm")

TIE_FREE_CASES = [
    (tw.workloads.single(), dict(cpus=4)),
    (tw.workloads.single(pages=3, initiator=5), dict(cpus=16)),
    (tw.workloads.single(pages=100), dict(cpus=16, sockets=2)),
    # contended: 5 initiators whose pushes, IPIs and waits overlap (30 merged IPIs)
    (model.staggered(16, {1: 500, 2: 611, 7: 702, 12: 1234, 15: 1400}, seed=1),
     dict(cpus=16)),
]


@pytest.mark.parametrize("workload, machine", TIE_FREE_CASES,
                         ids=["single-4", "single-3-pages", "single-full-2-sockets",
                              "staggered-5-initiators"])
def test_simpy_model_gives_the_engines_instants_when_no_cpus_tie(workload, machine):
    d = model.compare(workload, **machine)
    assert d["ties"] == 0
    assert d["first_difference"] == math.inf
    assert d["same_shootdowns"] == d["shootdowns"][0] == d["shootdowns"][1]
    assert d["same_deliveries"] == d["deliveries_logged"][0] == d["deliveries_logged"][1]
    for name, (engine, simpy) in d["counts"].items():
        assert engine == simpy, name


def test_simpy_model_departs_from_the_engine_only_after_a_tie_in_a_storm():
    d = model.compare(tw.workloads.munmap_storm(unmaps=10), cpus=16, sockets=2)
    assert d["ties"] > 0
    assert d["first_tie"] < d["first_difference"] < math.inf
    assert d["counts"]["deliveries"][0] == d["counts"]["deliveries"][1] == 160 * 15
    assert d["counts"]["accesses"][0] == d["counts"]["accesses"][1]
