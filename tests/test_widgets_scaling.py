"""scaling(): the sweep drives the progress bar and the lines match its rows."""

from concurrent.futures import Executor, Future

import numpy as np
import pytest

import tlbwidgets.widgets as W
from tlbwidgets import analysis as A
from tlbwidgets.widgets.scaling import parse_cpu_list


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
                     executor=InlineExecutor())
    seen = []
    view.progress.observe(lambda c: seen.append(c["new"]), names="value")
    view.run_button.click()
    assert view.status.kind == "ok", view.status.message
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
    view = W.scaling(protocols=["mailbox"], cpu_counts=[2, 4])
    view.cpu_text.value = "2, lots"
    assert view.status.kind == "error" and "lots" in view.status.message
    assert view.cpu_counts == [2, 4]
