"""``search_races``: search the timings of one small run for a violation.

A run's step durations are costs, but on a real machine each varies: an IPI
is late, a handler entry slow, a cache line contended.  A *schedule*
(:mod:`tlbwidgets.schedule`) names a few such delays; the search runs the
same workload under many schedules and reports what happened under each.

* ``exhaustive`` explores schedules level by level: the unperturbed run,
  then every schedule of one perturbation, then of two, up to ``bound``.
  The steps a schedule may delay are those its parent run had (its IPIs,
  handler entries, pushes, the think times before and after its non-access
  ops, its interrupts-off sections), each by every amount of
  ``delay_cycles``.  A schedule whose run shows an ordering of step events
  (the event log without its times) already seen is counted but not
  extended: only schedules that reached a new ordering get more
  perturbations.  The first violation found is one with the fewest
  perturbations among those explored.
* ``random`` draws schedules: a number of perturbations in ``1..bound``,
  steps of the unperturbed run and delays all uniformly at random (a
  probabilistic concurrency testing in the spirit of PCT: few, randomly
  placed perturbations).

Both stop at the first violation (unless ``all=True``), when the budget of
seconds runs out, or when nothing is left to explore.  See docs/model.md
("Searching schedules") for what a bound and "no violation" mean.
"""

import hashlib
import numbers
import time
from dataclasses import dataclass, field

import numpy as np

from . import _tables as T
from ._validate import check_int, check_cycles
from .api import validate_args, build_machine, check_sim_time
from .engine import _layout as L, engine_for
from .result import Result
from .schedule import Perturbation, STEP_KINDS, describe, schedule_table
from .warm import engine_lock
from .workloads import Workload

__all__ = ["search_races", "SearchResult", "default_delays", "OUTCOMES",
           "PROGRESS_INTERVAL_S"]

OUTCOMES = ("completed", "violation", "timeout", "deadlock", "event_limit")
"""How a schedule's run ended, in :attr:`SearchResult.outcomes`: a violation
first (any stale use after the safe time), then a deadlock or the event limit,
then a give-up without violation (``timeout``), else ``completed``."""

STRATEGIES = ("exhaustive", "random")

MAX_BOUND = 6
MAX_DELAYS = 16
MAX_BUDGET_S = 3600.0
# Log sizes of the search's runs unless given: a small run logs a few hundred
# events, and allocating the default 200,000-row logs took two thirds of a
# run's time.  A run that fills them is digested by its first rows.
SEARCH_LOG_OPTIONS = {"max_log_events": 20_000, "max_log_rows": 2_000}
# random: stop after this many draws in a row that repeat a schedule already run
_RANDOM_STALE_DRAWS = 2000
PROGRESS_INTERVAL_S = 0.25
"""Seconds between two calls of a search's ``progress`` callback."""


def default_delays(costs):
    """Delays that reorder steps: the cost of one cache-line transfer, a
    one-page flush (a handler's window between draining its queue and storing
    its ACK, where the shared-flag race lives), an interrupt entry, an IPI's
    latency and a whole shootdown round trip from the send (IPI send + latency
    + entry + exit + two transfers), i.e. the durations of the steps whose
    order a race depends on."""
    c = costs
    return tuple(sorted({c.cacheline, c.invlpg, c.irq_entry, c.ipi_latency,
                         c.ipi_send + c.ipi_latency + c.irq_entry + c.irq_exit
                         + 2 * c.cacheline} - {0}))


@dataclass
class SearchResult:
    """What a search explored and found.

    ``schedules``: runs made (the unperturbed one included); ``orderings``:
    distinct orderings of step events among them; ``outcomes``: runs by
    outcome (:data:`OUTCOMES`); ``counterexample``: the first schedule whose
    run violated (a tuple of :class:`~tlbwidgets.schedule.Perturbation`;
    ``()`` if the unperturbed run already does; ``None`` if none was found),
    which ``tlbwidgets.simulate(**simulate_args, schedule=counterexample)``
    replays exactly (:meth:`replay`); ``counterexample_result``: the
    :class:`~tlbwidgets.Result` of its run in the search; ``violating``:
    every violating schedule found (with ``all=True``, else the first); ``stopped``: ``"violation"``,
    ``"budget"`` or ``"exhausted"`` (every schedule the strategy would make
    within the bound was made); ``elapsed_s``: seconds of searching, after
    the unperturbed run (which may first compile the engine)."""

    protocol: str
    cpus: int
    strategy: str
    bound: int
    delay_cycles: tuple
    schedules: int = 0
    orderings: int = 0
    outcomes: dict = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    counterexample: tuple = None
    counterexample_result: Result = field(default=None, repr=False)
    violating: list = field(default_factory=list)
    stopped: str = "exhausted"
    elapsed_s: float = 0.0
    simulate_args: dict = field(default_factory=dict, repr=False)

    def replay(self, schedule=None):
        """Run ``schedule`` (default: the counterexample) with the searched
        arguments; the :class:`~tlbwidgets.Result` is the one the search saw."""
        from .api import simulate
        if schedule is None:
            if self.counterexample is None:
                raise ValueError("this search found no counterexample to replay; "
                                 "pass a schedule")
            schedule = self.counterexample
        return simulate(**self.simulate_args, schedule=schedule or None)

    def summary(self):
        """The search in one dict (JSON-ready)."""
        cx = self.counterexample
        return {
            "protocol": self.protocol, "cpus": self.cpus, "strategy": self.strategy,
            "bound": self.bound, "delay_cycles": list(self.delay_cycles),
            "schedules": self.schedules, "orderings": self.orderings,
            "outcomes": dict(self.outcomes), "stopped": self.stopped,
            "elapsed_s": round(self.elapsed_s, 3),
            "counterexample": None if cx is None else [list(p) for p in cx],
            "counterexample_text": None if cx is None else describe(cx),
        }

    def __str__(self):
        head = (f"{self.protocol} on {self.cpus} CPUs, {self.strategy} search, "
                f"bound {self.bound}: {self.schedules:,} schedules, "
                f"{self.orderings:,} orderings, {self.elapsed_s:.2f} s ({self.stopped})")
        if self.counterexample is None:
            return f"{head}\nno violation in any of the {self.schedules:,} schedules explored"
        lines = describe(self.counterexample) or ["the unperturbed run"]
        return head + "\nviolation with " + "; ".join(lines)


def _check_delays(delay_cycles, costs):
    if delay_cycles is None:
        return default_delays(costs)
    if isinstance(delay_cycles, numbers.Integral) and not isinstance(delay_cycles, bool):
        delay_cycles = (delay_cycles,)
    if isinstance(delay_cycles, (str, bytes)) or not hasattr(delay_cycles, "__iter__"):
        raise TypeError(f"delay_cycles must be None or a sequence of cycle counts, "
                        f"got {delay_cycles!r}")
    out = tuple(sorted({check_cycles("delay_cycles[]", d, 1) for d in delay_cycles}))
    if not 1 <= len(out) <= MAX_DELAYS:
        raise ValueError(f"delay_cycles must hold 1 to {MAX_DELAYS} distinct amounts, "
                         f"got {len(out)}")
    return out


def _check_budget(budget_s):
    if isinstance(budget_s, bool) or not isinstance(budget_s, numbers.Real):
        raise TypeError(f"budget_s must be a number of seconds, got {budget_s!r}")
    if not 0 < float(budget_s) <= MAX_BUDGET_S:
        raise ValueError(f"budget_s must be more than 0 and at most {MAX_BUDGET_S:g} "
                         f"seconds, got {budget_s}")
    return float(budget_s)


class _Runner:
    """Runs one validated configuration under schedules; keeps the counts."""

    def __init__(self, config, wl, costs, opts, result, progress=None):
        # Every run has the same ops: build them once (the generators are
        # seeded, so these are the ops simulate builds for the replay).
        *built, short = wl.build(config["cpus"], config["seed"], opts["vm_pages"],
                                 with_short=True)
        wl = Workload(wl.name, wl.params, arrays=tuple(built), cpus=config["cpus"],
                      short_pages=short)
        self.config, self.wl, self.costs, self.opts = config, wl, costs, opts
        # The machine of the unperturbed run, built once: a schedule changes
        # only its schedule table and, for delayed think times, a copy of its
        # op table (the engine writes neither).  Building it for every run
        # took most of a small run's time.
        self.machine, self.state, self.think = build_machine(
            config, wl, costs, dict(opts, schedule=None))
        # State tables that start all zero are made anew by np.zeros, which
        # the OS fills lazily; the others are copied from the fresh state.
        self.zero_tables = tuple(not a.any() for a in self.state)
        self.play = engine_for(self.state, self.machine)
        # One check of the simulated-time bound for every run of the search:
        # a schedule adds at most `bound` delays of at most the largest amount.
        worst = np.zeros((1, L.N_SC_COLS), dtype=np.int64)
        worst[0, L.SC_DELAY] = result.bound * max(result.delay_cycles)
        check_sim_time(self.machine._replace(sched=worst), self.think, len(self.state.sd),
                       costs, opts, config["protocol"])
        self.points_by_counts = {}
        self.r = result
        self.seen_orderings = set()
        self.seen_schedules = set()
        # The think times and sections a schedule may delay: the op table's,
        # the same in every run.
        self.op_points = _op_points(self.machine)
        self.progress = progress
        self.t0 = self.last_report = time.monotonic()

    def run(self, schedule):
        """Run ``schedule`` (a sorted tuple of Perturbation); returns
        ``(outcome, new_ordering, points)`` where ``points`` are the steps
        the run had that a schedule may delay."""
        self.seen_schedules.add(schedule)
        machine, state = self._run_engine(schedule)
        k = state.counters
        outcome = _outcome(k)
        key = _ordering(state.ev[:int(k[L.K_NEV])])
        new = key not in self.seen_orderings
        self.seen_orderings.add(key)
        r = self.r
        r.schedules += 1
        r.orderings = len(self.seen_orderings)
        r.outcomes[outcome] += 1
        if outcome == "violation":
            if r.counterexample is None:
                r.counterexample = schedule
                echo = dict(self.config, schedule=schedule) if schedule else self.config
                r.counterexample_result = Result(echo, self.costs, machine, state)
            r.violating.append(schedule)
        if self.progress is not None:
            now = time.monotonic()
            if now - self.last_report >= PROGRESS_INTERVAL_S:
                self.last_report = now
                r.elapsed_s = now - self.t0
                self.progress(r)
        # The steps a run had depend only on its per-CPU step counts, which
        # most runs share with an earlier one.
        counts = state.cpu[:, _STEP_COUNT_COLS]
        counts_key = counts.tobytes()
        points = self.points_by_counts.get(counts_key)
        if points is None:
            points = self.points_by_counts[counts_key] = _points(counts, self.op_points)
        return outcome, new, points

    def _run_engine(self, schedule):
        """The machine and final state of ``schedule``'s run: those of
        ``api.run_machine`` with ``schedule=schedule`` (bit-identical; a test
        compares every table), from the machine built once."""
        sched = schedule_table(schedule or None)
        base = self.machine
        ops = base.ops
        delays_ops = (sched[:, L.SC_WHAT] == L.SW_THINK) | (sched[:, L.SC_WHAT] == L.SW_IRQ_OFF)
        if delays_ops.any():
            ops = ops.copy()
            L.apply_think_delays(ops, base.op_start, sched)
        machine = base._replace(ops=ops, sched=sched)
        state = type(self.state)(*(np.zeros(a.shape, a.dtype) if zero else a.copy()
                                   for a, zero in zip(self.state, self.zero_tables)))
        self.play(state, machine)
        return machine, state


def _outcome(k):
    if k[L.K_VIOLATIONS] > 0:
        return "violation"
    name = T.OUTCOME_NAMES[int(k[L.K_OUTCOME])]
    if name != "completed":
        return name
    return "timeout" if k[L.K_TIMEOUTS] > 0 else "completed"


def _ordering(ev):
    """A digest of the event log without its times, mode changes and
    transient stale hits: the order in which the CPUs' protocol steps (and
    violations) happened.  A reader's stale hit before the safe time moves
    with every small delay and decides nothing: what it could become, a
    violation, is kept.

    The order is that of simulated time, ties by CPU, not the order in
    which the engine wrote the rows: a step the engine plays ahead of its
    instant (a drain fused with its lock step) writes its rows early, and
    two runs with the same steps in the same order must digest alike."""
    kind = ev[:, L.E_KIND]
    ev = ev[(kind != T.EV_STATE) & (kind != T.EV_STALE_HIT)]
    ev = ev[np.lexsort((ev[:, L.E_CPU], ev[:, L.E_TIME]))]
    rows = ev[:, [L.E_CPU, L.E_KIND, L.E_OTHER, L.E_SD, L.E_ARG]]
    rows[rows[:, 1] == T.EV_LOCK_WAIT, 4] = 0     # a lock wait's length is a time
    return hashlib.blake2b(np.ascontiguousarray(rows).tobytes(), digest_size=16).digest()


def _op_points(machine):
    """The think times and sections a schedule may delay (see
    :func:`_points`), from the op table: the same in every run of a search."""
    pts = []
    ops = machine.ops
    for c in range(len(machine.op_start) - 1):
        kinds = ops[machine.op_start[c]:machine.op_start[c + 1], L.O_KIND]
        before = np.zeros(len(kinds), dtype=bool)
        before[:-1] = kinds[1:] != T.OP_ACCESS
        span = (kinds == T.OP_IRQ_OFF) | (kinds == T.OP_IDLE)
        change = (kinds == T.OP_UNMAP) | (kinds == T.OP_PROTECT)
        pts += [(c, "think", int(k)) for k in np.flatnonzero(~span & (before | change))]
        n_sections = int(np.count_nonzero(kinds == T.OP_IRQ_OFF))
        pts += [(c, "irq_off", k) for k in range(n_sections)]
    return pts


_STEP_KINDS_COUNTED = ("ipi", "handler", "push")
_STEP_COUNT_COLS = [L.SC_N_IPI, L.SC_N_ENTRY, L.SC_N_PUSH]


def _points(counts, op_points):
    """The steps of a run a schedule may delay, as (cpu, what, occurrence):
    every IPI sent to a CPU, handler entry and push it had (``counts``: the
    run's ``state.cpu[:, _STEP_COUNT_COLS]``), then ``op_points``: the think
    time of each op that is an unmap or protect or is followed by an op that
    is not an access (so the start of every non-access op and the accesses
    after a shootdown can move), and every interrupts-off section's length."""
    pts = []
    for c in range(counts.shape[0]):
        for what, n in zip(_STEP_KINDS_COUNTED, counts[c].tolist()):
            pts += [(c, what, k) for k in range(n)]
    return pts + op_points


def _with(schedule, point, delay):
    """``schedule`` plus one perturbation of a step it does not name yet, in
    the canonical order of :func:`~tlbwidgets.schedule.check_schedule`."""
    return tuple(sorted(schedule + (Perturbation(*point, delay),), key=_canonical))


def _canonical(p):
    return p.cpu, STEP_KINDS[p.what], p.occurrence


def search_races(protocol, workload, cpus, *, bound=3, delay_cycles=None, budget_s=10,
                 strategy="exhaustive", seed=0, all=False, costs="default", sockets=1,
                 progress=None, **options):
    """Search the timings of one run of ``workload`` on ``cpus`` CPUs under
    ``protocol`` for a violation (a stale translation used after its
    shootdown declared the pages safe); see the module docstring.

    ``bound``: most perturbations per schedule (0 to 6); ``delay_cycles``:
    the amounts a perturbation adds (default :func:`default_delays` of the
    costs); ``budget_s``: seconds of searching; ``strategy``: ``"exhaustive"``
    or ``"random"``; ``seed``: the run's seed (as ``simulate``'s) and the
    random strategy's; ``all``: keep searching after the first violation;
    ``progress``: None or a callable given the :class:`SearchResult` so far
    (counts and ``elapsed_s`` up to date) every :data:`PROGRESS_INTERVAL_S`
    seconds of searching, e.g. to update a progress display;
    ``costs``, ``sockets`` and ``options``: as for :func:`tlbwidgets.simulate`
    (``schedule`` excepted: the search makes them; ``max_log_events`` and
    ``max_log_rows`` default to :data:`SEARCH_LOG_OPTIONS`, and
    :attr:`SearchResult.simulate_args` holds them for the replay).

    Returns a :class:`SearchResult`.  Deterministic but for the budget: the
    same arguments explore the same schedules in the same order, as far as
    the time allows.  Raises ``TypeError``/``ValueError`` naming the
    parameter for a bad value.
    """
    if "schedule" in options:
        raise ValueError("search_races makes its own schedules; schedule= is not an "
                         "option here (replay one with tlbwidgets.simulate)")
    options = {**SEARCH_LOG_OPTIONS, **options}
    bound = check_int("bound", bound, 0, MAX_BOUND)
    budget_s = _check_budget(budget_s)
    if not isinstance(strategy, str) or strategy not in STRATEGIES:
        raise ValueError(f"strategy={strategy!r} is unknown; choose one of {list(STRATEGIES)}")
    if not isinstance(all, (bool, np.bool_)):
        raise TypeError(f"all must be True or False, got {all!r}")
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be None or a callable taking the SearchResult, "
                        f"got {progress!r}")
    config, wl, c, opts = validate_args(cpus, protocol, workload, costs, sockets, seed,
                                        **options)
    delays = _check_delays(delay_cycles, c)
    out = SearchResult(protocol=config["protocol"], cpus=config["cpus"], strategy=strategy,
                       bound=bound, delay_cycles=delays,
                       simulate_args=dict(cpus=cpus, protocol=protocol, workload=workload,
                                          costs=costs, sockets=sockets, seed=seed, **options))
    runner = _Runner(config, wl, c, opts, out, progress)
    with engine_lock(config["protocol"]):
        outcome, _, base_points = runner.run(())
        t0 = runner.t0 = runner.last_report = time.monotonic()
        if outcome == "violation" and not all:
            out.stopped = "violation"
        elif strategy == "exhaustive":
            out.stopped = _exhaustive(runner, base_points, bound, delays, t0 + budget_s,
                                      bool(all))
        else:
            out.stopped = _random(runner, base_points, bound, delays, t0 + budget_s,
                                  bool(all), int(config["seed"]))
        out.elapsed_s = time.monotonic() - t0
    if progress is not None:
        progress(out)
    return out


def _exhaustive(runner, base_points, bound, delays, deadline, keep_going):
    """Level by level; a level's schedules extend the previous level's that
    reached a new ordering.  Returns why it stopped."""
    frontier = [((), base_points)]
    for _ in range(bound):
        nxt = []
        for schedule, points in frontier:
            named = {p[:3] for p in schedule}
            for point in points:
                if point in named:
                    continue
                for d in delays:
                    if time.monotonic() >= deadline:
                        return "budget"
                    child = _with(schedule, point, d)
                    if child in runner.seen_schedules:
                        continue
                    outcome, new, child_points = runner.run(child)
                    if outcome == "violation" and not keep_going:
                        return "violation"
                    if new:
                        nxt.append((child, child_points))
        frontier = nxt
    return "exhausted"


def _random(runner, base_points, bound, delays, deadline, keep_going, seed):
    """Uniform draws of up to ``bound`` perturbations of the unperturbed
    run's steps.  Returns why it stopped."""
    rng = np.random.default_rng(seed)
    if bound == 0 or not base_points:
        return "exhausted"
    stale = 0
    while time.monotonic() < deadline:
        n = int(rng.integers(1, min(bound, len(base_points)) + 1))
        picks = rng.choice(len(base_points), size=n, replace=False)
        schedule = ()
        for i in sorted(picks):
            schedule = _with(schedule, base_points[i], delays[int(rng.integers(len(delays)))])
        if schedule in runner.seen_schedules:
            stale += 1
            if stale >= _RANDOM_STALE_DRAWS:
                return "exhausted"
            continue
        stale = 0
        outcome, _, _ = runner.run(schedule)
        if outcome == "violation" and not keep_going:
            return "violation"
    return "budget"
