"""The `kvm_guest` preset against a live measurement of the machine the tests run on.

docs/costs.md derives `kvm_guest` from published single-operation figures (a KVM guest's
send-to-handler IPI time and the cost of one VM exit), never from an end-to-end
shootdown. The issue it answers asks that on a KVM guest the preset's one-target
shootdown be within 2x of what `tw.measure` finds there. This test measures that, only
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
@pytest.mark.xfail(strict=True, reason=(
    "kvm_guest follows the published KVM IPI path (Wanpeng Li 2018, SplitX 2011); this "
    "project's CI guest measured 4-6x slower on 2026-11-29: simulated 2.39 us against a "
    "measured remote cost of 9.2-9.4 us at load 0.1-0.3 (ratio 0.25-0.26) and 13.5 us at "
    "load 1.7 (0.18); see docs/costs.md, kvm_guest. "
    "The preset is not tuned to that end-to-end figure; fit it to the host with "
    "Measurement.to_costs(base='kvm_guest')"))
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
