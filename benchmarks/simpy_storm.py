"""A plain SimPy model of the seed's ``mailbox`` shootdown, to measure the engine against.

    python benchmarks/simpy_storm.py --check    # agreement with tw.simulate, small runs
    python benchmarks/simpy_storm.py --bench    # 256-CPU storm, both, alternating (~4 min)
    python benchmarks/simpy_storm.py            # both

Needs SimPy: ``pip install -e ".[bench]"``.

The model is what one would write with SimPy's usual idioms: a process per CPU that plays
its op stream (``timeout`` per access and per think time), a ``simpy.Resource`` per
mailbox lock, IPIs as events that ``interrupt`` the target's process, and waiting on an
ACK flag as waiting on an event that each ACK store triggers (then rounding up to the
poller's ``pause`` grid).  It plays the *same* op table as ``tw.simulate`` (built by
the same ``Workload`` with the same seed) with the same ``Costs`` preset and charges
what docs/model.md charges the ``mailbox`` protocol:

* initiator: local flush (``pages x invlpg``, or ``full_flush`` above 64 pages); per
  target in CPU order, its queue lock held for the push and the ACK clear
  (``2 x cacheline``, remote across sockets; a push into a full 16-slot queue replaces
  the queue by one Full op); per target an IPI send (``ipi_send``), arriving
  ``ipi_latency`` (remote across sockets) later; then per target, polling its ACK flag
  with one ``pause`` per poll (a flag set and cleared again between two polls is
  missed, the seed's shared-flag race); pending interrupts are taken at each step
  boundary and at once while polling;
* target: an IPI is taken at once in a think time, at the end of the access in flight,
  or after the handler in progress (IPIs arriving while one is pending merge);
  ``irq_entry``, lock its queue and drain it (``cacheline``), perform each drained op,
  store ACK = true (``cacheline``), ``irq_exit``; the interrupted think time resumes.

Ties at one instant follow the engine's classes (docs/model.md section 7, and
tests/reference_sim.py for access starts): ACK stores, then CPU steps, then IPI
arrivals, then interrupts taken at the end of an access, then access starts (SimPy
event priorities 0-4).  Within a class SimPy's order is its own first come first served,
which need not be the engine's: two CPUs that meet on one queue lock or ACK flag at one
instant may be served in the other order (the model notes every such tie, the only
bookkeeping it does beyond the protocol and its counts).

What it simplifies (none of it changes a cycle of the runs it is compared on):

* TLB contents are tracked for hit/miss costs only: no PTE versions, no staleness
  windows, no stale hits or violations;
* no give-up: the seed's ``ack_timeout_spins`` (10 M polls) is not modelled; the run
  records the longest wait so the check can see that none came near it;
* only ``mailbox``, one op kind for both unmap and protect, no IRQ_OFF / IDLE ops
  (``munmap_storm`` and ``single`` have none: the model refuses them), no offline CPUs,
  no schedule perturbations;
* deliveries are logged only when asked (``log_deliveries=True``): the benchmark times
  each side with its log and without, and compares both logging (the engine its first
  1,000,000 rows, as its own benchmark runs it; SimPy every row), neither logging, and
  the engine logging against SimPy not.
"""

import argparse
import math
import os
import sys
import time

import numpy as np
import simpy
from simpy.core import NORMAL, URGENT
from simpy.events import Event

import tlbwidgets as tw
from tlbwidgets.costs import resolve_costs

# The model charges each ACK flag on its own cache line; the engine's seed
# packs them into one line by default (docs/model.md section 5), which this
# model does not play: both run the padded layout.
ACK_LAYOUT = "padded"

__all__ = ["SimpyMailbox", "simpy_mailbox", "staggered", "compare", "check", "bench", "main"]

# Op kinds (tlbwidgets/_tables.py).
ACCESS, UNMAP, PROTECT = 0, 1, 2
# The seed's constants (docs/model.md).
QUEUE_SLOTS = 16
FULL_THRESHOLD_PAGES = 64
FULL = -1                    # a queued op's page count meaning "flush everything"

# Event classes at one instant, earliest first (docs/model.md).
PRIO_STORE = URGENT          # 0: an ACK store lands before a poll at the same instant
PRIO_STEP = NORMAL           # 1: op starts, protocol steps, polls
PRIO_IPI = 2                 # IPI arrivals
PRIO_ACCESS_END = 3          # an interrupt waiting for the access in flight is taken
PRIO_ACCESS = 4              # an access starting at t runs after an IPI arriving at t


class _At(Event):
    """A timeout with an explicit tie class (``simpy.Timeout`` is always NORMAL)."""

    def __init__(self, env, delay, priority, value=None):
        super().__init__(env)
        self._ok = True
        self._value = value
        env.schedule(self, priority, delay)


class _Cpu:
    def __init__(self, env, c, socket, sets, ways):
        self.id = c
        self.socket = socket
        self.process = None
        self.ipi_pending = False
        self.interruptible = False        # in a think time or polling: IPIs interrupt
        self.tlb = [[[-1, 0] for _ in range(ways)] for _ in range(sets)]  # [vpn, last use]
        self.queue = []                   # [pages or FULL, vpn, [delivery records]]
        self.lock = simpy.Resource(env, capacity=1)
        self.ack_flag = True
        self.ack_stored = env.event()     # triggered (and replaced) by every ACK store
        self.finished = self.handler_end = 0
        self.last_lock_request = (-1, -1)  # (instant, requesting CPU)
        self.last_poll = self.last_clear = -1


class SimpyMailbox:
    """One run; :func:`simpy_mailbox` builds and plays it."""

    def __init__(self, arrays, cpus, sockets, costs, tlb_sets, tlb_ways, log_deliveries):
        self.env = simpy.Environment()
        self.op_start, self.kind, self.vpn, self.pages, self.think = (
            a.tolist() for a in arrays)
        if any(k not in (ACCESS, UNMAP, PROTECT) for k in self.kind):
            raise ValueError("the SimPy model plays ACCESS, UNMAP and PROTECT ops only")
        self.k = costs
        self.cpus = [_Cpu(self.env, c, c * sockets // cpus, tlb_sets, tlb_ways)
                     for c in range(cpus)]
        self.log_deliveries = log_deliveries
        self.shootdowns = []      # [initiator, start, end]
        self.deliveries = []      # [shootdown, cpu, pushed, ipi_sent, handler_start, flushed, acked]
        self.ipis = self.coalesced = self.overflows = 0
        self.accesses = self.misses = 0
        self.longest_wait = 0
        self.ties = []            # instants at which two CPUs asked for one lock, or
                                  # one polled a flag another cleared (SimPy: FIFO)

    # ---- costs ---------------------------------------------------------------------
    def cacheline(self, a, b):
        return self.k.cacheline if a.socket == b.socket else self.k.cacheline_remote

    def ipi_latency(self, a, b):
        return self.k.ipi_latency if a.socket == b.socket else self.k.ipi_latency_remote

    # ---- the TLB: set-associative, LRU, for hit / miss costs -------------------------
    def access(self, cpu, vpn):
        ways = cpu.tlb[vpn % len(cpu.tlb)]
        now = self.env.now
        self.accesses += 1
        for way in ways:
            if way[0] == vpn:
                way[1] = now
                return self.k.tlb_hit
        self.misses += 1
        victim = None
        for way in ways:
            if way[0] < 0:
                victim = way
                break
            if victim is None or way[1] < victim[1]:
                victim = way
        victim[0], victim[1] = vpn, now
        return self.k.page_walk

    def invalidate(self, cpu, pages, vpn):
        if pages == FULL:
            for ways in cpu.tlb:
                for way in ways:
                    way[0] = -1
            return
        for v in range(vpn, vpn + pages):
            for way in cpu.tlb[v % len(cpu.tlb)]:
                if way[0] == v:
                    way[0] = -1

    def flush_cycles(self, pages):
        return self.k.full_flush if pages == FULL else pages * self.k.invlpg

    # ---- a CPU: its op stream, its think times, its interrupts ----------------------
    def run_cpu(self, cpu):
        c = cpu.id
        lo, hi = self.op_start[c], self.op_start[c + 1]
        for i in range(lo, hi):
            if self.kind[i] == ACCESS:
                yield _At(self.env, self.access(cpu, self.vpn[i]), PRIO_ACCESS_END)
            else:
                yield from self.shootdown(cpu, self.vpn[i], self.pages[i])
            if cpu.ipi_pending:           # arrived during the access or the shootdown
                yield from self.handler(cpu)
            after_access = i + 1 < hi and self.kind[i + 1] == ACCESS
            yield from self.think_time(cpu, self.think[i],
                                       PRIO_ACCESS if after_access else PRIO_STEP)
        cpu.finished = self.env.now
        # Done, but still answering IPIs.
        while True:
            cpu.interruptible = True
            try:
                yield self.env.event()
            except simpy.Interrupt:
                yield from self.handler(cpu)

    def think_time(self, cpu, cycles, priority):
        """Run for ``cycles``; an IPI interrupts it and the rest runs after the handler."""
        end = self.env.now + cycles
        while True:
            cpu.interruptible = True
            try:
                yield _At(self.env, end - self.env.now, priority)
                break
            except simpy.Interrupt:
                t = self.env.now
                yield from self.handler(cpu)
                end += self.env.now - t
        cpu.interruptible = False

    def ipi_arrives(self, event):
        cpu = event.value
        if cpu.ipi_pending:
            self.coalesced += 1
            return
        cpu.ipi_pending = True
        if cpu.interruptible:
            cpu.process.interrupt()

    def handler(self, cpu):
        """The shootdown IPI handler; again while another IPI arrived meanwhile."""
        env, k = self.env, self.k
        cpu.interruptible = False
        while cpu.ipi_pending:
            cpu.ipi_pending = False
            start = env.now
            yield env.timeout(k.irq_entry)
            with self.lock(cpu, cpu) as req:
                yield req
                yield env.timeout(k.cacheline)
                drained, cpu.queue = cpu.queue, []
            for pages, vpn, records in drained:
                yield env.timeout(self.flush_cycles(pages))
                self.invalidate(cpu, pages, vpn)
                for record in records:
                    record[4], record[5] = start, env.now
            yield _At(env, k.cacheline, PRIO_STORE)
            cpu.ack_flag = True
            stored, cpu.ack_stored = cpu.ack_stored, env.event()
            stored.succeed()
            for _, _, records in drained:
                for record in records:
                    record[6] = env.now
            yield env.timeout(k.irq_exit)
            cpu.handler_end = env.now

    def lock(self, owner, cpu):
        """Request owner's queue lock for cpu; notes a same-instant request by
        another CPU (a tie, which SimPy breaks first come first served)."""
        now = self.env.now
        if owner.last_lock_request[0] == now and owner.last_lock_request[1] != cpu.id:
            self.ties.append(now)
        owner.last_lock_request = (now, cpu.id)
        return owner.lock.request()

    # ---- the initiator (strat9 arch/x86_64/tlb.rs, docs/model.md) -------------------
    def shootdown(self, cpu, vpn, pages):
        env, k = self.env, self.k
        sd = len(self.shootdowns)
        row = [cpu.id, env.now, -1]
        self.shootdowns.append(row)
        if pages <= 0 or pages > FULL_THRESHOLD_PAGES:   # a bad range, or above 64 pages
            pages = FULL
        yield env.timeout(self.flush_cycles(pages))
        self.invalidate(cpu, pages, vpn)
        targets = [t for t in self.cpus if t is not cpu]
        records = []
        for t in targets:
            if cpu.ipi_pending:           # interrupts are enabled between steps
                yield from self.handler(cpu)
            with self.lock(t, cpu) as req:
                yield req
                yield env.timeout(2 * self.cacheline(cpu, t))
                records.append(self.push(sd, t, pages, vpn))
        for t, record in zip(targets, records):
            if cpu.ipi_pending:           # interrupts are enabled between steps
                yield from self.handler(cpu)
            yield env.timeout(k.ipi_send)
            self.ipis += 1
            if record is not None:
                record[3] = env.now
            arrival = _At(env, self.ipi_latency(cpu, t), PRIO_IPI, t)
            arrival.callbacks.append(self.ipi_arrives)
        for t in targets:
            if cpu.ipi_pending:           # interrupts are enabled between steps
                yield from self.handler(cpu)
            if not self.polled(t):
                yield from self.wait_ack(cpu, t)
        if cpu.ipi_pending:
            yield from self.handler(cpu)
        row[2] = env.now

    def push(self, sd, t, pages, vpn):
        """Push the op into t's queue and clear t's ACK flag (the lock is held)."""
        record = None
        records = []
        if self.log_deliveries:
            record = [sd, t.id, self.env.now, -1, -1, -1, -1]
            self.deliveries.append(record)
            records.append(record)
        if len(t.queue) < QUEUE_SLOTS:
            t.queue.append([pages, vpn, records])
        else:
            # The seed: a push into a full queue replaces it by one Full flush, which
            # serves every delivery the queue held.
            self.overflows += 1
            held = [r for _, _, rs in t.queue for r in rs]
            t.queue = [[FULL, 0, held + records]]
        t.ack_flag = False
        t.last_clear = self.env.now
        if t.last_poll == t.last_clear:
            self.ties.append(t.last_clear)
        return record

    def wait_ack(self, cpu, t):
        """Poll t's ACK flag every ``pause`` cycles until it is seen true; an IPI is
        taken at once, and the polls go on from the handler's end."""
        env, pause = self.env, self.k.pause
        first = poll0 = env.now
        cpu.interruptible = True
        while True:
            try:
                yield t.ack_stored
                poll = poll0 + -(-(env.now - poll0) // pause) * pause
                if poll > env.now:
                    yield _At(env, poll - env.now, PRIO_STEP)
                if self.polled(t):
                    break
            except simpy.Interrupt:
                yield from self.handler(cpu)
                cpu.interruptible = True
                poll0 = env.now
                if self.polled(t):
                    break
        cpu.interruptible = False
        self.longest_wait = max(self.longest_wait, env.now - first)

    def polled(self, t):
        """One poll of t's ACK flag, now."""
        t.last_poll = self.env.now
        if t.last_clear == t.last_poll:
            self.ties.append(t.last_poll)
        return t.ack_flag

    def run(self):
        """Play every op stream; returns the instant the last CPU finished its ops or
        its last handler (later events in SimPy's queue are interrupted waits that
        no longer wake anyone)."""
        for cpu in self.cpus:
            cpu.process = self.env.process(self.run_cpu(cpu))
        self.env.run()
        return max(max(cpu.finished, cpu.handler_end) for cpu in self.cpus)


def simpy_mailbox(workload, cpus, costs="default", sockets=1, seed=0, vm_pages=4096,
                  tlb_sets=16, tlb_ways=4, log_deliveries=False):
    """Play ``workload`` (a :class:`tlbwidgets.Workload`) on the SimPy model.

    Returns a dict: ``shootdowns`` (rows ``[initiator, start, end]`` in start order),
    ``deliveries`` (rows ``[shootdown, cpu, pushed, ipi_sent, handler_start, flushed,
    acked]``, empty unless ``log_deliveries``), the counts ``deliveries_total``,
    ``ipis``, ``coalesced_ipis``, ``queue_overflows``, ``accesses``, ``tlb_misses``,
    ``sim_cycles`` and ``longest_wait_cycles``.
    """
    *arrays, short = workload.build(cpus, seed, vm_pages, with_short=True)
    if short is not None:
        raise ValueError("the SimPy model plays whole-page ops only, not byte ranges")
    model = SimpyMailbox(arrays, cpus, sockets, resolve_costs(costs), tlb_sets, tlb_ways,
                         log_deliveries)
    end = model.run()
    return {
        "shootdowns": model.shootdowns, "deliveries": model.deliveries,
        "deliveries_total": len(model.shootdowns) * (cpus - 1), "ipis": model.ipis,
        "coalesced_ipis": model.coalesced, "queue_overflows": model.overflows,
        "accesses": model.accesses, "tlb_misses": model.misses, "sim_cycles": end,
        "longest_wait_cycles": model.longest_wait, "ties": model.ties,
    }


# ---- agreement with the engine ---------------------------------------------------------

def staggered(cpus, starts, accesses=60, seed=0):
    """A contended case with few ties: every CPU makes ``accesses`` accesses with
    uneven think times (3-89 cycles); each CPU of ``starts`` (cpu -> cycles) then pauses
    that long, unmaps 1-3 pages and makes as many accesses again."""
    rng = np.random.default_rng(seed)
    cols = {"cpu": [], "kind": [], "vpn": [], "pages": [], "think": []}

    def op(c, kind, vpn, pages, think):
        for name, v in zip(cols, (c, kind, vpn, pages, think)):
            cols[name].append(int(v))

    for c in range(cpus):
        rounds = 2 if c in starts else 1
        for r in range(rounds):
            for _ in range(accesses):
                op(c, ACCESS, rng.integers(0, 64), 1, rng.integers(3, 90))
            if r == 0 and c in starts:
                cols["think"][-1] = starts[c]
                op(c, UNMAP, rng.integers(0, 60), rng.integers(1, 4), 37)
    return tw.Workload.from_ops(**cols, cpus=cpus, name="staggered")


CHECK_CASES = (   # (label, workload, simulate's machine arguments)
    ("single", tw.workloads.single(), dict(cpus=4)),
    ("single", tw.workloads.single(), dict(cpus=16)),
    ("single pages=3 initiator=5", tw.workloads.single(pages=3, initiator=5), dict(cpus=16)),
    ("single pages=100 (Full)", tw.workloads.single(pages=100), dict(cpus=16, sockets=2)),
    *((f"staggered, 3 initiators, seed {k}", staggered(8, {0: 1000, 3: 1017, 5: 1333},
                                                        seed=k), dict(cpus=8))
      for k in range(3)),
    *((f"staggered, 5 initiators, seed {k}",
       staggered(16, {1: 500, 2: 611, 7: 702, 12: 1234, 15: 1400}, seed=k), dict(cpus=16))
      for k in range(3)),
    ("munmap_storm unmaps=20", tw.workloads.munmap_storm(unmaps=20), dict(cpus=4)),
    ("munmap_storm unmaps=10", tw.workloads.munmap_storm(unmaps=10), dict(cpus=16)),
    ("munmap_storm unmaps=10", tw.workloads.munmap_storm(unmaps=10),
     dict(cpus=16, sockets=2)),
    ("munmap_storm unmaps=10 unmap_pages=3",
     tw.workloads.munmap_storm(unmaps=10, unmap_pages=3), dict(cpus=32)),
)

_COUNTS = ("deliveries", "ipis", "coalesced_ipis", "queue_overflows", "accesses",
           "tlb_misses", "sim_cycles")
_TIMES = ("pushed", "ipi_sent", "handler_start", "flushed", "acked")


def _keys(initiators):
    """Per shootdown, in order: (initiator, its n-th shootdown) -- ids may differ
    between the two when two shootdowns start at one instant."""
    seen, out = {}, []
    for init in initiators:
        n = seen.get(init, 0)
        seen[init] = n + 1
        out.append((init, n))
    return out


def compare(workload, seed=0, **machine):
    """Run one case on both; return what agrees (see :func:`check`)."""
    r = tw.simulate(protocol="mailbox", workload=workload, seed=seed, max_log_rows=10**6,
                    ack_layout=ACK_LAYOUT, **machine)
    s = simpy_mailbox(workload, seed=seed, log_deliveries=True, **machine)
    sd = r.shootdowns[np.argsort(r.shootdowns["id"])]
    keys = _keys(sd["initiator"].tolist())
    eng = dict(zip(keys, zip(sd["start"].tolist(), sd["end"].tolist())))
    sim_keys = _keys([row[0] for row in s["shootdowns"]])
    sim = {key: (row[1], row[2]) for key, row in zip(sim_keys, s["shootdowns"])}
    eng_dv = {(*keys[d["shootdown"]], int(d["cpu"])): tuple(int(d[f]) for f in _TIMES)
              for d in r.deliveries}
    sim_dv = {(*sim_keys[d[0]], d[1]): tuple(d[2:]) for d in s["deliveries"]}
    # The earliest instant at which the two runs differ.
    first = min([min(x, y) for table, other in ((eng, sim), (eng_dv, sim_dv))
                 for key, b in other.items() for x, y in zip(table.get(key, b), b)
                 if x != y], default=math.inf)
    lat_e = np.array([e - b for b, e in eng.values()])
    lat_s = np.array([e - b for b, e in sim.values()])
    summ = r.summary()
    return dict(
        shootdowns=(len(eng), len(sim)),
        same_shootdowns=sum(eng.get(key) == val for key, val in sim.items()),
        deliveries_logged=(len(eng_dv), len(sim_dv)),
        same_deliveries=sum(eng_dv.get(key) == val for key, val in sim_dv.items()),
        counts={k: (summ[k], s["deliveries_total"] if k == "deliveries" else s[k])
                for k in _COUNTS},
        latency_median=(float(np.median(lat_e)), float(np.median(lat_s))),
        latency_mean=(float(lat_e.mean()), float(lat_s.mean())),
        latency_max=(int(lat_e.max()), int(lat_s.max())),
        first_difference=first,
        first_tie=s["ties"][0] if s["ties"] else math.inf, ties=len(s["ties"]),
        longest_wait=s["longest_wait_cycles"])


def check():
    """Print, per case, how exactly the SimPy model agrees with ``tw.simulate``;
    returns True when every run agrees exactly up to its first tie."""
    print("Agreement of the SimPy model with tw.simulate(protocol='mailbox', ...): "
          "engine / SimPy")
    explained = True
    for label, workload, machine in CHECK_CASES:
        d = compare(workload, **machine)
        print(f"\n{label}, {machine}")
        print(f"  shootdowns {d['shootdowns'][0]} / {d['shootdowns'][1]}, "
              f"identical start and end: {d['same_shootdowns']}")
        print(f"  delivery rows {d['deliveries_logged'][0]} / {d['deliveries_logged'][1]}, "
              f"identical push, IPI, handler, flush and ACK instants: "
              f"{d['same_deliveries']}")
        print("  " + ", ".join(f"{k} {a} / {b}" + ("" if a == b else " (differs)")
                               for k, (a, b) in d["counts"].items()))
        print("  latency cycles: " + ", ".join(
            f"{k.split('_')[1]} {d[k][0]:.0f} / {d[k][1]:.0f}"
            for k in ("latency_median", "latency_mean", "latency_max")))
        same = d["first_difference"] == math.inf
        if same and any(a != b for a, b in d["counts"].values()):
            print("  every instant identical but a count differs")
            explained = False
        print(f"  ties (two CPUs on one queue lock or ACK flag at one instant): {d['ties']}"
              + (f", first at cycle {d['first_tie']}" if d["ties"] else ""))
        if same:
            print("  every instant identical")
        else:
            at_tie = d["first_tie"] <= d["first_difference"]
            print(f"  first difference at cycle {d['first_difference']}"
                  + (", after a tie" if at_tie else ", NOT explained by a tie"))
            explained &= at_tie
        print(f"  longest ACK wait (SimPy): {d['longest_wait']} cycles; the seed gives "
              f"up after 10,000,000 polls")
    return explained


# ---- speed -----------------------------------------------------------------------------

def _timed(fn, *args, **kw):
    """``(fn(...), wall seconds, CPU seconds of this process)``."""
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args, **kw)
    return out, time.perf_counter() - w0, time.process_time() - c0


def bench(cpus=256, unmaps=20, rounds=3, seed=1):
    """Deliveries per second on one storm, ``rounds`` times, each side with and
    without its delivery log: the engine as the engine benchmark runs it (logging
    its first 1,000,000 deliveries), SimPy logging every delivery (the same columns,
    a list per row), SimPy logging none, the engine logging none.  Per run the wall
    time and the process's CPU time (on a shared machine the short engine runs are
    the ones a neighbour's burst slows most).  Returns, per round, SimPy's time over
    the engine's, by wall and by CPU time, for three pairings: both logging, neither
    logging (the same work either way), and the engine logging against SimPy not
    logging (the strictest)."""
    wl = tw.workloads.munmap_storm(unmaps=unmaps)
    engine_kw = dict(cpus=cpus, protocol="mailbox", workload=wl, seed=seed,
                     max_events=10**9, max_log_rows=1_000_000, max_log_events=100_000,
                     ack_layout=ACK_LAYOUT)
    tw.simulate(**dict(engine_kw, workload=tw.workloads.munmap_storm(unmaps=1)))  # warm
    quiet_kw = dict(engine_kw, max_log_rows=0, max_log_events=0)
    print(f"{cpus}-CPU munmap_storm, unmaps={unmaps}, seed={seed}, default costs; "
          f"{rounds} rounds of: the engine (tw.simulate, compiled) as the engine benchmark "
          f"runs it (logging 1,000,000 deliveries), SimPy logging every delivery, SimPy "
          f"logging none, the engine logging none")
    pairings = (("both log", "el", "sl"), ("neither logs", "eq", "sq"),
                ("engine logs, SimPy not", "el", "sq"))
    ratios = []
    for k in range(rounds):
        load = os.getloadavg()
        t = {}
        r, *t["el"] = _timed(tw.simulate, **engine_kw)
        s_log, *t["sl"] = _timed(simpy_mailbox, wl, cpus, seed=seed, log_deliveries=True)
        s, *t["sq"] = _timed(simpy_mailbox, wl, cpus, seed=seed)
        q, *t["eq"] = _timed(tw.simulate, **quiet_kw)
        summ = r.summary()
        n = summ["deliveries"]
        assert n == s["deliveries_total"] == q.summary()["deliveries"]
        assert len(s_log["deliveries"]) == n and s_log["sim_cycles"] == s["sim_cycles"]
        assert summ["outcome"] == q.summary()["outcome"] == "completed"
        if k == 0:
            lat = np.array([e - b for _, b, e in s["shootdowns"]])
            print(f"same run, engine / SimPy: shootdowns {summ['shootdowns']} / "
                  f"{len(s['shootdowns'])}, mean latency "
                  f"{float((r.shootdowns['end'] - r.shootdowns['start']).mean()):.0f} / "
                  f"{lat.mean():.0f} cycles, merged IPIs {summ['coalesced_ipis']} / "
                  f"{s['coalesced_ipis']}, queue overflows {summ['queue_overflows']} / "
                  f"{s['queue_overflows']}, simulated cycles {summ['sim_cycles']} / "
                  f"{s['sim_cycles']}, timeouts {summ['timeouts']} / 0 (longest SimPy "
                  f"wait {s['longest_wait_cycles']} cycles)")
        ratios.append(tuple(t[sk][i] / t[ek][i] for _, ek, sk in pairings for i in (0, 1)))
        print(f"round {k + 1}: load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, {n:,} "
              f"deliveries; deliveries/s by wall time (CPU time):")
        for key, name in (("el", "engine, log on "), ("sl", "SimPy, log on  "),
                          ("sq", "SimPy, no log  "), ("eq", "engine, no log ")):
            wall, cpu = t[key]
            print(f"  {name} {n / wall / 1e6:6.3f} M/s ({n / cpu / 1e6:.3f}) {wall:6.2f} s")
        print("  engine / SimPy: " + ", ".join(
            f"{name} {ratios[-1][2 * i]:.0f}x ({ratios[-1][2 * i + 1]:.0f}x)"
            for i, (name, _, _) in enumerate(pairings)))
    for i, (name, _, _) in enumerate(pairings):
        for j, clock in enumerate(("wall", "CPU")):
            rs = [x[2 * i + j] for x in ratios]
            print(f"engine / SimPy, {name + ', ' + clock:28}: min {min(rs):3.0f}x, median "
                  f"{float(np.median(rs)):3.0f}x, max {max(rs):3.0f}x   (target >= 60x)")
    load = os.getloadavg()
    print(f"load at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    return ratios


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="agreement with tw.simulate only")
    p.add_argument("--bench", action="store_true", help="the speed comparison only")
    p.add_argument("--cpus", type=int, default=256)
    p.add_argument("--unmaps", type=int, default=20,
                   help="unmaps per CPU of the storm (20: 27-37 s per SimPy run here)")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    print(f"tlbwidgets {tw.__version__}, simpy {simpy.__version__}, python "
          f"{sys.version.split()[0]}, {os.cpu_count()} CPUs")
    ok = True
    if not args.bench:
        ok = check()
        print()
    if not args.check:
        bench(args.cpus, args.unmaps, args.rounds)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
