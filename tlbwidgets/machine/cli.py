"""``python -m tlbwidgets measure``: time real TLB shootdowns on this machine."""

import argparse
import sys

from .procfs import parse_cpu_list

__all__ = ["main_measure"]


def _cpus(text):
    try:
        return parse_cpu_list(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--cpus takes CPU numbers or ranges such as 0 1 or 0-3,8, got {text!r}") from None


def _fit_lines(m):
    try:
        fit = m.fit()
    except RuntimeError as exc:
        return [f"no fitted costs: {exc}"]
    c = fit.costs
    lines = [f"fitted costs {c.name!r} (linux protocol's closed form; base preset "
             f"{fit.base!r}):"]
    for name, value in fit.set_fields.items():
        lines.append(f"  {name:20} {value:>10}   (fitted)")
    lines.append(f"  kept from {fit.base!r}: {', '.join(fit.kept_fields)}")
    lines += [f"  note: {n}" for n in fit.notes]
    lines.append(f"  as Python: tw.{c!r}")
    return lines + _single_operation_fit_lines(m)


def _single_operation_fit_lines(m):
    """The IPI costs fitted to the probes (docs/measure.md), when they ran."""
    if m.ipi_round_trip() is None:
        return []
    try:
        fit = m.fit_single_operations()
    except RuntimeError as exc:
        return ["", f"no costs from single operations: {exc}"]
    lines = ["", f"IPI costs from the single operations (m.fit_single_operations(); base "
                 f"preset {fit.base!r}):"]
    lines += [f"  {name:20} {value:>10}   (fitted)" for name, value in fit.set_fields.items()]
    return lines


def main_measure(argv):
    """Run ``tw.measure`` with the command line's options and print the table
    and the fitted costs (or everything as JSON).  A refusal exits 1 with its
    message on stderr."""
    import tlbwidgets as tw
    p = argparse.ArgumentParser(
        prog="python -m tlbwidgets measure",
        description="Time real TLB shootdowns on this machine (Linux): one-page system "
                    "calls labelled by the per-CPU 'TLB shootdowns' counts of "
                    "/proc/interrupts, for 0, 1, ... spinning target CPUs; print the "
                    "table and a cost preset fitted to it. See docs/measure.md.")
    p.add_argument("--cpus", type=_cpus, nargs="+", default=None, metavar="CPUS",
                   help="CPUs to use, the first one measures (default: every CPU this "
                        "process may use), e.g. --cpus 0 1 or --cpus 0-3")
    p.add_argument("--calls", type=int, default=2000, help="timed calls per target count")
    p.add_argument("--op", default="madvise", choices=tw.machine.OPS,
                   help="the timed system call")
    p.add_argument("--timeout", type=float, default=60.0, dest="timeout_s",
                   help="seconds the whole measurement may take")
    p.add_argument("--json", action="store_true",
                   help="print the whole measurement (every call) as JSON on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress line on stderr")
    args = p.parse_args(argv)
    cpus = None if args.cpus is None else [c for group in args.cpus for c in group]
    try:
        m = tw.measure(cpus=cpus, calls=args.calls, op=args.op, timeout_s=args.timeout_s,
                       progress=not args.quiet)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(m.to_json(indent=1))
        return 0
    print(m.table())
    print()
    print("\n".join(_fit_lines(m)))
    return 0
