"""What the kernel says about this machine: TLB shootdown counters and facts.

Linux counts, per CPU, the TLB shootdown IPIs each CPU has handled on the
``TLB:`` line of ``/proc/interrupts`` (x86: ``irq_tlb_count``, incremented by
the flush handler of a remote request).  The parsers here take text, so tests
feed them fixtures from other kernels and layouts; the readers take a
:class:`Host`, whose directories tests point at fixture trees.
"""

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "Host", "TlbCounter", "parse_interrupt_cpus", "parse_interrupt_counts", "parse_tlb_counts",
    "parse_cpu_list", "parse_cpuinfo", "machine_facts", "socket_of", "TLB_LABEL", "CALL_LABEL",
]

TLB_LABEL = "TLB:"
"""First field of the counter line in ``/proc/interrupts`` (x86's "TLB shootdowns")."""
CALL_LABEL = "CAL:"
"""First field of x86's "Function call interrupts" line: every IPI that runs a
function on another CPU (``irq_call_count``), TLB flush requests included on
current kernels (older ones printed the count less the TLB count)."""

_READ_CHUNK_BYTES = 1 << 16


def _line_pattern(label):
    # The label is right-aligned to the width of the largest IRQ number, so on
    # a machine with IRQ 1000 or more the line starts with spaces (" TLB:").
    return re.compile(rb"\n[ \t]*" + re.escape(label.encode("ascii")) + rb"([^\n]*)")


@dataclass(frozen=True)
class Host:
    """Where to read the machine from: the platform name and the roots of the
    proc and sys file systems (``/proc`` and ``/sys`` on a real machine)."""

    platform: str = sys.platform
    proc_dir: Path = Path("/proc")
    sys_dir: Path = Path("/sys")

    @property
    def interrupts_path(self):
        return Path(self.proc_dir) / "interrupts"


def parse_interrupt_cpus(header):
    """CPU numbers named by the header line of ``/proc/interrupts``
    (``"CPU0 CPU1 ..."``; offline CPUs are left out, so numbers may skip)."""
    cpus = [int(m) for m in re.findall(r"\bCPU(\d+)\b", header)]
    if not cpus:
        raise ValueError(f"not a /proc/interrupts header (no CPUn columns): {header[:80]!r}")
    return cpus


def parse_interrupt_counts(text, label):
    """Per-CPU counts of the line ``label`` (e.g. ``"CAL:"``) of
    ``/proc/interrupts`` text.

    Returns a dict CPU number -> count, or ``None`` when the file has no such
    line.  Raises ``ValueError`` when the line is there but does not hold one
    integer per CPU of the header.
    """
    lines = text.splitlines()
    if not lines:
        raise ValueError("/proc/interrupts is empty")
    cpus = parse_interrupt_cpus(lines[0])
    for line in lines[1:]:
        fields = line.split()
        if not fields or fields[0] != label:
            continue
        values = fields[1:1 + len(cpus)]
        if len(values) < len(cpus) or not all(v.isdigit() for v in values):
            raise ValueError(f"the {label[:-1]} line of /proc/interrupts does not hold one "
                             f"count per CPU ({len(cpus)} CPUs in the header): "
                             f"{line.strip()[:120]!r}")
        return dict(zip(cpus, (int(v) for v in values)))
    return None


def parse_tlb_counts(text):
    """Per-CPU TLB shootdown counts from the text of ``/proc/interrupts``.

    Returns a dict CPU number -> count, or ``None`` when the file has no
    ``TLB:`` line (kernels of other architectures, or x86 kernels built
    without SMP).  Raises ``ValueError`` when the line is there but does not
    hold one integer per CPU of the header.
    """
    return parse_interrupt_counts(text, TLB_LABEL)


class TlbCounter:
    """Reads the per-CPU TLB shootdown counts of ``cpus`` again and again, fast.

    The file is opened once and re-read from offset 0 (a proc seq file is
    regenerated on each read from the start).  ``read()`` returns an int64
    array in the order of ``cpus``; with several ``labels`` (e.g.
    ``(CALL_LABEL, TLB_LABEL)``), the counts of each line in turn, so
    ``len(labels) * len(cpus)`` of them.  Use as a context manager, or call
    ``close()``.  Raises ``RuntimeError`` when the file lacks one of the
    lines or does not list one of ``cpus`` (an offline CPU).
    """

    def __init__(self, cpus, host=Host(), labels=(TLB_LABEL,)):
        self.path = host.interrupts_path
        self.cpus = list(cpus)
        self.labels = tuple(labels)
        self._patterns = [_line_pattern(label) for label in self.labels]
        self._fd = os.open(self.path, os.O_RDONLY)
        try:
            text = self._read_text()
            for label in self.labels:
                if parse_interrupt_counts(text, label) is not None:
                    continue
                if label == TLB_LABEL:
                    raise RuntimeError(
                        f"{self.path} has no '{TLB_LABEL}' line: this kernel does not count "
                        f"TLB shootdown IPIs (the counter exists on x86 SMP kernels), so "
                        f"calls cannot be labelled; measure on an x86 Linux machine, or "
                        f"load the stored example with tw.Measurement.example()")
                raise RuntimeError(f"{self.path} has no '{label}' line, so the calls of this "
                                   f"probe cannot be labelled (x86 SMP kernels have it)")
            header = parse_interrupt_cpus(text.split("\n", 1)[0])
            missing = sorted(set(cpus) - set(header))
            if missing:
                raise RuntimeError(f"CPU(s) {missing} are not listed in {self.path} "
                                   f"(offline?); listed: {header}")
            self._columns = [header.index(c) for c in cpus]
        except BaseException:
            os.close(self._fd)
            raise

    def _read_bytes(self):
        chunks = []
        offset = 0
        while True:
            chunk = os.pread(self._fd, _READ_CHUNK_BYTES, offset)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            offset += len(chunk)

    def _read_text(self):
        return self._read_bytes().decode("ascii", "replace")

    def read(self):
        """Counts now, one per CPU given at construction and line (int64 array)."""
        text = self._read_bytes()
        counts = []
        for pattern in self._patterns:
            fields = pattern.search(text).group(1).split()
            counts += [int(fields[i]) for i in self._columns]
        return np.array(counts, dtype=np.int64)

    def close(self):
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def parse_cpu_list(text):
    """``"0-3,8,10-11"`` (the kernel's cpulist format) -> sorted list of ints."""
    cpus = set()
    for part in text.strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        cpus.update(range(int(lo), int(hi or lo) + 1))
    return sorted(cpus)


def parse_cpuinfo(text):
    """Model, clock (MHz) and hypervisor flag from ``/proc/cpuinfo`` text.

    Returns a dict with ``cpu_model`` (str or None), ``cpu_mhz`` (float or
    None) and ``hypervisor`` (True when the CPU flags include ``hypervisor``:
    a virtual machine's vCPU; None when the file lists no flags).
    """
    first = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            first.setdefault(key.strip(), value.strip())
    model = (first.get("model name") or first.get("Hardware") or first.get("cpu model")
             or first.get("cpu") or None)
    mhz = None
    for key in ("cpu MHz", "clock"):
        match = re.match(r"([\d.]+)", first.get(key, ""))
        if match:
            mhz = float(match.group(1))
            break
    flags = first.get("flags") or first.get("Features")
    hypervisor = None if flags is None else "hypervisor" in flags.split()
    return {"cpu_model": model, "cpu_mhz": mhz, "hypervisor": hypervisor}


def _read(path, default=None):
    try:
        return Path(path).read_text()
    except OSError:
        return default


def socket_of(cpu, host=Host()):
    """Physical package (socket) id of ``cpu``, or 0 when the kernel does not say."""
    text = _read(Path(host.sys_dir) / f"devices/system/cpu/cpu{cpu}/topology/"
                 "physical_package_id")
    try:
        return int(text)
    except (TypeError, ValueError):
        return 0


def machine_facts(host=Host()):
    """What the machine is: CPU model, clock, hypervisor flag, kernel, online
    CPUs and sockets.  Fields the kernel does not expose are None."""
    facts = parse_cpuinfo(_read(Path(host.proc_dir) / "cpuinfo", ""))
    osrelease = _read(Path(host.proc_dir) / "sys/kernel/osrelease")
    online_text = _read(Path(host.sys_dir) / "devices/system/cpu/online")
    online = parse_cpu_list(online_text) if online_text else None
    sockets = sorted({socket_of(c, host) for c in online}) if online else None
    product = _read(Path(host.sys_dir) / "devices/virtual/dmi/id/product_name")
    facts.update({
        "kernel": osrelease.strip() if osrelease else None,
        "online_cpus": len(online) if online else None,
        "sockets": len(sockets) if sockets else None,
        "dmi_product": product.strip() if product else None,
        "platform": host.platform,
    })
    return facts
