"""Fit a cost preset to a measurement through the ``linux`` protocol's closed form.

For a one-page flush from one CPU to ``k`` others on one socket, with no
contention, the ``linux`` protocol charging every step serially -- two line
transfers (the target's TLB-state check, the queue push) and one ICR write
per target, ``mlp=1`` and ``apic_mode="physical"`` -- charges
(docs/protocols.md; the test ``linux_latency`` in tests/test_protocols.py
pins it)::

    latency(k) = k*(2*cacheline + ipi_send) + ipi_latency + irq_entry
                 + 6*cacheline + invlpg                  (+ < pause: polling)
    latency(0) = invlpg                                  (the local flush alone)

where the six transfers are the tlb_gen bump, the target's queue take, csd,
flush_tlb_info and tlb_gen reads (one after another with ``mlp=1``; with a
larger ``mlp`` the last two overlap: five) and its release.  So the *remote
cost* the model adds to a call, ``latency(k) - latency(0)``, is ``a + b*k``
with slope ``b = 2*cacheline + ipi_send`` and intercept
``a = ipi_latency + irq_entry + 6*cacheline``.  A measurement gives the same
quantity: a call that sent IPIs to ``k`` CPUs minus a call that sent none.
The fit matches the two:

* ``ipi_latency`` (always): from the intercept;
* ``ipi_send``: from the slope, when two or more target counts were measured,
  with ``mlp`` set to 1 (the slope is a measured per-target cost, overlap
  included); else both kept from the base preset (one CPU pair says nothing
  about the slope, and with one target every ``mlp`` and APIC mode charge
  the same).  Compare such a fit across target counts with
  ``apic_mode="physical"``: in x2APIC cluster mode the targets of one
  cluster share one ICR write;
* ``ipi_latency_remote``: from the other-socket series' one-target point,
  when the machine has two sockets and it was measured; else kept;
* ``clock_ghz``: the measured machine's clock (``cpu MHz``), when known.

Every other field (``cacheline``, ``irq_entry``, ``irq_exit``, ``invlpg``,
``full_flush``, ``pause``, ...) is kept from the base preset: a call's total
time cannot separate them.

:func:`fit_single_operations` fits the IPI fields to single operations
instead of to a shootdown: the IPI round trip with an empty function
(``membarrier``), and, on a virtual machine, one VM exit (CPUID), which is
the sender's cost of an IPI there (the ICR write or the send hypercall
exits).  An empty function's round trip has four of a shootdown's line
transfers -- the push, the queue take, the csd read and the release; no
tlb_gen, no TLB-state check, no flush_tlb_info (:func:`model_round_trip_cycles`)::

    ipi_send    = vm_exit                                      (a vCPU only)
    ipi_latency = round_trip - ipi_send - irq_entry - 4*cacheline - pause/2
"""

from dataclasses import dataclass, field

import numpy as np

from ..costs import Costs, resolve_costs

__all__ = ["Fit", "fit_costs", "fit_single_operations", "model_remote_cycles",
           "model_round_trip_cycles"]

ROUND_TRIP_LINES = 4
"""Line transfers of an empty function's IPI round trip: push, queue take, csd
read, release."""


@dataclass(frozen=True)
class Fit:
    """A fitted ``Costs`` and how it was obtained: ``set_fields`` (field ->
    value set by the fit), ``kept_fields`` (taken from ``base``), ``notes``."""

    costs: Costs
    base: str
    set_fields: dict
    kept_fields: tuple
    notes: tuple = field(default_factory=tuple)


def _fixed_lines(mlp):
    """Line transfers of a one-socket shootdown that do not grow with the
    target count: the tlb_gen bump, the last target's queue take, csd,
    flush_tlb_info and tlb_gen reads (the last two overlap when ``mlp`` > 1)
    and its release."""
    return 6 if mlp == 1 else 5


def model_remote_cycles(costs, targets, apic_mode="physical"):
    """The ``linux`` protocol's remote cost of a contention-free one-page flush
    to ``targets`` CPUs on one socket, in cycles, before polling rounds it
    up to the next ``pause``: the tlb_gen bump, each target's check and push
    in groups of ``costs.mlp``, one ICR write per target (``"physical"``) or
    per 16 targets (``"x2apic_cluster"``, the targets being the CPUs after the
    measuring one), then the last target's interrupt, reads and release (see
    the module docstring: with ``mlp=1`` in physical mode, ``a + b*k``)."""
    c = costs
    groups = -(-targets // c.mlp)
    writes = targets if apic_mode == "physical" else (targets + 1 + 15) // 16
    return (groups * 2 * c.cacheline + writes * c.ipi_send + c.ipi_latency + c.irq_entry
            + _fixed_lines(c.mlp) * c.cacheline)


def model_round_trip_cycles(costs):
    """An empty function's IPI round trip to one CPU of the socket, in the
    ``linux`` protocol's charging, before polling: the push, the ICR write,
    the IPI, the interrupt entry, the queue take, the csd read and the
    release."""
    c = costs
    return c.ipi_send + c.ipi_latency + c.irq_entry + ROUND_TRIP_LINES * c.cacheline


def fit_costs(remote_same_ns, clock_ghz=None, base="default", name="this_machine",
              remote_other_ns=None):
    """Fit a :class:`Fit` from measured remote costs.

    ``remote_same_ns`` maps a target count (>= 1) to the measured remote cost
    in ns of a flush to that many CPUs on the measuring CPU's socket;
    ``remote_other_ns`` (optional) the same for CPUs on another socket.
    ``clock_ghz`` converts ns to cycles (None: the base preset's clock).
    Raises ``RuntimeError`` when there is no one-target point to fit, or when
    the measured cost is below what the kept fields already charge.
    """
    base_costs = resolve_costs(base)
    ghz = float(clock_ghz) if clock_ghz else base_costs.clock_ghz
    points = {int(k): float(v) * ghz for k, v in remote_same_ns.items()
              if k >= 1 and np.isfinite(v)}
    if 1 not in points:
        raise RuntimeError("the fit needs the one-target remote cost, and this measurement "
                           "has none: measure again with more calls")
    c = base_costs
    notes = []
    set_fields = {}
    ks = np.array(sorted(points), dtype=float)
    ys = np.array([points[k] for k in sorted(points)])
    if len(ks) >= 2:
        slope, intercept = np.polyfit(ks, ys, 1)
        ipi_send = int(round(slope - 2 * c.cacheline))
        if ipi_send < 0:
            notes.append(f"the measured cost per extra target ({slope:.0f} cycles) is below "
                         f"two cache-line transfers ({2 * c.cacheline}); ipi_send set to 0")
            ipi_send = 0
        set_fields["ipi_send"] = ipi_send
        set_fields["mlp"] = 1       # the slope b = 2*cacheline + ipi_send is serial
        mlp = 1
    else:
        ipi_send = c.ipi_send
        mlp = c.mlp
        intercept = points[1] - (2 * c.cacheline + ipi_send)
    # Polling rounds the model's latency up to the next pause: on average by
    # half a pause, so take half a pause off to centre the fit.
    ipi_latency = int(round(intercept - c.irq_entry - _fixed_lines(mlp) * c.cacheline
                            - c.pause / 2))
    if ipi_latency < 0:
        raise RuntimeError(
            f"the measured one-target remote cost ({points[1]:.0f} cycles at {ghz:g} GHz) is "
            f"below what the kept fields of {c.name!r} already charge (cacheline, ipi_send, "
            f"irq_entry: {model_remote_cycles(c.with_(ipi_latency=0), 1)} cycles): fit "
            f"from a base preset with smaller costs")
    set_fields["ipi_latency"] = ipi_latency
    if remote_other_ns and np.isfinite(remote_other_ns.get(1, np.nan)):
        # One target on the other socket: every line transfer crosses sockets
        # (cacheline_remote): the bump, check and push, take, reads, release.
        lines = 2 + _fixed_lines(mlp)
        extra = (remote_other_ns[1] * ghz - points[1]
                 - lines * (c.cacheline_remote - c.cacheline))
        remote = int(round(ipi_latency + extra))
        if remote < 0:
            notes.append("the other socket measured faster than the kept cache-line costs "
                         "allow; ipi_latency_remote set to 0")
            remote = 0
        set_fields["ipi_latency_remote"] = remote
    if clock_ghz:
        set_fields["clock_ghz"] = round(ghz, 4)
    costs = c.with_(name=name, **set_fields)
    kept = tuple(f for f in ("tlb_hit", "page_walk", "invlpg", "full_flush", "cacheline",
                             "cacheline_remote", "ipi_send", "ipi_latency_remote",
                             "irq_entry", "irq_exit", "pause", "invlpgb", "tlbsync",
                             "mlp", "clock_ghz")
                 if f not in set_fields)
    return Fit(costs=costs, base=c.name, set_fields=set_fields, kept_fields=kept,
               notes=tuple(notes))


def fit_single_operations(round_trip_ns, vm_exit_ns=None, clock_ghz=None, base="kvm_guest",
                          name="this_machine"):
    """Fit the IPI fields to single operations (a :class:`Fit`).

    ``round_trip_ns``: one IPI's round trip with an empty handler, from the
    send to the sender seeing it done (``Measurement.ipi_round_trip()``);
    ``vm_exit_ns``: one VM exit and entry (``Measurement.vm_exit()``), given
    only on a virtual machine, where sending an IPI exits (None keeps
    ``ipi_send``); ``clock_ghz`` converts ns to cycles (None: the base's).
    Sets ``ipi_send`` (from ``vm_exit_ns``), ``ipi_latency`` (the rest of the
    round trip, see the module docstring), ``ipi_latency_remote`` (=
    ``ipi_latency`` + ``cacheline_remote`` - ``cacheline``, the presets'
    assumption) and ``clock_ghz``; keeps every other field of ``base``.

    Guarantee: ``model_round_trip_cycles(costs)`` + ``pause``/2 equals the
    round trip in cycles, to rounding; a simulated one-target shootdown adds
    to it its flush and three line transfers (the tlb_gen bump, the
    TLB-state check, the flush_tlb_info read).  Raises ``RuntimeError`` when
    the round trip is below what the other fields already charge.
    """
    c = resolve_costs(base)
    ghz = float(clock_ghz) if clock_ghz else c.clock_ghz
    if not np.isfinite(round_trip_ns):
        raise RuntimeError("the IPI round trip was not measured (too few calls IPI'd)")
    set_fields = {}
    if vm_exit_ns is not None and np.isfinite(vm_exit_ns):
        set_fields["ipi_send"] = int(round(vm_exit_ns * ghz))
    ipi_send = set_fields.get("ipi_send", c.ipi_send)
    round_trip = round_trip_ns * ghz
    ipi_latency = int(round(round_trip - ipi_send - c.irq_entry
                            - ROUND_TRIP_LINES * c.cacheline - c.pause / 2))
    if ipi_latency < 0:
        raise RuntimeError(
            f"the IPI round trip ({round_trip:.0f} cycles at {ghz:g} GHz) is below what the "
            f"send and the kept fields of {c.name!r} already charge "
            f"({ipi_send + c.irq_entry + ROUND_TRIP_LINES * c.cacheline} cycles)")
    set_fields["ipi_latency"] = ipi_latency
    set_fields["ipi_latency_remote"] = ipi_latency + c.cacheline_remote - c.cacheline
    if clock_ghz:
        set_fields["clock_ghz"] = round(ghz, 4)
    kept = tuple(f for f in ("tlb_hit", "page_walk", "invlpg", "full_flush", "cacheline",
                             "cacheline_remote", "ipi_send", "irq_entry", "irq_exit",
                             "pause", "invlpgb", "tlbsync", "mlp", "clock_ghz")
                 if f not in set_fields)
    return Fit(costs=c.with_(name=name, **set_fields), base=c.name, set_fields=set_fields,
               kept_fields=kept)
