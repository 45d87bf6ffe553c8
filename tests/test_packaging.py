"""The wheel and the sdist are ready to publish: `python -m build` makes both from the
checkout, `twine check --strict` accepts them, the wheel carries the course notebooks and no
test fixture, installed it copies the course to the learner's home folder and finds the app,
and the sdist carries what the test suite needs.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from tlbwidgets import app

from venvs import make_venv_over_this_environment, venv_python

REPO_ROOT = Path(__file__).resolve().parents[1]
BUILD_TIMEOUT_S = 600
# Shipped in the wheel beside the course: the explorer app that `python -m tlbwidgets app` serves.
WHEEL_EXTRA_NOTEBOOKS = {app.APP_NOTEBOOK}

pytest.importorskip("build", reason="the release check needs `build` (pip install -e '.[test]')")
pytest.importorskip("twine", reason="the release check needs `twine` (pip install -e '.[test]')")


@pytest.fixture(scope="module")
def dists(tmp_path_factory) -> dict[str, Path]:
    """{"wheel": path, "sdist": path}, built once for the module into a temporary folder."""
    out = tmp_path_factory.mktemp("dist")
    command = [sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(out)]
    # With the build backend installed (the test extra has it), build offline from this
    # environment; otherwise `build` fetches hatchling into an isolated environment.
    if importlib.util.find_spec("hatchling"):
        command.append("--no-isolation")
    result = subprocess.run([*command, str(REPO_ROOT)], capture_output=True, text=True,
                            timeout=BUILD_TIMEOUT_S, check=False)
    assert result.returncode == 0, f"python -m build failed:\n{result.stdout}\n{result.stderr}"
    wheels, sdists = list(out.glob("*.whl")), list(out.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in out.iterdir())
    return {"wheel": wheels[0], "sdist": sdists[0]}


def test_twine_check_strict_accepts_the_wheel_and_the_sdist(dists):
    result = subprocess.run([sys.executable, "-m", "twine", "check", "--strict",
                             str(dists["wheel"]), str(dists["sdist"])],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASSED") == 2, result.stdout


def test_wheel_carries_the_course_notebooks_and_the_app_and_no_fixture(dists):
    names = zipfile.ZipFile(dists["wheel"]).namelist()
    packaged = {Path(name).name for name in names if name.startswith("tlbwidgets/notebooks/")}
    course = {path.name for path in app.course_notebooks()}
    assert course and packaged == course | WHEEL_EXTRA_NOTEBOOKS, sorted(packaged)
    assert not [name for name in names if name.startswith("tests/") or "_smoke" in name]
    assert "tlbwidgets/engine/_core.py" in names


def test_sdist_carries_the_sources_the_notebooks_and_the_tests_but_no_local_state(dists):
    with tarfile.open(dists["sdist"]) as sdist:
        names = [name.split("/", 1)[1] for name in sdist.getnames() if "/" in name]
    for needed in ("pyproject.toml", "README.md", "tlbwidgets/app.py", ".ci/run",
                   "notebooks/00_index.ipynb", "tests/e2e/notebooks/_smoke.ipynb"):
        assert needed in names, f"sdist lacks {needed}"
    local_parts = {".venv", ".ci-venv", "artifacts", "__pycache__", ".ipynb_checkpoints", "dist"}
    local = [name for name in names if local_parts & set(Path(name).parts)
             or name.endswith((".nbi", ".nbc", ".pyc"))]
    assert not local, local


_PROBE = """
import json
import tlbwidgets
from tlbwidgets import app
root, copied = app._prepare_course_dir(None)
print(json.dumps({"package": tlbwidgets.__file__, "notebooks": str(app.notebooks_dir()),
                  "root": str(root), "copied": [p.name for p in copied],
                  "app": str(app.find_notebook(None))}))
"""


def test_installed_wheel_copies_the_course_to_the_home_folder_and_serves_its_own_app(
        dists, tmp_path):
    venv = tmp_path / "venv"
    make_venv_over_this_environment(venv)     # dependencies from here; tlbwidgets the wheel
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"HOME": str(home)}
    install = subprocess.run([str(venv_python(venv)), "-m", "pip", "install", "--no-deps",
                              "--no-index", str(dists["wheel"])],
                             env=env, capture_output=True, text=True, timeout=300, check=False)
    assert install.returncode == 0, install.stdout + install.stderr

    probe = subprocess.run([str(venv_python(venv)), "-c", _PROBE], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=120, check=False)
    assert probe.returncode == 0, probe.stderr
    info = json.loads(probe.stdout.strip().splitlines()[-1])

    package = Path(info["package"]).parent
    assert package.is_relative_to(venv), info
    assert Path(info["notebooks"]) == package / "notebooks"
    assert Path(info["root"]) == home / app.DEFAULT_COURSE_DIR_NAME
    assert info["copied"] == [path.name for path in app.course_notebooks()]
    assert Path(info["app"]) == package / "notebooks" / app.APP_NOTEBOOK
