"""Command line: ``python -m tlbwidgets simulate|sweep|measure|warm|app|course``.

Every run echoes its full configuration so it can be reproduced.  Bad
arguments exit with status 2 and a one-line message on stderr, never a
traceback.
"""

import argparse
import sys

__all__ = ["main", "parse_value", "one_line"]


def one_line(message):
    """``message`` on one line: a control character typed on the command
    line (a newline, a carriage return) is shown escaped, not obeyed."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(message))


def parse_value(text):
    """Turn a ``--set key=value`` value into int, float, bool, None, a tuple
    of ints ("1,2,3") or keep it as a string."""
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    if "," in text:
        return tuple(parse_value(t) for t in text.split(",") if t)
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _fmt(v):
    if isinstance(v, float):
        if v != v:
            return "-"
        return f"{v:,.3f}" if abs(v) < 100 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


class _UsageError(ValueError):
    """A bad command line: reported by :func:`main` in one line, status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing the usage and exiting, so a
    bad flag or value is one line on stderr (``--help`` still prints)."""

    def error(self, message):
        raise _UsageError(f"{message} (see --help)")


def _simulate(argv):
    import tlbwidgets as tw
    p = _Parser(
        prog="python -m tlbwidgets simulate",
        description="Run one simulation and print its configuration and summary.")
    p.add_argument("--cpus", type=int, default=16)
    p.add_argument("--sockets", type=int, default=1)
    p.add_argument("--protocol", default="mailbox", help=f"one of {', '.join(tw.PROTOCOLS)}")
    p.add_argument("--workload", default="uniform", help=f"one of {', '.join(tw.WORKLOADS)}")
    p.add_argument("--costs", default="default",
                   help=f"cost preset: {', '.join(tw.COST_PRESETS)}")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a machine option or workload parameter, e.g. --set pages=3 "
                        "--set ack_timeout_spins=none (repeatable)")
    p.add_argument("--json", action="store_true", help="print summary + config as JSON")
    args = p.parse_args(argv)
    options = {}
    for item in args.set:
        if "=" not in item:
            raise _UsageError(f"--set expects KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        options[k.strip()] = parse_value(v.strip())
    from ._progress import CliCompileLine
    # A first run compiles the engine (tens of seconds): one line on stderr
    # says so, so the command never looks frozen.
    with CliCompileLine([args.protocol] if args.protocol in tw.PROTOCOLS else []):
        r = tw.simulate(cpus=args.cpus, protocol=args.protocol, workload=args.workload,
                        costs=args.costs, sockets=args.sockets, seed=args.seed, **options)
    if args.json:
        print(r.to_json(indent=2))
        return 0
    print("configuration (pass these back to reproduce the run):")
    for k, v in r.config.items():
        print(f"  {k:22} {v}")
    print()
    print("summary:")
    for k, v in r.summary().items():
        print(f"  {k:28} {_fmt(v):>16}")
    if r.truncated:
        print(f"\nnote: logs cut at their caps ({', '.join(r.truncated_logs)}); "
              "counts above are exact")
    return 0


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    from .warm import main as warm_main
    commands = {"simulate": _simulate, "warm": warm_main}
    try:
        from .sweep import main_sweep
        commands["sweep"] = main_sweep
    except ImportError:
        pass
    from .machine.cli import main_measure
    commands["measure"] = main_measure
    try:
        from .app import main as app_main, course_main
        commands["app"] = app_main
        commands["course"] = course_main
    except ImportError:
        pass
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in commands:
        names = " | ".join(commands)
        msg = f"usage: python -m tlbwidgets {{{names}}} [options]   (--help on each)"
        if argv and argv[0] not in ("-h", "--help"):
            print(one_line(f"error: unknown command {argv[0]!r}; {msg}"), file=sys.stderr)
            return 2
        print(msg)
        return 0
    try:
        return commands[argv[0]](argv[1:]) or 0
    except (ValueError, TypeError) as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
