"""Schedules explored and time taken by ``search_races`` on the two search
scenarios, for every protocol (docs/model.md, section 11).

Run: ``PYTHONPATH=$PWD python benchmarks/bench_search.py``.  The counts of a
search that ends on a violation or is exhausted are deterministic; the
seconds, and the counts of a search stopped by its budget, vary with the
machine's load (print ``uptime`` with them)."""

import tlbwidgets as tw

CASES = [("two_unmappers", 4, {}), ("irq_off_window", 3, {"ack_timeout_spins": 20}),
         ("two_unmappers", 3, {}), ("short_range", 3, {})]
PROTOCOLS = ("mailbox", "mailbox_fixed", "linux", "global_lock", "broadcast")
# Enough for the largest, mailbox_fixed on 4 CPUs, to cover bound 3 on a busy machine.
BUDGET_S = 30


def main():
    for workload, cpus, options in CASES:
        for protocol in PROTOCOLS:
            tw.simulate(cpus=cpus, protocol=protocol, workload=workload, **options)  # compile
            s = tw.search_races(protocol, workload, cpus, bound=3, budget_s=BUDGET_S, **options)
            found = "; ".join(p.describe() for p in s.counterexample or ())
            print(f"{workload:15s} {cpus} {protocol:14s} schedules={s.schedules:7,d} "
                  f"orderings={s.orderings:7,d} violations={s.outcomes['violation']} "
                  f"stopped={s.stopped:9s} {s.elapsed_s:6.2f} s  {found}", flush=True)


if __name__ == "__main__":
    main()
