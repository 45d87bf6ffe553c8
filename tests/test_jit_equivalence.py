"""The same code runs interpreted (NUMBA_DISABLE_JIT=1) and gives
bit-identical results: the jitted engine has no behaviour of its own."""

import json
import os
import subprocess
import sys
import textwrap


import tlbwidgets as tw

CASES = [
    dict(cpus=4, protocol="mailbox", workload="single", pages=3),
    dict(cpus=4, sockets=2, protocol="mailbox", workload="uniform", accesses=400,
         unmap_rate=0.02, irq_off_share=0.05, seed=3),
    dict(cpus=3, protocol="mailbox_fixed", workload="irq_off", unmaps=2,
         irq_off_cycles=30_000),
    dict(cpus=8, protocol="mailbox", workload="ack_race"),
    dict(cpus=5, protocol="mailbox", workload="munmap_storm", unmaps=6, seed=2),
    # schedules: the shared-ACK race and the give-up found by search_races, and
    # every kind of delayed step on the other protocols
    dict(cpus=4, protocol="mailbox", workload="two_unmappers",
         schedule=[[0, "ipi", 0, 1500], [0, "push", 0, 1500], [0, "push", 1, 1500]]),
    dict(cpus=3, protocol="mailbox", workload="irq_off_window", ack_timeout_spins=20,
         schedule=[[0, "ipi", 0, 600], [0, "irq_off", 0, 3000]]),
    dict(cpus=4, protocol="linux", workload="two_unmappers",
         schedule=[[2, "handler", 0, 600], [1, "push", 1, 141], [0, "think", 1, 2682]]),
    dict(cpus=4, protocol="global_lock", workload="two_unmappers",
         schedule=[[3, "ipi", 1, 1500], [1, "think", 2, 600]]),
    # byte ranges: the seed rounds down (sub-page and unaligned), the repair outward
    dict(cpus=3, protocol="mailbox", workload="short_range"),
    dict(cpus=4, sockets=2, protocol="mailbox", workload="short_range", byte_offset=4095,
         byte_len=4098),
    dict(cpus=3, protocol="mailbox_fixed", workload="short_range", byte_offset=100,
         byte_len=1000),
]

_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tlbwidgets as tw
    out = []
    for case in json.loads(sys.argv[1]):
        r = tw.simulate(**case)
        out.append({
            "summary": r.summary(),
            "tables": {name: getattr(r, name).tolist() for name in
                       ("shootdowns", "deliveries", "stale_windows", "violations",
                        "cpu_stats", "events")},
        })
    print(json.dumps(out, default=str))
""")


def _fingerprint(r):
    return {
        "summary": r.summary(),
        "tables": {name: getattr(r, name).tolist() for name in
                   ("shootdowns", "deliveries", "stale_windows", "violations",
                    "cpu_stats", "events")},
    }


def test_interpreted_engine_gives_bit_identical_results():
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, json.dumps(CASES)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    interpreted = json.loads(proc.stdout)
    jitted = json.loads(json.dumps([_fingerprint(tw.simulate(**c)) for c in CASES],
                                   default=str))
    for case, a, b in zip(CASES, jitted, interpreted):
        assert a["summary"] == b["summary"], case
        for name in a["tables"]:
            assert a["tables"][name] == b["tables"][name], (case, name)
    # the cases are not trivial: they exercise violations, timeouts and races
    assert any(j["summary"]["violations"] for j in jitted)
    assert sum(j["summary"]["shootdowns"] for j in jitted) > 20
