"""Parameter sweeps: run :func:`tlbwidgets.simulate` over a Cartesian product.

``tw.sweep(cpus=[2, 4, 8], protocol=["mailbox", "linux"], seeds=[0, 1])`` runs
one simulation per (configuration, seed) and returns one table row per run:
the configuration columns followed by every numeric key of
``Result.summary()`` and ``outcome``.

Guarantees
----------
* **Everything is validated before any work starts.**  Each configuration of
  the product is checked with the engine's own validator, so a bad value in
  the last combination fails at once, naming the parameter.
* **Row order is fixed** by the arguments, never by completion order:
  ``protocol``, ``workload``, ``costs``, ``sockets``, each option in the order
  given, ``cpus``, then ``seed`` (innermost, varies fastest).
* **Deterministic per seed.**  The same arguments give the same table, in
  process, in a process pool or on a Dask cluster.
* **Resumable.**  With ``checkpoint="runs.jsonl"`` every finished row is
  appended (and flushed) as it completes -- with a process pool or with an
  executor that runs each call in process -- and a rerun with the same
  checkpoint reuses the valid rows already there and runs only the rest.  An
  interrupted (Ctrl-C) or crashed sweep therefore keeps every row it finished.

Parallelism goes through any :class:`concurrent.futures.Executor`
(``ProcessPoolExecutor``, a Dask ``Client.get_executor()``, ...).  Workers only
need ``tlbwidgets`` importable; the engine's numba kernels are compiled with
``cache=True``, so a fresh worker process loads them from the on-disk cache
instead of recompiling (see ``docs/performance.md``, "Sweeps").
"""

import argparse
import concurrent.futures as cf
import contextlib
import csv
import hashlib
import itertools
import json
import math
import multiprocessing as mp
import numbers
import os
import pickle
import sys
import threading

import numpy as np

from ._progress import CliCompileLine

__all__ = ["sweep", "check_sweep", "SweepResult", "to_frame", "format_table", "main_sweep",
           "check_output_path", "SWEEP_ORDER", "INLINE_MAX_ROWS"]

# Outer-to-inner order of the product; options go where "options" is.
SWEEP_ORDER = ("protocol", "workload", "costs", "sockets", "options", "cpus", "seed")

# With no executor given, sweeps of at most this many rows to run are done in
# process: starting a pool (and loading the kernels in each worker) costs more
# than it saves for so few runs.
INLINE_MAX_ROWS = 2

# Summary keys that are not metrics, and the one non-numeric key we keep.
_OUTCOME_KEY = "outcome"

# Appended to a summary key whose name is already a config column.
_CLASH_SUFFIX = "_measured"


# ---------------------------------------------------------------- results ----

class SweepResult(np.ndarray):
    """A sweep table: a NumPy structured array with a :meth:`to_frame` helper.

    It is an ordinary structured array (``t["latency_us_median"]``, boolean
    masks, ``np.sort(t, order=...)``); slicing keeps the helper.
    """

    def to_frame(self):
        """The table as a pandas DataFrame (one column per field)."""
        return to_frame(self)


def to_frame(table):
    """Return a structured array (e.g. a sweep table) as a pandas DataFrame.

    Raises ImportError with an install hint when pandas is not installed.
    """
    try:
        import pandas as pd
    except ImportError as exc:
        raise ImportError("to_frame() needs pandas, which is not installed; "
                          "`pip install pandas`, or use the NumPy table as it is") from exc
    arr = np.asarray(table)
    return pd.DataFrame({name: arr[name] for name in arr.dtype.names})


# ------------------------------------------------------------- validation ----

def _as_values(name, value):
    """The list of values swept for one argument (a scalar is one value).

    Lists, tuples, ranges and 1-D arrays are swept; anything else (a string,
    a dict, a Costs, a Workload) is a single value.  To pass a sequence-valued
    option as one value, wrap it: ``offline=[[3, 5]]``.
    """
    if isinstance(value, np.ndarray):
        if value.ndim != 1:
            raise ValueError(f"{name} must be a scalar or a 1-D list of values, "
                             f"got an array of shape {value.shape}")
        values = value.tolist()
    elif isinstance(value, (list, tuple, range)):
        values = list(value)
    else:
        values = [value]
    if not values:
        raise ValueError(f"{name}={value!r} is empty; give at least one value")
    keys = [_canonical(v) for v in values]
    for i, k in enumerate(keys):
        if k in keys[:i]:
            raise ValueError(f"{name}={value!r} repeats the value {values[i]!r}; "
                             "each value may appear once")
    return values


def _jsonable(value):
    """A JSON-safe, order-stable version of a value (numpy scalars to Python)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, str) or value is None:
        return value
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in sorted(value.items())}
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):            # tw.Costs
        return {"__costs__": _jsonable(to_dict())}
    # Anything else (a Workload object): identify it by its pickled content.
    digest = hashlib.sha256(pickle.dumps(value, protocol=4)).hexdigest()[:16]
    return {"__object__": type(value).__name__, "sha256": digest}


def _canonical(value):
    return json.dumps(_jsonable(value), sort_keys=True)


def _label(name, value):
    """The short text shown in a config column for a costs/workload value."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):            # a costs dict of overrides
        base = value.get("preset", "default")
        over = ",".join(f"{k}={v}" for k, v in sorted(value.items()) if k != "preset")
        return f"{base}+{over}" if over else str(base)
    return str(getattr(value, "name", None) or "custom")


def _labels(name, values):
    labels = [_label(name, v) for v in values]
    for i, lab in enumerate(labels):
        if lab in labels[:i]:
            raise ValueError(f"{name}: two different values share the label {lab!r}; "
                             f"give each a distinct name so the table can tell them apart")
    return labels


def _check_callable_args(progress, executor, checkpoint):
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be a callable progress(done, total) or None, "
                        f"got {type(progress).__name__}")
    if executor is not None and not callable(getattr(executor, "submit", None)):
        raise TypeError("executor must be a concurrent.futures.Executor (something with "
                        f"submit()) or None, got {type(executor).__name__}")
    if checkpoint is not None and not isinstance(checkpoint, (str, os.PathLike)):
        raise TypeError(f"checkpoint must be a path (str or os.PathLike) or None, "
                        f"got {type(checkpoint).__name__}")
    if checkpoint is not None:
        check_output_path("checkpoint", checkpoint, make_dirs=True)


# ------------------------------------------------------------------ plan ----

def _plan(cpus, protocol, workload, costs, sockets, seeds, options):
    """Expand the arguments into rows: (column values, simulate kwargs).

    Returns ``(columns, rows)`` where ``columns`` is the ordered list of
    config column names and each row is ``(column_values, kwargs)``.
    """
    if "seed" in options:
        raise TypeError("sweep() takes seeds=[...] (a list), not seed=; "
                        f"got seed={options['seed']!r}")
    axes = [
        ("protocol", _as_values("protocol", protocol)),
        ("workload", _as_values("workload", workload)),
        ("costs", _as_values("costs", costs)),
        ("sockets", _as_values("sockets", sockets)),
    ]
    # Every option given is a column, swept or not: the row echoes its inputs.
    axes += [(name, _as_values(name, value)) for name, value in options.items()]
    seed_values = _as_values("seeds", seeds)
    for seed in seed_values:
        if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral) \
                or seed < 0:
            raise ValueError(f"seeds={seeds!r}: {seed!r} is not allowed; each seed must "
                             "be a non-negative integer")
    axes += [("cpus", _as_values("cpus", cpus)), ("seed", seed_values)]

    # Column text for values that are objects (costs, workload).
    shown = {}
    for name in ("workload", "costs"):
        values = dict(axes)[name]
        shown[name] = dict(zip(map(_canonical, values), _labels(name, values)))

    columns = [name for name, _ in axes]
    rows = []
    for combo in itertools.product(*(values for _, values in axes)):
        kwargs = dict(zip(columns, combo))
        column_values = []
        for name, v in zip(columns, combo):
            if name in shown:
                v = shown[name][_canonical(v)]
            column_values.append(v)
        rows.append((tuple(column_values), kwargs))
    return columns, rows


def _validate_rows(rows):
    """Validate every distinct configuration before any run starts, with the
    engine's own validator (it builds nothing and runs nothing)."""
    from tlbwidgets.api import validate_args
    seen = set()
    for _, kwargs in rows:
        key = _row_key(kwargs)
        if key not in seen:
            seen.add(key)
            validate_args(**kwargs)


# ------------------------------------------------------------- checkpoint ----

def _row_key(kwargs):
    """Identity of one run: every simulate() input, canonically encoded.

    Costs are keyed by their values (so editing a preset invalidates rows)."""
    from tlbwidgets.costs import resolve_costs
    keyed = dict(kwargs)
    if isinstance(keyed["costs"], (str, dict)):
        try:
            keyed["costs"] = resolve_costs(keyed["costs"])
        except (TypeError, ValueError):
            pass    # reported by validation, with the parameter named
    return _canonical(keyed)


def _load_checkpoint(path, wanted_keys):
    """Rows of the checkpoint whose key is in ``wanted_keys``: {key: summary}.

    A line that is not a valid record is ignored and its row simply runs
    again: a line cut short by a crash, bytes that are not UTF-8, a record
    whose summary does not match :data:`tlbwidgets.result.SUMMARY_TYPES`
    (a missing or extra key, a value of the wrong type, an unknown outcome).
    A key with two valid records that disagree is not trusted either: the
    row runs again.  Rows of other sweeps are ignored but kept.
    """
    done = {}
    if path is None or not os.path.exists(path):
        return done
    distrusted = set()
    with open(path, "rb") as fh:
        for raw in fh:
            try:
                record = json.loads(raw.decode("utf-8"))
                key, summary = record["key"], record["summary"]
            except (ValueError, KeyError, TypeError):   # UnicodeDecodeError is a ValueError
                continue
            if not isinstance(key, str) or key not in wanted_keys \
                    or not _valid_summary(summary):
                continue
            if key in done and _canonical(done[key]) != _canonical(summary):
                distrusted.add(key)
            done.setdefault(key, summary)
    for key in distrusted:
        del done[key]
    return done


def _valid_summary(summary):
    """True if ``summary`` (read from a checkpoint) has exactly the keys of
    ``Result.summary()`` with values of their types."""
    from tlbwidgets._tables import OUTCOME_NAMES
    from tlbwidgets.result import SUMMARY_TYPES
    if not isinstance(summary, dict) or set(summary) != set(SUMMARY_TYPES):
        return False
    for k, kind in SUMMARY_TYPES.items():
        v = summary[k]
        if kind is int:
            ok = isinstance(v, int) and not isinstance(v, bool)
        elif kind is float:
            ok = v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
        else:
            ok = v in OUTCOME_NAMES
        if not ok:
            return False
    return True


def check_output_path(name, path, make_dirs=False):
    """Refuse, before any work, a path a file cannot be written to: a
    directory, a file without write permission, or a folder that does not
    exist (``make_dirs``: that cannot be made) or is not writable.  Raises
    ValueError naming ``name`` and the path; creates nothing."""
    path = os.fspath(path)
    if not path or "\0" in path:
        raise ValueError(f"{name}={path!r} is not a file path")
    if os.path.isdir(path):
        raise ValueError(f"{name}={path!r} is a directory; give a file path")
    if os.path.exists(path):
        if not os.access(path, os.W_OK):
            raise ValueError(f"{name}={path!r} is not writable")
        return
    folder = os.path.dirname(os.path.abspath(path))
    existing = folder
    while make_dirs and not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        what = "is not a folder" if os.path.exists(existing) else "does not exist"
        raise ValueError(f"{name}={path!r}: {existing!r} {what}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{name}={path!r}: folder {existing!r} is not writable")


class _CheckpointWriter:
    """Appends one JSON line per finished row, flushed as it is written."""

    def __init__(self, path):
        self._fh = None
        if path is None:
            return
        directory = os.path.dirname(os.fspath(path))
        if directory:
            os.makedirs(directory, exist_ok=True)
        # A crash can leave a last line without its newline; start on a fresh
        # line so the next record is not glued onto the broken one.
        needs_newline = False
        if os.path.exists(path) and os.path.getsize(path) > 0:
            with open(path, "rb") as fh:
                fh.seek(-1, os.SEEK_END)
                needs_newline = fh.read(1) != b"\n"
        self._fh = open(path, "a", encoding="utf-8")
        if needs_newline:
            self._fh.write("\n")

    def write(self, key, config, summary):
        if self._fh is None:
            return
        self._fh.write(json.dumps({"key": key, "config": config, "summary": summary}) + "\n")
        self._fh.flush()

    def close(self):
        if self._fh is not None:
            self._fh.close()


# ---------------------------------------------------------------- running ----

def _run_row(kwargs):
    """Run one configuration and return its summary as JSON-safe values.

    Module-level so that process pools and Dask can pickle it by reference.
    """
    from tlbwidgets.api import simulate
    summary = simulate(**kwargs).summary()
    return {str(k): _jsonable(v) for k, v in summary.items()}


def _default_executor(n_to_run):
    """A local process pool sized to the machine, or None (run in process)."""
    n_cpus = os.cpu_count() or 1
    if n_to_run <= INLINE_MAX_ROWS or n_cpus < 2:
        return None
    return cf.ProcessPoolExecutor(max_workers=min(n_cpus, n_to_run),
                                  mp_context=_pool_context())


def _pool_context():
    """How the default pool starts its workers.

    Forking a process in which other threads run (a Jupyter kernel's I/O
    threads, a widget's background sweep) can leave a worker stuck on a lock
    one of those threads held at the fork, and the sweep then never ends
    (the multiprocessing documentation's caveat; Python 3.12 warns about
    it).  Such a caller gets workers forked from a forkserver, which is
    single-threaded, with tlbwidgets preloaded there instead of the caller's
    ``__main__``.  A single-threaded caller forks as before (the workers
    inherit the loaded kernels), and so does a platform without forkserver.
    """
    if threading.active_count() > 1 and "forkserver" in mp.get_all_start_methods():
        context = mp.get_context("forkserver")
        # Read when the server starts (the first such pool of the process).
        context.set_forkserver_preload([__name__])
        return context
    return None


def _warm_up_rows(todo, rows):
    """Rows to run in this process before our own pool starts: each
    protocol's smallest machine.

    They compile the kernels here, or load them from numba's on-disk cache,
    once: forked workers inherit them, and spawned workers find a fresh cache
    instead of each compiling the same kernels at the same time.  They are
    real rows, so no work is wasted."""
    smallest = {}
    for i in todo:
        protocol, n_cpus = rows[i][1]["protocol"], rows[i][1]["cpus"]
        if protocol not in smallest or n_cpus < rows[smallest[protocol]][1]["cpus"]:
            smallest[protocol] = i
    return sorted(smallest.values())


def _cost_order(todo, rows):
    """Submission order: largest machines first, so the slowest runs do not
    start last and leave the other workers idle (longest-job-first)."""
    return sorted(todo, key=lambda i: -int(rows[i][1]["cpus"]))


def _execute(todo, rows, keys, executor, on_done):
    """Run rows ``todo`` and call ``on_done(index, summary)`` as each finishes.

    On any error (a failing run, or ``on_done`` raising, e.g. an interrupted
    progress callback) the runs not yet started are cancelled and the error
    propagates; rows already passed to ``on_done`` are kept by the caller.
    """
    if executor is None:
        for i in todo:
            try:
                summary = _run_row(rows[i][1])
            except Exception as exc:
                exc.add_note(f"while running sweep row {_describe(rows[i][1])}")
                raise
            on_done(i, summary)
        return
    futures = {}

    def finish(fut):
        i = futures.pop(fut)
        try:
            summary = fut.result()
        except Exception as exc:
            exc.add_note(f"while running sweep row {_describe(rows[i][1])}")
            raise
        on_done(i, summary)

    try:
        for i in _cost_order(todo, rows):
            fut = executor.submit(_run_row, rows[i][1])
            futures[fut] = i
            # An executor that runs the call inside submit() (in process)
            # hands back a finished future: report it before the next row
            # runs, so it is checkpointed and counted as it finishes.
            if fut.done():
                finish(fut)
        for fut in cf.as_completed(list(futures)):
            finish(fut)
    finally:
        for fut in futures:
            fut.cancel()


def _describe(kwargs):
    return ", ".join(f"{k}={_label(k, v) if k in ('costs', 'workload') else v!r}"
                     for k, v in kwargs.items())


def _prepare(cpus, protocol, workload, costs, sockets, seeds, progress, executor,
             checkpoint, options):
    _check_callable_args(progress, executor, checkpoint)
    columns, rows = _plan(cpus, protocol, workload, costs, sockets, seeds, options)
    _validate_rows(rows)
    return columns, rows


def check_sweep(cpus=(2, 4, 8), protocol="mailbox", workload="uniform", costs="default",
                sockets=1, seeds=(0,), progress=None, executor=None, checkpoint=None,
                **options):
    """Validate sweep arguments without running anything; return the row count.

    Takes the same arguments as :func:`sweep` and raises the same
    ValueError/TypeError it would (e.g. to check a form before a long run).
    """
    _, rows = _prepare(cpus, protocol, workload, costs, sockets, seeds, progress,
                       executor, checkpoint, options)
    return len(rows)


def sweep(cpus=(2, 4, 8), protocol="mailbox", workload="uniform", costs="default",
          sockets=1, seeds=(0,), progress=None, executor=None, checkpoint=None,
          **options):
    """Run ``simulate`` for every combination of the arguments; one row per run.

    Every argument may be a scalar or a list (tuple, range, 1-D array); the
    sweep is their Cartesian product, in the order of :data:`SWEEP_ORDER`
    (``protocol`` outermost, then ``workload``, ``costs``, ``sockets``, each
    option in keyword order, ``cpus``, and ``seeds`` innermost).
    ``options`` are simulate's options (machine knobs and the workload's own
    parameters); wrap a sequence-valued option to pass it as one value
    (``offline=[[3]]``).

    Parameters
    ----------
    progress : callable(done, total) or None
        Called after each finished row, and once at the start with the rows
        reused from ``checkpoint`` if there are any.  If it raises, the sweep
        stops and the exception propagates; finished rows stay in the
        checkpoint.
    executor : concurrent.futures.Executor or None
        Where to run rows (a process pool, ``dask.distributed``'s
        ``Client.get_executor()``, ...).  It is not shut down.  ``None``: a
        process pool of ``os.cpu_count()`` workers, or in process when at most
        :data:`INLINE_MAX_ROWS` rows need running; each protocol's smallest
        row runs in process first, so the kernels are compiled (or loaded from
        numba's cache) once, not once per worker.
    checkpoint : path or None
        JSON-lines file; each finished row is appended as it completes and
        rows already in it (same configuration, costs compared by value) are
        not run again.  A line that is not a valid record (cut short, not
        UTF-8, a summary without every key of ``Result.summary()`` or with a
        value of the wrong type), and a row with two records that disagree,
        run again.  A path that cannot be written (a directory, no
        permission) is refused before any run.

    Returns
    -------
    SweepResult
        Structured array with columns ``protocol, workload, costs, sockets``,
        each option given (swept or not), ``cpus, seed``, then every numeric key of
        ``Result.summary()`` (in its order) and ``outcome``.  Integer metrics
        are int64, others float64 (NaN where a row lacks the key).  A summary
        key that is also an option's name (``accesses``) is renamed
        ``<key>_measured``.

    Raises
    ------
    ValueError, TypeError
        Before any run, for any bad value, naming the parameter.
    """
    columns, rows = _prepare(cpus, protocol, workload, costs, sockets, seeds,
                             progress, executor, checkpoint, options)

    keys = [_row_key(kwargs) for _, kwargs in rows]
    summaries = [None] * len(rows)
    restored = _load_checkpoint(checkpoint, set(keys))
    for i, key in enumerate(keys):
        if key in restored:
            summaries[i] = restored[key]
    todo = [i for i, s in enumerate(summaries) if s is None]
    total = len(rows)
    done_count = total - len(todo)
    if progress is not None and done_count:
        progress(done_count, total)

    writer = _CheckpointWriter(checkpoint)

    def on_done(i, summary):
        nonlocal done_count
        summaries[i] = summary
        writer.write(keys[i], _jsonable(dict(zip(columns, rows[i][0]))), summary)
        done_count += 1
        if progress is not None:
            progress(done_count, total)

    own_pool = None
    finished = False
    try:
        if executor is None:
            if len(todo) > INLINE_MAX_ROWS:
                warm = set(_warm_up_rows(todo, rows))
                _execute(sorted(warm), rows, keys, None, on_done)
                todo = [i for i in todo if i not in warm]
            own_pool = executor = _default_executor(len(todo))
        _execute(todo, rows, keys, executor, on_done)
        finished = True
    finally:
        writer.close()
        if own_pool is not None:
            # After a success every run is done: wait for the workers to exit
            # (not waiting left their threads writing to closed pipes at
            # interpreter exit).  After an error or Ctrl-C, runs already
            # started finish in the background and queued ones are dropped.
            own_pool.shutdown(wait=finished, cancel_futures=True)
    return _build_table(columns, [r[0] for r in rows], summaries)


# ------------------------------------------------------------------ table ----

def _column_dtype(values):
    """int64 / float64 / bool / text dtype that holds every value."""
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return np.dtype(np.bool_) if len(present) == len(values) else np.dtype(np.float64)
    if present and all(isinstance(v, numbers.Integral) and not isinstance(v, bool)
                       for v in present):
        return np.dtype(np.int64) if len(present) == len(values) else np.dtype(np.float64)
    if present and all(isinstance(v, numbers.Real) for v in present):
        return np.dtype(np.float64)
    width = max([len(_text(v)) for v in values] + [1])
    return np.dtype(f"U{width}")


def _text(value):
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def _cell(value, dtype):
    if dtype.kind == "U":
        return _text(value)
    if value is None:
        return math.nan
    return value


def _is_metric(value):
    return isinstance(value, numbers.Real)   # bools count: they are numeric flags


def _metric_column(key, columns):
    """Column name of summary key ``key``: its own name, unless a config column
    already has it (sweeping the workload's ``accesses`` option and the
    summary's ``accesses`` count): then ``<key>_measured``."""
    return f"{key}{_CLASH_SUFFIX}" if key in columns else key


def _build_table(columns, config_values, summaries):
    metric_names = []
    for summary in summaries:
        for k, v in summary.items():
            if k != _OUTCOME_KEY and k not in metric_names and (v is None or _is_metric(v)):
                metric_names.append(k)
    # A key that is text or a list in any row is not a metric.
    metric_names = [k for k in metric_names
                    if all(s.get(k) is None or _is_metric(s.get(k)) for s in summaries)]
    names = (list(columns) + [_metric_column(k, columns) for k in metric_names]
             + [_OUTCOME_KEY])
    cols = [[row[j] for row in config_values] for j in range(len(columns))]
    cols += [[s.get(k) for s in summaries] for k in metric_names]
    cols += [[s.get(_OUTCOME_KEY) for s in summaries]]
    dtypes = [_column_dtype(c) for c in cols]
    table = np.empty(len(summaries), dtype=list(zip(names, dtypes)))
    for name, dtype, col in zip(names, dtypes, cols):
        table[name] = [_cell(v, dtype) for v in col]
    return table.view(SweepResult)


def format_table(table, columns=None, float_digits=4):
    """Plain-text table of a sweep (or any structured array) for a terminal."""
    arr = np.asarray(table)
    names = list(columns) if columns is not None else list(arr.dtype.names)
    unknown = [n for n in names if n not in arr.dtype.names]
    if unknown:
        raise ValueError(f"columns {unknown} are not in the table; it has "
                         f"{list(arr.dtype.names)}")

    def fmt(v):
        if isinstance(v, (float, np.floating)):
            return "nan" if math.isnan(v) else f"{v:.{float_digits}g}"
        return str(v)

    cells = [[fmt(row[n]) for n in names] for row in arr]
    widths = [max([len(n)] + [len(r[j]) for r in cells]) for j, n in enumerate(names)]
    numeric = [arr.dtype[n].kind in "biuf" for n in names]

    def line(parts):
        return "  ".join(p.rjust(w) if num else p.ljust(w)
                         for p, w, num in zip(parts, widths, numeric)).rstrip()

    out = [line(names), line(["-" * w for w in widths])]
    out += [line(r) for r in cells]
    return "\n".join(out)


# -------------------------------------------------------------------- CLI ----

# Columns the CLI prints by default after the config columns (all are in --json/--csv).
CLI_METRICS = ("shootdowns", "ipis", "latency_us_median", "latency_us_p99",
               "stale_window_cycles_mean", "violations", "timeouts", "outcome")


def _one_line(message):
    from tlbwidgets.cli import one_line
    return one_line(message)


class _UsageError(Exception):
    """A bad command line: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise _UsageError(message)


class _InlineExecutor(cf.Executor):
    """Runs each submitted call at once, in this process (``--workers 1``)."""

    def submit(self, fn, /, *args, **kwargs):
        future = cf.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:          # delivered through the future, like a pool
            future.set_exception(exc)
        # (KeyboardInterrupt is not: Ctrl-C stops the sweep at once)
        return future


def _parse_scalar(text):
    """An option value from the command line: JSON (1, 2.5, true, [3, 5]) or text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _parse_option(text):
    """``NAME=V1,V2`` -> (name, value or list of values).

    A value starting with ``[`` is one JSON list value (``offline=[3,5]``)."""
    name, sep, raw = text.partition("=")
    if not sep or not name.isidentifier():
        raise _UsageError(f"--option {text!r}: expected NAME=VALUE or NAME=V1,V2,...")
    if raw.startswith("["):
        return name, [_parse_scalar(raw)]
    values = [_parse_scalar(v) for v in raw.split(",")]
    return name, values if len(values) > 1 else values[0]


def _build_parser():
    p = _Parser(prog="tlbwidgets sweep",
                description="Run a parameter sweep of TLB shootdown simulations "
                            "(the Cartesian product of every list given).")
    p.add_argument("--cpus", type=int, nargs="+", default=[2, 4, 8], help="CPU counts")
    p.add_argument("--protocol", nargs="+", default=["mailbox"], help="protocol names")
    p.add_argument("--workload", nargs="+", default=["uniform"], help="workload names")
    p.add_argument("--costs", nargs="+", default=["default"], help="cost preset names")
    p.add_argument("--sockets", type=int, nargs="+", default=[1], help="socket counts")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="random seeds")
    p.add_argument("-o", "--option", action="append", default=[], metavar="NAME=V[,V...]",
                   help="simulate option (machine knob or workload parameter); "
                        "a comma-separated list is swept; repeatable")
    p.add_argument("--json", metavar="PATH", help="write all columns as a JSON list of rows")
    p.add_argument("--csv", metavar="PATH", help="write all columns as CSV")
    p.add_argument("--checkpoint", metavar="PATH",
                   help="JSON-lines file: finished rows are appended; a rerun resumes")
    p.add_argument("--workers", type=int, default=None,
                   help="worker processes (default: one per core; 1: run in this process)")
    p.add_argument("--columns", nargs="+", default=None,
                   help=f"metric columns to print (default: {' '.join(CLI_METRICS)})")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    return p


def _write_outputs(table, json_path, csv_path):
    arr = np.asarray(table)
    names = arr.dtype.names
    records = [{n: _jsonable(row[n].item()) for n in names} for row in arr]
    # NaN (e.g. a median with no shootdowns) is not JSON: write null / an empty cell.
    records = [{n: None if isinstance(v, float) and math.isnan(v) else v
                for n, v in r.items()} for r in records]
    if json_path:
        with open(json_path, "w", encoding="utf-8") as fh:
            json.dump(records, fh, indent=1)
            fh.write("\n")
    if csv_path:
        with open(csv_path, "w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=names)
            writer.writeheader()
            writer.writerows(records)


def main_sweep(argv=None):
    """``python -m tlbwidgets sweep ...``; returns the exit status.

    0 on success; 2 for a bad command line or a bad value (one line on
    stderr, no traceback); 130 when interrupted (finished rows stay in
    ``--checkpoint``).  The table goes to stdout, the progress bar to stderr.
    """
    prog = "tlbwidgets sweep"
    try:
        args = _build_parser().parse_args(argv)
        options = dict(_parse_option(t) for t in args.option)
        if args.workers is not None and args.workers < 1:
            raise _UsageError(f"--workers must be at least 1, got {args.workers}")
    except _UsageError as exc:
        print(f"{prog}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except SystemExit as exc:          # --help
        return exc.code if isinstance(exc.code, int) else 0

    sweep_args = dict(cpus=args.cpus, protocol=args.protocol, workload=args.workload,
                      costs=args.costs, sockets=args.sockets, seeds=args.seeds,
                      checkpoint=args.checkpoint, **options)
    try:
        check_sweep(**sweep_args)
        # Before the sweep, not after it: a bad output path would lose every row.
        for flag, path in (("--json", args.json), ("--csv", args.csv)):
            if path:
                check_output_path(flag, path)
        if args.columns:
            unknown = [c for c in args.columns if c in sweep_args]
            if unknown:
                raise ValueError(f"--columns {unknown}: config columns are always shown")
    except (ValueError, TypeError) as exc:
        print(f"{prog}: error: {_one_line(exc)}", file=sys.stderr)
        return 2

    executor = None
    if args.workers == 1:
        executor = _InlineExecutor()
    elif args.workers is not None:
        executor = cf.ProcessPoolExecutor(max_workers=args.workers)
    bar = None

    # The first protocol's engine compiles before the first row is done:
    # one line says so (CliCompileLine), then the bar takes over the stream.
    compiling = (contextlib.nullcontext() if args.no_progress
                 else CliCompileLine(args.protocol))

    def progress(done, total):
        nonlocal bar
        if done == 0 and bar is None:
            return
        if not args.no_progress:
            compiling.end()
        if bar is None:
            try:
                from tqdm import tqdm
            except ImportError:        # the bar is a convenience; the sweep still runs
                tqdm = None
            bar = tqdm(total=total, file=sys.stderr, unit="run", desc="sweep",
                       disable=args.no_progress or tqdm is None) if tqdm else False
        if bar:
            bar.update(done - bar.n)

    finished = False
    try:
        with compiling:
            table = sweep(progress=progress, executor=executor, **sweep_args)
        names = table.dtype.names
        columns = list(names[:names.index("seed") + 1])     # the config columns
        missing = [c for c in args.columns or () if c not in table.dtype.names]
        if missing:
            print(f"{prog}: warning: no column(s) {missing}; the table has "
                  f"{list(table.dtype.names)}", file=sys.stderr)
        columns += [c for c in (args.columns or CLI_METRICS)
                    if c not in columns and c in table.dtype.names]
        text = format_table(table, columns)
        finished = True
    except KeyboardInterrupt:
        kept = f"; finished rows are in {args.checkpoint}" if args.checkpoint else ""
        print(f"{prog}: interrupted{kept}", file=sys.stderr)
        return 130
    finally:
        if bar:
            bar.close()
        if executor is not None:
            # wait for idle workers after a success (see sweep()); after an
            # interruption leave the started runs behind
            executor.shutdown(wait=finished, cancel_futures=True)
    print(text)
    try:
        _write_outputs(table, args.json, args.csv)
    except OSError as exc:          # the path went away during the sweep
        print(f"{prog}: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    return 0
