"""``simulate``: validate every argument, build the machine, run the jitted
engine, wrap the result.

The engine assumes valid input; everything a user can pass is checked here
first, and a bad value raises ``ValueError`` or ``TypeError`` naming the
parameter, the value and what is allowed.
"""

import numpy as np

from ._validate import check_int as _int
from .costs import resolve_costs
from .engine import run_engine, make_machine_state, PROTO_IDS
from .engine import _layout as L
from .protocols import PROTOCOLS, IMPLEMENTED, protocol_defaults
from .result import Result
from .warm import engine_lock
from .workloads import Workload, get_workload, workload_params

__all__ = ["simulate", "validate_args", "MACHINE_OPTIONS", "SEED_ACK_TIMEOUT_SPINS"]

# strat9 arch/x86_64/tlb.rs: MAX_WAIT_CYCLES, spins per target before giving up.
SEED_ACK_TIMEOUT_SPINS = 10_000_000
# The seed's per-CPU queue holds 16 ops (TlbQueue::ops).
SEED_QUEUE_SLOTS = 16

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

    opts["vm_pages"] = _int("vm_pages", opts["vm_pages"], 1, 1 << 24)
    opts["tlb_sets"] = _int("tlb_sets", opts["tlb_sets"], 1, 4096)
    if opts["tlb_sets"] & (opts["tlb_sets"] - 1):
        raise ValueError(f"tlb_sets must be a power of two, got {opts['tlb_sets']}")
    opts["tlb_ways"] = _int("tlb_ways", opts["tlb_ways"], 1, 64)
    if cpus * opts["tlb_sets"] * opts["tlb_ways"] > 1 << 24:
        raise ValueError(f"cpus x tlb_sets x tlb_ways = "
                         f"{cpus * opts['tlb_sets'] * opts['tlb_ways']} TLB entries is more "
                         f"than the simulator allows ({1 << 24})")
    if opts["ack_timeout_spins"] is not None:
        opts["ack_timeout_spins"] = _int("ack_timeout_spins", opts["ack_timeout_spins"],
                                         1, 10**12)
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
    opts["tick_cycles"] = _int("tick_cycles", opts["tick_cycles"], 1, 10**12)
    opts["broadcast_max_pages"] = _int("broadcast_max_pages", opts["broadcast_max_pages"],
                                       1, 1 << 20)

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
    return config, wl_obj, costs_obj, opts


def simulate(cpus=16, protocol="mailbox", workload="uniform", costs="default",
             sockets=1, seed=0, **options):
    """Simulate ``workload`` on ``cpus`` CPUs under a shootdown ``protocol``.

    ``options`` are the machine knobs of :data:`MACHINE_OPTIONS` and the
    named workload's own parameters.  Always returns a :class:`Result` whose
    ``outcome`` says how the run ended ("completed", "deadlock" or
    "event_limit"); the same arguments give the same result.
    """
    config, wl, c, opts = validate_args(cpus, protocol, workload, costs, sockets, seed,
                                        **options)
    # A first run compiles: wait for a warmer compiling this protocol (warm.py).
    with engine_lock(protocol):
        return run_validated(config, wl, c, opts)


def run_validated(config, wl, c, opts):
    """Run what :func:`validate_args` returned, without the compile lock
    (``warm`` holds it over several runs)."""
    cpus, protocol, sockets, seed = (config[k] for k in ("cpus", "protocol", "sockets", "seed"))
    op_start, blocks = wl.build_blocks(cpus, seed, opts["vm_pages"])

    params = np.zeros(L.N_PARAMS, dtype=np.int64)
    params[L.P_NCPU] = cpus
    params[L.P_NSOCK] = sockets
    params[L.P_VM_PAGES] = opts["vm_pages"]
    params[L.P_SETS] = opts["tlb_sets"]
    params[L.P_WAYS] = opts["tlb_ways"]
    spins = opts["ack_timeout_spins"]
    # Only the seed gives up; its repair waits for as long as it takes.
    gives_up = protocol == "mailbox" and spins is not None
    params[L.P_TIMEOUT_SPINS] = spins if gives_up else -1
    params[L.P_MAX_EVENTS] = opts["max_events"]
    params[L.P_PROTO] = PROTO_IDS[protocol]
    params[L.P_WAIT_IRQS_OFF] = int(opts["wait_irqs_off"])
    params[L.P_QUEUE_SLOTS] = opts["queue_slots"]
    params[L.P_FULL_THRESHOLD] = opts["full_threshold_pages"]
    params[L.P_CAP_EVENTS] = opts["max_log_events"]
    params[L.P_CAP_ROWS] = opts["max_log_rows"]
    params[L.P_TICK] = opts["tick_cycles"]
    params[L.P_BCAST_MAX_PAGES] = opts["broadcast_max_pages"]

    socket = (np.arange(cpus, dtype=np.int64) * sockets) // cpus
    online = np.ones(cpus, dtype=np.int64)
    online[list(opts["offline"])] = 0
    machine, state = make_machine_state(params, c.as_array(), socket, online, op_start,
                                          blocks)
    run_engine(state, machine)
    return Result(config, c, machine, state)
