"""Cost models: how many cycles each hardware step of a shootdown takes.

A :class:`Costs` is an immutable set of integer cycle counts plus a clock in
GHz (used only to show microseconds).  Named presets live in
:data:`COST_PRESETS`; every number in them is cited in ``docs/costs.md``.
"""

from dataclasses import dataclass, fields, asdict
import numpy as np

__all__ = ["Costs", "COST_PRESETS", "COST_FIELDS", "resolve_costs"]

# Order matters: the engine receives the integer fields as one int64 vector in
# this order (see ``Costs.as_array``) and indexes it with the C_* constants in
# ``tlbwidgets.engine._state``.
COST_FIELDS = (
    "tlb_hit", "page_walk", "invlpg", "full_flush", "cacheline",
    "cacheline_remote", "ipi_send", "ipi_latency", "ipi_latency_remote",
    "irq_entry", "irq_exit", "pause", "invlpgb", "tlbsync",
)


@dataclass(frozen=True)
class Costs:
    """Cycle costs of one machine.  All integer fields are cycles (>= 0).

    ``invlpgb`` and ``tlbsync`` are used only by the ``broadcast`` protocol:
    the initiator's cost to issue one broadcast invalidation, and the base cost
    of the TLBSYNC that waits for every core to finish it.
    """

    tlb_hit: int = 1
    page_walk: int = 30
    invlpg: int = 150
    full_flush: int = 400
    cacheline: int = 100
    cacheline_remote: int = 300
    ipi_send: int = 200
    ipi_latency: int = 1500
    ipi_latency_remote: int = 3000
    irq_entry: int = 600
    irq_exit: int = 300
    pause: int = 40
    invlpgb: int = 100
    tlbsync: int = 1000
    clock_ghz: float = 3.0
    name: str = "custom"

    def __post_init__(self):
        for f in COST_FIELDS:
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise TypeError(
                    f"Costs.{f} must be a non-negative integer number of cycles, "
                    f"got {v!r} ({type(v).__name__})")
            if v < 0:
                raise ValueError(
                    f"Costs.{f} must be a non-negative integer number of cycles, got {v}")
        if isinstance(self.clock_ghz, bool) or not isinstance(self.clock_ghz, (int, float)):
            raise TypeError(f"Costs.clock_ghz must be a number of GHz, got {self.clock_ghz!r}")
        if not (0.1 <= float(self.clock_ghz) <= 10.0):
            raise ValueError(f"Costs.clock_ghz must be between 0.1 and 10 GHz, got {self.clock_ghz}")
        if self.pause < 1:
            raise ValueError("Costs.pause must be at least 1 cycle (a spin iteration takes time), "
                             f"got {self.pause}")

    def as_array(self) -> np.ndarray:
        """The integer fields as an int64 vector in ``COST_FIELDS`` order."""
        return np.array([int(getattr(self, f)) for f in COST_FIELDS], dtype=np.int64)

    def to_dict(self) -> dict:
        return asdict(self)

    def cycles_to_us(self, cycles):
        """Convert cycles (scalar or array) to microseconds at this clock."""
        return np.asarray(cycles, dtype=np.float64) / (self.clock_ghz * 1e3)


COST_PRESETS = {
    "default": Costs(name="default"),
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
