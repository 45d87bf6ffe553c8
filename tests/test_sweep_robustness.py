"""Sweeps never lose a row: every row is checkpointed and reported as it
finishes, with any executor; Ctrl-C keeps what is done; only valid
checkpoint records are reused; bad output paths fail before any run."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import tlbwidgets as tw
from tlbwidgets.result import SUMMARY_TYPES
from tlbwidgets.sweep import sweep, check_sweep, main_sweep, _InlineExecutor

from inline_executor import CountingInline

FAST = dict(workload="uniform", accesses=200)


def _same(a, b):
    """Equal dtypes and values (NaN equal to NaN)."""
    assert a.dtype == b.dtype
    for name in a.dtype.names:
        np.testing.assert_array_equal(a[name], b[name])
    return True


def _lines(path):
    return path.read_bytes().splitlines() if path.exists() else []


def test_an_in_process_executor_checkpoints_and_reports_each_row_as_it_finishes(tmp_path):
    ckpt = tmp_path / "runs.jsonl"
    executor = CountingInline()
    seen = []

    def progress(done, total):
        # when row `done` is reported, it is on disk and no later row has run
        seen.append((done, len(_lines(ckpt)), executor.runs))

    sweep(cpus=[2, 3, 4], seeds=[0, 1], checkpoint=str(ckpt), executor=executor,
          progress=progress, **FAST)
    assert seen == [(i, i, i) for i in range(1, 7)]


@pytest.mark.parametrize("executor", [CountingInline, _InlineExecutor])
def test_ctrl_c_stops_an_in_process_sweep_at_once_keeping_the_finished_rows(tmp_path,
                                                                             executor):
    ckpt = tmp_path / "runs.jsonl"
    ran = []

    def progress(done, total):
        ran.append(done)
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sweep(cpus=[2, 3, 4], seeds=[0, 1], checkpoint=str(ckpt), executor=executor(),
              progress=progress, **FAST)
    assert ran == [1, 2] and len(_lines(ckpt)) == 2
    # the rerun takes the two rows from the checkpoint and runs the other four
    rerun = CountingInline()
    table = sweep(cpus=[2, 3, 4], seeds=[0, 1], checkpoint=str(ckpt), executor=rerun,
                  **FAST)
    assert rerun.runs == 4 and len(table) == 6


def test_ctrl_c_inside_a_run_of_the_cli_in_process_executor_stops_the_sweep(monkeypatch):
    S = sys.modules["tlbwidgets.sweep"]
    calls = []

    def interrupted(kwargs):
        calls.append(kwargs)
        raise KeyboardInterrupt
    monkeypatch.setattr(S, "_run_row", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sweep(cpus=[2, 3, 4], executor=_InlineExecutor(), **FAST)
    assert len(calls) == 1


def _checkpointed(tmp_path):
    ckpt = tmp_path / "runs.jsonl"
    table = sweep(cpus=[2, 3], checkpoint=str(ckpt), executor=_InlineExecutor(), **FAST)
    return ckpt, table, [json.loads(line) for line in _lines(ckpt)]


def _rerun_count(ckpt):
    executor = CountingInline()
    table = sweep(cpus=[2, 3], checkpoint=str(ckpt), executor=executor, **FAST)
    return executor.runs, table


def test_a_line_that_is_not_utf8_is_ignored_like_any_unparsable_line(tmp_path):
    ckpt, table, _ = _checkpointed(tmp_path)
    ckpt.write_bytes(b"\xff\n" + ckpt.read_bytes() + b"\xfe\xfa{\n")
    runs, again = _rerun_count(ckpt)
    assert runs == 0 and _same(again, table)


@pytest.mark.parametrize("mangle", [
    lambda s: {},                                             # every key missing
    lambda s: {**s, "violations": "lots"},                    # a count that is text
    lambda s: {**s, "violations": 1.5},                       # a count that is a float
    lambda s: {**s, "shootdowns": True},                      # a bool is not a count
    lambda s: {**s, "outcome": "finished"},                   # not an outcome
    lambda s: {**s, "latency_us_median": "fast"},
    lambda s: {k: v for k, v in s.items() if k != "sim_cycles"},
    lambda s: {**s, "extra": 1},
    lambda s: [s],
])
def test_a_record_whose_summary_breaks_the_schema_is_rerun(tmp_path, mangle):
    ckpt, table, records = _checkpointed(tmp_path)
    records[1]["summary"] = mangle(records[1]["summary"])
    ckpt.write_text("".join(json.dumps(r) + "\n" for r in records))
    runs, again = _rerun_count(ckpt)
    assert runs == 1 and _same(again, table)
    assert again.dtype["violations"].kind == "i"


def test_two_records_of_one_row_that_disagree_are_not_trusted(tmp_path):
    ckpt, table, records = _checkpointed(tmp_path)
    forged = json.loads(json.dumps(records[0]))
    forged["summary"]["violations"] = 99
    agreeing = records[1]
    ckpt.write_text("".join(json.dumps(r) + "\n"
                            for r in records + [forged, agreeing]))
    runs, again = _rerun_count(ckpt)
    assert runs == 1 and _same(again, table)


def test_the_summary_schema_is_the_summary_of_a_result():
    s = tw.simulate(cpus=2, workload="single").summary()
    assert list(s) == list(SUMMARY_TYPES)
    for key, kind in SUMMARY_TYPES.items():
        assert isinstance(s[key], kind), key


@pytest.mark.parametrize("where", ["directory", "under_a_file"])
def test_a_checkpoint_that_cannot_be_written_is_refused_before_any_run(tmp_path, where):
    (tmp_path / "plain").write_text("x")
    path = tmp_path if where == "directory" else tmp_path / "plain" / "runs.jsonl"
    executor = CountingInline()
    for call in (check_sweep, sweep):
        with pytest.raises(ValueError, match="checkpoint="):
            call(cpus=[2, 3], checkpoint=str(path), executor=executor, **FAST)
    assert executor.runs == 0


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_a_checkpoint_in_a_read_only_folder_is_refused(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(ValueError, match="not writable"):
            check_sweep(cpus=2, checkpoint=str(folder / "runs.jsonl"), **FAST)
    finally:
        folder.chmod(0o700)


@pytest.mark.parametrize("flag,where", [
    ("--json", "missing/x.json"), ("--csv", "missing/x.csv"), ("--json", ""),
    ("--csv", "plain/x.csv")])
def test_cli_output_paths_are_checked_before_the_sweep_runs(monkeypatch, capsys, tmp_path,
                                                            flag, where):
    (tmp_path / "plain").write_text("a file, not a folder")
    path = str(tmp_path / where) if where else str(tmp_path)   # "": the folder itself
    S = sys.modules["tlbwidgets.sweep"]
    monkeypatch.setattr(S, "_run_row", lambda kwargs: pytest.fail("a row ran"))
    status = main_sweep(["--cpus", "2", "--workers", "1", "--option", "accesses=50",
                         flag, path])
    assert status == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and flag in err[0] and path in err[0]


def test_a_pool_sweep_from_the_cli_exits_without_thread_noise(tmp_path):
    # shutdown(wait=False) left pool threads writing to closed pipes at exit
    # in about one successful pool sweep in five; three in a row must be clean
    for i in range(3):
        p = subprocess.run([sys.executable, "-m", "tlbwidgets", "sweep", "--cpus", "2", "3",
                            "--seeds", "0", "1", "--workers", "2", "--no-progress",
                            "--option", "accesses=100"],
                           capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, p.stderr
        assert p.stderr.strip() == "", p.stderr


@pytest.mark.parametrize("argv,word", [
    (["simulate", "--cpus", "abc"], "--cpus"),
    (["simulate", "--set"], "--set"),
    (["simulate", "--no-such-flag"], "--no-such-flag"),
    (["simulate", "--set", "think_cycles=10000000000000"], "think_cycles"),
])
def test_simulate_cli_reports_a_bad_command_line_in_one_line(capsys, argv, word):
    from tlbwidgets.cli import main
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and word in err[0], err
