"""Measuring real shootdowns (tw.measure): the /proc parsers on fixtures from
several kernels and layouts, the labelling of calls, the fit on synthetic
measurements checked against the simulator, the refusals, the cleanup after
errors, and one real measurement on this machine."""

import json
import os
import shutil
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import tlbwidgets as tw
from tlbwidgets import cli
from tlbwidgets.machine import fit as fitmod, plan_runs, procfs, runner
from tlbwidgets.machine.measurement import (
    Measurement, Run, SAME_SOCKET, OTHER_SOCKET, MIN_LABELLED_CALLS)
from tlbwidgets.machine.procfs import Host

FIXTURES = Path(__file__).parent / "fixtures" / "proc"
rng = np.random.default_rng(0)


def fixture_text(name):
    return (FIXTURES / name).read_text()


def x86_interrupts(cpus, tlb, prec=3, cal=None):
    """/proc/interrupts text the way x86's arch_show_interrupts prints it:
    labels right-aligned to ``prec``, counts in 10-wide columns."""
    text = " " * (prec + 2) + "".join(f"CPU{c:<8d}" for c in cpus) + "\n"
    text += f"{'1023':>{prec}}: " + "".join(f"{0:10d} " for _ in cpus) + " PCI-MSI  eth0\n"
    text += f"{'LOC':>{prec}}: " + "".join(f"{7:10d} " for _ in cpus) + "  Local timer\n"
    if cal is not None:
        text += (f"{'CAL':>{prec}}: " + "".join(f"{v:10d} " for v in cal)
                 + "  Function call interrupts\n")
    text += f"{'TLB':>{prec}}: " + "".join(f"{v:10d} " for v in tlb) + "  TLB shootdowns\n"
    return text


# ---- /proc/interrupts --------------------------------------------------------------

@pytest.mark.parametrize("name,expected", [
    ("interrupts_x86_8cpu.txt",
     {0: 1234567, 1: 98765, 2: 87654, 3: 76543, 4: 65432, 5: 54321, 6: 43210, 7: 32109}),
    ("interrupts_x86_offline.txt", {0: 11, 2: 22, 3: 33, 5: 44}),
    ("interrupts_odd_spacing.txt", {0: 12345678901, 1: 2, 2: 3, 3: 4}),
    ("interrupts_x86_no_tlb.txt", None),
    ("interrupts_arm64.txt", None),
])
def test_tlb_counts_are_parsed_per_cpu_from_each_layout(name, expected):
    assert procfs.parse_tlb_counts(fixture_text(name)) == expected


def test_tlb_counts_of_a_real_kvm_guest_file():
    counts = procfs.parse_tlb_counts(fixture_text("interrupts_x86_kvm_2cpu.txt"))
    assert sorted(counts) == [0, 1] and all(v > 0 for v in counts.values())


def test_tlb_counts_with_many_cpus_and_wide_irq_numbers():
    cpus = list(range(0, 512, 2))              # 256 CPUs, every other one online
    tlb = [int(v) for v in rng.integers(0, 10**9, size=len(cpus))]
    text = x86_interrupts(cpus, tlb, prec=4)   # " TLB:" starts with a space
    assert procfs.parse_tlb_counts(text) == dict(zip(cpus, tlb))


def test_a_tlb_line_short_of_counts_is_an_error():
    with pytest.raises(ValueError, match="one count per CPU"):
        procfs.parse_tlb_counts(fixture_text("interrupts_truncated.txt"))


def test_counter_rereads_the_file_and_picks_the_asked_cpus(tmp_path):
    path = tmp_path / "interrupts"
    path.write_text(x86_interrupts([0, 1, 2, 3], [5, 6, 7, 8], prec=4))
    with procfs.TlbCounter([2, 0], Host(proc_dir=tmp_path)) as counter:
        assert counter.read().tolist() == [7, 5]
        path.write_text(x86_interrupts([0, 1, 2, 3], [9, 6, 70, 8], prec=4))
        assert counter.read().tolist() == [70, 9]     # same fd, read again from 0


def test_function_call_counts_are_parsed_like_the_tlb_line():
    assert procfs.parse_interrupt_counts(fixture_text("interrupts_x86_kvm_2cpu.txt"),
                                         procfs.CALL_LABEL) == {0: 70998, 1: 51661}
    assert procfs.parse_interrupt_counts(fixture_text("interrupts_arm64.txt"), "CAL:") is None


def test_counter_of_two_lines_reads_each_line_in_turn(tmp_path):
    path = tmp_path / "interrupts"
    path.write_text(x86_interrupts([0, 1, 2], [5, 6, 7], prec=4, cal=[50, 60, 70]))
    labels = (procfs.CALL_LABEL, procfs.TLB_LABEL)
    with procfs.TlbCounter([2, 0], Host(proc_dir=tmp_path), labels) as counter:
        assert counter.read().tolist() == [70, 50, 7, 5]
        path.write_text(x86_interrupts([0, 1, 2], [5, 6, 8], prec=4, cal=[50, 60, 71]))
        assert counter.read().tolist() == [71, 50, 8, 5]


def test_counter_refuses_a_file_without_the_function_call_line(tmp_path):
    (tmp_path / "interrupts").write_text(x86_interrupts([0, 1], [5, 6]))
    with pytest.raises(RuntimeError, match="no 'CAL:' line"):
        procfs.TlbCounter([0, 1], Host(proc_dir=tmp_path), (procfs.CALL_LABEL,))


@pytest.mark.skipif(not Path("/proc/interrupts").exists(), reason="no /proc/interrupts")
def test_counter_reads_this_machine_like_the_parser():
    counts = procfs.parse_tlb_counts(Path("/proc/interrupts").read_text())
    if counts is None:
        pytest.skip("this kernel has no TLB line in /proc/interrupts")
    cpus = sorted(counts)
    with procfs.TlbCounter(cpus) as counter:
        now = counter.read()
    assert all(now[i] >= counts[c] for i, c in enumerate(cpus))   # counters only grow


def test_counter_refuses_a_file_without_the_tlb_line(tmp_path):
    shutil.copy(FIXTURES / "interrupts_arm64.txt", tmp_path / "interrupts")
    with pytest.raises(RuntimeError, match="no 'TLB:' line"):
        procfs.TlbCounter([0, 1], Host(proc_dir=tmp_path))


def test_counter_refuses_an_unlisted_cpu(tmp_path):
    shutil.copy(FIXTURES / "interrupts_x86_offline.txt", tmp_path / "interrupts")
    with pytest.raises(RuntimeError, match=r"CPU\(s\) \[1\] are not listed"):
        procfs.TlbCounter([0, 1], Host(proc_dir=tmp_path))


# ---- machine facts -----------------------------------------------------------------

def fake_host(tmp_path, interrupts="interrupts_x86_8cpu.txt", sockets=(0, 0), platform="linux"):
    """A proc and sys tree with an x86 cpuinfo and one physical_package_id per CPU."""
    proc = tmp_path / "proc"
    (proc / "sys" / "kernel").mkdir(parents=True)
    shutil.copy(FIXTURES / interrupts, proc / "interrupts")
    shutil.copy(FIXTURES / "cpuinfo_x86_kvm.txt", proc / "cpuinfo")
    (proc / "sys" / "kernel" / "osrelease").write_text("6.1.0-test\n")
    cpu_dir = tmp_path / "sys" / "devices" / "system" / "cpu"
    cpu_dir.mkdir(parents=True)
    (cpu_dir / "online").write_text(f"0-{len(sockets) - 1}\n")
    for cpu, socket in enumerate(sockets):
        topo = cpu_dir / f"cpu{cpu}" / "topology"
        topo.mkdir(parents=True)
        (topo / "physical_package_id").write_text(f"{socket}\n")
    return Host(platform=platform, proc_dir=proc, sys_dir=tmp_path / "sys")


def test_machine_facts_from_an_x86_vm_tree(tmp_path):
    facts = procfs.machine_facts(fake_host(tmp_path, sockets=(0, 0, 1, 1)))
    assert facts["cpu_model"] == "AMD EPYC" and facts["hypervisor"] is True
    assert facts["cpu_mhz"] > 100 and facts["kernel"] == "6.1.0-test"
    assert facts["online_cpus"] == 4 and facts["sockets"] == 2


def test_cpuinfo_of_arm64_has_no_model_name_and_no_hypervisor_flag():
    facts = procfs.parse_cpuinfo(fixture_text("cpuinfo_arm64.txt"))
    assert facts == {"cpu_model": None, "cpu_mhz": None, "hypervisor": False}


def test_cpu_lists_in_the_kernels_format():
    assert procfs.parse_cpu_list("0-3,8,10-11\n") == [0, 1, 2, 3, 8, 10, 11]
    assert procfs.parse_cpu_list("0") == [0]


def test_runs_grow_on_the_own_socket_then_on_the_other(tmp_path):
    host = fake_host(tmp_path, sockets=(0, 0, 1, 1))
    plan = plan_runs([0, 1, 2, 3], lambda c: procfs.socket_of(c, host))
    assert plan == [(SAME_SOCKET, ()), (SAME_SOCKET, (1,)), (OTHER_SOCKET, (2,)),
                    (OTHER_SOCKET, (2, 3))]


# ---- labelling ---------------------------------------------------------------------

def test_calls_are_labelled_by_the_spinners_that_handled_one_shootdown():
    # columns: measuring CPU, spinner A, spinner B, a CPU that is not a target
    deltas = [[0, 0, 0, 0],      # no IPI
              [0, 1, 1, 0],      # both spinners
              [0, 1, 0, 0],      # one (the other was skipped)
              [1, 1, 1, 0],      # the measuring CPU got one too: foreign
              [0, 1, 1, 1],      # a non-target CPU got one: foreign
              [0, 2, 1, 0]]      # two on one spinner: ambiguous
    labels = runner.label_calls(deltas, [1, 2])
    assert labels.tolist() == [0, 2, 1, runner.FOREIGN, runner.FOREIGN, runner.AMBIGUOUS]


def test_ipi_probe_calls_are_foreign_when_a_tlb_shootdown_lands_during_them():
    # The probe's columns: CAL of the measuring CPU and the spinner, then TLB of both;
    # the spinner is column 1, so a TLB count anywhere makes the call foreign.
    deltas = [[0, 1, 0, 0],      # the function call IPI alone
              [0, 0, 0, 0],      # none (the spinner was not running the mm)
              [0, 1, 0, 1],      # the spinner also flushed a TLB: foreign
              [1, 0, 1, 0]]      # the measuring CPU flushed: foreign
    labels = runner.label_calls(deltas, [1])
    assert labels.tolist() == [1, 0, runner.FOREIGN, runner.FOREIGN]


# ---- the fit, on synthetic measurements --------------------------------------------

MACHINE = {"cpu_model": "synthetic", "cpu_mhz": 2500.0, "hypervisor": False,
           "kernel": "test", "online_cpus": 4, "sockets": 1}


def synthetic(remote_ns, baseline_ns=1500.0, calls=400, sent_share=1.0, other_ns=None):
    """A Measurement whose calls cost baseline (+ remote_ns[k] when they sent
    IPIs to all k spinners), with 3% noise."""
    def noisy(centre, n):
        return np.maximum(1, rng.normal(centre, 0.03 * centre, n)).astype(np.int64)

    runs = [Run(SAME_SOCKET, (), noisy(baseline_ns, calls), np.zeros(calls, np.int16))]
    series = [(SAME_SOCKET, k, r) for k, r in remote_ns.items()]
    series += [(OTHER_SOCKET, k, r) for k, r in (other_ns or {}).items()]
    for name, k, r in series:
        sent = int(calls * sent_share)
        labels = np.array([k] * sent + [0] * (calls - sent), dtype=np.int16)
        lat = np.concatenate([noisy(baseline_ns + r, sent), noisy(baseline_ns, calls - sent)])
        first = 1 if name == SAME_SOCKET else 100
        runs.append(Run(name, tuple(range(first, first + k)), lat, labels))
    method = {"op": "madvise", "calls": calls, "measuring_cpu": 0}
    return Measurement(machine=MACHINE, method=method, runs=tuple(runs))


def with_probes(m, round_trip_ns, baseline_ns=1200.0, calls=400, sent_share=1.0,
                vm_exit_ns=(3500.0, 3480.0, 3520.0) * 10):
    """``m`` with synthetic single-operation probes: membarrier calls cost
    baseline (+ round_trip_ns when they IPI'd the spinner), and CPUID batches."""
    sent = int(calls * sent_share)
    zero = Run(SAME_SOCKET, (), np.full(calls, int(baseline_ns), np.int64),
               np.zeros(calls, np.int16))
    lat = np.concatenate([rng.normal(baseline_ns + round_trip_ns, 100, sent),
                          rng.normal(baseline_ns + 30, 10, calls - sent)]).astype(np.int64)
    labels = np.array([1] * sent + [0] * (calls - sent), dtype=np.int16)
    one = Run(SAME_SOCKET, (1,), lat, labels)
    method = dict(m.method, cpuids_per_batch=200)
    return Measurement(machine=m.machine, method=method, runs=m.runs, ipi_runs=(zero, one),
                       vm_exit_ns=np.asarray(vm_exit_ns, dtype=np.float64))


def sim_latency_ns(costs, cpus, sockets=1, apic_mode="x2apic_cluster"):
    r = tw.simulate(cpus=cpus, sockets=sockets, protocol="linux", workload="single",
                    costs=costs, apic_mode=apic_mode)
    return r.latencies_cycles()[0] / costs.clock_ghz


def test_fit_on_one_cpu_pair_sets_ipi_latency_and_keeps_the_rest():
    m = synthetic({1: 7000.0})
    fit = m.fit()
    c, base = fit.costs, tw.COST_PRESETS["default"]
    assert set(fit.set_fields) == {"ipi_latency", "clock_ghz"} and c.clock_ghz == 2.5
    for f in fit.kept_fields:
        assert getattr(c, f) == getattr(base, f), f
    assert c.name == "this_machine" and "this_machine" not in tw.COST_PRESETS
    # the simulated one-target latency: the measured remote cost + the kept local flush
    measured = m.remote_ns(1) + c.invlpg / c.clock_ghz
    assert sim_latency_ns(c, 2) == pytest.approx(measured, rel=0.10)
    assert abs(sim_latency_ns(c, 2) - measured) <= c.pause / c.clock_ghz   # within a poll
    # and the model's remote cost is the closed form of the fit's docstring
    assert (sim_latency_ns(c, 2) - sim_latency_ns(c, 1)) * c.clock_ghz == pytest.approx(
        fitmod.model_remote_cycles(c, 1), abs=c.pause)


def test_fit_over_target_counts_sets_the_cost_per_extra_target():
    per_target_ns, first_ns = 900.0, 6000.0
    m = synthetic({k: first_ns + per_target_ns * (k - 1) for k in (1, 2, 3)})
    c = m.to_costs()
    assert {"ipi_send", "mlp"} <= set(m.fit().set_fields) and c.mlp == 1
    assert (2 * c.cacheline + c.ipi_send) / c.clock_ghz == pytest.approx(per_target_ns,
                                                                        rel=0.05)
    for k in (1, 2, 3):
        # the fit's model: a check, a push and an ICR write per target
        measured = m.remote_ns(k) + c.invlpg / c.clock_ghz
        assert sim_latency_ns(c, k + 1, apic_mode="physical") == pytest.approx(
            measured, rel=0.10), k
        assert (sim_latency_ns(c, k + 1, apic_mode="physical") - sim_latency_ns(c, 1)) \
            * c.clock_ghz == pytest.approx(fitmod.model_remote_cycles(c, k), abs=c.pause)
        # in x2APIC cluster mode the three targets share one ICR write
        assert (sim_latency_ns(c, k + 1) - sim_latency_ns(c, 1)) * c.clock_ghz \
            == pytest.approx(fitmod.model_remote_cycles(c, k, "x2apic_cluster"), abs=c.pause)


def test_fit_with_another_socket_sets_the_cross_socket_ipi_latency():
    m = synthetic({1: 7000.0}, other_ns={1: 9000.0})
    fit = m.fit()
    c = fit.costs
    assert "ipi_latency_remote" in fit.set_fields
    measured = m.remote_ns(1, OTHER_SOCKET) + c.invlpg / c.clock_ghz
    # two CPUs on two sockets: the target is on the other socket
    assert sim_latency_ns(c, 2, sockets=2) == pytest.approx(measured, rel=0.10)


def test_too_few_ipis_give_the_count_instead_of_a_number():
    m = synthetic({1: 7000.0}, calls=400, sent_share=10 / 400)
    row = next(p for p in m.points() if p["targets"] == 1)
    assert row["sent"]["count"] == 10 and np.isnan(row["remote_ns"])
    assert "only 10 of 400 calls sent an IPI" in row["note"]
    with pytest.raises(RuntimeError, match="only 10 of 400 calls"):
        m.remote_ns(1)
    with pytest.raises(RuntimeError, match="cannot fit costs: only 10 of 400"):
        m.to_costs()
    assert "only 10 of 400" in m.table()


def test_a_fit_needs_a_target_on_the_measuring_cpus_socket():
    only_other = synthetic({}, other_ns={1: 9000.0})
    assert only_other.remote_ns(1, OTHER_SOCKET) == pytest.approx(9000.0, rel=0.05)
    with pytest.raises(RuntimeError, match="needs a one-target run on the measuring CPU's"):
        only_other.to_costs()


def test_a_remote_cost_below_the_kept_fields_is_refused():
    with pytest.raises(RuntimeError, match="below what the kept fields"):
        synthetic({1: 50.0}).to_costs()


def test_the_baseline_comes_from_the_same_run_when_it_has_calls_without_ipis():
    m = synthetic({1: 7000.0}, sent_share=0.5)
    row = next(p for p in m.points() if p["targets"] == 1)
    assert row["baseline_source"] == "this run"
    m = synthetic({1: 7000.0}, sent_share=1.0)
    row = next(p for p in m.points() if p["targets"] == 1)
    assert row["baseline_source"] == "no-spinner run" and row["baseline_ns"] == m.baseline_ns
    assert row["remote_ns"] == pytest.approx(7000.0, rel=0.05)


def test_ipi_round_trip_is_the_ipid_median_less_the_calls_without_an_ipi():
    m = with_probes(synthetic({1: 7000.0}), round_trip_ns=8700.0, sent_share=0.5)
    rt = m.ipi_round_trip()
    assert rt["baseline_source"] == "this run" and rt["target_cpu"] == 1
    assert rt["sent"]["count"] == 200 and rt["none"]["count"] == 200
    assert rt["round_trip_ns"] == pytest.approx(
        np.median(m.ipi_runs[1].latency_ns[:200]) - np.median(m.ipi_runs[1].latency_ns[200:]))
    assert rt["round_trip_ns"] == pytest.approx(8700.0 - 30, abs=40)


def test_ipi_round_trip_falls_back_to_the_no_spinner_baseline_and_says_too_few():
    m = with_probes(synthetic({1: 7000.0}), round_trip_ns=8700.0, sent_share=1.0)
    rt = m.ipi_round_trip()
    assert rt["baseline_source"] == "no-spinner run" and rt["baseline_ns"] == 1200.0
    assert rt["round_trip_ns"] == pytest.approx(np.median(m.ipi_runs[1].latency_ns) - 1200.0)
    few = with_probes(synthetic({1: 7000.0}), round_trip_ns=8700.0, sent_share=0.02)
    assert np.isnan(few.ipi_round_trip()["round_trip_ns"])
    assert "IPI round trip (membarrier to CPU 1): - µs (8 of 400 calls IPI'd; too few" \
        in few.table()


def test_the_cpuid_probe_is_summarised_over_its_batches():
    m = with_probes(synthetic({1: 7000.0}), round_trip_ns=8700.0)
    vm = m.vm_exit()
    assert vm["count"] == 30 and vm["per_batch"] == 200
    assert vm["median_ns"] == 3500.0 and vm["q1_ns"] == 3480.0 and vm["q3_ns"] == 3520.0
    assert "CPUID (a VM exit on a vCPU): 3.50 µs (median of 30 batches of 200" in m.table()


def test_a_measurement_without_probes_says_so():
    m = synthetic({1: 7000.0})
    assert m.ipi_round_trip() is None and m.vm_exit() is None
    assert m.single_operations() == {"ipi_round_trip": None, "vm_exit": None}
    assert "IPI round trip: not measured" in m.table()


@pytest.mark.parametrize("round_trip_ns,vm_exit_ns,base_name", [
    (9000.0, 3500.0, "kvm_guest"), (2500.0, None, "default")])
def test_single_operation_fit_reproduces_the_round_trip_in_the_simulator(
        round_trip_ns, vm_exit_ns, base_name):
    fit = fitmod.fit_single_operations(round_trip_ns, vm_exit_ns, clock_ghz=2.5,
                                       base=base_name)
    c, base = fit.costs, tw.COST_PRESETS[base_name]
    assert c.ipi_send == (round(vm_exit_ns * 2.5) if vm_exit_ns else base.ipi_send)
    assert c.ipi_latency_remote - c.ipi_latency == base.cacheline_remote - base.cacheline
    for f in fit.kept_fields:
        assert getattr(c, f) == getattr(base, f), f
    assert abs(fitmod.model_round_trip_cycles(c) + c.pause / 2 - round_trip_ns * 2.5) <= 1
    # The linux protocol's one-target latency less its flush: the round trip
    # and what a shootdown adds to an empty function (the tlb_gen bump, the
    # target's TLB-state check, the flush_tlb_info read), to one pause.
    r = tw.simulate(cpus=2, protocol="linux", workload="single", costs=c)
    remote_cycles = r.latencies_cycles()[0] - c.invlpg
    assert abs(remote_cycles - round_trip_ns * 2.5 - 3 * c.cacheline) <= c.pause


def test_single_operation_fit_refuses_a_round_trip_below_the_send():
    with pytest.raises(RuntimeError, match="IPI round trip .* is below what the send"):
        fitmod.fit_single_operations(3000.0, 3500.0, clock_ghz=2.5)


def test_a_measurement_fits_the_vm_exit_only_on_a_virtual_machine():
    m = with_probes(synthetic({1: 7000.0}), round_trip_ns=8700.0, sent_share=0.5)
    rt = m.ipi_round_trip()["round_trip_ns"]
    bare = m.fit_single_operations()
    assert set(bare.set_fields) == {"ipi_latency", "ipi_latency_remote", "clock_ghz"}
    vm = Measurement(machine=dict(MACHINE, hypervisor=True), method=m.method, runs=m.runs,
                     ipi_runs=m.ipi_runs, vm_exit_ns=m.vm_exit_ns)
    assert vm.fit_single_operations().set_fields["ipi_send"] == round(3500.0 * 2.5)
    assert vm.fit_single_operations().costs == fitmod.fit_single_operations(
        rt, 3500.0, clock_ghz=2.5, base="kvm_guest").costs
    with pytest.raises(RuntimeError, match="IPI probe was not measured"):
        synthetic({1: 7000.0}).fit_single_operations()


def test_json_round_trip_keeps_the_single_operation_probes():
    m = with_probes(synthetic({1: 7000.0}), round_trip_ns=8700.0, sent_share=0.5)
    d = json.loads(m.to_json())
    assert d["single_operations"]["ipi_round_trip"]["round_trip_ns"] == \
        m.ipi_round_trip()["round_trip_ns"]
    assert d["single_operations"]["vm_exit"]["median_ns"] == 3500.0
    again = Measurement.from_json(m.to_json())
    assert again.table() == m.table()
    assert again.single_operations() == m.single_operations()
    assert [r.latency_ns.tolist() for r in again.ipi_runs] == \
        [r.latency_ns.tolist() for r in m.ipi_runs]


def test_json_round_trip_keeps_every_call_and_the_summary():
    m = synthetic({1: 7000.0, 2: 8000.0})
    d = json.loads(m.to_json())
    assert d["format"] == "tlbwidgets.measurement/1" and len(d["runs"]) == 3
    assert d["fit"]["set_fields"]["ipi_latency"] == m.to_costs().ipi_latency
    again = Measurement.from_json(m.to_json())
    assert again.table() == m.table() and again.points() == m.points()
    with pytest.raises(ValueError, match="not a tlbwidgets measurement"):
        Measurement.from_json('{"format": "other"}')


def test_plot_draws_the_measured_points_and_a_simulated_line_per_preset():
    import bqplot as bq
    m = synthetic({1: 7000.0, 2: 8000.0})
    fig = m.plot(costs=[m.to_costs(), "default"])
    assert isinstance(fig, bq.Figure)
    scatter = [mk for mk in fig.marks if isinstance(mk, bq.Scatter)]
    assert scatter[0].x.tolist() == [1, 2]
    assert scatter[0].y.tolist() == pytest.approx([m.remote_ns(1) / 1e3, m.remote_ns(2) / 1e3])
    lines = [mk for mk in fig.marks if isinstance(mk, bq.Lines) and mk.labels]
    assert [mk.labels[0] for mk in lines] == ["simulated linux, costs this_machine",
                                              "simulated linux, costs default"]
    assert lines[0].y[0] == pytest.approx(m.remote_ns(1) / 1e3, rel=0.10)


def test_the_stored_example_says_it_is_not_this_machine():
    m = tw.Measurement.example()
    assert m.is_example and m.source.startswith("STORED EXAMPLE, not this machine")
    assert "STORED EXAMPLE" in m.table() and "STORED EXAMPLE" in m.plot().title
    assert m.remote_ns(1) > 0 and m.to_costs().ipi_latency > 0
    rt = m.ipi_round_trip()
    assert rt["target_cpu"] == 1 and np.isfinite(rt["round_trip_ns"])
    assert m.vm_exit()["count"] == m.method["cpuid_batches"]


def test_a_measurement_saved_before_the_probes_loads_without_them():
    d = json.loads(tw.Measurement.example().to_json())
    for key in ("ipi_runs", "vm_exit_ns", "single_operations"):
        del d[key]
    old = Measurement.from_json(json.dumps(d))
    assert old.ipi_runs == () and len(old.vm_exit_ns) == 0
    assert old.points() == tw.Measurement.example().points()
    assert "IPI round trip: not measured" in old.table()


# ---- refusals ----------------------------------------------------------------------

def test_refuses_other_systems_than_linux(tmp_path):
    with pytest.raises(RuntimeError, match="needs Linux.*'darwin'"):
        tw.measure(_host=fake_host(tmp_path, platform="darwin"), progress=False)


def test_refuses_a_kernel_without_the_tlb_counter(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    host = fake_host(tmp_path, interrupts="interrupts_arm64.txt")
    with pytest.raises(RuntimeError, match="no 'TLB:' line.*does not count TLB"):
        tw.measure(cpus=[0, 1], calls=20, _host=host, progress=False)
    assert not spinner_threads()


def test_refuses_fewer_than_two_usable_cpus(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3})
    with pytest.raises(RuntimeError, match="at least 2 usable CPUs.*may use 1: \\[3\\]"):
        tw.measure(progress=False)


def test_bad_arguments_name_the_parameter():
    with pytest.raises(ValueError, match="calls must be between"):
        tw.measure(calls=5)
    with pytest.raises(ValueError, match="op='munmap'"):
        tw.measure(op="munmap")
    with pytest.raises(ValueError, match="timeout_s"):
        tw.measure(timeout_s=0)
    with pytest.raises(ValueError, match="not in this process's affinity mask"):
        tw.measure(cpus=[0, 10_000])
    with pytest.raises(ValueError, match="names a CPU twice"):
        tw.measure(cpus=[0, 0])
    with pytest.raises(TypeError, match="cpus must be a list"):
        tw.measure(cpus="0,1")
    with pytest.raises(TypeError, match="probes must be True or False, got 'yes'"):
        tw.measure(probes="yes")


# ---- on this machine: cleanup and one real measurement -----------------------------

def measurable():
    """Why this machine cannot be measured, or '' when it can."""
    if not sys.platform.startswith("linux"):
        return "not Linux"
    if len(os.sched_getaffinity(0)) < 2:
        return "fewer than 2 usable CPUs"
    if procfs.parse_tlb_counts(Path("/proc/interrupts").read_text()) is None:
        return "the kernel does not expose the TLB shootdown counter"
    return ""


needs_machine = pytest.mark.skipif(bool(measurable()), reason=measurable() or "measurable")


def spinner_threads():
    return [t for t in threading.enumerate()
            if t.name.startswith(runner.SPINNER_THREAD_PREFIX)]


@pytest.fixture
def mapped(monkeypatch):
    """Records the address of every mapping the runner makes."""
    addresses = []
    original = runner._Mapping.__init__

    def init(self):
        original(self)
        addresses.append(self.address)
    monkeypatch.setattr(runner._Mapping, "__init__", init)
    return addresses


def is_mapped(address):
    starts = [int(line.split("-", 1)[0], 16) for line in Path("/proc/self/maps").open()]
    return address in starts


def two_cpus():
    return sorted(os.sched_getaffinity(0))[:2]


@needs_machine
@pytest.mark.parametrize("error", [KeyboardInterrupt, ValueError])
@pytest.mark.parametrize("part", ["shootdown run", "IPI probe"])
def test_an_interruption_mid_run_stops_spinners_and_unmaps(error, part, mapped):
    # 200 calls per run: the one-target shootdown run counts 200..400, the
    # probe's one-spinner run 600..800.
    affinity = os.sched_getaffinity(0)
    stop_after = 300 if part == "shootdown run" else 700

    def progress(done, total, text):
        if "1 target" in text and done > stop_after:
            raise error("stop here")
    with pytest.raises(error, match="stop here"):
        tw.measure(cpus=two_cpus(), calls=200, progress=progress)
    assert not spinner_threads()
    assert mapped and not any(is_mapped(a) for a in mapped)
    assert len(mapped) == (1 if part == "shootdown run" else 2)
    assert os.sched_getaffinity(0) == affinity


@needs_machine
def test_a_timeout_stops_spinners_and_unmaps(mapped):
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="timeout_s=0.3.*larger timeout_s"):
        tw.measure(cpus=two_cpus(), calls=1_000_000, timeout_s=0.3, progress=False)
    assert time.monotonic() - start < 10
    assert not spinner_threads() and mapped and not is_mapped(mapped[0])


@needs_machine
@pytest.mark.parametrize("where", ["measuring thread", "spinner thread"])
def test_refuses_when_affinity_is_not_permitted(where, monkeypatch, mapped):
    allowed = os.sched_setaffinity
    affinity = os.sched_getaffinity(0)

    def refuse(pid, cpus):
        in_spinner = threading.current_thread().name.startswith(runner.SPINNER_THREAD_PREFIX)
        if in_spinner == (where == "spinner thread"):
            raise PermissionError(1, "Operation not permitted")
        allowed(pid, cpus)
    monkeypatch.setattr(os, "sched_setaffinity", refuse)
    with pytest.raises(RuntimeError, match=f"could not pin (a|the) {where}.*sched_setaffinity"):
        tw.measure(cpus=two_cpus(), calls=20, progress=False)
    assert not spinner_threads() and not is_mapped(mapped[0])
    assert os.sched_getaffinity(0) == affinity


@needs_machine
def test_refuses_when_the_system_call_fails(monkeypatch, mapped):
    def fail(self):
        raise OSError(1, "Operation not permitted")
    monkeypatch.setattr(runner._Op, "timed", fail)
    with pytest.raises(RuntimeError, match="madvise on an anonymous page failed.*op='mprotect'"):
        tw.measure(cpus=two_cpus(), calls=20, progress=False)
    assert not spinner_threads() and not is_mapped(mapped[0])


@needs_machine
def test_a_probe_this_machine_refuses_is_left_out_with_the_reason(monkeypatch, mapped):
    def no_membarrier():
        raise OSError(38, "Function not implemented")

    def no_exec(cpu):
        raise RuntimeError("this system refuses executable memory")
    monkeypatch.setattr(runner, "_membarrier", no_membarrier)
    monkeypatch.setattr(tw.machine, "time_cpuid", no_exec)
    m = tw.measure(cpus=two_cpus(), calls=20, progress=False)
    assert m.ipi_runs == () and len(m.vm_exit_ns) == 0 and len(m.runs) == 2
    assert m.notes == ("IPI round trip not measured: membarrier, the IPI probe, is not "
                       "available ([Errno 38] Function not implemented)",
                       "CPUID not timed: this system refuses executable memory")
    assert "note: CPUID not timed" in m.table()
    assert not spinner_threads() and not any(is_mapped(a) for a in mapped)


@needs_machine
def test_probes_false_times_the_shootdowns_only(mapped):
    m = tw.measure(cpus=two_cpus(), calls=20, progress=False, probes=False)
    assert m.ipi_runs == () and len(m.vm_exit_ns) == 0 and m.notes == ()
    assert len(mapped) == 1 and "ipi_probe" not in m.method


def executable_anonymous_mappings():
    return [line for line in Path("/proc/self/maps").read_text().splitlines()
            if line.split()[1].startswith("r-x") and len(line.split()) == 5]


@pytest.mark.skipif(not (sys.platform.startswith("linux") and os.uname().machine == "x86_64"),
                    reason="the CPUID probe runs x86-64 code on Linux")
def test_the_cpuid_probe_times_each_batch_and_unmaps_its_code():
    from tlbwidgets.machine import vmexit, procfs as pf
    before = executable_anonymous_mappings()
    affinity = os.sched_getaffinity(0)
    per_call_ns = vmexit.time_cpuid(min(affinity), batches=25, per_batch=50)
    assert per_call_ns.shape == (25,) and np.median(per_call_ns) > 0
    assert executable_anonymous_mappings() == before
    assert os.sched_getaffinity(0) == affinity
    if pf.parse_cpuinfo(Path("/proc/cpuinfo").read_text())["hypervisor"]:
        # A vCPU exits on CPUID; a VM exit and entry cost over 1,000 cycles on every
        # published host (docs/costs.md), far above a bare-metal CPUID.
        assert np.median(per_call_ns) > 300


@needs_machine
def test_refuses_without_the_jit(monkeypatch):
    import numba
    monkeypatch.setattr(numba.config, "DISABLE_JIT", 1)
    with pytest.raises(RuntimeError, match="needs the JIT"):
        tw.measure(cpus=two_cpus(), calls=20, progress=False)


@needs_machine
def test_spinners_run_pinned_on_their_cpu():
    mapping = runner._Mapping()
    group = runner._Spinners([two_cpus()[1]], mapping.control)
    try:
        group.start(time.monotonic() + 30)
        (cpu, _, thread), = group.threads
        status = Path(f"/proc/self/task/{thread.native_id}/status").read_text()
        allowed = status.split("Cpus_allowed_list:")[1].split()[0]
        assert allowed == str(cpu)
        assert os.sched_getaffinity(0) != {cpu}      # the caller's affinity is its own
    finally:
        group.stop()
        mapping.release()
    assert not group.stuck and not thread.is_alive()


@needs_machine
@pytest.mark.parametrize("op", ["madvise", "mprotect"])
def test_a_real_measurement_on_this_machine(op):
    # On a busy machine the spinner's CPU is sometimes taken by another process
    # for a while, and a call made meanwhile sends no IPI (Linux skips a CPU
    # that is not running the mm): then measure again with tw.measure's
    # default number of calls, as a learner would.
    for calls in (400, 2000):
        start = time.monotonic()
        m = tw.measure(cpus=two_cpus(), calls=calls, op=op, progress=False, timeout_s=30)
        seconds = time.monotonic() - start
        assert seconds < 30
        assert not spinner_threads()
        one = next(p for p in m.points() if p["targets"] == 1)
        if one["sent"]["count"] >= MIN_LABELLED_CALLS:
            break
    assert one["sent"]["count"] > 0, "no call sent an IPI to the spinner"
    if one["sent"]["count"] < MIN_LABELLED_CALLS:
        pytest.fail(f"too few labelled calls on this machine: {one['note']}")
    assert m.remote_ns(1) > 0
    assert m.baseline_ns < one["sent"]["median_ns"]
    assert m.machine["online_cpus"] >= 2 and m.method["op"] == op
    if op == "madvise":
        assert tw.measured_costs()["this_machine"] == m.to_costs()
    rt = m.ipi_round_trip()
    if rt is None:
        assert m.notes and m.notes[0].startswith("IPI round trip not measured")
    else:
        assert [r.targets for r in m.ipi_runs] == [0, 1]
        assert rt["sent"]["count"] + rt["none"]["count"] + rt["foreign"] \
            + rt["ambiguous"] == rt["calls"] == calls
        if rt["sent"]["count"] >= MIN_LABELLED_CALLS:
            assert rt["round_trip_ns"] > 0


# ---- the CLI and the explorer ------------------------------------------------------

@needs_machine
def test_cli_measure_prints_the_table_and_the_fitted_costs(capsys):
    cpus = [str(c) for c in two_cpus()]
    assert cli.main(["measure", "--cpus", *cpus, "--calls", "400"]) == 0
    out, err = capsys.readouterr()
    assert "remote µs" in out and "fitted costs 'this_machine'" in out
    assert "kept from 'default'" in out and "tw.Costs(" in out
    assert "single operations, on CPU" in out
    assert ("IPI costs from the single operations" in out) == ("IPI round trip (membarrier" in out)
    assert "measuring [" in err and "done" in err.splitlines()[-1]
    assert cli.main(["measure", "--cpus", *cpus, "--calls", "100", "--json", "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert err == "" and Measurement.from_json(out).method["calls"] == 100


def test_cli_measure_refusals_exit_with_a_message(capsys):
    assert cli.main(["measure", "--cpus", "0"]) == 1
    assert "at least 2 usable CPUs" in capsys.readouterr().err
    assert cli.main(["measure", "--calls", "3"]) == 2
    assert "calls must be between" in capsys.readouterr().err


def test_explorer_costs_menu_offers_a_fitted_machine_without_touching_the_presets():
    from tlbwidgets.widgets import ExploreControls
    presets = dict(tw.COST_PRESETS)
    fitted = synthetic({1: 7000.0}).to_costs(name="my_laptop")
    controls = ExploreControls(measured={"my_laptop": fitted}, cpus=2, protocol="linux",
                               workload="single")
    assert "my_laptop" in controls.widgets["costs"].options
    controls.widgets["costs"].value = "my_laptop"
    assert controls.error == "" and controls.config()["costs"] is fitted
    r = tw.simulate(**controls.config())
    assert r.costs == fitted
    assert tw.COST_PRESETS == presets and "my_laptop" not in tw.COST_PRESETS


def test_explorer_lists_what_was_measured_in_this_kernel(monkeypatch):
    import tlbwidgets.machine as machine
    from tlbwidgets.widgets import ExploreControls
    monkeypatch.setattr(machine, "_MEASURED", {})
    assert "this_machine" not in ExploreControls().widgets["costs"].options
    machine._remember(synthetic({1: 7000.0}).to_costs())
    assert "this_machine" in ExploreControls().widgets["costs"].options
    assert "this_machine" not in tw.COST_PRESETS


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs sched_setaffinity")
def test_notebook_falls_back_to_the_labelled_example_when_measuring_is_refused():
    """The course notebook in a kernel limited to one CPU: measuring is refused,
    and every output says the numbers are the stored example, and why."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebooks = Path(__file__).resolve().parents[1] / "notebooks"
    nb = nbformat.read(notebooks / "07_your_machine.ipynb", as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(notebooks)}})
    # Linux applies an affinity to one thread, and the kernel is started from
    # whichever thread nbclient's event loop runs in: limit every thread of this
    # process (threads started later inherit it), then restore each.
    tids = [int(t) for t in os.listdir("/proc/self/task")]
    saved = {}
    for tid in tids:
        try:
            saved[tid] = os.sched_getaffinity(tid)
            os.sched_setaffinity(tid, {min(saved[tid])})
        except ProcessLookupError:          # the thread ended meanwhile
            pass
    try:
        client.execute()
    finally:
        for tid, affinity in saved.items():
            try:
                os.sched_setaffinity(tid, affinity)
            except ProcessLookupError:
                pass
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.outputs if o.output_type == "stream")
    assert "STORED EXAMPLE measurement, NOT this machine" in text
    assert "Why: tw.measure needs at least 2 usable CPUs" in text
    assert "source: STORED EXAMPLE, not this machine" in text
    assert "so the explorer has no 'this_machine' preset" in text
