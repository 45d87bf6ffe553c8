"""A slow, obviously-correct reference simulator of the ``mailbox`` and
``mailbox_fixed`` protocols, for testing the jitted engine against.

Written from DESIGN.md section 3 and the brief, not from the engine's code
paths: plain Python objects, one heap event per access, per spin-poll
iteration (``pause`` cycles apart), per invalidation and per protocol step;
no run-ahead, no lazy catch-up, no O(1) waiting.  The initiator's kernel path
is a Python generator that reads top to bottom like the seed
(strat9 kernel, ``arch/x86_64/tlb.rs``).

Event order at one instant (the engine's documented rule; two correct
implementations may otherwise break ties differently): ACK stores land first,
then CPU steps (op starts other than accesses, protocol steps, polls,
invalidations), then IPI arrivals, then interrupts taken at the end of an
access, then access starts; within a class the lower CPU first (an event's
CPU is the one it happens on: an IPI's target), and the events of one CPU
first-in first-out.  This is the engine's canonical order (docs/model.md,
section 7), whose last keys (an event's kind, an IPI's sender) only order
events the reference does not have or that are indistinguishable here.

ACK layout (docs/protocols.md, "The packed ACK line"): with ``ack_layout="packed"``
the ACK fields share cache lines, 64 flags (``mailbox``) or 8 sequence numbers
(``mailbox_fixed``) to a line.  A line takes one write at a time, in the order
the writes are asked for; a write costs ``cacheline_remote`` if the line's last
writer or any CPU spinning on the line is on another socket, else
``cacheline``; after it, if any CPU spins on the line, the line stays busy one
more transfer (remote if one of them is on another socket) while they re-read
it.  Spinners see a store when it lands.

Entry point: :func:`reference_simulate`.  It returns a plain dict (see its
docstring) whose tables are lists of tuples, so tests can compare them with
the engine's structured arrays field by field.
"""

import heapq
import itertools

__all__ = ["reference_simulate", "SHOOTDOWN_FIELDS", "DELIVERY_FIELDS",
           "WINDOW_FIELDS", "VIOLATION_FIELDS", "CPU_FIELDS"]

# Op kinds (the integer codes of tlbwidgets/_tables.py, the shared contract).
ACCESS, UNMAP, PROTECT, IRQ_OFF, IDLE = 0, 1, 2, 3, 4
KIND_NAMES = ("page", "range", "full")
PAGE, RANGE, FULL = 0, 1, 2

# Event classes at one instant, earliest first.
PRIO_STORE = 0
PRIO_STEP = 1
PRIO_IPI = 2
PRIO_IRQ = 3
PRIO_ACCESS = 4

SHOOTDOWN_FIELDS = ("id", "initiator", "start", "end", "safe", "vpn", "pages", "kind",
                    "targets", "ipis", "timed_out", "upgraded")
DELIVERY_FIELDS = ("shootdown", "cpu", "pushed", "ipi_sent", "handler_start", "flushed",
                   "acked")
WINDOW_FIELDS = ("shootdown", "cpu", "vpn", "start", "end")
VIOLATION_FIELDS = ("time", "cpu", "vpn", "shootdown")
CPU_FIELDS = ("cpu", "handler", "accesses", "tlb_hits", "tlb_misses", "full_flushes",
              "stale_hits", "violations", "ipis_received")

# Seed constants (strat9 arch/x86_64/tlb.rs), used as defaults.
SEED_QUEUE_SLOTS = 16
SEED_FULL_THRESHOLD_PAGES = 64
# Fields per cache line of a packed ACK array: one-byte flags, 8-byte sequence numbers.
PACKED_PER_LINE = {"mailbox": 64, "mailbox_fixed": 8}


class _Line:
    """One packed ACK cache line."""

    __slots__ = ("free", "writer", "spinners", "booked_at", "changed_at")

    def __init__(self):
        self.free = 0           # takes its next write from this instant
        self.writer = None      # CPU of the last write
        self.spinners = set()   # CPUs spinning on one of its fields now
        self.booked_at = -1     # when a write was last asked for
        self.changed_at = -1    # when a CPU last started or stopped spinning on it


class _Entry:
    """One TLB entry: the translation of ``vpn`` filled from PTE version ``ver``."""

    __slots__ = ("vpn", "ver", "last_use", "stale_sd", "window")

    def __init__(self, vpn, ver, last_use):
        self.vpn = vpn
        self.ver = ver
        self.last_use = last_use
        self.stale_sd = None   # shootdown whose PTE change made it stale
        self.window = None     # its stale-window row (a list)


class _Cpu:
    def __init__(self, cpu_id, socket, ops, sets, ways):
        self.id = cpu_id
        self.socket = socket
        self.ops = ops                  # list of (kind, vpn, pages, think)
        self.next_op = 0
        self.mode = "user"
        self.own = None                 # pending heap entry of this CPU's own activity
        self.busy_until = 0             # end of the access in flight
        self.irq_pending = False
        self.irq_event = None           # the event that takes an interrupt later (access
                                        # in flight, or the wake from halt), if any
        self.saved_mode = None
        self.resume = None              # (time, prio, fn, args) frozen by the handler
        self.handler_start = 0
        self.tlb = [[None] * ways for _ in range(sets)]
        self.kernel = None              # the initiator generator, when initiating
        self.sd = None                  # the shootdown it is initiating
        self.wait_deadline = None       # give-up instant of the current ACK wait
        # mailbox state of this CPU as a target
        self.queue = []                 # list of [kind, vpn, pages, sd, ticket]
        self.pending_deliveries = []    # delivery rows not yet drained, with their slot
        self.lock_free = 0              # its queue lock is free from this instant on
        self.last_lock_request = -1
        self.last_push = -1             # mailbox: when its ACK flag was last cleared
        self.last_poll = -1             # when an initiator last polled its ACK
        self.invalidations_due = {}     # vpn -> invalidations scheduled, not yet done
        self.full_flushes_due = 0
        self.ack_flag = True            # seed: flags start true
        self.tickets_issued = 0         # mailbox_fixed
        self.tickets_done = 0
        self.drained_ticket = 0
        self.awake_at = -1              # an idle (halted) CPU woken by an interrupt: awake then
        self.spinning_on = None         # the CPU whose ACK field this one spins on now
        self.stats = dict.fromkeys(CPU_FIELDS, 0)
        self.stats["cpu"] = cpu_id


class _Reference:
    def __init__(self, cpus, protocol, arrays, costs, sockets, vm_pages, tlb_sets,
                 tlb_ways, ack_timeout_spins, wait_irqs_off, offline, queue_slots,
                 full_threshold_pages, max_events, ack_layout):
        self.protocol = protocol
        self.per_line = PACKED_PER_LINE[protocol] if ack_layout == "packed" else 0
        self.lines = [_Line() for _ in range(-(-cpus // self.per_line))] if self.per_line else []
        self.fixed = protocol == "mailbox_fixed"
        # mailbox_fixed never gives up (DESIGN.md section 4).
        self.spins = None if self.fixed else ack_timeout_spins
        self.wait_irqs_off = wait_irqs_off and not self.fixed
        self.c = costs
        self.sets = tlb_sets
        self.ways = tlb_ways
        self.queue_slots = queue_slots
        self.threshold = full_threshold_pages
        self.max_events = max_events
        short = arrays[5] if len(arrays) == 6 and arrays[5] is not None else None
        op_start, kind, vpn, pages, think = (list(map(int, a)) for a in arrays[:5])
        short = [0] * len(kind) if short is None else list(map(int, short))
        self.cpus = []
        for i in range(cpus):
            ops = [(kind[k], vpn[k], pages[k], think[k])
                   for k in range(op_start[i], op_start[i + 1])]
            cpu = _Cpu(i, i * sockets // cpus, ops, tlb_sets, tlb_ways)
            cpu.short = short[op_start[i]:op_start[i + 1]]
            cpu.online = i not in offline
            self.cpus.append(cpu)
        self.pte_ver = [0] * vm_pages
        self.safe_ver = [0] * vm_pages
        self.heap = []
        self.seq = itertools.count()
        self.now = 0
        self.last_time = 0
        self.n_events = 0
        self.trace = []        # (time, cpu, what, other cpu, shootdown): for diagnosis
        # Instants where the outcome depends on an order the model leaves open
        # (see ``reference_simulate``): (what, time, cpu, other).
        self.ties = []
        self.last_sd_start = -1
        # PTE changes that found an entry whose invalidation was under way.
        self.changes_during_flush = []
        self.shootdowns = []   # dicts
        self.deliveries = []   # lists in DELIVERY_FIELDS order
        self.windows = []      # lists in WINDOW_FIELDS order
        self.violations = []
        self.k = dict.fromkeys((
            "ipis", "deliveries", "timeouts", "full_flushes", "queue_overflows",
            "warnings", "coalesced_ipis", "accesses", "tlb_misses", "transient_stale_hits",
            "violations", "stale_windows", "handler_cycles"), 0)

    def log(self, cpu, what, other=-1, sd=-1):
        self.trace.append((self.now, cpu.id, what, other, sd))

    # -- events ----------------------------------------------------------------------
    def at(self, t, prio, fn, *args, cpu=None):
        # args[0] is always the CPU the event happens on.
        entry = [t, prio, args[0].id, next(self.seq), fn, args, True, cpu]
        heapq.heappush(self.heap, entry)
        return entry

    def set_own(self, cpu, t, prio, fn, *args):
        """The CPU's own activity continues with fn at t (one pending at a time)."""
        self.cancel_own(cpu)
        cpu.own = self.at(t, prio, fn, cpu, *args, cpu=cpu)

    def cancel_own(self, cpu):
        if cpu.own is not None:
            cpu.own[6] = False
            cpu.own = None

    def run(self):
        for cpu in self.cpus:
            if not cpu.online or not cpu.ops:
                cpu.mode = "done"
            else:
                self.set_own(cpu, 0, self.op_prio(cpu), self.start_op)
        while self.heap:
            t, _prio, _cpu, _seq, fn, args, alive, cpu = heapq.heappop(self.heap)
            if not alive:
                continue
            self.n_events += 1
            if self.n_events > self.max_events:
                raise RuntimeError(f"reference: more than {self.max_events} events")
            assert t >= self.now, "time went backwards"
            self.now = t
            self.last_time = max(self.last_time, t)
            if cpu is not None and cpu.own is not None and cpu.own[3] == _seq:
                cpu.own = None
            fn(*args)
        done = all(c.mode == "done" for c in self.cpus)
        return "completed" if done else "deadlock"

    # -- user op stream ----------------------------------------------------------------
    def op_prio(self, cpu):
        if cpu.next_op < len(cpu.ops) and cpu.ops[cpu.next_op][0] == ACCESS:
            return PRIO_ACCESS
        return PRIO_STEP

    def start_op(self, cpu):
        t = self.now
        if cpu.next_op >= len(cpu.ops):
            cpu.mode = "done"
            return
        kind, vpn, pages, think = cpu.ops[cpu.next_op]
        if kind == ACCESS:
            cost = self.access(cpu, vpn, t)
            cpu.busy_until = t + cost
            cpu.next_op += 1
            self.set_own(cpu, t + cost + think, self.op_prio(cpu), self.start_op)
        elif kind in (UNMAP, PROTECT):
            self.begin_shootdown(cpu, kind, vpn, pages, t, cpu.short[cpu.next_op])
        elif kind in (IRQ_OFF, IDLE):
            cpu.mode = "irq_off" if kind == IRQ_OFF else "idle"
            self.set_own(cpu, t + think, PRIO_STEP, self.span_end)

    def span_end(self, cpu):
        """An IRQ_OFF or IDLE op ends now.  An IRQ_OFF op touches its pages
        (if any) in its last instant, interrupts still off; an IRQ_OFF op
        followed directly by another continues the same section."""
        t = self.now
        kind, vpn, pages, _think = cpu.ops[cpu.next_op]
        cpu.next_op += 1
        if kind == IRQ_OFF:
            for v in range(vpn, vpn + pages):
                self.access(cpu, v, t)
            if cpu.next_op < len(cpu.ops) and cpu.ops[cpu.next_op][0] == IRQ_OFF:
                self.set_own(cpu, t + cpu.ops[cpu.next_op][3], PRIO_STEP, self.span_end)
                return
        cpu.mode = "user"
        cpu.busy_until = t
        cpu.awake_at = -1               # awake; a later idle op halts it afresh
        self.set_own(cpu, t, self.op_prio(cpu), self.start_op)
        self.try_take(cpu)

    # -- TLB -----------------------------------------------------------------------------
    def access(self, cpu, vpn, t):
        """One access at t; returns its cost."""
        self.k["accesses"] += 1
        cpu.stats["accesses"] += 1
        ways = cpu.tlb[vpn & (self.sets - 1)]
        for e in ways:
            if e is not None and e.vpn == vpn:
                e.last_use = t
                cpu.stats["tlb_hits"] += 1
                if e.ver != self.pte_ver[vpn]:
                    if e.ver < self.safe_ver[vpn]:
                        self.k["violations"] += 1
                        cpu.stats["violations"] += 1
                        self.violations.append((t, cpu.id, vpn, e.stale_sd))
                    else:
                        self.k["transient_stale_hits"] += 1
                        cpu.stats["stale_hits"] += 1
                return self.c.tlb_hit
        self.k["tlb_misses"] += 1
        cpu.stats["tlb_misses"] += 1
        empty = [w for w in range(len(ways)) if ways[w] is None]
        if empty:
            victim = empty[0]
        else:
            victim = min(range(len(ways)), key=lambda w: (ways[w].last_use, w))
            self.drop(ways, victim, t)
        ways[victim] = _Entry(vpn, self.pte_ver[vpn], t)
        return self.c.page_walk

    def drop(self, ways, w, t):
        e = ways[w]
        if e.stale_sd is not None:
            e.window[4] = t
        ways[w] = None

    def invalidate(self, cpu, vpn):
        cpu.invalidations_due[vpn] -= 1
        ways = cpu.tlb[vpn & (self.sets - 1)]
        for w in range(len(ways)):
            if ways[w] is not None and ways[w].vpn == vpn:
                self.drop(ways, w, self.now)

    def flush_all(self, cpu):
        cpu.full_flushes_due -= 1
        for ways in cpu.tlb:
            for w in range(len(ways)):
                if ways[w] is not None:
                    self.drop(ways, w, self.now)
        self.k["full_flushes"] += 1
        cpu.stats["full_flushes"] += 1

    def schedule_flush(self, cpu, kind, vpn, pages, t):
        """Perform one op from t, one event per invalidation; returns its end."""
        if kind == FULL:
            end = t + self.c.full_flush
            cpu.full_flushes_due += 1
            self.at(end, PRIO_STEP, self.flush_all, cpu)
            return end
        for j in range(pages):
            due = cpu.invalidations_due
            due[vpn + j] = due.get(vpn + j, 0) + 1
            self.at(t + (j + 1) * self.c.invlpg, PRIO_STEP, self.invalidate, cpu, vpn + j)
        return t + pages * self.c.invlpg

    # -- interrupts --------------------------------------------------------------------
    def irqs_enabled(self, cpu):
        if cpu.mode in ("handler", "irq_off"):
            return False
        if cpu.mode in ("kernel", "wait"):
            return not self.wait_irqs_off
        return True

    def ipi_arrive(self, cpu):
        cpu.stats["ipis_received"] += 1
        if cpu.irq_pending:
            self.k["coalesced_ipis"] += 1
            return
        cpu.irq_pending = True
        self.try_take(cpu)

    def try_take(self, cpu):
        """Take a pending interrupt now if this CPU may; an access in flight
        finishes first; kernel steps take it at their next boundary."""
        if not cpu.irq_pending or not self.irqs_enabled(cpu):
            return
        if cpu.mode == "kernel":
            return
        if cpu.mode == "user" and cpu.busy_until > self.now:
            if cpu.irq_event is None:
                cpu.irq_event = self.at(cpu.busy_until, PRIO_IRQ, self.irq_at_access_end, cpu)
            return
        if cpu.mode == "idle" and self.c.idle_wake:
            # Halted since it last woke: it wakes first, then takes it.
            if cpu.awake_at < self.now:
                cpu.awake_at = self.now + self.c.idle_wake
            if cpu.awake_at > self.now:
                if cpu.irq_event is None:
                    cpu.irq_event = self.at(cpu.awake_at, PRIO_IRQ, self.irq_at_access_end, cpu)
                return
        self.take_irq(cpu, None)

    def irq_at_access_end(self, cpu):
        cpu.irq_event = None
        self.try_take(cpu)

    def take_irq(self, cpu, resume):
        """Enter the handler now.  What was running is frozen and resumes,
        shifted by the handler's duration, when the handler exits."""
        t = self.now
        cpu.irq_pending = False
        if cpu.irq_event is not None:
            # Taken before the instant it was waiting for (the halted CPU's
            # idle op ended first): that event has nothing left to do.
            cpu.irq_event[6] = False
            cpu.irq_event = None
        self.log(cpu, "ipi_take")
        self.spin_on(cpu, None)
        if resume is None and cpu.own is not None:
            e = cpu.own
            resume = (e[0], e[1], e[4], e[5][1:])
            self.cancel_own(cpu)
        cpu.resume = resume
        cpu.saved_mode = cpu.mode
        cpu.mode = "handler"
        cpu.handler_start = t
        self.at(t + self.c.irq_entry, PRIO_STEP, self.handler_lock, cpu)

    def handler_lock(self, cpu):
        self.acquire(cpu, cpu, self.c.cacheline, self.handler_drain)

    def handler_drain(self, cpu):
        t = self.now
        ops = cpu.queue
        cpu.queue = []
        self.log(cpu, "drain", -1, len(ops))
        cur = t
        slot_end = []
        top = 0
        for kind, vpn, pages, _sd, ticket in ops:
            cur = self.schedule_flush(cpu, kind, vpn, pages, cur)
            slot_end.append(cur)
            top = max(top, ticket)
        cpu.drained_ticket = top
        drained = []
        for row, slot in cpu.pending_deliveries:
            row[4] = cpu.handler_start
            row[5] = slot_end[slot]
            drained.append(row)
        cpu.pending_deliveries = []
        if self.per_line:
            # The store is asked for when the flushes are done.
            self.at(cur, PRIO_STEP, self.handler_store, cpu, drained)
        else:
            self.land_store(cpu, drained, cur + self.c.cacheline)

    def handler_store(self, cpu, drained):
        self.land_store(cpu, drained, self.line_write(cpu, cpu, self.now))

    def land_store(self, cpu, drained, store):
        for row in drained:
            row[6] = store
        self.at(store, PRIO_STORE, self.ack_store, cpu)

    def ack_store(self, cpu):
        self.log(cpu, "ack_store")
        if self.fixed:
            cpu.tickets_done = max(cpu.tickets_done, cpu.drained_ticket)
        else:
            cpu.ack_flag = True
        self.at(self.now + self.c.irq_exit, PRIO_STEP, self.handler_exit, cpu)

    def handler_exit(self, cpu):
        t = self.now
        delay = t - cpu.handler_start
        self.k["handler_cycles"] += delay
        cpu.stats["handler"] += delay
        cpu.mode = cpu.saved_mode
        if cpu.mode == "idle":
            cpu.awake_at = t            # awake now; from the next instant halted again
        if cpu.resume is not None:
            rt, prio, fn, args = cpu.resume
            cpu.resume = None
            if cpu.mode == "wait":
                # The pause in progress is abandoned: the loop re-checks the
                # flag at once; its spin budget excludes the handler's time.
                rt = t - delay
                if cpu.wait_deadline is not None:
                    cpu.wait_deadline += delay
            self.set_own(cpu, rt + delay, prio, fn, *args)
        self.try_take(cpu)

    # -- queue locks (FIFO spinlocks) ----------------------------------------------------
    def acquire(self, owner, cpu, hold, on_end):
        """cpu takes owner's queue lock, holds it ``hold`` cycles, then
        on_end(cpu) runs.  Spinlock waiters are served first come, first
        served, so a requester knows when its turn comes the moment it asks:
        after everybody already holding or queued."""
        if owner.last_lock_request == self.now:
            self.ties.append(("lock", self.now, cpu.id, owner.id))
        owner.last_lock_request = self.now
        start = max(self.now, owner.lock_free)
        if callable(hold):
            hold = hold(start)
        owner.lock_free = start + hold
        self.at(start + hold, PRIO_STEP, on_end, cpu)

    # -- initiator ---------------------------------------------------------------------
    # -- packed ACK lines --------------------------------------------------------------------
    def spin_on(self, cpu, j):
        """cpu now spins on j's ACK field (None: it stops spinning)."""
        if cpu.spinning_on is j:
            return
        if self.per_line:
            for other, add in ((cpu.spinning_on, False), (j, True)):
                if other is None:
                    continue
                line = self.lines[other.id // self.per_line]
                (line.spinners.add if add else line.spinners.discard)(cpu)
                # Whether a write asked for at this instant counts this CPU
                # depends on the order of the two.
                if line.booked_at == self.now:
                    self.ties.append(("ack_line", self.now, cpu.id, other.id))
                line.changed_at = self.now
        cpu.spinning_on = j

    def line_write(self, w, j, t):
        """w asks at t to write j's field of a packed line; returns when the
        write lands (and keeps the line for the spinners' re-read after it)."""
        line = self.lines[j.id // self.per_line]
        assert t >= self.now
        # Whether a spinner that came or went at this instant counts, and which of
        # two writes asked for at this instant goes first, depend on event order.
        if line.changed_at == self.now or line.booked_at == self.now:
            self.ties.append(("ack_line", self.now, w.id, j.id))
        line.booked_at = self.now
        start = max(t, line.free)
        far_spinner = any(p.socket != w.socket for p in line.spinners)
        remote = far_spinner or (line.writer is not None and line.writer.socket != w.socket)
        end = start + (self.c.cacheline_remote if remote else self.c.cacheline)
        reread = 0
        if line.spinners:
            reread = self.c.cacheline_remote if far_spinner else self.c.cacheline
        line.free = end + reread
        line.writer = w
        return end

    def cacheline(self, a, b):
        return self.c.cacheline if a.socket == b.socket else self.c.cacheline_remote

    def ipi_latency(self, a, b):
        return self.c.ipi_latency if a.socket == b.socket else self.c.ipi_latency_remote

    def begin_shootdown(self, cpu, op_kind, vpn, pages, t, short=0):
        """``pages`` pages from ``vpn`` change; a byte-range op (``short`` > 0)
        is flushed by the seed ``short`` pages shorter: its page count is
        ``(end - start) // 4096`` from the page of ``start``."""
        sd = len(self.shootdowns)
        if t == self.last_sd_start:
            self.ties.append(("shootdown_start", t, cpu.id, -1))
        self.last_sd_start = t
        kind = RANGE
        upgraded = False
        flush = pages if self.fixed else pages - short
        if pages <= 0:
            kind, upgraded, pages, flush = FULL, True, 0, 0
            self.k["warnings"] += 1
        elif flush > self.threshold:
            kind, upgraded = FULL, True
        elif flush == 1:
            kind = PAGE
        row = dict(id=sd, initiator=cpu.id, start=t, end=-1, safe=-1, vpn=vpn, pages=pages,
                   kind=KIND_NAMES[kind], targets=0, ipis=0, timed_out=0,
                   upgraded=upgraded)
        self.shootdowns.append(row)
        # The kernel writes the PTEs before it shoots down.
        for v in range(vpn, vpn + pages):
            self.pte_ver[v] = sd + 1
            for other in self.cpus:
                for e in other.tlb[v & (self.sets - 1)]:
                    if e is not None and e.vpn == v and e.stale_sd is None:
                        if other.invalidations_due.get(v, 0) or other.full_flushes_due:
                            self.changes_during_flush.append((t, other.id, v, sd))
                        e.stale_sd = sd
                        e.window = [sd, other.id, v, t, -1]
                        self.windows.append(e.window)
                        self.k["stale_windows"] += 1
        cpu.mode = "kernel"
        cpu.sd = sd
        cpu.kernel = self.mailbox_initiator(cpu, sd, kind, vpn, flush)
        self.kernel_next(cpu, first=True)

    def mailbox_initiator(self, cpu, sd, kind, vpn, pages):
        """The seed's initiator, step by step.  Yields the next step:
        ("step", cycles) busy in the kernel; ("lock", target, cycles) hold a
        queue lock; ("spin",) one pause of the ACK wait; ("boundary",) a
        zero-time point where a pending interrupt may be taken."""
        row = self.shootdowns[sd]
        targets = [o for o in self.cpus if o is not cpu and o.online]
        row["targets"] = len(targets)
        yield ("step", self.schedule_flush(cpu, kind, vpn, pages, self.now) - self.now)
        tickets = {}
        deliveries = {}
        for j in targets:
            if self.per_line and not self.fixed:
                # queue lock, push, unlock on the queue's line; the ACK clear,
                # under the lock, on the packed ACK line
                def hold(start, j=j):
                    return self.line_write(cpu, j, start + self.cacheline(cpu, j)) - start
                yield ("lock", j, hold)
            else:
                yield ("lock", j, 2 * self.cacheline(cpu, j))
            tickets[j.id], deliveries[j.id] = self.push(cpu, j, sd, kind, vpn, pages)
        for j in targets:
            yield ("step", self.c.ipi_send)
            self.at(self.now + self.ipi_latency(cpu, j), PRIO_IPI, self.ipi_arrive, j)
            self.k["ipis"] += 1
            row["ipis"] += 1
            deliveries[j.id][3] = self.now
            self.log(cpu, "ipi_send", j.id, sd)
        for j in targets:
            yield ("boundary",)
            # Give up after ack_timeout_spins pauses of spinning on this target.
            cpu.wait_deadline = None
            if self.spins is not None:
                cpu.wait_deadline = self.now + self.spins * self.c.pause
            while not self.acked(j, self.poll_note(j, tickets[j.id])):
                if cpu.wait_deadline is not None and self.now >= cpu.wait_deadline:
                    self.k["timeouts"] += 1
                    row["timed_out"] += 1
                    self.log(cpu, "timeout", j.id, sd)
                    break
                self.spin_on(cpu, j)
                yield ("spin",)
            self.spin_on(cpu, None)

    def push(self, cpu, j, sd, kind, vpn, pages):
        """Push the op into j's queue now (its lock is held); clear j's ACK."""
        row = self.shootdowns[sd]
        if len(j.queue) < self.queue_slots:
            j.queue.append([kind, vpn, pages, sd, 0])
        else:
            # Seed: the 17th push replaces the whole queue by one Full flush.
            j.queue = [[FULL, 0, 0, sd, 0]]
            self.k["queue_overflows"] += 1
            row["upgraded"] = True
            for pend in j.pending_deliveries:
                pend[1] = 0
        slot = len(j.queue) - 1
        ticket = 0
        if self.fixed:
            j.tickets_issued += 1
            ticket = j.tickets_issued
            j.queue[slot][4] = ticket
        else:
            j.ack_flag = False
            if j.last_poll == self.now:
                self.ties.append(("push_and_poll", self.now, cpu.id, j.id))
            j.last_push = self.now
        self.k["deliveries"] += 1
        delivery = [sd, j.id, self.now, -1, -1, -1, -1]
        self.log(cpu, "push", j.id, sd)
        self.deliveries.append(delivery)
        j.pending_deliveries.append([delivery, slot])
        return ticket, delivery

    def poll_note(self, j, ticket):
        if not self.fixed and j.last_push == self.now:
            self.ties.append(("push_and_poll", self.now, -1, j.id))
        j.last_poll = self.now
        return ticket

    def acked(self, j, ticket):
        if self.fixed:
            return j.tickets_done >= ticket
        return j.ack_flag

    def kernel_next(self, cpu, first=False):
        try:
            step = next(cpu.kernel)
        except StopIteration:
            self.initiator_return(cpu)
            return
        self.kernel_step(cpu, step, first)

    def kernel_step(self, cpu, step, first=False):
        """Begin a kernel step now; at a step boundary (every step but the
        first) a pending interrupt is taken first if interrupts are on."""
        cpu.mode = "wait" if step[0] == "spin" else "kernel"
        if not first and cpu.irq_pending and self.irqs_enabled(cpu):
            self.take_irq(cpu, (self.now, PRIO_STEP, self.kernel_step, (step,)))
            return
        if step[0] == "boundary":
            self.kernel_next(cpu)
        elif step[0] == "step":
            self.set_own(cpu, self.now + step[1], PRIO_STEP, self.kernel_next)
        elif step[0] == "lock":
            self.acquire(step[1], cpu, step[2], self.kernel_next)
        else:  # spin: one pause, or what is left of the spin budget
            end = self.now + self.c.pause
            if cpu.wait_deadline is not None:
                end = min(end, cpu.wait_deadline)
            self.set_own(cpu, end, PRIO_STEP, self.kernel_next)

    def initiator_return(self, cpu):
        t = self.now
        row = self.shootdowns[cpu.sd]
        self.log(cpu, "return", -1, cpu.sd)
        row["end"] = t
        row["safe"] = t
        for v in range(row["vpn"], row["vpn"] + row["pages"]):
            self.safe_ver[v] = max(self.safe_ver[v], row["id"] + 1)
        cpu.kernel = None
        cpu.sd = None
        think = cpu.ops[cpu.next_op][3]
        cpu.next_op += 1
        cpu.busy_until = t
        if (self.wait_irqs_off and think == 0 and cpu.next_op < len(cpu.ops)
                and cpu.ops[cpu.next_op][0] == IRQ_OFF):
            # Called with interrupts off from inside a section that goes on.
            cpu.mode = "irq_off"
            self.set_own(cpu, t + cpu.ops[cpu.next_op][3], PRIO_STEP, self.span_end)
            return
        cpu.mode = "user"
        self.set_own(cpu, t + think, self.op_prio(cpu), self.start_op)
        self.try_take(cpu)

    # -- result ----------------------------------------------------------------------------
    def result(self, outcome):
        k = dict(self.k)
        lat = sorted(r["end"] - r["start"] for r in self.shootdowns if r["end"] >= 0)
        k["shootdowns"] = len(self.shootdowns)
        k["stale_open_at_end"] = sum(1 for w in self.windows if w[4] < 0)
        k["sim_cycles"] = self.last_time
        k["outcome"] = outcome
        return {
            "summary": k,
            "latencies": lat,
            "shootdowns": [tuple(r[f] for f in SHOOTDOWN_FIELDS) for r in self.shootdowns],
            "deliveries": [tuple(d) for d in self.deliveries],
            "stale_windows": [tuple(w) for w in self.windows],
            "violations": list(self.violations),
            "cpu_stats": [tuple(c.stats[f] for f in CPU_FIELDS) for c in self.cpus],
            "events": self.n_events,
            "trace": self.trace,
            "ties": self.ties,
            "changes_during_flush": self.changes_during_flush,
        }


def reference_simulate(cpus, protocol, workload_arrays, costs, sockets=1, vm_pages=4096,
                       tlb_sets=16, tlb_ways=4, ack_timeout_spins=10_000_000,
                       wait_irqs_off=False, offline=(), queue_slots=SEED_QUEUE_SLOTS,
                       full_threshold_pages=SEED_FULL_THRESHOLD_PAGES,
                       max_events=5_000_000, ack_layout=None):
    """Simulate the built workload ``(op_start, kind, vpn, pages, think)``
    (or ``Workload.build(..., with_short=True)``'s six arrays) on
    ``cpus`` CPUs under ``protocol`` ("mailbox" or "mailbox_fixed") with the
    ``tlbwidgets.Costs`` ``costs``.  ``ack_timeout_spins=None``: never give up
    (``mailbox_fixed`` never gives up whatever it says).  ``ack_layout``
    "packed" or "padded"; None: packed for ``mailbox`` (the seed's flag
    array), padded for ``mailbox_fixed``.

    Returns a dict: ``summary`` (counts named as in ``Result.summary()``),
    ``latencies`` (sorted), and tables as lists of tuples in the orders
    ``SHOOTDOWN_FIELDS``, ``DELIVERY_FIELDS``, ``WINDOW_FIELDS`` (end -1: still
    open), ``VIOLATION_FIELDS`` and ``CPU_FIELDS``.  Raises RuntimeError after
    ``max_events`` events (the reference is slow: keep runs small).
    """
    if protocol not in ("mailbox", "mailbox_fixed"):
        raise ValueError(f"protocol={protocol!r}: the reference knows 'mailbox' and "
                         "'mailbox_fixed' only")
    if sockets < 1 or cpus % sockets:
        raise ValueError(f"sockets={sockets} must divide cpus={cpus}")
    if tlb_sets & (tlb_sets - 1):
        raise ValueError(f"tlb_sets must be a power of two, got {tlb_sets}")
    sim = _Reference(cpus, protocol, workload_arrays, costs, sockets, vm_pages, tlb_sets,
                     tlb_ways, ack_timeout_spins, wait_irqs_off, set(offline), queue_slots,
                     full_threshold_pages, max_events,
                     ack_layout or ("packed" if protocol == "mailbox" else "padded"))
    outcome = sim.run()
    return sim.result(outcome)
