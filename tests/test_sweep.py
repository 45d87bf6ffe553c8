"""Sweeps: product order, agreement with simulate(), validation, parallel
executors (process pool, Dask), checkpoint/resume and the CLI."""

import concurrent.futures as cf
import itertools
import json
import math
import sys

import numpy as np
import pytest

import tlbwidgets as tw
from tlbwidgets.sweep import sweep, check_sweep, main_sweep, to_frame, _InlineExecutor

# Short runs: few CPUs, few accesses; each test still exercises the real engine.
FAST = dict(workload="uniform", accesses=200)
CONFIG_COLUMNS = ("protocol", "workload", "costs", "sockets", "cpus", "seed")


def runnable_protocols():
    """Protocols the engine accepts today (others land later)."""
    out = []
    for p in tw.PROTOCOLS:
        try:
            check_sweep(cpus=2, protocol=p, **FAST)
        except (ValueError, NotImplementedError):
            continue
        out.append(p)
    return out


def same_table(a, b):
    """Equal dtypes and values, NaN equal to NaN."""
    assert a.dtype == b.dtype
    for name in a.dtype.names:
        if a.dtype[name].kind == "f":
            np.testing.assert_array_equal(a[name], b[name])   # treats NaN == NaN
        else:
            assert list(a[name]) == list(b[name]), name
    return True


def assert_row_matches_simulate(row, **kwargs):
    """A sweep row holds exactly what simulate() reports for that config."""
    summary = tw.simulate(**kwargs).summary()
    assert row["outcome"] == summary["outcome"]
    for key, value in summary.items():
        if key == "outcome" or isinstance(value, (str, list, tuple, dict)) or value is None:
            continue
        column = f"{key}_measured" if f"{key}_measured" in row.dtype.names else key
        got = row[column]
        if isinstance(value, float) and math.isnan(value):
            assert math.isnan(got), key
        else:
            assert got == value, (key, got, value)


# ------------------------------------------------------------------ shape ----

def test_rows_are_the_product_in_documented_order_and_match_simulate():
    table = sweep(cpus=[4, 2], seeds=[1, 0], accesses=[100, 200], workload="uniform")
    assert len(table) == 2 * 2 * 2
    names = table.dtype.names
    assert names[:7] == ("protocol", "workload", "costs", "sockets", "accesses", "cpus", "seed")
    # The swept option keeps its name; the summary count of the same name is renamed.
    assert "accesses_measured" in names
    # protocol .. options .. cpus .. seed (innermost); values in the order given.
    expected = list(itertools.product([100, 200], [4, 2], [1, 0]))
    got = [(int(r["accesses"]), int(r["cpus"]), int(r["seed"])) for r in table]
    assert got == expected
    for row in table:
        assert_row_matches_simulate(row, cpus=int(row["cpus"]), seed=int(row["seed"]),
                                    accesses=int(row["accesses"]), workload="uniform")


def test_every_numeric_summary_key_is_a_column():
    table = sweep(cpus=2, seeds=0, **FAST)
    summary = tw.simulate(cpus=2, seed=0, **FAST).summary()
    numeric = [k for k, v in summary.items()
               if k != "outcome" and isinstance(v, (int, float, np.number))]
    assert numeric, "summary() has no numeric keys?"
    for key in numeric:
        assert key in table.dtype.names
    assert "outcome" in table.dtype.names
    assert table.dtype["shootdowns"] == np.int64


def test_an_option_given_once_is_still_a_column():
    table = sweep(cpus=[2, 3], workload="uniform", accesses=200, unmap_pages=2)
    assert table.dtype.names[:8] == ("protocol", "workload", "costs", "sockets", "accesses",
                                     "unmap_pages", "cpus", "seed")
    assert list(table["accesses"]) == [200, 200]
    assert list(table["accesses_measured"]) == [
        tw.simulate(cpus=n, workload="uniform", accesses=200, unmap_pages=2).summary()["accesses"]
        for n in (2, 3)]


def test_protocol_is_the_outermost_axis():
    protocols = runnable_protocols()
    if len(protocols) < 2:
        pytest.skip(f"only {protocols} run in this engine so far")
    protocols = protocols[:2][::-1]
    table = sweep(cpus=[2, 4], protocol=protocols, seeds=[0], **FAST)
    assert list(table["protocol"]) == [protocols[0]] * 2 + [protocols[1]] * 2
    assert list(table["cpus"]) == [2, 4, 2, 4]


def test_lists_are_swept_and_a_wrapped_list_is_one_value():
    assert check_sweep(cpus=4, accesses=[100, 200], workload="uniform") == 2
    assert check_sweep(cpus=np.array([2, 4]), seeds=range(3), **FAST) == 6
    # `offline` takes a list of CPUs: wrap it to pass one list, not sweep it.
    assert check_sweep(cpus=4, offline=[[1, 2]], **FAST) == 1
    assert check_sweep(cpus=4, offline=[[1], [1, 2]], **FAST) == 2



def test_apic_mode_is_swept_as_a_text_column():
    table = sweep(cpus=[40], protocol="linux", workload="single",
                  apic_mode=["x2apic_cluster", "physical"])
    assert list(table["apic_mode"]) == ["x2apic_cluster", "physical"]
    assert table["ipis"].tolist() == [39, 39]
    # one ICR write per cluster is faster than one per target
    cluster, physical = table["latency_cycles_median"]
    assert cluster < physical
    with pytest.raises(ValueError, match="apic_mode='flat'.*x2apic_cluster"):
        check_sweep(cpus=4, apic_mode=["physical", "flat"], **FAST)


# ------------------------------------------------------------- validation ----

@pytest.mark.parametrize("kwargs, param", [
    (dict(protocol=["mailbox", "no_such_protocol"]), "protocol"),
    (dict(cpus=[2, 0]), "cpus"),
    (dict(cpus=[2, "eight"]), "cpus"),
    (dict(cpus=[]), "cpus"),
    (dict(cpus=[2, 2]), "cpus"),
    (dict(seeds=[0, -1]), "seed"),
    (dict(costs=["default", "no_such_preset"]), "costs"),
    (dict(workload=["uniform", "no_such_workload"]), "workload"),
    (dict(seed=3), "seed"),
    (dict(progress=42), "progress"),
    (dict(executor="pool"), "executor"),
    (dict(checkpoint=3), "checkpoint"),
])
def test_bad_values_fail_before_any_work_naming_the_parameter(tmp_path, kwargs, param):
    calls = []
    ckpt = tmp_path / "c.jsonl"
    args = dict(cpus=[2, 4], seeds=[0], checkpoint=str(ckpt), progress=lambda d, t: calls.append(d))
    args.update(FAST)
    args.update(kwargs)
    with pytest.raises((ValueError, TypeError)) as info:
        sweep(**args)
    assert param in str(info.value)
    assert calls == [] and not ckpt.exists()


def test_bad_option_fails_up_front():
    with pytest.raises((ValueError, TypeError), match="no_such_knob"):
        sweep(cpus=[2, 4], no_such_knob=[1, 2], **FAST)


# -------------------------------------------------------------- executors ----

def test_process_pool_gives_the_same_table_as_in_process():
    args = dict(cpus=[2, 3, 4], seeds=[0, 1], **FAST)
    inline = sweep(executor=_InlineExecutor(), **args)
    with cf.ProcessPoolExecutor(max_workers=2) as pool:
        pooled = sweep(executor=pool, **args)
        # The caller's executor is not shut down by sweep().
        assert pool.submit(int, "7").result() == 7
    assert same_table(inline, pooled)


def test_default_executor_and_progress_count_every_row():
    seen = []
    table = sweep(cpus=[2, 3], seeds=[0, 1], progress=lambda d, t: seen.append((d, t)), **FAST)
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert same_table(table, sweep(cpus=[2, 3], seeds=[0, 1], **FAST))


@pytest.mark.slow
def test_dask_cluster_executor_gives_the_same_table():
    distributed = pytest.importorskip("distributed")
    args = dict(cpus=[2, 4], seeds=[0, 1], **FAST)
    expected = sweep(executor=_InlineExecutor(), **args)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        got = sweep(executor=client.get_executor(), **args)
    assert same_table(expected, got)


def test_a_failing_run_names_its_configuration():
    class Boom(cf.Executor):
        def submit(self, fn, /, *args, **kwargs):
            future = cf.Future()
            future.set_exception(RuntimeError("worker died"))
            return future

    with pytest.raises(RuntimeError, match="worker died") as info:
        sweep(cpus=[2, 4], executor=Boom(), **FAST)
    assert any("cpus=" in note for note in info.value.__notes__)


# ------------------------------------------------------------- checkpoint ----

class Interrupt(Exception):
    pass


def stop_after(n_rows):
    def progress(done, total):
        if done >= n_rows:
            raise Interrupt(done)
    return progress


@pytest.mark.parametrize("pooled", [False, True])
def test_interrupted_sweep_resumes_to_the_uninterrupted_table(tmp_path, pooled):
    args = dict(cpus=[2, 3, 4], seeds=[0, 1], **FAST)
    full = sweep(executor=_InlineExecutor(), **args)
    ckpt = tmp_path / "sweep.jsonl"
    pool = cf.ProcessPoolExecutor(max_workers=2) if pooled else _InlineExecutor()
    with pool:
        with pytest.raises(Interrupt):
            sweep(checkpoint=str(ckpt), progress=stop_after(2), executor=pool, **args)
        kept = ckpt.read_text().splitlines()
        assert len(kept) >= 2          # every finished row was written before it stopped

        calls = []
        resumed = sweep(checkpoint=str(ckpt), executor=pool,
                        progress=lambda d, t: calls.append(d), **args)
    assert same_table(full, resumed)
    # The resumed sweep starts where the first stopped and runs only the rest.
    assert calls[0] == len(kept) and calls[-1] == len(full)
    assert len(calls) == 1 + len(full) - len(kept)
    assert len(ckpt.read_text().splitlines()) == len(full)


def test_complete_checkpoint_runs_nothing_and_ignores_other_sweeps(tmp_path):
    ckpt = tmp_path / "sweep.jsonl"
    first = sweep(cpus=[2, 3], checkpoint=str(ckpt), **FAST)

    class Forbidden(cf.Executor):
        def submit(self, fn, /, *args, **kwargs):
            raise AssertionError("a finished row was run again")

    again = sweep(cpus=[2, 3], checkpoint=str(ckpt), executor=Forbidden(), **FAST)
    assert same_table(first, again)
    # A bigger sweep reuses the two rows, runs the new one, keeps old lines.
    bigger = sweep(cpus=[2, 3, 4], checkpoint=str(ckpt), **FAST)
    assert same_table(bigger[:2], first)
    assert len(ckpt.read_text().splitlines()) == 3


def test_a_line_cut_short_by_a_crash_is_rerun(tmp_path):
    ckpt = tmp_path / "sweep.jsonl"
    full = sweep(cpus=[2, 3], checkpoint=str(ckpt), **FAST)
    lines = ckpt.read_text().splitlines()
    ckpt.write_text(lines[0] + "\n" + lines[1][: len(lines[1]) // 2])   # no final newline
    resumed = sweep(cpus=[2, 3], checkpoint=str(ckpt), **FAST)
    assert same_table(full, resumed)
    parsed = []
    for line in ckpt.read_text().splitlines():
        try:
            parsed.append(json.loads(line))
        except ValueError:
            pass
    assert len(parsed) == 2


def test_changed_costs_are_not_taken_from_the_checkpoint(tmp_path):
    ckpt = tmp_path / "sweep.jsonl"
    sweep(cpus=2, checkpoint=str(ckpt), **FAST)
    slow_ipi = {"preset": "default", "ipi_latency": 9000}
    table = sweep(cpus=2, costs=slow_ipi, checkpoint=str(ckpt), **FAST)
    assert_row_matches_simulate(table[0], cpus=2, seed=0, costs=slow_ipi, **FAST)
    assert len(ckpt.read_text().splitlines()) == 2


# ------------------------------------------------------------------ frame ----

def test_to_frame_has_one_column_per_field():
    pd = pytest.importorskip("pandas")
    table = sweep(cpus=[2, 3], **FAST)
    frame = table.to_frame()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == list(table.dtype.names)
    assert list(frame["cpus"]) == [2, 3]


def test_to_frame_without_pandas_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match="pip install pandas"):
        to_frame(np.zeros(1, dtype=[("cpus", np.int64)]))


# -------------------------------------------------------------------- CLI ----

def test_cli_prints_a_table_and_writes_json_and_csv(tmp_path, capsys):
    out_json, out_csv = tmp_path / "s.json", tmp_path / "s.csv"
    status = main_sweep(["--cpus", "2", "3", "--seeds", "0", "1", "--workers", "1",
                         "--option", "accesses=200", "--json", str(out_json),
                         "--csv", str(out_csv)])
    assert status == 0
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert lines[0].split()[:7] == ["protocol", "workload", "costs", "sockets", "accesses",
                                    "cpus", "seed"]
    assert all(line.split()[4] == "200" for line in lines[2:])    # the option as given
    assert len(lines) == 2 + 4
    rows = json.loads(out_json.read_text())
    assert [(r["cpus"], r["seed"]) for r in rows] == [(2, 0), (2, 1), (3, 0), (3, 1)]
    assert len(out_csv.read_text().splitlines()) == 1 + 4
    table = sweep(cpus=[2, 3], seeds=[0, 1], **FAST)
    assert [r["shootdowns"] for r in rows] == list(table["shootdowns"])


@pytest.mark.parametrize("argv", [
    ["--cpus", "two"],
    ["--protocol", "no_such_protocol"],
    ["--cpus", "0"],
    ["--option", "accesses"],
    ["--workers", "0"],
    ["--no-such-flag"],
])
def test_cli_bad_arguments_exit_nonzero_with_one_line(capsys, argv):
    status = main_sweep(argv + ["--option", "accesses=50"])
    assert status != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tlbwidgets sweep: error:")
    assert "Traceback" not in err[0]


def test_a_sweep_from_a_thread_uses_forkserver_workers_and_gives_the_same_rows():
    # A kernel (or a widget's sweep thread) runs other threads: forking it can hang a
    # worker, so there the default pool starts its workers from a forkserver.
    import threading
    from tlbwidgets.sweep import _pool_context
    kw = dict(cpus=[2, 3, 4, 5, 6, 7], protocol="mailbox", workload="single", seeds=[0])
    got = {}

    def work():
        got["context"] = _pool_context()
        got["rows"] = sweep(**kw)

    t = threading.Thread(target=work)
    t.start()
    t.join(timeout=300)
    assert not t.is_alive(), "the sweep from a thread did not finish"
    assert got["context"].get_start_method() == "forkserver"
    rows = got["rows"]
    assert sorted(rows["cpus"].tolist()) == [2, 3, 4, 5, 6, 7]
    for row in rows:
        expected = tw.simulate(cpus=int(row["cpus"]), protocol="mailbox", workload="single",
                               seed=0).latencies_cycles()[0]
        assert row["latency_cycles_median"] == expected
