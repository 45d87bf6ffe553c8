"""Events per (shootdown, target) delivery, by what each event does.

Runs the engine interpreted (``NUMBA_DISABLE_JIT=1``, set here before numba
is imported) and tallies every event the loop pops by its kind and, for a
CPU's own step, by the CPU's mode and protocol phase at that moment.  The
jitted engine processes exactly the same events (tests/test_jit_equivalence.py),
so the tally is the jitted engine's too; interpreted it takes a minute for
the 256-CPU storm of one unmap per CPU::

    PYTHONPATH=$PWD python benchmarks/count_events.py            # mailbox storm, 256 CPUs
    PYTHONPATH=$PWD python benchmarks/count_events.py --cpus 32 --unmaps 6
    PYTHONPATH=$PWD python benchmarks/count_events.py --ack-layout padded   # as storm_ab.py
"""

import argparse
import collections
import os
import time

os.environ["NUMBA_DISABLE_JIT"] = "1"

import tlbwidgets as tw                                   # noqa: E402
from tlbwidgets import _tables as T                       # noqa: E402
from tlbwidgets.engine import _core, _mailbox             # noqa: E402
from tlbwidgets.engine import _layout as L                # noqa: E402

__all__ = ["main"]


def _phase_names(prefixes):
    """Phase number -> name, from the mailbox module's constants."""
    return {v: k for k, v in vars(_mailbox).items()
            if isinstance(v, int) and k.split("_")[0] in prefixes and k.isupper()}


def _label(s, t, kind, c):
    """What the event about to be dispatched at t does."""
    cpu = s.cpu
    if kind == L.EK_IPI:
        # merged: one is pending, or taken at H_T0 by an exit played ahead
        merged = cpu[c, L.IPI_PENDING] or t < cpu[c, L.H_T0]
        return "IPI arrival (merged)" if merged else "IPI arrival"
    if kind == L.EK_ACK:
        return "ACK store"
    if kind == L.EK_IRQ:
        return "interrupt taken after an access"
    if kind == L.EK_TICK:
        return "tick"
    mode = cpu[c, L.MODE]
    if mode == T.ST_HANDLER:
        return "handler " + _HANDLER.get(int(cpu[c, L.H_PHASE]), "?")
    if mode in (T.ST_KERNEL, T.ST_WAIT):
        return "initiator " + _INITIATOR.get(int(cpu[c, L.IN_PHASE]), "?")
    return "user / span step"


_HANDLER = _phase_names({"H"})
_INITIATOR = _phase_names({"B", "D"})


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpus", type=int, default=256)
    ap.add_argument("--unmaps", type=int, default=1)
    ap.add_argument("--protocol", default="mailbox")
    ap.add_argument("--ack-layout", default="packed", choices=("packed", "padded"),
                    help="padded: each ACK flag on its own line, as storm_ab.py runs it")
    args = ap.parse_args(argv)
    tally = collections.Counter()
    pop = _core.eq_pop

    def counting_pop(s):
        t, kind, c, arg = pop(s)
        tally[_label(s, t, kind, c)] += 1
        return t, kind, c, arg

    _core.eq_pop = counting_pop
    t0 = time.perf_counter()
    r = tw.simulate(cpus=args.cpus, protocol=args.protocol, workload="munmap_storm",
                    unmaps=args.unmaps, seed=1, max_events=10**9, max_log_rows=1_000_000,
                    max_log_events=1, ack_layout=args.ack_layout)
    s = r.summary()
    n = s["deliveries"]
    print(f"{args.protocol} munmap_storm, {args.cpus} CPUs, unmaps={args.unmaps}, seed=1: "
          f"{s['events']:,} events, {n:,} deliveries, {s['events'] / n:.3f} events per "
          f"delivery ({time.perf_counter() - t0:.0f} s interpreted)")
    assert sum(tally.values()) == s["events"]
    for name, count in tally.most_common():
        print(f"  {name:34s} {count:10,d}  {count / n:6.3f} per delivery")


if __name__ == "__main__":
    main()
