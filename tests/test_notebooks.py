"""The course notebooks run top to bottom in a fresh kernel, echo their seed and
configuration, and keep their answers hidden; the course helpers grade against
the simulator.

Each notebook is executed once (module-scoped fixture) with nbclient, the way
CI and a learner's "Restart and run all" would run it.
"""

import json
import re
import time
from pathlib import Path

import pytest

import tlbwidgets as tw
from tlbwidgets import course

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "notebooks"
COURSE_NOTEBOOKS = [nb.filename for nb in course.COURSE]
CELL_TIMEOUT_S = 300        # the first run may compile the numba kernels
WARM_NOTEBOOK_LIMIT_S = 60  # the course promise: under a minute once compiled
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


@pytest.fixture(scope="module")
def warm_engine():
    """Compile (or load from numba's cache) every simulated protocol's kernels
    here first, so the time limit below measures the notebook, not the JIT."""
    for protocol in tw.protocols.IMPLEMENTED:
        tw.simulate(cpus=2, protocol=protocol, workload="single")


@pytest.fixture(scope="module", params=COURSE_NOTEBOOKS)
def executed(request, warm_engine):
    """(name, executed notebook, wall seconds), each notebook run once in a fresh kernel."""
    name = request.param
    nb = nbformat.read(NOTEBOOKS_DIR / name, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", allow_errors=False,
        resources={"metadata": {"path": str(NOTEBOOKS_DIR)}})
    start = time.perf_counter()
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as exc:
        pytest.fail(f"{name}: a cell raised\n{exc}")
    return name, nb, time.perf_counter() - start


def _code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def _stream_text(nb):
    return "".join(o.get("text", "") for c in _code_cells(nb) for o in c.get("outputs", [])
                   if o.output_type == "stream")


def test_every_course_notebook_exists():
    for name in COURSE_NOTEBOOKS:
        assert (NOTEBOOKS_DIR / name).is_file(), name


def test_notebook_runs_top_to_bottom_in_a_fresh_kernel_within_a_minute(executed):
    name, nb, seconds = executed
    errors = [o for c in _code_cells(nb) for o in c.get("outputs", [])
              if o.output_type == "error"]
    assert not errors, f"{name}: {errors[0]['ename']}: {errors[0]['evalue']}"
    assert all(c.get("execution_count") for c in _code_cells(nb)), f"{name}: a cell did not run"
    assert seconds < WARM_NOTEBOOK_LIMIT_S, f"{name} took {seconds:.1f} s"


def test_notebook_is_seeded_and_echoes_its_configuration(executed):
    name, nb, _ = executed
    source = "\n".join(c.source for c in _code_cells(nb))
    assert "SEED = " in source and "seed=SEED" in source, f"{name} does not seed its runs"
    echoed = _stream_text(nb)
    assert "| seed " in echoed, f"{name} does not print its seed"
    # course.echo prints "<label>: tw.simulate(...)", a call that reproduces the run
    assert re.search(r"^[\w ]+: tw\.(simulate|sweep)\(.*seed", echoed, re.M), \
        f"{name} does not echo the configuration of its runs"


def test_notebook_asks_at_least_one_question_with_a_hidden_answer(executed):
    name, nb, _ = executed
    questions = [c for c in _code_cells(nb) if "question" in c.metadata.get("tags", [])]
    assert questions, f"{name} has no question cell"
    for cell in questions:
        # the answer text is in the call, so the call's source is collapsed ...
        assert cell.metadata.get("jupyter", {}).get("source_hidden"), cell.source[:60]
    # ... and what the learner sees before asking is a widget whose answer is empty
    shown = [o for c in questions for o in c.get("outputs", []) if WIDGET_MIME in o.get("data", {})]
    assert shown, f"{name}: no question rendered as a widget"
    for o in shown:
        plain = o["data"].get("text/plain", "")
        assert "Answer:" not in plain and "Correct" not in plain, plain[:200]


def test_index_links_every_notebook_to_binder_and_to_its_app():
    nb = nbformat.read(NOTEBOOKS_DIR / "00_index.ipynb", as_version=4)
    text = "\n".join(c.source for c in nb.cells)
    badge = ("https://mybinder.org/v2/gh/tlbwidgets/tlbwidgets/main"
             "?urlpath=lab/tree/notebooks/00_index.ipynb")
    assert badge in text and "badge_logo.svg" in text
    for name in COURSE_NOTEBOOKS[1:]:
        assert f"({name})" in text, f"index does not link {name}"
        assert f"voila/render/notebooks/{name}" in text, f"no Binder app link for {name}"
        # the server `python -m tlbwidgets course` starts serves the course folder at its root
        assert f"(/{course.app_url(name)})" in text, f"no local app link for {name}"


def test_no_course_notebook_uses_markdown_image_syntax():
    # Voila, as a Jupyter server extension (the `course` server), inlines markdown images
    # through a synchronous call to an async contents manager: the render fails with
    # "'coroutine' object is not subscriptable" and the page never finishes. <img> is safe.
    for name in COURSE_NOTEBOOKS:
        nb = nbformat.read(NOTEBOOKS_DIR / name, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                assert not re.search(r"!\[[^\]]*\]\(", cell.source), (
                    f"{name}: write images as <img src=...>, not ![...](...)")


def test_notebooks_are_stored_without_outputs():
    for name in COURSE_NOTEBOOKS:
        nb = json.loads((NOTEBOOKS_DIR / name).read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert not cell["outputs"] and cell["execution_count"] is None, name


# ---- the helpers -------------------------------------------------------------------

def test_check_number_grades_against_the_simulator_and_hints_direction():
    truth = int(tw.simulate(cpus=4, workload="single").latencies_cycles()[0])
    q = course.check_number("latency?", simulate=dict(cpus=4, workload="single"),
                            metric="latency_cycles_median", rel_tol=0)
    assert q._results is None                  # nothing simulated before the learner asks
    assert q.feedback.value == ""
    assert not q.grade(str(truth + 1000)) and "too high" in q.feedback.value
    assert str(truth) not in q.feedback.value.replace(",", "")
    assert not q.grade(str(truth - 1000)) and "too low" in q.feedback.value
    assert q.grade(f"{truth:,}") and q.solved and q.attempts == 3
    q.show_answer()
    assert f"{truth:,}" in q.feedback.value and "tw.simulate(" in q.feedback.value


def test_check_number_rejects_text_and_bad_tolerances():
    q = course.check_number("x", simulate=dict(cpus=2, workload="single"),
                            metric="ipis")
    assert not q.grade("four") and q.attempts == 0 and "Type a number" in q.feedback.value
    with pytest.raises(ValueError, match="rel_tol"):
        course.check_number("x", simulate=dict(cpus=2), metric="ipis", rel_tol=-1)
    with pytest.raises(ValueError, match="cpus"):
        course.check_number("x", simulate=dict(cpus=0), metric="ipis")
    with pytest.raises(TypeError, match="simulate"):
        course.check_number("x", simulate="cpus=2", metric="ipis")


def test_check_choice_uses_the_simulators_decision():
    runs = [dict(cpus=c, workload="single") for c in (2, 8)]
    q = course.check_choice("which is slower?", ["2 CPUs", "8 CPUs"], simulate=runs,
                            decide=lambda rs: "8 CPUs" if rs[1].latencies_cycles()[0]
                            > rs[0].latencies_cycles()[0] else "2 CPUs")
    assert not q.grade(None) and q.attempts == 0
    assert not q.grade("2 CPUs")
    assert q.grade("8 CPUs")
    with pytest.raises(ValueError, match="picked"):
        q.grade("16 CPUs")


def test_reveal_keeps_the_answer_out_of_widget_state_until_asked():
    r = course.reveal("the answer is 42")
    assert not r.shown and "42" not in r.answer_html.value
    r.toggle()
    assert r.shown and "42" in r.answer_html.value
    r.toggle()
    assert not r.shown
    with pytest.raises(ValueError, match="answer"):
        course.reveal("  ")


def test_echo_line_reproduces_a_named_run():
    r = tw.simulate(cpus=4, workload="uniform", accesses=500, working_set_pages=32,
                    tlb_sets=8, seed=3)
    line = course.echo_line(r)
    assert "seed=3" in line and "tlb_sets=8" in line and "vm_pages" not in line
    again = eval(line, {"tw": tw})             # the echoed call is runnable as printed
    assert again.to_json() == r.to_json()     # same inputs, same numbers


# (notebook, a phrase of the graded question, a phrase of the cell that shows its answer)
QUESTION_BEFORE_ANSWER = [
    ("02_one_shootdown.ipynb", "check_choice(\n    \"Which target's TLB is clean",
     '"handler_start": d["handler_start"]'),
    ("05_protocol_shootout.ipynb", "which simulated protocol has the highest p99",
     'busy = shootout('),
]


@pytest.mark.parametrize("name,question,answer", QUESTION_BEFORE_ANSWER)
def test_predict_then_check_asks_before_the_answer_is_shown(name, question, answer):
    cells = [c.source for c in _code_cells(nbformat.read(NOTEBOOKS_DIR / name, as_version=4))]
    asked = [i for i, src in enumerate(cells) if question in src]
    shown = [i for i, src in enumerate(cells) if answer in src]
    assert len(asked) == 1 and len(shown) == 1, (asked, shown)
    assert asked[0] < shown[0], f"{name}: the answer is on screen before the question"


def test_echo_line_reproduces_a_custom_workload_op_by_op():
    w = tw.Workload.from_ops(cpu=[2, 0, 1, 0], kind=["access", "unmap", "idle", "access"],
                             vpn=[0, 0, 0, 0], pages=[1, 1, 0, 1], think=[50, 10, 900, 5],
                             cpus=3)
    r = tw.simulate(cpus=3, workload=w, seed=2)
    line = course.echo_line(r)
    assert "tw.Workload.from_ops(" in line and "<" not in line
    again = eval(line, {"tw": tw})
    assert again.to_json() == r.to_json()


def test_echo_line_reproduces_a_byte_range_unmap():
    w = tw.Workload.from_ops(cpu=[1, 0, 0, 1], kind=["access", "access", "unmap", "access"],
                             vpn=[0, 0, 0, 0], pages=[1, 1, 0, 1], think=[20_000, 1000, 10, 10],
                             cpus=2, byte_start=[0, 0, 100, 0], byte_len=[0, 0, 1000, 0])
    r = tw.simulate(cpus=2, workload=w)
    assert r.summary()["violations"] == 1      # the sub-page unmap flushed nothing
    line = course.echo_line(r)
    assert "byte_start=[0, 100, 0, 0], byte_len=[0, 1000, 0, 0]" in line   # CPU order
    assert eval(line, {"tw": tw}).to_json() == r.to_json()


def test_echo_line_rebuilds_a_named_workload_object():
    r = tw.simulate(cpus=4, workload=tw.workloads.single(pages=3, initiator=1), seed=0)
    line = course.echo_line(r)
    assert "pages=3" in line and "<" not in line
    assert eval(line, {"tw": tw}).to_json() == r.to_json()
    assert course.workload_code(tw.workloads.single(pages=3)).startswith(
        "tw.workloads.single(")


def test_echo_of_a_huge_custom_workload_is_not_mistaken_for_code():
    n = course.ECHO_OPS_LIMIT + 1
    w = tw.Workload.from_ops(cpu=[0] * n, kind=["access"] * n, vpn=[0] * n, pages=[1] * n,
                             think=[1] * n)
    assert course.workload_code(w).startswith("<custom workload of")


def test_available_is_polite_about_protocols_not_yet_simulated(capsys):
    for name in tw.PROTOCOLS:
        assert course.available(name) == (name in tw.protocols.IMPLEMENTED)
    out = capsys.readouterr().out
    assert all(f"'{n}' is specified" in out for n in tw.PROTOCOLS
               if n not in tw.protocols.IMPLEMENTED)
    with pytest.raises(ValueError, match="protocol"):
        course.available("mesi")


def test_binder_and_app_links_follow_the_url_patterns():
    assert course.binder_url("01_tlb_basics.ipynb") == (
        "https://mybinder.org/v2/gh/tlbwidgets/tlbwidgets/main"
        "?urlpath=lab/tree/notebooks/01_tlb_basics.ipynb")
    assert course.binder_url("01_tlb_basics.ipynb", app=True).endswith(
        "?urlpath=voila/render/notebooks/01_tlb_basics.ipynb")
    assert course.app_url("04_races.ipynb") == "voila/render/04_races.ipynb"
    with pytest.raises(ValueError, match="notebook"):
        course.binder_url("../etc/passwd.ipynb")


def test_search_section_asks_for_a_prediction_before_the_search_and_hides_the_answer():
    nb = nbformat.read(NOTEBOOKS_DIR / "04_races.ipynb", as_version=4)
    src = [c.source for c in nb.cells]
    asked = [i for i, s in enumerate(src) if "**Predict, then check.**" in s]
    checked = [i for i, s in enumerate(src)
               if 'for protocol in ("mailbox", "mailbox_fixed")' in s and "search_races" in s]
    answered = [i for i, s in enumerate(src) if "course.reveal(" in s and "exhausted" in s]
    assert len(asked) == len(checked) == len(answered) == 1, (asked, checked, answered)
    assert asked[0] < checked[0] < answered[0]
    assert nb.cells[asked[0]].cell_type == "markdown"
    assert "hide-input" in nb.cells[answered[0]].metadata.get("tags", [])
