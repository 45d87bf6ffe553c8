"""Profile the jitted engine with Linux ``perf``, with function names.

numba's machine code has no symbols perf can see, so a plain ``perf record``
shows bare addresses.  This script compiles the engine afresh in a temporary
numba cache (about a minute: code loaded from the cache keeps no function
table), writes perf's JIT symbol map ``/tmp/perf-<pid>.map`` (start, size and
name of every engine function; sizes from the object code via ``nm``), then
plays one run several times on prebuilt states so the engine dominates::

    perf record -F 2000 -o perf.data python benchmarks/profile_engine.py storm
    perf report -i perf.data --no-children --sort dso,sym | grep JIT

Cases: ``classroom`` (16 CPUs, ``uniform``, 1 M accesses, default unmap rate)
and ``storm`` (256 CPUs, ``munmap_storm``, 6 unmaps per CPU).  Only the
samples of the timed loop are the engine's; the compile before it shows up
as LLVM and Python symbols.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

__all__ = ["main"]

CASES = {
    "classroom": dict(cpus=16, workload="uniform", accesses=62_500, unmap_rate=0.002, seed=1),
    "storm": dict(cpus=256, workload="munmap_storm", unmaps=6, seed=1, max_events=10**9,
                  max_log_rows=1_000_000, max_log_events=100_000),
}


def _symbol_sizes(obj_bytes):
    """Function name -> size in bytes, from the object code of the library."""
    with tempfile.NamedTemporaryFile(suffix=".o") as fh:
        fh.write(obj_bytes)
        fh.flush()
        out = subprocess.run(["nm", "-S", "--defined-only", fh.name], check=True,
                             capture_output=True, text=True).stdout
    sizes = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4:
            sizes[parts[3]] = int(parts[1], 16)
    return sizes


def write_perf_map(run):
    """Write /tmp/perf-<pid>.map for the compiled ``run`` and its callees;
    returns the number of functions named."""
    rows = []
    for cres in run.overloads.values():
        lib = cres.library
        module = lib._final_module            # present only when compiled here
        sizes = _symbol_sizes(lib._codegen._tm.emit_object(module))
        for fn in module.functions:
            if fn.is_declaration:
                continue
            addr = lib.get_pointer_to_function(fn.name)
            if addr and fn.name in sizes:
                # Mangled names carry the module and function: keep from
                # "engine" on, which reads like "8_mailbox5_push...".
                name = fn.name.split("engine", 1)[-1][:70]
                rows.append(f"{addr:x} {sizes[fn.name]:x} {name}\n")
    with open(f"/tmp/perf-{os.getpid()}.map", "w") as fh:
        fh.writelines(rows)
    return len(rows)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("case", choices=sorted(CASES))
    ap.add_argument("--repeat", type=int, default=10, help="engine runs timed")
    args = ap.parse_args(argv)
    if "NUMBA_CACHE_DIR" not in os.environ:
        # Compile here (a fresh cache): a cache-loaded library has no module
        # to list the functions of.  numba reads the variable at import.
        os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="tlbwidgets-profile-")
        os.execv(sys.executable, [sys.executable] + sys.argv)

    import tlbwidgets as tw
    from tlbwidgets import api
    from tlbwidgets.engine import _core, _layout

    t0 = time.perf_counter()
    tw.simulate(cpus=2, workload="single")
    print(f"compiled in {time.perf_counter() - t0:.1f} s; "
          f"{write_perf_map(_core.run)} functions in /tmp/perf-{os.getpid()}.map")

    captured = {}
    real_run = api.run_engine
    api.run_engine = lambda state, machine: captured.setdefault("machine", machine)
    try:
        tw.simulate(**CASES[args.case])
    finally:
        api.run_engine = real_run
    machine = captured["machine"]
    states = [_layout.make_state(machine) for _ in range(args.repeat)]
    t0 = time.perf_counter()
    for state in states:
        real_run(state, machine)
    dt = time.perf_counter() - t0
    events = int(states[-1].counters[_layout.K_EVENTS])
    print(f"{args.case}: {args.repeat} engine runs in {dt:.2f} s, {events:,} events each, "
          f"{dt / args.repeat / max(events, 1) * 1e9:.0f} ns per event")
    return 0


if __name__ == "__main__":
    sys.exit(main())
