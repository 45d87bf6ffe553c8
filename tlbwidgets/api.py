"""``simulate``: validate every argument, build the machine, run the jitted
engine, wrap the result.

The engine assumes valid input; everything a user can pass is checked here
first, and a bad value raises ``ValueError`` or ``TypeError`` naming the
parameter, the value and what is allowed.
"""

import os

import numpy as np

from ._validate import (
    check_int as _int, check_cycles as _cycles, check_fraction as _fraction,
    MAX_CYCLES, MAX_SIM_CYCLES, MAX_VM_PAGES,
)
from .costs import resolve_costs
from .engine import run_engine, make_machine_state, PROTO_IDS
from .engine import _layout as L
from .protocols import PROTOCOLS, IMPLEMENTED, protocol_defaults
from .result import Result
from .schedule import check_schedule, schedule_table
from .warm import engine_lock
from .workloads import Workload, get_workload, workload_params

__all__ = ["simulate", "validate_args", "MACHINE_OPTIONS", "APIC_MODES", "SEED_ACK_TIMEOUT_SPINS",
           "MAX_OPS"]

# The largest workload: ops of all CPUs together.  The op table alone is 40
# bytes an op (80 GiB at this limit); a run must also fit in the machine's
# memory, which validate_args estimates before anything is built.
MAX_OPS = 2**31

# strat9 arch/x86_64/tlb.rs: MAX_WAIT_CYCLES, spins per target before giving up.
SEED_ACK_TIMEOUT_SPINS = 10_000_000
# The seed's per-CPU queue holds 16 ops (TlbQueue::ops).
SEED_QUEUE_SLOTS = 16

# linux's IPI destination modes (docs/protocols.md): the engine's P_APIC_MODE codes.
APIC_MODES = {"x2apic_cluster": L.APIC_X2APIC_CLUSTER, "physical": L.APIC_PHYSICAL}

# Where the mailbox protocols keep their ACK fields (docs/protocols.md, "The packed ACK
# line"): "packed" as in the seed's one-byte flag array (64 to a cache line; mailbox_fixed's
# 8-byte sequence numbers 8 to a line), "padded" one cache line each.
ACK_LAYOUTS = ("packed", "padded")
ACK_LAYOUT_DEFAULTS = {"mailbox": "packed", "mailbox_fixed": "padded"}

MACHINE_OPTIONS = {
    "vm_pages": 4096,              # pages of the shared address space
    "tlb_sets": 16,                # L1 dTLB: 16 sets x 4 ways = 64 entries
    "tlb_ways": 4,
    "ack_timeout_spins": SEED_ACK_TIMEOUT_SPINS,  # mailbox only; None: never give up
    "wait_irqs_off": False,        # initiators dispatch and wait with interrupts off
    "offline": (),                 # CPUs that are not online (skipped, run nothing)
    "queue_slots": SEED_QUEUE_SLOTS,
    "full_threshold_pages": None,  # None: the protocol's own threshold
    "max_events": 50_000_000,      # stop with outcome "event_limit" after this many
    "max_log_rows": 200_000,       # cap of deliveries / stale windows / violations rows
    "max_log_events": 200_000,     # cap of the event log
    "tick_cycles": 3_000_000,      # latr: scheduler tick (1 ms at 3 GHz)
    "broadcast_max_pages": 8,      # broadcast: pages one INVLPGB may name
    "apic_mode": "x2apic_cluster", # linux: one ICR write per x2APIC cluster, or "physical"
    "pv_preempted_share": 0.0,     # linux in a KVM guest: targets found preempted, skipped
    "ack_layout": None,            # mailbox protocols: "packed" or "padded"; None: the
                                   # protocol's own (ACK_LAYOUT_DEFAULTS)
}


def validate_args(cpus=16, protocol="mailbox", workload="uniform", costs="default",
                  sockets=1, seed=0, **options):
    """Check every argument of :func:`simulate` without running anything.

    Returns ``(config, workload_obj, costs_obj, machine_options)`` where
    ``config`` is the complete echo of the inputs (defaults filled in).
    """
    cpus = _int("cpus", cpus, 1, 1024)
    sockets = _int("sockets", sockets, 1, 64)
    if cpus % sockets:
        raise ValueError(f"sockets={sockets} must divide cpus={cpus} (CPUs are split "
                         "evenly across sockets)")
    seed = _int("seed", seed, 0, 2**63 - 1)
    if not isinstance(protocol, str):
        raise TypeError(f"protocol must be a name, got {type(protocol).__name__}")
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol={protocol!r} is unknown; choose one of {list(PROTOCOLS)}")
    if protocol not in IMPLEMENTED:
        raise ValueError(f"protocol={protocol!r} is not available in this version; "
                         f"available: {list(IMPLEMENTED)}")
    costs_obj = resolve_costs(costs)

    opts = dict(MACHINE_OPTIONS)
    # schedule: delays of particular steps (tlbwidgets.schedule); not a
    # workload parameter, and echoed only when given.
    schedule = check_schedule(options.pop("schedule", None), cpus)
    wl_kwargs = {}
    if isinstance(workload, Workload):
        wl_obj = workload
        allowed_wl = set()
    else:
        gen = get_workload(workload)
        allowed_wl = set(workload_params(workload))
        wl_obj = None
    for k, v in options.items():
        if k in MACHINE_OPTIONS:
            opts[k] = v
        elif k in allowed_wl:
            wl_kwargs[k] = v
        else:
            allowed = sorted(set(MACHINE_OPTIONS) | allowed_wl)
            raise ValueError(f"unknown option {k}={v!r}; allowed here: {allowed}")
    if wl_obj is None:
        wl_obj = gen(**wl_kwargs)

    opts["vm_pages"] = _int("vm_pages", opts["vm_pages"], 1, MAX_VM_PAGES)
    opts["tlb_sets"] = _int("tlb_sets", opts["tlb_sets"], 1, 4096)
    if opts["tlb_sets"] & (opts["tlb_sets"] - 1):
        raise ValueError(f"tlb_sets must be a power of two, got {opts['tlb_sets']}")
    opts["tlb_ways"] = _int("tlb_ways", opts["tlb_ways"], 1, 64)
    if cpus * opts["tlb_sets"] * opts["tlb_ways"] > 1 << 24:
        raise ValueError(f"cpus x tlb_sets x tlb_ways = "
                         f"{cpus * opts['tlb_sets'] * opts['tlb_ways']} TLB entries is more "
                         f"than the simulator allows ({1 << 24})")
    if opts["ack_timeout_spins"] is not None:
        spins = opts["ack_timeout_spins"] = _int("ack_timeout_spins",
                                                 opts["ack_timeout_spins"], 1, MAX_CYCLES)
        # the give-up deadline is one scheduled instant, spins x pause away
        # (only the seed gives up: see simulate)
        if protocol == "mailbox" and spins * costs_obj.pause > MAX_CYCLES:
            raise ValueError(
                f"ack_timeout_spins x pause = {spins:,} x {costs_obj.pause:,} = "
                f"{spins * costs_obj.pause:,} cycles is more than the simulator's largest "
                f"cycle value ({MAX_CYCLES:,}); lower ack_timeout_spins or costs pause, or "
                "pass ack_timeout_spins=None (never give up)")
    if not isinstance(opts["wait_irqs_off"], (bool, np.bool_)):
        raise TypeError(f"wait_irqs_off must be True or False, got {opts['wait_irqs_off']!r}")
    opts["wait_irqs_off"] = bool(opts["wait_irqs_off"])
    off = opts["offline"]
    if isinstance(off, (str, bytes)) or not hasattr(off, "__iter__"):
        raise TypeError(f"offline must be a sequence of CPU numbers, got {off!r}")
    off = tuple(sorted({_int("offline[]", c, 0, cpus - 1) for c in off}))
    opts["offline"] = off
    opts["queue_slots"] = _int("queue_slots", opts["queue_slots"], 1, 4096)
    if opts["full_threshold_pages"] is None:
        opts["full_threshold_pages"] = protocol_defaults(protocol)["full_threshold_pages"]
    opts["full_threshold_pages"] = _int("full_threshold_pages",
                                        opts["full_threshold_pages"], 0, 1 << 24)
    opts["max_events"] = _int("max_events", opts["max_events"], 1, 10**12)
    opts["max_log_rows"] = _int("max_log_rows", opts["max_log_rows"], 0, 50_000_000)
    opts["max_log_events"] = _int("max_log_events", opts["max_log_events"], 0, 50_000_000)
    opts["tick_cycles"] = _cycles("tick_cycles", opts["tick_cycles"], 1)
    opts["broadcast_max_pages"] = _int("broadcast_max_pages", opts["broadcast_max_pages"],
                                       1, 1 << 20)
    mode = opts["apic_mode"]
    if not isinstance(mode, str) or mode not in APIC_MODES:
        raise ValueError(f"apic_mode={mode!r} is not an APIC destination mode; choose one of "
                         f"{list(APIC_MODES)} (only protocol 'linux' uses it)")
    opts["apic_mode"] = str(mode)
    layout = opts["ack_layout"]
    if layout is None:
        layout = ACK_LAYOUT_DEFAULTS.get(protocol, "padded")
    if not isinstance(layout, str) or layout not in ACK_LAYOUTS:
        raise ValueError(f"ack_layout={layout!r} is not an ACK layout; choose one of "
                         f"{list(ACK_LAYOUTS)} or None for the protocol's own (only "
                         "protocols 'mailbox' and 'mailbox_fixed' use it)")
    opts["ack_layout"] = str(layout)
    opts["pv_preempted_share"] = _fraction("pv_preempted_share",
                                             opts["pv_preempted_share"], "a share of targets")

    _check_memory(cpus, wl_obj, opts)

    if isinstance(costs, str):
        costs_echo = costs
    else:
        costs_echo = {k: v for k, v in costs_obj.to_dict().items() if k != "name"}
    config = {"cpus": cpus, "protocol": protocol, "sockets": sockets, "seed": seed,
              "costs": costs_echo}
    if wl_obj._arrays is None:
        config["workload"] = wl_obj.name
        config.update(wl_obj.params)
    else:
        config["workload"] = wl_obj
    config.update(opts)
    if schedule is not None:
        config["schedule"] = schedule
    opts["schedule"] = schedule
    return config, wl_obj, costs_obj, opts


def simulate(cpus=16, protocol="mailbox", workload="uniform", costs="default",
             sockets=1, seed=0, **options):
    """Simulate ``workload`` on ``cpus`` CPUs under a shootdown ``protocol``.

    ``options`` are the machine knobs of :data:`MACHINE_OPTIONS`, the named
    workload's own parameters and ``schedule``: ``None`` (the default: every
    step takes its cost) or perturbations ``(cpu, what, occurrence,
    delay_cycles)`` that make particular steps longer
    (:mod:`tlbwidgets.schedule`; :func:`tlbwidgets.search_races` finds
    them).  Always returns a :class:`Result` whose
    ``outcome`` says how the run ended ("completed", "deadlock" or
    "event_limit"); the same arguments give the same result.
    """
    config, wl, c, opts = validate_args(cpus, protocol, workload, costs, sockets, seed,
                                        **options)
    # A first run compiles: wait for a warmer compiling this protocol (warm.py).
    with engine_lock(config["protocol"]):
        return run_validated(config, wl, c, opts)


def run_validated(config, wl, c, opts):
    """Run what :func:`validate_args` returned, without the compile lock
    (``warm`` holds it over several runs).  Only the validated values are used
    from here on: a NumPy scalar argument (np.uint8(200)) would compute in its
    own width."""
    machine, state = run_machine(config, wl, c, opts)
    return Result(config, c, machine, state)


def run_machine(config, wl, c, opts):
    """Build and run the machine of :func:`run_validated`; returns the
    :class:`~tlbwidgets.engine.Machine` and the final
    :class:`~tlbwidgets.engine.State` (the search reads its step counts)."""
    machine, state, think = build_machine(config, wl, c, opts)
    check_sim_time(machine, think, len(state.sd), c, opts, config["protocol"])
    run_engine(state, machine)
    return machine, state


def build_machine(config, wl, c, opts):
    """The :class:`~tlbwidgets.engine.Machine` and fresh
    :class:`~tlbwidgets.engine.State` of :func:`run_machine`, not yet run or
    checked, and the sum of the ops' think times (for :func:`check_sim_time`)."""
    cpus, protocol, sockets, seed = (config[k] for k in ("cpus", "protocol", "sockets", "seed"))
    totals = {}
    op_start, blocks = wl.build_blocks(cpus, seed, opts["vm_pages"], totals)

    params = np.zeros(L.N_PARAMS, dtype=np.int64)
    params[L.P_NCPU] = cpus
    params[L.P_NSOCK] = sockets
    params[L.P_VM_PAGES] = opts["vm_pages"]
    params[L.P_SETS] = opts["tlb_sets"]
    params[L.P_WAYS] = opts["tlb_ways"]
    spins = opts["ack_timeout_spins"]
    params[L.P_TIMEOUT_SPINS] = spins if _gives_up(protocol, opts) else -1
    params[L.P_MAX_EVENTS] = opts["max_events"]
    params[L.P_PROTO] = PROTO_IDS[protocol]
    params[L.P_WAIT_IRQS_OFF] = int(opts["wait_irqs_off"])
    params[L.P_QUEUE_SLOTS] = opts["queue_slots"]
    params[L.P_FULL_THRESHOLD] = opts["full_threshold_pages"]
    params[L.P_CAP_EVENTS] = opts["max_log_events"]
    params[L.P_CAP_ROWS] = opts["max_log_rows"]
    params[L.P_TICK] = opts["tick_cycles"]
    params[L.P_BCAST_MAX_PAGES] = opts["broadcast_max_pages"]
    params[L.P_APIC_MODE] = APIC_MODES[opts["apic_mode"]]
    params[L.P_PV_PREEMPTED_PPM] = round(opts["pv_preempted_share"] * 1_000_000)
    params[L.P_PV_SEED] = seed % 2**31
    params[L.P_ACK_PER_LINE] = _ack_per_line(protocol, opts["ack_layout"])

    socket = (np.arange(cpus, dtype=np.int64) * sockets) // cpus
    online = np.ones(cpus, dtype=np.int64)
    online[list(opts["offline"])] = 0
    machine, state = make_machine_state(params, c.as_array(), socket, online, op_start,
                                          blocks, schedule_table(opts["schedule"]),
                                          totals["short_pages"])
    return machine, state, totals["think_cycles"]


def _ack_per_line(protocol, layout):
    """ACK fields per cache line (the engine's P_ACK_PER_LINE): 0 when each has
    its own line or the protocol keeps no ACK array."""
    if layout != "packed" or protocol not in ACK_LAYOUT_DEFAULTS:
        return 0
    return L.ACK_PACKED_FLAGS if protocol == "mailbox" else L.ACK_PACKED_SEQS


def _gives_up(protocol, opts):
    # Only the seed gives up; its repair waits for as long as it takes.
    return protocol == "mailbox" and opts["ack_timeout_spins"] is not None


def _physical_memory_bytes():
    """This machine's physical memory, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _gib(n_bytes):
    return f"{n_bytes / 2**30:,.1f} GiB"


def _check_memory(cpus, wl, opts):
    """Refuse, before anything is built, a run that would not fit: more than
    :data:`MAX_OPS` ops, or an estimated footprint (ops and the engine's
    tables) beyond this machine's physical memory.  The error names the
    parameters the size grows with."""
    size = wl.size(cpus)
    if size is None:
        return
    n_ops, bytes_per_op, what = size
    S, W, V = opts["tlb_sets"], opts["tlb_ways"], opts["vm_pages"]
    tables = 8 * (cpus * cpus * L.N_PAIR_COLS + cpus * S * W * L.N_TLB_COLS
                  + (cpus * (cpus + 4) + 64) * L.N_ND_COLS + cpus * L.N_CPU_COLS) + 16 * V
    need = n_ops * bytes_per_op + tables
    have = _physical_memory_bytes()
    where = f"workload {wl.name!r} on cpus={cpus} makes {n_ops:,} ops (it grows with " \
            f"cpus x {what})"
    if n_ops > MAX_OPS:
        raise ValueError(f"{where}, more than the simulator's largest workload "
                         f"({MAX_OPS:,} ops); lower {what} or cpus")
    if have is not None and need > have:
        raise ValueError(f"{where}, which needs about {_gib(need)} of memory "
                         f"(about {bytes_per_op} bytes an op); this machine has "
                         f"{_gib(have)}; lower {what} or cpus")


def check_sim_time(machine, think, n_changes, c, opts, protocol):
    """Refuse a run whose simulated time could pass :data:`MAX_SIM_CYCLES`
    (the engine's int64 event keys hold ``time * 4``), naming what makes it
    long.  ``think`` is the sum of the ops' think times.  The bound is the
    sum of every delay the run can schedule: all think times, a hit and a
    walk for every op, and per (shootdown, CPU) every cost twice and the
    flush of the largest range twice, the give-up wait and a tick (these two
    at most ``max_events`` times: each is an event)."""
    gives_up = _gives_up(protocol, opts)
    cpus = len(machine.op_start) - 1
    lookups = float(len(machine.ops)) * (c.tlb_hit + c.page_walk)
    pages = min(opts["vm_pages"], max(opts["full_threshold_pages"], 1))
    costs = c.as_array()
    step = float(costs.sum()) + float(pages) * (c.invlpg + c.invlpgb)
    wait = float(opts["ack_timeout_spins"] or 0) * c.pause if gives_up else 0.0
    # a wait and a tick are events: no more of them than max_events
    waits = min(float(n_changes) * (cpus + 1), float(opts["max_events"]))
    parts = {
        "the think times (the workload's cycle parameters)": think,
        "the accesses (costs tlb_hit and page_walk)": lookups,
        "the shootdowns' costs (costs, full_threshold_pages)":
            float(n_changes) * (cpus + 1) * 2 * step,
        "the give-up waits (ack_timeout_spins x pause)": waits * wait,
        "the ticks (tick_cycles)": waits * opts["tick_cycles"],
        "the schedule's delays (schedule)": float(machine.sched[:, L.SC_DELAY].sum()),
    }
    bound = sum(parts.values())
    if bound > MAX_SIM_CYCLES:
        worst = max(parts, key=parts.get)
        raise ValueError(
            f"this run could last up to {bound:.3g} simulated cycles, more than the "
            f"simulator's clock allows ({MAX_SIM_CYCLES:.3g} = 2**60 cycles); most of it "
            f"is {worst}: lower them, or shrink the workload")
