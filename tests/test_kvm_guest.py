"""The `kvm_guest` preset against a live measurement of the machine the tests run on.

docs/costs.md derives `kvm_guest`'s IPI fields from single operations measured on this
project's CI guest (one VM exit, timed as CPUID, and one IPI round trip with an empty
handler, timed as membarrier), never from an end-to-end shootdown. The issue it answers
asks that on a KVM guest the preset's one-target shootdown be within 2x of what
`tw.measure` finds there. This test measures that, only
where it means something: a KVM guest (the `hypervisor` CPU flag and the `kvm-clock`
clock source) with at least two usable CPUs and the kernel's TLB shootdown counter.
"""

import os
import sys
from pathlib import Path

import pytest

import tlbwidgets as tw
from tlbwidgets.machine import procfs
from tlbwidgets.machine.measurement import MIN_LABELLED_CALLS

__all__ = []

# The tolerance: the simulated one-target shootdown within 2x of the measured one.
RATIO_BAND = (0.5, 2.0)
CLOCKSOURCES = Path("/sys/devices/system/clocksource/clocksource0/available_clocksource")


def _why_not_a_measurable_kvm_guest():
    """Why this machine cannot check the preset, or '' when it can."""
    if not sys.platform.startswith("linux"):
        return "not Linux"
    facts = procfs.parse_cpuinfo(Path("/proc/cpuinfo").read_text())
    if not facts["hypervisor"]:
        return "not a virtual machine (no hypervisor flag in /proc/cpuinfo)"
    if not CLOCKSOURCES.exists() or "kvm-clock" not in CLOCKSOURCES.read_text().split():
        return "a virtual machine, but not a KVM guest (no kvm-clock clock source)"
    if len(os.sched_getaffinity(0)) < 2:
        return "fewer than 2 usable CPUs"
    if procfs.parse_tlb_counts(Path("/proc/interrupts").read_text()) is None:
        return "the kernel does not expose the TLB shootdown counter"
    return ""


WHY_NOT = _why_not_a_measurable_kvm_guest()


@pytest.mark.skipif(bool(WHY_NOT), reason=WHY_NOT or "a KVM guest")
def test_kvm_guest_preset_is_within_2x_of_this_guests_measured_shootdown():
    # As in tests/test_measure.py: on a busy machine the spinner's CPU is sometimes
    # taken for a while and calls send no IPI; measure again with more calls.
    cpus = sorted(os.sched_getaffinity(0))[:2]
    for calls in (400, 2000):
        m = tw.measure(cpus=cpus, calls=calls, progress=False, timeout_s=30)
        one = next(p for p in m.points() if p["targets"] == 1)
        if one["sent"]["count"] >= MIN_LABELLED_CALLS:
            break
    if one["sent"]["count"] < MIN_LABELLED_CALLS:
        pytest.fail(f"too few labelled calls on this machine: {one['note']}")
    measured_us = m.remote_ns(1) / 1000.0
    r = tw.simulate(cpus=2, protocol="linux", workload="single", costs="kvm_guest")
    simulated_us = r.summary()["latency_us_median"]
    ratio = simulated_us / measured_us
    low, high = RATIO_BAND
    assert low <= ratio <= high, (
        f"kvm_guest simulates a one-target shootdown in {simulated_us:.2f} us; this guest "
        f"measured {measured_us:.2f} us of remote cost ({one['sent']['count']} labelled "
        f"calls): ratio {ratio:.2f}, outside {low}-{high}x")


# The medians docs/costs.md cites for kvm_guest ([KVMPROBE26]): one IPI round trip
# (membarrier) and one VM exit (CPUID) on this project's CI guest, in ns.
CITED_ROUND_TRIP_NS = 9093.5
CITED_VM_EXIT_NS = 3496.2
COSTS_DOC = Path(__file__).resolve().parents[1] / "docs" / "costs.md"


def test_kvm_guest_ipi_fields_are_the_fit_of_the_cited_single_operations():
    from tlbwidgets.machine.fit import fit_single_operations
    fit = fit_single_operations(CITED_ROUND_TRIP_NS, CITED_VM_EXIT_NS, clock_ghz=2.596,
                                base="kvm_guest")
    preset = tw.COST_PRESETS["kvm_guest"]
    for field in ("ipi_send", "ipi_latency", "ipi_latency_remote", "clock_ghz"):
        assert getattr(fit.costs, field) == getattr(preset, field), field
    assert (f"fit_single_operations({CITED_ROUND_TRIP_NS}, {CITED_VM_EXIT_NS}, "
            f"clock_ghz=2.596)") in COSTS_DOC.read_text(encoding="utf-8")
