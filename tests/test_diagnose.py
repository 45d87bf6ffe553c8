"""``tw.diagnose()`` says whether the simulator is compiled and whether widgets can render,
and in a kernel shows a live widget; it compiles nothing itself."""

import json
import os
import subprocess
import sys

import importlib

import pytest

import tlbwidgets as tw

# The module, not the function tlbwidgets.widgets re-exports under the same name.
D = importlib.import_module("tlbwidgets.widgets.diagnose")


def _status_in_fresh_process(env_updates, code="print(json.dumps(simulator_status()))"):
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")} | env_updates
    program = ("import json; from tlbwidgets.widgets.diagnose import simulator_status\n"
               + code)
    out = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True,
                         text=True, timeout=120, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_simulator_is_compiled_here_and_cached_after_a_run():
    tw.simulate(cpus=2, protocol="mailbox", workload="single", seed=0)
    status = D.simulator_status()
    assert status["jit"] and status["compiled_here"] and status["cached"]
    assert status["summary"].startswith("compiled")


def test_a_new_process_with_an_empty_cache_is_told_the_first_run_compiles(tmp_path):
    status = _status_in_fresh_process({"NUMBA_CACHE_DIR": str(tmp_path)})
    assert status["jit"] and not status["compiled_here"] and not status["cached"]
    assert status["cache_dir"].startswith(str(tmp_path))
    assert "not compiled yet" in status["summary"]


def test_interpreted_engine_is_reported_as_such():
    status = _status_in_fresh_process({"NUMBA_DISABLE_JIT": "1"})
    assert not status["jit"] and "interpreted" in status["summary"]


def test_outside_a_kernel_widgets_cannot_render_and_the_report_says_so(capsys):
    info = tw.diagnose()
    out = capsys.readouterr().out
    assert info["widgets"]["kernel"] is False
    assert "simulator: " in out and "widgets can render: probably not" in out
    assert "not in a Jupyter kernel" in out


def test_in_a_kernel_diagnose_shows_a_live_widget_and_finds_the_front_ends():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import tlbwidgets as tw\ninfo = tw.diagnose()\nprint(info['widgets'])")])
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3").execute()
    outputs = nb.cells[0].outputs
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "widgets can render: yes" in text, text
    assert "'kernel': True" in text
    views = [o for o in outputs if o.output_type == "display_data"
             and "application/vnd.jupyter.widget-view+json" in o.data]
    assert len(views) == 1
