"""explore(): every control redraws every view from the Result it ran."""

import gc

import numpy as np
import pytest

import tlbwidgets as tw
import tlbwidgets.widgets as W
from tlbwidgets import analysis as A
from tlbwidgets.widgets.timeline import ARROW_GAP_PX, PLOT_WIDTH_PX
from tlbwidgets.widgets._payload import marks_of, synced_bytes


@pytest.fixture(scope="module")
def ex():
    view = W.explore(cpus=16, workload="uniform")
    assert view.wait(timeout=600)
    return view


def _primary(ex):
    return ex.results[ex.controls.protocol]


def assert_cost_matches(view, results):
    r = next(iter(results.values()))
    lat = A.latency_cycles(r.shootdowns)
    assert np.atleast_2d(view.latency_hist.y)[0][:-1].sum() == len(lat)
    us = A.cycles_to_us(A.initiator_breakdown(r.shootdowns), r.costs.clock_ghz)
    np.testing.assert_allclose(view.breakdown_bars.y[:, 0], us)
    cpu, handler = A.lost_cycles_per_cpu(r.cpu_stats)
    np.testing.assert_allclose(np.atleast_2d(view.lost_lines.y)[0][:len(cpu)],
                               A.cycles_to_us(handler, r.costs.clock_ghz))
    assert str(r.summary()["shootdowns"]) in view.headline.value


def assert_staleness_matches(view, results):
    r = next(iter(results.values()))
    _, count = A.stale_count_series(r.stale_windows, r.sim_cycles, 10**7)
    line = view.count_lines[0]
    assert line.y.max() == count.max()
    assert len(line.x) <= view.max_points
    assert line.x[-1] == pytest.approx(A.cycles_to_us(r.sim_cycles, r.costs.clock_ghz))
    assert len(view.violation_marks.x) == sum(min(len(x.violations), view.max_points)
                                             for x in results.values())
    assert np.atleast_2d(view.window_hist.y)[0][:-1].sum() == len(A.window_lengths(r.stale_windows))


def assert_timeline_matches(view, results):
    r = results[view.run]
    n_cpus = len(r.cpu_stats)
    drawn = sum(len(m.x) for m in view.lane_marks.values())
    assert 0 < drawn <= view.max_segments
    ys = np.concatenate([np.ravel(m.y) for m in view.lane_marks.values() if len(m.y)])
    assert ys.min() >= 0 and ys.max() <= n_cpus - 1
    heads = sum(len(h.x) for h in view.arrow_heads.values())
    t0, t1 = view.window_cycles()
    arrows = A.ipi_arrows(r.events, t0, t1, 10**9)
    apart = A.separable_marks(arrows["sent"], (t1 - t0) * ARROW_GAP_PX / PLOT_WIDTH_PX)
    assert heads == min(int(((arrows["arrived"] >= 0) & apart).sum()), view.max_arrows)
    assert len(view.arrow_lines.x) == heads


def test_construct_draws_every_view_from_its_result(ex):
    assert ex.status.kind == "ok", ex.status.message
    r = _primary(ex)
    assert r.config["cpus"] == 16 and r.config["workload"] == "uniform"
    assert_cost_matches(ex.cost, ex.results)
    assert_staleness_matches(ex.staleness, ex.results)
    assert_timeline_matches(ex.timeline, ex.results)


CHANGES = [("cpus", 8), ("seed", 3), ("sockets", 2), ("costs", None), ("unmap_rate", 0.2),
           ("unmap_pages", 4), ("irq_off_share", 0.3), ("protocol", None)]


@pytest.mark.parametrize("name,value", CHANGES)
def test_each_control_reruns_and_redraws(ex, name, value):
    w = ex.controls.widgets[name]
    if w.disabled:
        pytest.skip(f"{name} is not a knob of workload {ex.controls.workload!r}")
    if value is None:       # a dropdown: take another runnable option
        others = [o for o in w.options if o != w.value]
        if name == "protocol":
            others = [o for o in others if o != ex.controls.compare]
        value = others[0]
    before = _primary(ex)
    old_y = ex.staleness.count_lines[0].y.copy()
    w.value = value
    if ex.status.kind == "error" and name in ("costs", "protocol"):
        pytest.skip(f"engine refused {name}={value!r}: {ex.status.message}")
    assert ex.status.kind == "ok", ex.status.message
    after = _primary(ex)
    assert after is not before
    assert after.config[name] == value
    assert_cost_matches(ex.cost, ex.results)
    assert_staleness_matches(ex.staleness, ex.results)
    assert_timeline_matches(ex.timeline, ex.results)
    if name in ("cpus", "seed", "unmap_rate", "unmap_pages"):
        assert not np.array_equal(old_y, ex.staleness.count_lines[0].y)


def test_compare_draws_two_series(ex):
    ex.controls.apply(protocol="mailbox")
    other = [p for p in ex.controls.widgets["compare"].options
             if p not in ("mailbox", W.controls.NO_COMPARE)]
    for p in other:
        ex.controls.widgets["compare"].value = p
        if ex.status.kind == "ok":
            break
    else:
        pytest.skip("no second protocol runs yet")
    assert list(ex.results) == ["mailbox", p]
    assert ex.cost.latency_hist.y.shape[0] == 2
    assert ex.staleness.count_lines[1].visible
    assert list(ex.cost.breakdown_bars.x) == ["mailbox", p]
    ex.controls.widgets["compare"].value = W.controls.NO_COMPARE
    assert not ex.staleness.count_lines[1].visible


def test_bad_combination_keeps_last_chart_and_says_why(ex):
    ex.controls.apply(cpus=16)
    ex.controls.widgets["sockets"].value = 8
    assert ex.status.kind == "ok", ex.status.message
    shown = _primary(ex)
    y = ex.staleness.count_lines[0].y.copy()
    ex.controls.widgets["cpus"].value = 12          # 8 sockets do not divide 12 CPUs
    assert ex.status.kind == "error"
    assert "cpus=12" in ex.status.message and "sockets" in ex.status.message
    assert ex.controls.cpus == 16
    assert _primary(ex) is shown
    np.testing.assert_array_equal(ex.staleness.count_lines[0].y, y)
    ex.controls.widgets["sockets"].value = 1
    ex.controls.widgets["cpus"].value = 16
    assert ex.status.kind == "ok"


def test_engine_error_keeps_last_chart_and_shows_message(ex):
    shown = _primary(ex)
    y = ex.staleness.count_lines[0].y.copy()
    ok = ex.controls.apply(irq_off_share=1.0)
    assert ok            # a fraction the controls accept; the engine refuses it
    assert ex.status.kind == "error"
    assert "irq_off_share" in ex.status.message
    assert _primary(ex) is shown
    np.testing.assert_array_equal(ex.staleness.count_lines[0].y, y)
    ex.controls.apply(irq_off_share=0.0)
    assert ex.status.kind == "ok"


def test_timeline_window_zooms_to_exact_runs(ex):
    r = ex.results[ex.timeline.run]
    end_us = ex.timeline.window.max
    ex.timeline.window.value = (0.0, end_us / 200)
    hi_us = ex.timeline.window.value[1]         # rounded to the ns a learner reads
    assert hi_us == pytest.approx(end_us / 200, abs=5e-4)
    t1 = int(np.ceil(hi_us * r.costs.clock_ghz * 1e3))
    seg = A.lane_segments(r.events, len(r.cpu_stats), r.sim_cycles, 0, t1,
                          ex.timeline.max_segments)
    drawn = sum(len(m.x) for m in ex.timeline.lane_marks.values())
    assert drawn == len(seg["cpu"])
    assert max(np.max(m.x) for m in ex.timeline.lane_marks.values() if len(m.x)) \
        <= hi_us + 1 / (r.costs.clock_ghz * 1e3)     # t1 rounds up to a cycle


def test_timeline_zooms_to_a_typed_window_exactly(ex):
    tl = ex.timeline
    r = ex.results[tl.run]
    g = r.costs.clock_ghz
    tl.window_from.value, tl.window_to.value = 1.0, 2.5
    assert tl.x_scale.min == pytest.approx(1.0) and tl.x_scale.max == pytest.approx(2.5)
    assert tl.window.value == pytest.approx((1.0, 2.5))
    xs = np.concatenate([np.ravel(m.x) for m in tl.lane_marks.values() if len(m.x)])
    assert xs.min() >= 1.0 - 1 / (g * 1e3) and xs.max() <= 2.5 + 1 / (g * 1e3)
    tl.window_from.value = 3.0                       # past 'to': refused, explained
    assert "empty" in tl.note.value and tl.x_scale.max == pytest.approx(2.5)
    tl.full_button.click()
    assert tl.window.value == pytest.approx((0.0, tl.window.max))


def test_timeline_crowded_arrows_are_counted_not_drawn(ex):
    tl = ex.timeline
    tl.zoom(0.0, tl.window.max)
    r = ex.results[tl.run]
    n_ipis = len(A.ipi_arrows(r.events, *tl.window_cycles(), 10**9)["sent"])
    drawn = sum(len(h.x) for h in tl.arrow_heads.values())
    assert drawn < n_ipis                    # 16 CPUs' broadcasts cannot all be told apart
    assert f"{n_ipis} IPIs in window, {drawn} drawn" in tl.note.value


def test_timeline_of_a_truncated_log_stops_lanes_and_shades_the_rest():
    from tlbwidgets.widgets.timeline import TimelineView
    r = tw.simulate(cpus=8, protocol="mailbox", workload="uniform", seed=0,
                    max_log_events=3_000)
    view = TimelineView()
    view.update({"mailbox": r})
    g = r.costs.clock_ghz
    log_end_us = A.cycles_to_us(r.events["time"].max(), g)
    lane_end = max(np.max(m.x) for m in view.lane_marks.values() if len(m.x))
    assert lane_end == pytest.approx(log_end_us)
    assert view.not_logged.x.min() == pytest.approx(log_end_us)
    # The window's end is the run's end rounded to a whole nanosecond (what a
    # learner reads and types back, TimelineView._set_window), then up to a
    # whole cycle.
    assert view.not_logged.x.max() == pytest.approx(A.cycles_to_us(r.sim_cycles, g),
                                                     abs=0.5e-3 + 1 / (g * 1e3))
    assert "not logged" in view.note.value


def test_every_axis_has_a_label_with_unit(ex):
    for view in ex.views.values():
        for fig in view.figures.values():
            for ax in fig.axes:
                assert ax.label, (fig.title, ax)
                if ax.orientation == "horizontal" and "protocol" not in ax.label:
                    assert "(" in ax.label, ax.label


def test_redraw_payload_under_one_megabyte(ex):
    marks = marks_of(ex.cost) + marks_of(ex.staleness) + marks_of(ex.timeline)
    assert len(marks) >= 10
    assert synced_bytes(marks) < 1_000_000
    for m in marks:
        for attr in ("x", "y"):
            assert np.size(getattr(m, attr)) <= 2 * 2 * A.DEFAULT_MAX_POINTS * 2


def test_export_buttons_write_readable_files(ex, tmp_path):
    import csv
    import json
    ex.export_bar.prefix_text.value = str(tmp_path / "run")
    ex.export_bar.server_box.value = True     # the default only offers a download
    ex.export_bar.buttons["CSV"].click()
    summary = list(csv.DictReader(open(tmp_path / "run_summary.csv")))
    assert summary[0]["run"] == ex.controls.protocol
    r = _primary(ex)
    assert int(summary[0]["shootdowns"]) == r.summary()["shootdowns"]
    rows = list(csv.reader(open(tmp_path / f"run_{ex.controls.protocol}_shootdowns.csv")))
    assert rows[0] == list(r.shootdowns.dtype.names) and len(rows) == len(r.shootdowns) + 1
    ex.export_bar.buttons["JSON"].click()
    data = json.load(open(tmp_path / "run.json"))
    assert list(data) == list(ex.results)


def test_a_rerun_takes_away_the_download_link_of_the_previous_run(ex):
    ex.export_bar.buttons["JSON"].click()
    assert "download=" in ex.export_bar.download.value
    ex.controls.widgets["seed"].value = 1        # a new run replaces the results
    assert ex.status.kind == "ok" and ex.controls.seed == 1
    assert ex.export_bar.download.value == ""
    ex.export_bar.buttons["JSON"].click()
    assert "download=" in ex.export_bar.download.value


def test_figure_export_is_wired_to_bqplot(ex, monkeypatch):
    called = []
    for fig in ex.current_figures().values():
        monkeypatch.setattr(fig, "save_png", lambda path, called=called: called.append(path))
        monkeypatch.setattr(fig, "save_svg", lambda path, called=called: called.append(path))
    ex.export_bar.buttons["PNG"].click()
    ex.export_bar.buttons["SVG"].click()
    n = len(ex.current_figures())
    assert len(called) == 2 * n
    assert sum(p.endswith(".png") for p in called) == n


def test_diagnose_reports_versions(capsys):
    import bqplot
    import ipywidgets
    info = W.diagnose()
    out = capsys.readouterr().out
    assert info["versions"]["bqplot"] == bqplot.__version__
    assert info["versions"]["ipywidgets"] == ipywidgets.__version__
    assert "jupyterlab_widgets" in out and "Error displaying widget" in out


def test_explore_freezes_what_it_built_out_of_full_collections():
    # A full collection then skips every object alive when the view was
    # built (gc.freeze), so a redraw no longer pays for traversing them.
    gc.unfreeze()
    try:
        W.explore(cpus=4)
        assert gc.get_freeze_count() > 10_000
        assert len(gc.get_objects(generation=2)) < gc.get_freeze_count() // 100
    finally:
        gc.unfreeze()


def test_cpu_slider_stops_on_useful_counts_and_any_count_set_from_code():
    from tlbwidgets.widgets.controls import ExploreControls
    c = ExploreControls(cpus=16)
    stops = c.widgets["cpus"].options
    assert {6, 17, 63, 64, 65, 2, 256} <= set(stops) and len(stops) < 40
    c.widgets["cpus"].value = 63
    assert c.cpus == 63
    c.apply(cpus=50)                       # not a stop: added so the slider can show it
    assert c.widgets["cpus"].value == 50 and 50 in c.widgets["cpus"].options


def test_explorer_lays_controls_above_and_only_the_shown_tab_holds_its_view(ex):
    assert ex.children.index(ex.controls) < ex.children.index(ex.tabs)
    ex.controls_toggle.value = False
    assert ex.controls.layout.display == "none"
    ex.controls_toggle.value = True
    for i in range(len(ex.tabs.children)):
        ex.tabs.selected_index = i
        held = [h.children for h in ex.tabs.children]
        assert [len(h) for h in held] == [int(j == i) for j in range(len(held))]
    ex.tabs.selected_index = 0
    assert ex.scaling.rows is not None      # the Scaling tab opened with a sweep drawn


def test_staleness_marks_only_shootdowns_that_can_be_told_apart_and_remarks_on_zoom():
    from tlbwidgets.widgets.staleness import MARKER_GAP_PX, PLOT_WIDTH_PX
    # Its own explorer at the defaults: the shared one holds whatever machine the
    # tests before left it on, and a zoom to 1% of a 32,000-shootdown run has
    # only crowds, which are left unmarked.
    ex = W.explore(cpus=16, workload="uniform")
    assert ex.wait(timeout=600)
    st = ex.staleness
    st.update(ex.results)
    r = _primary(ex)
    end_us = float(np.max(st.count_lines[0].x))
    n = len(r.shootdowns)
    marks = np.sort(st.shootdown_marks[0].x)
    assert len(marks) < n                        # 616 starts in 730 µs: a crowd, not a band
    assert np.all(np.diff(marks) >= end_us * MARKER_GAP_PX / PLOT_WIDTH_PX)
    assert f"{n} shootdowns in view, {len(marks)} marked" in st.marker_note.value
    starts_us = A.cycles_to_us(np.sort(r.shootdowns["start"]), r.costs.clock_ghz)
    # Zoom (what the mouse wheel does) around the shootdown nearest the middle
    # that has a neighbour-free stretch, to 1% of the run or less: narrow
    # enough that it stands apart (in a dense run, 1% of the run can still
    # be one crowd).
    gap = np.minimum(np.r_[np.inf, np.diff(starts_us)], np.r_[np.diff(starts_us), np.inf])
    i = np.flatnonzero(gap > 0)[np.argmin(np.abs(np.flatnonzero(gap > 0) - n // 2))]
    mid = starts_us[i]
    half = min(end_us / 200, 0.45 * gap[i])
    lo, hi = mid - half, mid + half
    st.x_scale.min, st.x_scale.max = lo, hi
    inside = starts_us[(starts_us >= lo) & (starts_us <= hi)]
    zoomed = np.sort(st.shootdown_marks[0].x)
    assert len(zoomed) > 0 and np.all((zoomed >= lo) & (zoomed <= hi))
    np.testing.assert_array_equal(
        zoomed, inside[A.separable_marks(inside, (hi - lo) * MARKER_GAP_PX / PLOT_WIDTH_PX)])
    assert f"{len(inside)} shootdowns in view" in st.marker_note.value
    ticks = st.count_fig.axes[0].tick_values
    assert len(ticks) >= 2 and ticks.min() >= lo and ticks.max() <= hi


def test_no_x_tick_label_stands_in_the_corner_under_the_lowest_y_label():
    from tlbwidgets.widgets._style import fit_ticks, figure, axis, X_CORNER_SHARE
    import bqplot as bq
    xs, ys = bq.LinearScale(), bq.LinearScale()
    fig = figure([bq.Lines(x=[11.0, 11.4], y=[0.0, 1.0], scales={"x": xs, "y": ys})],
                 [axis(xs, "x"), axis(ys, "y", orientation="vertical")], "t")
    fit_ticks(fig, x=[11.0, 11.4], y=[0.0, 1.0], integer_y=True)
    ticks = np.asarray(fig.axes[0].tick_values)
    assert len(ticks) >= 2 and ticks.min() >= 11.0 + X_CORNER_SHARE * 0.4   # 11 is left out
    assert list(fig.axes[1].tick_values) == [0.0, 1.0]
