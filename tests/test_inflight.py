"""IPIs that arrive while one is pending merge without an event of their own
(``engine/_inflight``, docs/model.md section 7), and the run is the one in
which every arrival is an event.

The run with an event per arrival is the same engine, interpreted, with the
parking of IPIs in flight turned off (``_inflight._PARK`` set false, which
the interpreted engine reads at each use): every arrival is then queued and
popped, and merges in ``_cpu.ipi_arrive`` as before the lists of IPIs in
flight existed.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

import tlbwidgets as tw

__all__ = []

TABLES = ("shootdowns", "deliveries", "stale_windows", "violations", "cpu_stats", "events")

ROUND = {"ipi_send": 100, "ipi_latency": 300, "ipi_latency_remote": 300, "irq_entry": 300,
         "irq_exit": 300, "cacheline": 100, "cacheline_remote": 100, "invlpg": 100,
         "pause": 100, "full_flush": 100}

CASES = [
    dict(protocol="mailbox", cpus=24, sockets=2, workload="munmap_storm", unmaps=3, seed=4),
    dict(protocol="mailbox_fixed", cpus=16, workload="munmap_storm", unmaps=3, seed=5,
         ack_layout="padded"),
    dict(protocol="mailbox", cpus=12, workload="uniform", seed=6, irq_off_share=0.2,
         unmap_rate=0.02, accesses=3_000),
    dict(protocol="mailbox", cpus=8, workload="idle_cpus", unmaps=3, seed=7,
         costs={"idle_wake": 6_007}),
    dict(protocol="global_lock", cpus=12, workload="munmap_storm", unmaps=2, seed=8),
    dict(protocol="linux", cpus=12, workload="munmap_storm", unmaps=2, seed=9, sockets=2),
    dict(protocol="latr", cpus=8, workload="uniform", seed=10, unmap_rate=0.02, accesses=3_000),
    # interrupts off while waiting: the seed gives up; the repair deadlocks, with IPIs
    # still pending on CPUs that never take them (merged when the run ends)
    dict(protocol="mailbox", cpus=6, workload="munmap_storm", unmaps=2, seed=11,
         wait_irqs_off=True, ack_timeout_spins=50),
    dict(protocol="mailbox_fixed", cpus=6, workload="munmap_storm", unmaps=2, seed=11,
         wait_irqs_off=True, ack_timeout_spins=None),
    # round costs: IPIs reach CPUs at the very instants their handlers take or
    # leave (the ties of the canonical order decide which arrivals merge)
    dict(protocol="mailbox", cpus=16, workload="munmap_storm", unmaps=3, seed=12,
         costs=ROUND),
    dict(protocol="mailbox_fixed", cpus=16, workload="munmap_storm", unmaps=3, seed=13,
         costs=ROUND, ack_layout="padded"),
]

_EAGER = textwrap.dedent("""
    import json, sys
    import tlbwidgets as tw
    from tlbwidgets.engine import _inflight
    _inflight._PARK = False      # every arrival an event
    out = []
    for case in json.loads(sys.argv[1]):
        r = tw.simulate(**case)
        out.append({"summary": r.summary(),
                     "tables": {name: getattr(r, name).tolist() for name in %r}})
    print(json.dumps(out, default=str))
""" % (TABLES,))


def _json(rows):
    """Rows as they come back from the subprocess."""
    return json.loads(json.dumps(rows, default=str))


def _rows(rows):
    """The rows of a table, sorted (the event log's merged-arrival rows are
    written when the interrupt is taken)."""
    return sorted(tuple(row) for row in _json(rows))


@pytest.fixture(scope="module")
def eager_runs():
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    out = subprocess.run([sys.executable, "-c", _EAGER, json.dumps(CASES)], env=env,
                         check=True, capture_output=True, text=True, timeout=900).stdout
    return json.loads(out)


@pytest.mark.parametrize("i", range(len(CASES)), ids=[
    f"{c['protocol']}-{c['workload']}-{c['cpus']}"
    + ("-irqs-off" if c.get("wait_irqs_off") else "") + ("-round" if "costs" in c and
                                                          c["costs"] is ROUND else "")
    for c in CASES])
def test_parked_ipis_give_the_run_in_which_every_arrival_is_an_event(eager_runs, i):
    r = tw.simulate(**CASES[i])
    eager = eager_runs[i]
    got = json.loads(json.dumps(r.summary(), default=str))
    want = dict(eager["summary"])
    assert got.pop("events") <= want.pop("events")
    assert got == want
    for name in TABLES[:-1]:
        assert _json(getattr(r, name).tolist()) == eager["tables"][name], name
    assert _rows(r.events.tolist()) == _rows(eager["tables"]["events"])


def test_a_storm_merges_arrivals_without_events(eager_runs):
    # The first case: 24 CPUs on two sockets, where many IPIs reach CPUs
    # with one pending.  Each merged arrival is at most one event saved.
    r = tw.simulate(**CASES[0])
    s = r.summary()
    saved = int(eager_runs[0]["summary"]["events"]) - s["events"]
    assert s["coalesced_ipis"] > 100
    assert 0.5 * s["coalesced_ipis"] < saved <= s["coalesced_ipis"]

