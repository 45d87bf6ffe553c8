"""The app/course launcher: user mistakes give one-line errors, notebooks are found, the
course works on a copy outside the package and the checkout, and the servers end with the
launcher however it ends. (No browser needed.)"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tlbwidgets import app
from tlbwidgets import course as course_helpers

from harness import FIXTURE_NOTEBOOKS_DIR, REPO_ROOT, free_port, server_env

SMOKE_NOTEBOOK = FIXTURE_NOTEBOOKS_DIR / "_smoke.ipynb"
# A server's first start imports Jupyter and its extensions: seconds, more under load.
START_TIMEOUT_S = 90.0
# How long children get to exit after the launcher is told to stop (its grace is 10 s).
END_TIMEOUT_S = 30.0


@pytest.fixture
def busy_port():
    """A loopback port held open (listening) for the duration of the test."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind((app.DEFAULT_HOST, 0))
        holder.listen(1)
        yield holder.getsockname()[1]


def test_cli_busy_port_prints_one_line_and_exits_2(busy_port):
    result = subprocess.run(
        [sys.executable, "-m", "tlbwidgets.app", str(SMOKE_NOTEBOOK), "--port", str(busy_port)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"port {busy_port}" in lines[0] and "already in use" in lines[0]
    assert "Traceback" not in result.stderr


def test_course_busy_port_prints_one_line_and_exits_2_and_copies_nothing(busy_port, capsys,
                                                                        tmp_path):
    folder = tmp_path / "course"
    status = app.course_main(["--port", str(busy_port), "--no-browser", "--dir", str(folder)])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and "already in use" in err
    assert not folder.exists()


def test_missing_voila_is_a_one_line_error(monkeypatch, capsys):
    real_find_spec = app.importlib.util.find_spec
    monkeypatch.setattr(app.importlib.util, "find_spec",
                        lambda name, *a: None if name == "voila" else real_find_spec(name, *a))
    status = app.main([str(SMOKE_NOTEBOOK), "--port", str(free_port())])
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
        app.start_voila(SMOKE_NOTEBOOK, port=port)


def test_notebooks_are_found_by_name_in_the_source_checkout():
    assert app.notebooks_dir() == REPO_ROOT / "notebooks"
    assert app.find_notebook("04_races.ipynb") == REPO_ROOT / "notebooks" / "04_races.ipynb"
    assert app.find_notebook(None).name == app.APP_NOTEBOOK


def test_course_notebooks_are_the_course_map_without_app_or_fixtures():
    names = [path.name for path in app.course_notebooks()]
    assert names[:len(course_helpers.COURSE)] == [nb.filename for nb in course_helpers.COURSE]
    assert app.APP_NOTEBOOK not in names
    assert not [name for name in names if name.startswith("_")]


def test_packaged_notebooks_are_copied_to_the_home_folder_without_overwriting(tmp_path,
                                                                              monkeypatch):
    packaged = tmp_path / "site-packages" / "tlbwidgets" / "notebooks"
    packaged.mkdir(parents=True)
    (packaged / "00_index.ipynb").write_text("packaged index")
    (packaged / "01_intro.ipynb").write_text("packaged intro")
    (packaged / "app.ipynb").write_text("the explorer app")
    # Pretend this is a wheel install: no source checkout next to the package.
    monkeypatch.setattr(app, "_SOURCE_NOTEBOOKS_DIR", tmp_path / "no-checkout")
    monkeypatch.setattr(app, "_PACKAGED_NOTEBOOKS_DIR", packaged)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    learner_dir = tmp_path / "home" / app.DEFAULT_COURSE_DIR_NAME
    learner_dir.mkdir(parents=True)
    (learner_dir / "01_intro.ipynb").write_text("learner's edits")

    root, copied = app._prepare_course_dir(None)

    assert root == learner_dir
    assert copied == [learner_dir / "00_index.ipynb"]
    assert (root / "00_index.ipynb").read_text() == "packaged index"
    assert (root / "01_intro.ipynb").read_text() == "learner's edits"
    assert not (root / "app.ipynb").exists()


@pytest.mark.parametrize("inside", ["notebooks", ".", "tlbwidgets/notebooks"])
def test_course_refuses_a_folder_inside_the_checkout_or_the_package(inside, capsys):
    folder = REPO_ROOT / inside
    existed = folder.exists()
    status = app.course_main(["--dir", str(folder), "--no-browser", "--port", str(free_port())])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and "is inside" in err and "--dir" in err
    assert folder.exists() == existed


@pytest.mark.parametrize("command, default, other", [("app", "--no-browser", "--open-browser"),
                                                     ("course", "--open-browser", "--no-browser")])
def test_help_names_the_default_browser_option(command, default, other):
    result = subprocess.run([sys.executable, "-m", "tlbwidgets", command, "--help"],
                            capture_output=True, text=True, timeout=60, check=True)
    flat = " ".join(result.stdout.split())
    assert re.search(rf"{default} [^-]*\(the default\)", flat), result.stdout
    assert not re.search(rf"{other} [^-]*\(the default\)", flat), result.stdout


def test_voila_server_serves_the_notebook_and_stops(tmp_path):
    server = app.start_voila(SMOKE_NOTEBOOK, port=free_port(), log_path=tmp_path / "voila.log")
    with server:
        server.wait_ready(90)
        with urllib.request.urlopen(server.url, timeout=90) as response:
            html = response.read().decode()
        # Voila executed the notebook: its last cell's output is a widget view.
        assert "application/vnd.jupyter.widget-view+json" in html
    assert server.process.poll() is not None


# ---- the servers end with the launcher ------------------------------------------------------

def _parents() -> dict[int, int]:
    """pid -> parent pid of every live (non-zombie) process, from /proc."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        state, ppid = text[text.rindex(")") + 2:].split()[:2]
        if state not in ("Z", "X"):
            parents[int(stat.parent.name)] = int(ppid)
    return parents


def _descendants(pid: int) -> set[int]:
    parents = _parents()
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _wait_until_ended(pids: set[int], timeout_s: float = END_TIMEOUT_S) -> set[int]:
    """The pids still alive (zombies count as ended) after waiting up to ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        alive = pids & set(_parents())
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.2)


def _wait_for_port(port: int, launcher: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not app._port_accepts(app.DEFAULT_HOST, port):
        assert launcher.poll() is None, f"launcher exited early:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"no server on port {port}:\n{log.read_text()}"
        time.sleep(0.2)


@contextlib.contextmanager
def _launched(args: list[str], tmp_path: Path, env: dict[str, str]):
    """``python -m tlbwidgets *args`` with its output in a log: yields (launcher, log, children).

    ``children`` is filled by the test while the launcher lives; whatever of it (or the
    launcher) is still running at the end is killed, so a failing test leaves no server.
    """
    log = tmp_path / "launcher.log"
    children: set[int] = set()
    with open(log, "wb") as out:
        launcher = subprocess.Popen([sys.executable, "-m", "tlbwidgets", *args], env=env,
                                    stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)
    try:
        yield launcher, log, children
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
        for pid in _wait_until_ended(children, timeout_s=0):
            os.kill(pid, signal.SIGKILL)


def _get(url: str, timeout_s: float = 120.0) -> str:
    """The whole body of ``url``, failing after ``timeout_s`` in all: a Voila page that never
    finishes keeps sending heartbeats, so a per-read timeout alone would wait forever."""
    deadline = time.monotonic() + timeout_s
    chunks = []
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        while chunk := response.read1(65536):
            chunks.append(chunk)
            assert time.monotonic() < deadline, f"{url} did not finish in {timeout_s:g} s"
    return b"".join(chunks).decode()


needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(),
                                reason="reads the process tree from /proc (Linux)")


@needs_proc
@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_app_server_and_its_kernel_end_when_the_launcher_is_killed(how, tmp_path):
    port = free_port()
    with _launched(["app", str(SMOKE_NOTEBOOK), "--port", str(port)], tmp_path,
                   server_env(tmp_path / "jupyter")) as (launcher, log, children):
        _wait_for_port(port, launcher, log)
        # A page load starts a kernel under Voila: the launcher's grandchild.
        assert "widget-view" in _get(f"http://{app.DEFAULT_HOST}:{port}/")
        children |= _descendants(launcher.pid)
        assert len(children) >= 2, f"expected Voila and a kernel, found pids {children}"

        launcher.send_signal(getattr(signal, how))
        status = launcher.wait(timeout=END_TIMEOUT_S)

        assert status == (128 + signal.SIGTERM if how == "SIGTERM" else -signal.SIGKILL)
        assert not _wait_until_ended(children), f"left running after {how}:\n{log.read_text()}"
        assert not app._port_accepts(app.DEFAULT_HOST, port)


@needs_proc
def test_course_serves_a_working_copy_whose_index_and_app_links_render_then_ends_on_sigterm(
        tmp_path, warm_engine):
    folder = tmp_path / "course"
    port = free_port()
    token = "course-test-token"
    env = server_env(tmp_path / "jupyter") | {"JUPYTER_TOKEN": token}
    base = f"http://{app.DEFAULT_HOST}:{port}"
    with _launched(["course", "--no-browser", "--port", str(port), "--dir", str(folder)],
                   tmp_path, env) as (launcher, log, children):
        _wait_for_port(port, launcher, log)
        assert sorted(path.name for path in folder.iterdir()) == [
            path.name for path in app.course_notebooks()]

        # 00_index as an app on this server: it renders to the end (no hang on its images)...
        index = _get(f"{base}/voila/render/{app.COURSE_INDEX_NOTEBOOK}?token={token}")
        assert "voila_finish" in index and "Traceback" not in index
        # ...and its app links name notebooks of this folder, at paths that render.
        links = re.findall(r'href="/voila/render/([^"?#]+)"', index)
        assert sorted(links) == sorted(nb.filename for nb in course_helpers.COURSE[1:])
        with urllib.request.urlopen(f"{base}/voila/render/{links[0]}?token={token}",
                                    timeout=120) as response:
            assert response.status == 200
        children |= _descendants(launcher.pid)

        launcher.send_signal(signal.SIGTERM)
        status = launcher.wait(timeout=END_TIMEOUT_S)

        assert status == 128 + signal.SIGTERM
        assert not _wait_until_ended(children), log.read_text()
        output = log.read_text()
        assert "Deprecat" not in output, output
        assert f"working in {folder}" in output
