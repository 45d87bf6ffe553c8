"""Cost models: how many cycles each hardware step of a shootdown takes.

A :class:`Costs` is an immutable set of integer cycle counts plus a clock in
GHz (used only to show microseconds).  Named presets live in
:data:`COST_PRESETS`; every number in them is cited in ``docs/costs.md``.
"""

import numbers
from dataclasses import dataclass, fields, asdict, replace

import numpy as np

from ._validate import MAX_CYCLES

__all__ = ["Costs", "COST_PRESETS", "COST_FIELDS", "MLP_RANGE", "resolve_costs"]

# Order matters: the engine receives the integer fields as one int64 vector in
# this order (see ``Costs.as_array``) and indexes it with the C_* constants in
# ``tlbwidgets.engine._state``.
COST_FIELDS = (
    "tlb_hit", "page_walk", "invlpg", "full_flush", "cacheline",
    "cacheline_remote", "ipi_send", "ipi_latency", "ipi_latency_remote",
    "irq_entry", "irq_exit", "pause", "invlpgb", "tlbsync", "mlp", "idle_wake",
)

# ``mlp`` is a count, not cycles: how many independent cache-line transfers
# one core keeps in flight (its line fill buffers bound it; docs/costs.md).
MLP_RANGE = (1, 64)

# An access costs one of these; each must take time (see Costs).
_ACCESS_FIELDS = ("tlb_hit", "page_walk")


@dataclass(frozen=True)
class Costs:
    """Cycle costs of one machine.  The integer fields are cycles (>= 0),
    except ``mlp``.

    The defaults are the ``"default"`` preset (a one-socket Cascade Lake
    Xeon at 3.0 GHz); every number is cited in ``docs/costs.md``.

    ``invlpgb`` and ``tlbsync`` are used only by the ``broadcast`` protocol:
    the initiator's cost to issue one broadcast invalidation, and the base cost
    of the TLBSYNC that waits for every core to finish it.

    ``mlp`` (memory-level parallelism) is a count, not cycles: how many
    independent remote cache-line transfers one core keeps in flight.  The
    ``linux`` protocol overlaps its per-target queue pushes in groups of
    ``mlp``; ``mlp=1`` charges them strictly one after another.

    ``idle_wake`` is the time a CPU in an ``idle`` op (halted in C1) takes to
    wake when an interrupt arrives, before it can take it.

    Guarantees: a constructed ``Costs`` has every ``COST_FIELDS`` entry a
    Python ``int`` in ``[0, MAX_CYCLES]`` (``bool`` rejected, NumPy integers
    converted), ``pause``, ``tlb_hit`` and ``page_walk`` at least 1, ``mlp``
    in ``MLP_RANGE`` (1 to 64), a float
    ``0.1 <= clock_ghz <= 10`` and a string ``name``; otherwise construction
    raises ``TypeError``/``ValueError`` naming the field, the value and what
    is allowed.
    """

    tlb_hit: int = 1
    page_walk: int = 30
    invlpg: int = 200
    full_flush: int = 96
    cacheline: int = 141
    cacheline_remote: int = 402
    ipi_send: int = 200
    ipi_latency: int = 735
    ipi_latency_remote: int = 996
    irq_entry: int = 600
    irq_exit: int = 300
    pause: int = 140
    invlpgb: int = 100
    tlbsync: int = 900
    mlp: int = 10
    idle_wake: int = 6000
    clock_ghz: float = 3.0
    name: str = "custom"

    def __post_init__(self):
        for f in COST_FIELDS:
            v = getattr(self, f)
            what = ("an integer count of transfers" if f == "mlp"
                    else "a non-negative integer number of cycles")
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
                raise TypeError(f"Costs.{f} must be {what}, got {v!r} ({type(v).__name__})")
            v = int(v)      # a NumPy scalar is stored as the Python int (JSON, echo)
            if f == "mlp":
                lo, hi = MLP_RANGE
                if not lo <= v <= hi:
                    raise ValueError(
                        f"Costs.mlp must be between {lo} and {hi} (independent cache-line "
                        f"transfers one core keeps in flight; 1 charges them one after "
                        f"another), got {v:,}")
            elif not 0 <= v <= MAX_CYCLES:
                raise ValueError(
                    f"Costs.{f} must be between 0 and {MAX_CYCLES:,} cycles (the "
                    f"simulator's largest cycle value), got {v:,}")
            object.__setattr__(self, f, v)
        ghz = self.clock_ghz
        if isinstance(ghz, (bool, np.bool_)) or not isinstance(ghz, numbers.Real):
            raise TypeError(f"Costs.clock_ghz must be a number of GHz, got {ghz!r} "
                            f"({type(ghz).__name__})")
        # The negated form also rejects NaN.
        if not (0.1 <= float(ghz) <= 10.0):
            raise ValueError(f"Costs.clock_ghz must be between 0.1 and 10 GHz, got {ghz}")
        object.__setattr__(self, "clock_ghz", float(ghz))
        if self.pause < 1:
            raise ValueError("Costs.pause must be at least 1 cycle (a spin iteration takes time), "
                             f"got {self.pause}")
        for f in _ACCESS_FIELDS:
            if getattr(self, f) < 1:
                raise ValueError(
                    f"Costs.{f} must be at least 1 cycle (an access that takes no time "
                    f"would let a CPU run its accesses forever at one instant), "
                    f"got {getattr(self, f)}")
        if not isinstance(self.name, str):
            raise TypeError(f"Costs.name must be a str, got {self.name!r} "
                            f"({type(self.name).__name__})")

    def as_array(self) -> np.ndarray:
        """The integer fields as an int64 vector in ``COST_FIELDS`` order."""
        return np.array([int(getattr(self, f)) for f in COST_FIELDS], dtype=np.int64)

    def to_dict(self) -> dict:
        return asdict(self)

    def with_(self, **changes) -> "Costs":
        """A copy with some fields changed (validated like a new ``Costs``).

        Raises ``ValueError`` naming any unknown field and the allowed ones.
        """
        allowed = {f.name for f in fields(Costs)}
        bad = sorted(set(changes) - allowed)
        if bad:
            raise ValueError(f"Costs.with_ got unknown field(s) {bad}; allowed: {sorted(allowed)}")
        return replace(self, **changes)

    def cycles_to_us(self, cycles):
        """Convert cycles (scalar or array) to microseconds at this clock."""
        return np.asarray(cycles, dtype=np.float64) / (self.clock_ghz * 1e3)


# Every number below is cited, with its arithmetic, in docs/costs.md; the test
# suite fails if a preset field has no row there.  Presets describe machines,
# not socket counts: pass ``sockets=`` to ``simulate`` to say how many sockets
# the simulated CPUs are spread over.
COST_PRESETS = {
    # One-socket Intel Xeon Platinum 8275CL (Cascade Lake, 3.0 GHz).
    "default": Costs(name="default"),
    # Two-socket Intel Xeon Gold 6242 (Cascade Lake, 2.8 GHz).
    "intel_2socket": Costs(
        tlb_hit=1, page_walk=30, invlpg=200, full_flush=96,
        cacheline=134, cacheline_remote=381,
        ipi_send=200, ipi_latency=735, ipi_latency_remote=982,
        irq_entry=600, irq_exit=300, pause=140, invlpgb=100, tlbsync=900,
        idle_wake=5600, clock_ghz=2.8, name="intel_2socket"),
    # Eight-socket Intel Xeon E7-8870 v2 class machine (Ivy Bridge-EX, 2.3 GHz);
    # cache-line costs measured on an 8-socket Westmere-EX (mctop's diassrv8).
    "large_8socket": Costs(
        tlb_hit=1, page_walk=30, invlpg=260, full_flush=96,
        cacheline=127, cacheline_remote=447,
        ipi_send=200, ipi_latency=735, ipi_latency_remote=1055,
        irq_entry=600, irq_exit=300, pause=10, invlpgb=100, tlbsync=900,
        idle_wake=2300, clock_ghz=2.3, name="large_8socket"),
    # AMD EPYC 7R13 (Zen 3 "Milan") with INVLPGB/TLBSYNC, assumed 3.0 GHz.
    "amd_broadcast": Costs(
        tlb_hit=1, page_walk=30, invlpg=80, full_flush=96,
        cacheline=284, cacheline_remote=591,
        ipi_send=200, ipi_latency=735, ipi_latency_remote=1042,
        irq_entry=600, irq_exit=300, pause=10, invlpgb=100, tlbsync=900,
        idle_wake=3000, clock_ghz=3.0, name="amd_broadcast"),
    # A KVM guest on an AMD EPYC host at 2.596 GHz (this project's CI machine):
    # sending an IPI exits to the hypervisor (ICR write or PV hypercall).  The
    # IPI fields are this guest's measured VM exit and IPI round trip.
    "kvm_guest": Costs(
        tlb_hit=1, page_walk=30, invlpg=80, full_flush=96,
        cacheline=245, cacheline_remote=511,
        ipi_send=9076, ipi_latency=12946, ipi_latency_remote=13212,
        irq_entry=600, irq_exit=300, pause=10, invlpgb=100, tlbsync=900,
        idle_wake=2596, clock_ghz=2.596, name="kvm_guest"),
}


def resolve_costs(costs) -> Costs:
    """Turn a preset name, a ``Costs`` or a dict of overrides into a ``Costs``.

    A dict may name a ``preset`` to start from (default ``"default"``) and
    override any field.  Raises ``ValueError``/``TypeError`` naming the
    parameter ``costs`` and what is allowed.
    """
    if isinstance(costs, Costs):
        return costs
    if isinstance(costs, str):
        if costs not in COST_PRESETS:
            raise ValueError(f"costs={costs!r} is not a cost preset; choose one of "
                             f"{sorted(COST_PRESETS)} or pass a tlbwidgets.Costs")
        return COST_PRESETS[costs]
    if isinstance(costs, dict):
        base_name = costs.get("preset", "default")
        base = resolve_costs(base_name)
        allowed = {f.name for f in fields(Costs)} - {"name"}
        over = {k: v for k, v in costs.items() if k != "preset"}
        bad = sorted(set(over) - allowed)
        if bad:
            raise ValueError(f"costs has unknown field(s) {bad}; allowed: {sorted(allowed)}")
        d = asdict(base)
        d.update(over)
        d["name"] = f"{base.name}+custom"
        return Costs(**d)
    raise TypeError(f"costs must be a preset name, a tlbwidgets.Costs or a dict, "
                    f"got {type(costs).__name__}")
