"""A measurement of real TLB shootdowns, summarised, saved, drawn and fitted.

A :class:`Measurement` holds every timed call of every run (latency in ns and
its label), so any summary can be recomputed from it; ``to_json`` keeps them.
"""

import json
from dataclasses import dataclass, field
from importlib import resources

import numpy as np

from .fit import fit_costs, fit_single_operations
from .runner import FOREIGN, AMBIGUOUS

__all__ = ["Measurement", "Run", "MIN_LABELLED_CALLS", "FORMAT", "SAME_SOCKET",
           "OTHER_SOCKET", "EXAMPLE_FILE"]

FORMAT = "tlbwidgets.measurement/1"
MIN_LABELLED_CALLS = 20
"""Fewest calls a median is taken over; with fewer, a point reports its count
and no number."""
SAME_SOCKET = "same socket"
OTHER_SOCKET = "other socket"
EXAMPLE_FILE = "example_measurement.json"
_IPID = "IPI'd"     # the table's column of calls that interrupted every spinner


@dataclass(frozen=True, eq=False)       # holds arrays: compare what you mean, explicitly
class Run:
    """One run: the spinner CPUs, and per timed call its latency (ns) and
    label (IPIs sent to spinner CPUs, or FOREIGN / AMBIGUOUS)."""

    series: str
    spinner_cpus: tuple
    latency_ns: np.ndarray
    labels: np.ndarray

    @property
    def targets(self):
        return len(self.spinner_cpus)

    def calls_labelled(self, label):
        return self.latency_ns[self.labels == label]

    def to_dict(self):
        return {"series": self.series, "spinner_cpus": list(self.spinner_cpus),
                "latency_ns": self.latency_ns.tolist(), "labels": self.labels.tolist()}

    @classmethod
    def from_dict(cls, d):
        return cls(d["series"], tuple(d["spinner_cpus"]),
                   np.asarray(d["latency_ns"], dtype=np.int64),
                   np.asarray(d["labels"], dtype=np.int16))


def _stats(sample):
    """count, median, first and third quartile (ns); NaN when too few calls."""
    n = int(len(sample))
    if n < MIN_LABELLED_CALLS:
        return {"count": n, "median_ns": np.nan, "q1_ns": np.nan, "q3_ns": np.nan}
    q1, med, q3 = np.percentile(sample, [25, 50, 75])
    return {"count": n, "median_ns": float(med), "q1_ns": float(q1), "q3_ns": float(q3)}


def _minus_baseline(run, zero_run):
    """(IPI'd stats, no-IPI stats, baseline ns, its source) of ``run``: the
    baseline is the median of the run's own calls that sent no IPI when it has
    enough of them, else that of ``zero_run`` (the run without spinners)."""
    sent = _stats(run.calls_labelled(run.targets))
    none = _stats(run.calls_labelled(0))
    if run.targets == 0 or none["count"] >= MIN_LABELLED_CALLS:
        return sent, none, none["median_ns"], "this run"
    return sent, none, _stats(zero_run.calls_labelled(0))["median_ns"], "no-spinner run"


@dataclass(frozen=True, eq=False)
class Measurement:
    """Real TLB shootdowns timed on one machine (see ``tw.measure``).

    ``machine``: what the machine is (CPU model, clock, hypervisor flag,
    kernel, CPUs, sockets); ``method``: how it was measured (op, calls per
    run, measuring CPU, clock, ...); ``runs``: one :class:`Run` per target
    count and series.  ``source`` says where the numbers come from: ``"this
    machine"`` for a fresh measurement, or the stored example's description.

    Single operations (empty where not measured; ``notes`` says why):
    ``ipi_runs``, the IPI round-trip probe's runs with no spinner and with one
    (``membarrier``, labelled like ``runs``); ``vm_exit_ns``, the CPUID probe's
    time per instruction, one value per batch (see
    :mod:`tlbwidgets.machine.vmexit`).
    """

    machine: dict
    method: dict
    runs: tuple
    started: str = ""
    seconds: float = 0.0
    source: str = "this machine"
    notes: tuple = field(default_factory=tuple)
    ipi_runs: tuple = field(default_factory=tuple)
    vm_exit_ns: np.ndarray = field(default_factory=lambda: np.zeros(0))

    # ---- summaries ---------------------------------------------------------------

    @property
    def is_example(self):
        return self.source != "this machine"

    def _run(self, targets, series=SAME_SOCKET):
        for run in self.runs:
            if run.targets == targets and (targets == 0 or run.series == series):
                return run
        raise ValueError(f"targets={targets} (series {series!r}) was not measured; measured: "
                         f"{[(r.series, r.targets) for r in self.runs]}")

    @property
    def baseline_ns(self):
        """Median latency of the calls of the no-spinner run that sent no IPI
        (the system call and its local flush); NaN with too few calls."""
        return _stats(self._run(0).calls_labelled(0))["median_ns"]

    def points(self):
        """One dict per run: series, targets, spinner_cpus, calls, IPI'd (the
        calls that reached every spinner: count, median_ns, q1_ns, q3_ns),
        none (the calls that sent no IPI), partial, foreign, ambiguous
        counts, baseline_ns with its source, remote_ns, note."""
        rows = []
        zero_run = self._run(0)
        for run in self.runs:
            k = run.targets
            sent, none, base, source = _minus_baseline(run, zero_run)
            note = ""
            if k and sent["count"] < MIN_LABELLED_CALLS:
                note = (f"only {sent['count']} of {len(run.labels)} calls sent an IPI to all "
                        f"{k} spinner CPU(s): too few for a median (a paravirtual flush may "
                        f"skip a preempted vCPU, or the spinners were descheduled)")
            partial = int(np.count_nonzero((run.labels > 0) & (run.labels < k)))
            rows.append({
                "series": run.series, "targets": k, "spinner_cpus": list(run.spinner_cpus),
                "calls": int(len(run.labels)), "sent": sent, "none": none,
                "partial": partial,
                "foreign": int(np.count_nonzero(run.labels == FOREIGN)),
                "ambiguous": int(np.count_nonzero(run.labels == AMBIGUOUS)),
                "baseline_ns": base, "baseline_source": source,
                "remote_ns": (sent["median_ns"] - base) if k else 0.0,
                "note": note,
            })
        return rows

    def remote_ns(self, targets=1, series=SAME_SOCKET):
        """Measured remote cost (ns) of a flush to ``targets`` CPUs: the median
        of the calls that IPI'd them minus the baseline.  Raises RuntimeError,
        with the count, when too few calls sent IPIs to them."""
        self._run(targets, series)
        row = next(p for p in self.points() if p["targets"] == targets
                   and (targets == 0 or p["series"] == series))
        if not np.isfinite(row["remote_ns"]):
            raise RuntimeError(row["note"] or f"too few calls without an IPI for a baseline "
                               f"({row['none']['count']})")
        return row["remote_ns"]

    # ---- single operations -------------------------------------------------------

    def ipi_round_trip(self):
        """The IPI probe's summary, or None when it was not measured: target
        CPU, calls, IPI'd and no-IPI stats (count, median_ns, q1_ns, q3_ns),
        baseline_ns with its source, foreign and ambiguous counts, and
        ``round_trip_ns``: IPI'd median minus baseline (NaN with too few
        IPI'd calls), the time one IPI takes from the send until the sender
        sees the target's empty function done; the system call cancels."""
        if not self.ipi_runs:
            return None
        zero = next(r for r in self.ipi_runs if r.targets == 0)
        one = next(r for r in self.ipi_runs if r.targets == 1)
        sent, none, base, source = _minus_baseline(one, zero)
        return {"target_cpu": one.spinner_cpus[0], "calls": int(len(one.labels)),
                "sent": sent, "none": none, "baseline_ns": base, "baseline_source": source,
                "foreign": int(np.count_nonzero(one.labels == FOREIGN)),
                "ambiguous": int(np.count_nonzero(one.labels == AMBIGUOUS)),
                "round_trip_ns": sent["median_ns"] - base}

    def vm_exit(self):
        """The CPUID probe's summary, or None when it was not measured:
        batches, CPUIDs per batch and the stats of the per-instruction time
        (count, median_ns, q1_ns, q3_ns)."""
        if len(self.vm_exit_ns) == 0:
            return None
        return {"per_batch": self.method.get("cpuids_per_batch"),
                **_stats(np.asarray(self.vm_exit_ns))}

    def single_operations(self):
        """Both probes' summaries: ``{"ipi_round_trip": ..., "vm_exit": ...}``."""
        return {"ipi_round_trip": self.ipi_round_trip(), "vm_exit": self.vm_exit()}

    # ---- fit ---------------------------------------------------------------------

    def _series_remote(self, series):
        return {p["targets"]: p["remote_ns"] for p in self.points()
                if p["series"] == series and p["targets"] > 0}

    def fit(self, name="this_machine", base="default"):
        """The fitted cost preset and how it was fitted (a ``Fit``): see
        :mod:`tlbwidgets.machine.fit` and docs/measure.md.  Raises RuntimeError
        when the one-target point has too few labelled calls."""
        same = self._series_remote(SAME_SOCKET)
        if 1 not in same:
            raise RuntimeError("cannot fit costs: the fit needs a one-target run on the "
                               "measuring CPU's socket; measure with cpus= that put a second "
                               "CPU on the first one's socket")
        if not np.isfinite(same[1]):
            row = next(p for p in self.points()
                       if p["targets"] == 1 and p["series"] == SAME_SOCKET)
            raise RuntimeError(f"cannot fit costs: {row['note'] or 'no baseline'}")
        other = self._series_remote(OTHER_SOCKET)
        mhz = self.machine.get("cpu_mhz")
        return fit_costs(same, clock_ghz=mhz / 1000 if mhz else None, base=base, name=name,
                         remote_other_ns=other or None)

    def fit_single_operations(self, name="this_machine", base="kvm_guest"):
        """IPI costs fitted to the probes rather than to the shootdowns (a
        ``Fit``; see :func:`tlbwidgets.machine.fit.fit_single_operations`):
        ``ipi_send`` from the CPUID probe on a virtual machine (the
        ``hypervisor`` flag; kept on bare metal, where CPUID does not exit),
        ``ipi_latency`` from the IPI round trip.  Raises RuntimeError when the
        IPI probe was not measured or has too few IPI'd calls."""
        rt = self.ipi_round_trip()
        if rt is None:
            raise RuntimeError("cannot fit single operations: the IPI probe was not measured"
                               + (f" ({self.notes[0]})" if self.notes else ""))
        vm = self.vm_exit()
        vm_exit_ns = vm["median_ns"] if vm and self.machine.get("hypervisor") else None
        mhz = self.machine.get("cpu_mhz")
        return fit_single_operations(rt["round_trip_ns"], vm_exit_ns,
                                     clock_ghz=mhz / 1000 if mhz else None, base=base,
                                     name=name)

    def to_costs(self, name="this_machine", base="default"):
        """A ``tw.Costs`` fitted to this measurement (see :meth:`fit`).

        Guarantee: ``tw.simulate(cpus=2, protocol="linux", workload="single",
        costs=m.to_costs())`` has a latency equal, within one ``pause``, to the
        measured one-target remote cost plus the kept local flush (``invlpg``).
        """
        return self.fit(name, base).costs

    # ---- output ------------------------------------------------------------------

    def table(self):
        """The measurement as a text table: one line per target count."""
        m = self.machine
        head = [
            f"source: {self.source}",
            f"machine: {m.get('cpu_model')} at {m.get('cpu_mhz')} MHz, "
            f"{'virtual machine (hypervisor flag)' if m.get('hypervisor') else 'no hypervisor flag'}"
            f", kernel {m.get('kernel')}, {m.get('online_cpus')} CPUs online, "
            f"{m.get('sockets')} socket(s)",
            f"method: {self.method.get('op')} of one page, {self.method.get('calls')} calls per "
            f"run, measuring on CPU {self.method.get('measuring_cpu')}, "
            f"{self.seconds:.1f} s",
            "",
            f"{'series':13} {'targets':>7} {'calls':>6} {_IPID:>6} {'none':>6} {'other':>6} "
            f"{'median µs':>10} {'IQR µs':>13} {'baseline µs':>12} {'remote µs':>10}",
        ]
        lines = list(head)
        for p in self.points():
            s = p["sent"] if p["targets"] else p["none"]
            iqr = (f"{s['q1_ns'] / 1e3:.2f}-{s['q3_ns'] / 1e3:.2f}"
                   if np.isfinite(s["median_ns"]) else "-")
            lines.append(
                f"{p['series'] if p['targets'] else 'none':13} {p['targets']:>7} "
                f"{p['calls']:>6} {p['sent']['count'] if p['targets'] else 0:>6} "
                f"{p['none']['count']:>6} "
                f"{p['partial'] + p['foreign'] + p['ambiguous']:>6} "
                f"{_us(s['median_ns']):>10} {iqr:>13} {_us(p['baseline_ns']):>12} "
                f"{_us(p['remote_ns']) if p['targets'] else '-':>10}")
            if p["note"]:
                lines.append(f"{'':14}note: {p['note']}")
        lines.append("")
        lines.append("IPI'd: calls that sent an IPI to every spinner CPU; none: calls that sent "
                     "none; other: calls left out (IPIs to some spinners only, or to a CPU "
                     "that was not a target)")
        lines += [""] + self._single_operation_lines()
        return "\n".join(lines)

    def _single_operation_lines(self):
        lines = [f"single operations, on CPU {self.method.get('measuring_cpu')}:"]
        rt = self.ipi_round_trip()
        if rt is None:
            lines.append("  IPI round trip: not measured")
        else:
            s = rt["sent"]
            detail = (f"IPI'd median {_us(s['median_ns'])}, IQR {_us(s['q1_ns'])}-"
                      f"{_us(s['q3_ns'])}, less {_us(rt['baseline_ns'])} without IPI"
                      if np.isfinite(rt["round_trip_ns"]) else "too few for a median")
            lines.append(f"  IPI round trip (membarrier to CPU {rt['target_cpu']}): "
                         f"{_us(rt['round_trip_ns'])} µs ({s['count']} of {rt['calls']} calls "
                         f"IPI'd; {detail})")
        vm = self.vm_exit()
        if vm is None:
            lines.append("  CPUID (a VM exit on a vCPU): not measured")
        else:
            lines.append(f"  CPUID (a VM exit on a vCPU): {_us(vm['median_ns'])} µs (median of "
                         f"{vm['count']} batches of {vm['per_batch']}, IQR "
                         f"{_us(vm['q1_ns'])}-{_us(vm['q3_ns'])})")
        lines += [f"  note: {n}" for n in self.notes]
        return lines

    def plot(self, costs=(), protocol="linux"):
        """A bqplot figure: measured remote cost (median, with the IQR as a
        bar) against target count, per series; and for each ``Costs`` or
        preset name in ``costs``, the simulated remote cost of ``protocol``
        (latency with k targets minus latency with none)."""
        from .plot import measurement_figure
        return measurement_figure(self, costs, protocol)

    def to_dict(self):
        """Everything as plain data; ``summary`` and ``fit`` are derived (and
        ignored by :meth:`from_json`, which recomputes them)."""
        try:
            f = self.fit()
            fit = {"costs": f.costs.to_dict(), "base": f.base, "set_fields": f.set_fields,
                   "kept_fields": list(f.kept_fields), "notes": list(f.notes)}
        except RuntimeError as exc:
            fit = {"error": str(exc)}
        return {"format": FORMAT, "source": self.source, "started": self.started,
                "seconds": self.seconds, "machine": self.machine, "method": self.method,
                "notes": list(self.notes), "runs": [r.to_dict() for r in self.runs],
                "ipi_runs": [r.to_dict() for r in self.ipi_runs],
                "vm_exit_ns": [float(v) for v in self.vm_exit_ns],
                "summary": _jsonable(self.points()),
                "single_operations": _jsonable(self.single_operations()), "fit": fit}

    def to_json(self, indent=None):
        """Everything, as JSON: machine, method, every call, and the summary."""
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_json(cls, text, source=None):
        """A Measurement from ``to_json`` text (measurements saved before the
        single-operation probes load with none).  Raises ValueError for other
        JSON."""
        d = json.loads(text)
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise ValueError(f"not a tlbwidgets measurement (format {FORMAT!r} expected)")
        return cls(machine=d["machine"], method=d["method"],
                   runs=tuple(Run.from_dict(r) for r in d["runs"]),
                   started=d.get("started", ""), seconds=float(d.get("seconds", 0.0)),
                   source=source or d.get("source", "this machine"),
                   notes=tuple(d.get("notes", ())),
                   ipi_runs=tuple(Run.from_dict(r) for r in d.get("ipi_runs", ())),
                   vm_exit_ns=np.asarray(d.get("vm_exit_ns", ()), dtype=np.float64))

    @classmethod
    def example(cls):
        """The stored example measurement (shipped with tlbwidgets), labelled
        as such in ``source``: what to look at where measuring is refused."""
        text = resources.files(__package__).joinpath(EXAMPLE_FILE).read_text()
        d = json.loads(text)
        when = d.get("started", "")[:10]
        m = d["machine"]
        return cls.from_json(text, source=(
            f"STORED EXAMPLE, not this machine: measured {when} on {m.get('cpu_model')} "
            f"({m.get('online_cpus')} {'vCPUs' if m.get('hypervisor') else 'CPUs'}, kernel "
            f"{m.get('kernel')})"))

    def __repr__(self):
        one = next((p for p in self.points() if p["targets"] == 1), None)
        remote = f"{_us(one['remote_ns'])} µs" if one else "-"
        return (f"<Measurement ({self.source}): {len(self.runs)} runs, baseline "
                f"{_us(self.baseline_ns)} µs, one-target remote cost {remote}>")


def _us(ns):
    return f"{ns / 1e3:.2f}" if np.isfinite(ns) else "-"


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj
