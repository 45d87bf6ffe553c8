"""scaling(): the sweep drives the progress bar and the lines match its rows."""

from concurrent.futures import Executor, Future

import numpy as np
import pytest

import tlbwidgets.widgets as W
from tlbwidgets import analysis as A
from tlbwidgets.widgets.scaling import log_ticks, parse_cpu_list


class InlineExecutor(Executor):
    """Runs each task at submit time: keeps the test in one process."""

    def submit(self, fn, *args, **kwargs):
        f = Future()
        try:
            f.set_result(fn(*args, **kwargs))
        except BaseException as exc:      # noqa: BLE001 - handed to the future
            f.set_exception(exc)
        return f


def test_parse_cpu_list():
    assert parse_cpu_list("8, 2,4 ,4") == [2, 4, 8]
    with pytest.raises(ValueError, match="'x'"):
        parse_cpu_list("2, x")
    with pytest.raises(ValueError, match="no CPU count"):
        parse_cpu_list(" , ")


def test_sweep_draws_latency_and_lost_time():
    pytest.importorskip("tlbwidgets.sweep")
    view = W.scaling(protocols=["mailbox"], cpu_counts=[2, 4], workload="uniform",
                     executor=InlineExecutor(), run=False)
    assert view.charts.layout.display == "none" and "Run sweep" in view.prompt.value
    seen = []
    view.progress.observe(lambda c: seen.append(c["new"]), names="value")
    view.run_button.click()
    assert view.status.kind == "ok", view.status.message
    assert view.charts.layout.display == "" and view.prompt.layout.display == "none"
    assert view.progress.value == view.progress.max == 2
    assert seen[-1] == 2
    rows = view.rows
    assert len(rows) == 2
    cpus, lat = A.scaling_series(rows, ["mailbox"], "latency_us_median")
    np.testing.assert_allclose(np.atleast_2d(view.latency_lines.x)[0], cpus)
    np.testing.assert_allclose(np.atleast_2d(view.latency_lines.y)[0], lat[0])
    for i, c in enumerate(cpus):
        row = rows[rows["cpus"] == c][0]
        lost = 100 * (row["handler_cycles"] + row["wait_cycles"]) / (row["sim_cycles"] * c)
        assert np.atleast_2d(view.lost_lines.y)[0][i] == pytest.approx(lost)


def test_bad_cpu_list_shows_message_and_keeps_counts():
    view = W.scaling(protocols=["mailbox"], cpu_counts=[2, 4], run=False)
    view.cpu_text.value = "2, lots"
    assert view.status.kind == "error" and "lots" in view.status.message
    assert view.cpu_counts == [2, 4]


def test_scaling_opens_with_its_sweep_drawn():
    view = W.scaling(protocols=["mailbox"], cpu_counts=[2, 3], workload="single",
                     executor=InlineExecutor())
    assert view.rows is None                # nothing runs before the view is shown
    assert view.wait(timeout=600)
    assert view.status.kind == "ok" and "swept 2 runs" in view.status.message
    assert view.rows is not None and view.charts.layout.display == ""
    np.testing.assert_allclose(np.atleast_2d(view.latency_lines.x)[0], [2, 3])


def test_log_axis_labels_never_crowd():
    assert log_ticks([2, 4, 8, 16, 32]) == [2, 4, 8, 16, 32]
    ticks = log_ticks(range(2, 65))
    assert ticks[0] == 2 and ticks[-1] == 64
    assert all(b >= 1.3 * a for a, b in zip(ticks, ticks[1:-1]))
    assert 64 >= 1.3 * ticks[-2]
    view = W.scaling(protocols=["mailbox"], cpu_counts=list(range(2, 11)), run=False)
    assert "Ctrl-click" in view.picker_hint.value


def test_a_sweep_on_several_sockets_runs_on_them():
    # sockets= is a machine option like any other: the rows are of that machine
    # (it used to be dropped silently, so every sweep ran on one socket).
    view = W.scaling(protocols=["mailbox"], cpu_counts=[4, 8], workload="single",
                     costs="intel_2socket", sockets=2, executor=InlineExecutor(), run=False)
    view.run_button.click()
    assert view.status.kind == "ok" and "on 2 sockets" in view.status.message
    assert view.rows["sockets"].tolist() == [2, 2]
    one = W.scaling(protocols=["mailbox"], cpu_counts=[4, 8], workload="single",
                    costs="intel_2socket", executor=InlineExecutor(), run=False)
    one.run_button.click()
    assert (view.rows["latency_us_median"] > one.rows["latency_us_median"]).all()


def test_cpu_counts_that_do_not_split_over_the_sockets_are_refused_with_a_message():
    view = W.scaling(protocols=["mailbox"], cpu_counts=[4, 6, 8], workload="single",
                     sockets=4, executor=InlineExecutor(), run=False)
    view.run_button.click()
    assert view.status.kind == "error"
    assert "6" in view.status.message and "sockets=4" in view.status.message
    assert view.rows is None


def test_a_sockets_value_that_is_not_a_count_shows_sweeps_message():
    view = W.scaling(protocols=["mailbox"], cpu_counts=[4, 8], workload="single",
                     sockets="2", executor=InlineExecutor(), run=False)
    view.run_button.click()
    assert view.status.kind == "error" and "sockets" in view.status.message
