"""The VM-exit probe: how long one CPUID instruction takes on this CPU.

In a virtual machine CPUID always leaves the guest: Intel VT-x exits on it
unconditionally, and KVM on AMD SVM intercepts it, emulates it in the host and
re-enters the guest.  So on a vCPU one CPUID is one VM exit, the host's short
emulation and one VM entry: the round trip a guest pays each time it needs the
hypervisor, as when it sends an IPI (an ICR write or the ``KVM_HC_SEND_IPI``
hypercall).  On bare metal the same instruction takes a hundred or a few
hundred cycles, so the probe also shows whether a CPU is virtual.

Python cannot issue CPUID, and numba's JIT cannot assemble inline assembly,
so the probe runs a 22-byte x86-64 function, :data:`CPUID_LOOP`, from a page
it maps, fills, and makes executable (never writable and executable at once)
with ``mmap``/``mprotect`` through ctypes, and unmaps afterwards.

Guarantee of :func:`time_cpuid`: the page is unmapped and the calling
thread's affinity restored before it returns or raises.
"""

import ctypes
import mmap
import os
import platform
import time

import numpy as np

__all__ = ["CPUID_LOOP", "time_cpuid", "BATCHES", "CPUIDS_PER_BATCH"]

CPUID_LOOP = bytes.fromhex(
    "53"          # push rbx              (CPUID overwrites rbx, callee-saved)
    "4989f8"      # mov  r8, rdi          (rdi: how many CPUIDs)
    "4d85c0"      # loop: test r8, r8
    "740b"        #       jz   done
    "31c0"        #       xor  eax, eax   (leaf 0: vendor string, no side effects)
    "31c9"        #       xor  ecx, ecx
    "0fa2"        #       cpuid
    "49ffc8"      #       dec  r8
    "ebf0"        #       jmp  loop
    "5b"          # done: pop  rbx
    "c3"          #       ret
)
"""``uint64_t cpuid_loop(uint64_t n)``: run CPUID leaf 0 ``n`` times (System V
x86-64 calling convention; the return value is meaningless)."""

BATCHES = 40
"""Timed batches; the probe reports the per-instruction time of each."""
CPUIDS_PER_BATCH = 200
"""CPUIDs per batch: enough that the ctypes call around a batch (about a µs)
is under 1% of it on a VM, and it is subtracted anyway (an empty batch)."""

_PROT_READ, _PROT_WRITE, _PROT_EXEC = 0x1, 0x2, 0x4
_MAP_PRIVATE, _MAP_ANONYMOUS = 0x02, 0x20
_MAP_FAILED = ctypes.c_void_p(-1).value


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long)
    libc.mmap.restype = ctypes.c_void_p
    libc.mprotect.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    libc.mprotect.restype = ctypes.c_int
    libc.munmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
    libc.munmap.restype = ctypes.c_int
    return libc


def _batch_ns(loop, n):
    t0 = time.perf_counter_ns()
    loop(n)
    return time.perf_counter_ns() - t0


def time_cpuid(cpu, batches=BATCHES, per_batch=CPUIDS_PER_BATCH):
    """Time CPUID on ``cpu`` (the calling thread is pinned there meanwhile).

    Returns float64[batches]: per batch, (its time minus the median time of
    an empty batch) / ``per_batch``, in ns.  Raises ``RuntimeError`` saying
    why when the probe cannot run here (not x86-64, not Linux, executable
    memory refused, affinity refused).
    """
    if platform.machine() not in ("x86_64", "AMD64") or not hasattr(os, "sched_setaffinity"):
        raise RuntimeError(f"the CPUID probe runs x86-64 code on Linux; this is "
                           f"{platform.machine()!r}")
    libc = _libc()
    size = mmap.PAGESIZE
    before = os.sched_getaffinity(0)
    page = libc.mmap(None, size, _PROT_READ | _PROT_WRITE, _MAP_PRIVATE | _MAP_ANONYMOUS,
                     -1, 0)
    if page in (None, _MAP_FAILED):
        raise RuntimeError(f"could not map a page for the CPUID probe "
                           f"({os.strerror(ctypes.get_errno())})")
    try:
        ctypes.memmove(page, CPUID_LOOP, len(CPUID_LOOP))
        if libc.mprotect(page, size, _PROT_READ | _PROT_EXEC) != 0:
            raise RuntimeError(f"this system refuses executable memory "
                               f"({os.strerror(ctypes.get_errno())}: a hardened kernel or "
                               f"sandbox), so the CPUID probe cannot run")
        loop = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_uint64)(page)
        try:
            os.sched_setaffinity(0, {cpu})
        except OSError as exc:
            raise RuntimeError(f"could not pin the CPUID probe to CPU {cpu} ({exc})") from exc
        try:
            loop(per_batch)                                  # warm up
            empty_ns = np.median([_batch_ns(loop, 0) for _ in range(batches)])
            per_call_ns = np.array([_batch_ns(loop, per_batch) for _ in range(batches)],
                                   dtype=np.float64)
        finally:
            os.sched_setaffinity(0, before)
        return (per_call_ns - empty_ns) / per_batch
    finally:
        libc.munmap(page, size)
