"""The app/course launcher: user mistakes give one-line errors, notebooks are found, and the
course never edits packaged notebooks in place. (No browser needed.)"""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.request

import pytest

from tlbwidgets import app

from harness import REPO_ROOT, free_port


@pytest.fixture
def busy_port():
    """A loopback port held open (listening) for the duration of the test."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind((app.DEFAULT_HOST, 0))
        holder.listen(1)
        yield holder.getsockname()[1]


def test_cli_busy_port_prints_one_line_and_exits_2(busy_port):
    result = subprocess.run(
        [sys.executable, "-m", "tlbwidgets.app", "_smoke.ipynb", "--port", str(busy_port)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"port {busy_port}" in lines[0] and "already in use" in lines[0]
    assert "Traceback" not in result.stderr


def test_course_busy_port_prints_one_line_and_exits_2(busy_port, capsys):
    status = app.course_main(["--port", str(busy_port), "--no-browser"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and "already in use" in err


def test_missing_voila_is_a_one_line_error(monkeypatch, capsys):
    real_find_spec = app.importlib.util.find_spec
    monkeypatch.setattr(app.importlib.util, "find_spec",
                        lambda name, *a: None if name == "voila" else real_find_spec(name, *a))
    status = app.main(["_smoke.ipynb", "--port", str(free_port())])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and "Voila is not installed" in err and "tlbwidgets[notebook]" in err


def test_missing_notebook_is_a_one_line_error(capsys):
    status = app.main(["no_such_notebook.ipynb", "--port", str(free_port())])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and "no_such_notebook.ipynb" in err and "not found" in err


@pytest.mark.parametrize("port, error", [(0, ValueError), (70000, ValueError),
                                         ("8866", TypeError), (True, TypeError)])
def test_bad_port_names_the_parameter(port, error):
    with pytest.raises(error, match="port"):
        app.start_voila("_smoke.ipynb", port=port)


def test_notebooks_are_found_by_name_in_the_source_checkout():
    assert app.notebooks_dir() == REPO_ROOT / "notebooks"
    assert app.find_notebook("_smoke.ipynb") == REPO_ROOT / "notebooks" / "_smoke.ipynb"
    assert app.find_notebook(None).name == app.APP_NOTEBOOK


def test_packaged_notebooks_are_copied_for_the_course_without_overwriting(tmp_path, monkeypatch):
    packaged = tmp_path / "site-packages" / "tlbwidgets" / "notebooks"
    packaged.mkdir(parents=True)
    (packaged / "00_index.ipynb").write_text("packaged index")
    (packaged / "01_intro.ipynb").write_text("packaged intro")
    # Pretend this is a wheel install: no source checkout next to the package.
    monkeypatch.setattr(app, "_SOURCE_NOTEBOOKS_DIR", tmp_path / "no-checkout")
    monkeypatch.setattr(app, "_PACKAGED_NOTEBOOKS_DIR", packaged)
    monkeypatch.chdir(tmp_path)
    learner_dir = tmp_path / app.DEFAULT_COURSE_DIR_NAME
    learner_dir.mkdir()
    (learner_dir / "01_intro.ipynb").write_text("learner's edits")

    root = app._prepare_course_dir(None)

    assert root == learner_dir
    assert (root / "00_index.ipynb").read_text() == "packaged index"
    assert (root / "01_intro.ipynb").read_text() == "learner's edits"


def test_voila_server_serves_the_notebook_and_stops(tmp_path):
    server = app.start_voila("_smoke.ipynb", port=free_port(), log_path=tmp_path / "voila.log")
    with server:
        server.wait_ready(90)
        with urllib.request.urlopen(server.url, timeout=90) as response:
            html = response.read().decode()
        # Voila executed the notebook: its last cell's output is a widget view.
        assert "application/vnd.jupyter.widget-view+json" in html
    assert server.process.poll() is not None
