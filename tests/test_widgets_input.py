"""The widgets refuse bad input with a message naming the field and what is
allowed, keep their last good chart, and never act on a refused value."""

import json

import numpy as np
import pytest

import tlbwidgets as tw
import tlbwidgets.widgets as W
from tlbwidgets import analysis as A
from tlbwidgets.widgets.controls import MAX_SEED
from tlbwidgets.widgets.export import json_text, write_json
from tlbwidgets.widgets.scaling import parse_cpu_list


@pytest.fixture(scope="module")
def ex():
    view = W.explore(cpus=4, workload="uniform")
    assert view.wait(timeout=600)
    return view


@pytest.mark.parametrize("field,value", [
    ("protocol", "nope"), ("compare", "nope"), ("workload", "nope"), ("costs", "cray")])
def test_explore_refuses_an_unknown_choice_naming_the_field_and_the_choices(field, value):
    with pytest.raises(ValueError) as info:
        W.explore(**{field: value})
    msg = str(info.value)
    assert f"{field}={value!r}" in msg and "choose one of" in msg
    options = {"protocol": tw.PROTOCOLS, "compare": tw.PROTOCOLS,
               "workload": tw.WORKLOADS, "costs": tuple(tw.COST_PRESETS)}[field]
    assert all(repr(o) in msg for o in options)


def test_a_seed_out_of_range_is_refused_and_later_changes_still_run(ex):
    shown = ex.results
    for seed in (-1, MAX_SEED + 1):
        assert not ex.controls.apply(seed=seed)
        assert ex.status.kind == "error" and f"seed={seed}" in ex.status.message
        assert ex.controls.seed == 0 and ex.results is shown
    ex.controls.apply(seed=3)
    assert ex.status.kind == "ok", ex.status.message
    assert next(iter(ex.results.values())).config["seed"] == 3


def test_the_explorer_shows_an_empty_stale_chart_when_nothing_is_stale():
    view = W.explore(cpus=4, unmap_rate=0.0)
    assert view.wait(timeout=600)
    assert view.status.kind == "ok", view.status.message
    r = next(iter(view.results.values()))
    assert r.summary()["stale_windows"] == 0
    assert np.all(np.asarray(view.staleness.count_lines[0].y) == 0)


def test_stale_count_series_without_windows_is_zero_from_start_to_end():
    r = tw.simulate(cpus=2, workload="uniform", accesses=100, unmap_rate=0.0)
    t, count = A.stale_count_series(r.stale_windows, r.sim_cycles)
    assert t.tolist() == [0, r.sim_cycles] and count.tolist() == [0, 0]


def test_after_a_refused_prefix_the_export_bar_exports_nothing(ex, tmp_path):
    bar = ex.export_bar
    bar.save_on_server = True
    try:
        bar.prefix_text.value = str(tmp_path / "good")
        assert bar.export("JSON") == ["good.json", str(tmp_path / "good.json")]
        bar.prefix_text.value = str(tmp_path / "missing_folder" / "run")
        assert "does not exist" in bar.message.value
        for kind in ("JSON", "CSV", "PNG"):
            assert bar.export(kind) == []
            assert "nothing exported" in bar.message.value
            assert bar.download.value == ""     # no link named after the old prefix
        assert sorted(p.name for p in tmp_path.iterdir()) == ["good.json"]
        bar.prefix_text.value = str(tmp_path / "again")
        assert bar.export("JSON") == ["again.json", str(tmp_path / "again.json")]
    finally:
        bar.save_on_server = False


def test_the_json_export_holds_what_its_docstring_says(ex, tmp_path):
    data = json.loads(json_text(ex.results))
    for label, r in ex.results.items():
        assert set(data[label]) == {"config", "summary"}
        assert data[label]["summary"]["shootdowns"] == r.summary()["shootdowns"]
    assert "config echo and its summary" in json_text.__doc__
    path = write_json(ex.results, str(tmp_path / "r"))
    assert json.load(open(path)) == data


def test_a_numpy_cost_in_a_result_exports_as_json(tmp_path):
    r = tw.simulate(cpus=2, workload="single", costs={"invlpg": np.int64(300)})
    data = json.load(open(write_json({"run": r}, str(tmp_path / "np"))))
    assert data["run"]["config"]["costs"]["invlpg"] == 300


def test_the_scaling_view_clears_its_error_once_the_entry_is_mended():
    view = W.scaling(protocols=["mailbox"], cpu_counts=[2, 4])
    view.cpu_text.value = "2, lots"
    assert view.status.kind == "error"
    view.cpu_text.value = "2, 8"
    assert view.status.kind != "error" and view.cpu_counts == [2, 8]


@pytest.mark.parametrize("text", ["²", "2, ４", "٣", "1e3", "0x10"])
def test_digits_int_cannot_read_are_refused_as_cpu_counts_with_a_message(text):
    with pytest.raises(ValueError, match="is not a CPU count in 2..1024"):
        parse_cpu_list(text)
    view = W.scaling(protocols=["mailbox"], cpu_counts=[2, 4])
    view.cpu_text.value = text
    assert view.status.kind == "error" and "int()" not in view.status.message
    assert view.cpu_counts == [2, 4]
