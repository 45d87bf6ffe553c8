"""The Binder configuration builds what pyproject.toml promises and starts warm.

Binder (repo2docker) installs binder/requirements.txt, runs binder/postBuild once at image
build time, and runs every session through binder/start. These tests check the pins against
pyproject's ranges, the scripts' syntax and modes, and, in a fresh virtual environment,
that postBuild installs the package and fills the numba cache that a session started through
binder/start then loads without compiling.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from venvs import make_venv_over_this_environment

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

REPO_ROOT = Path(__file__).resolve().parents[1]
BINDER_DIR = REPO_ROOT / "binder"
SHELL_SCRIPTS = ("postBuild", "start", "numba-env.sh")
EXECUTABLE_SCRIPTS = ("postBuild", "start")
# Copied into the scratch "clone" postBuild runs on, like repo2docker copies the repository.
CLONE_ENTRIES = ("pyproject.toml", "README.md", "LICENSE", "tlbwidgets", "binder", "notebooks")
# Compiling every kernel from scratch on 2 cores; the bound only stops a hang.
POSTBUILD_TIMEOUT_S = 900


def _binder_pins() -> dict[str, tuple[Requirement, Version]]:
    pins = {}
    for line_no, raw in enumerate((BINDER_DIR / "requirements.txt").read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        specs = list(requirement.specifier)
        assert len(specs) == 1 and specs[0].operator == "==", (
            f"binder/requirements.txt line {line_no}: {line!r} is not an exact '==' pin")
        name = canonicalize_name(requirement.name)
        assert name not in pins, f"binder/requirements.txt pins {name} twice"
        pins[name] = (requirement, Version(specs[0].version))
    return pins


def _pyproject_requirements() -> list[tuple[str, Requirement]]:
    """(where, requirement) for the runtime dependencies and every optional extra."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    found = [("dependencies", Requirement(text)) for text in project.get("dependencies", [])]
    for extra, texts in project.get("optional-dependencies", {}).items():
        found += [(f"[{extra}]", Requirement(text)) for text in texts]
    return found


def _applies_on_binder(requirement: Requirement) -> bool:
    # Binder images are Linux with the Python of binder/runtime.txt.
    runtime = (BINDER_DIR / "runtime.txt").read_text().strip().removeprefix("python-")
    environment = default_environment()
    environment.update(platform_system="Linux", sys_platform="linux",
                       python_version=runtime, python_full_version=f"{runtime}.0")
    return requirement.marker is None or requirement.marker.evaluate(environment)


def test_binder_pins_satisfy_every_pyproject_range():
    pins = _binder_pins()
    mismatches = []
    for where, requirement in _pyproject_requirements():
        name = canonicalize_name(requirement.name)
        if name not in pins or not _applies_on_binder(requirement):
            continue
        version = pins[name][1]
        if not requirement.specifier.contains(version, prereleases=True):
            mismatches.append(f"{name}=={version} violates {where} {requirement}")
    assert not mismatches, "; ".join(mismatches)


def test_binder_pins_every_runtime_and_notebook_dependency():
    pins = _binder_pins()
    needed = [requirement for where, requirement in _pyproject_requirements()
              if where in ("dependencies", "[notebook]") and _applies_on_binder(requirement)]
    missing = sorted({canonicalize_name(r.name) for r in needed} - set(pins))
    assert not missing, f"binder/requirements.txt does not pin: {', '.join(missing)}"


def test_binder_runtime_is_a_python_pyproject_accepts():
    runtime = (BINDER_DIR / "runtime.txt").read_text().strip()
    assert runtime.startswith("python-"), f"binder/runtime.txt must read python-X.Y, got {runtime!r}"
    requires = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert Requirement(f"python{requires}").specifier.contains(runtime.removeprefix("python-"))


@pytest.mark.parametrize("script", EXECUTABLE_SCRIPTS)
def test_binder_script_is_executable(script):
    mode = (BINDER_DIR / script).stat().st_mode
    assert mode & stat.S_IXUSR, f"binder/{script} is not executable (git update-index --chmod=+x)"


@pytest.mark.parametrize("script", SHELL_SCRIPTS)
def test_binder_script_parses_with_bash_n(script):
    result = subprocess.run(["bash", "-n", str(BINDER_DIR / script)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def _clean_env(home: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("NUMBA_")}
    env["HOME"] = str(home)
    return env


def test_start_sets_numba_cache_in_home_and_generic_cpu_then_execs(tmp_path):
    command = [str(BINDER_DIR / "start"), sys.executable, "-c",
               "import os, sys; print(os.environ['NUMBA_CACHE_DIR']); "
               "print(os.environ['NUMBA_CPU_NAME']); sys.exit(7)"]
    result = subprocess.run(command, env=_clean_env(tmp_path), capture_output=True, text=True,
                            check=False)
    # exec "$@": the command's own exit status comes back unchanged.
    assert result.returncode == 7, result.stderr
    cache_dir, cpu_name = result.stdout.split()
    assert Path(cache_dir).is_relative_to(tmp_path)
    assert cpu_name == "generic"


def test_start_keeps_numba_settings_given_by_the_environment(tmp_path):
    env = _clean_env(tmp_path) | {"NUMBA_CACHE_DIR": str(tmp_path / "elsewhere")}
    result = subprocess.run([str(BINDER_DIR / "start"), "sh", "-c", 'echo "$NUMBA_CACHE_DIR"'],
                            env=env, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == str(tmp_path / "elsewhere")


def _make_clone(destination: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", "*.nbi", "*.nbc")
    destination.mkdir()
    for entry in CLONE_ENTRIES:
        source = REPO_ROOT / entry
        if source.is_dir():
            shutil.copytree(source, destination / entry, ignore=ignore)
        elif source.is_file():
            shutil.copy2(source, destination / entry)
    return destination


def _venv_env(venv: Path, home: Path) -> dict[str, str]:
    env = _clean_env(home)
    env["VIRTUAL_ENV"] = str(venv)
    env["PATH"] = os.pathsep.join([str(venv / "bin"), env.get("PATH", "")])
    env.pop("PYTHONPATH", None)
    # hatchling builds the editable wheel; it needs `editables` for that. When both are
    # installed, build without isolation, fully offline (pip reads PIP_NO_BUILD_ISOLATION=0
    # as "--no-build-isolation"); otherwise pip fetches them from PyPI, as on Binder.
    if all(importlib.util.find_spec(name) for name in ("hatchling", "editables")):
        env["PIP_NO_BUILD_ISOLATION"] = "0"
        env["PIP_NO_INDEX"] = "1"
    return env


@pytest.mark.slow
def test_postbuild_in_fresh_venv_installs_package_and_warms_numba_cache(tmp_path):
    clone = _make_clone(tmp_path / "repo")
    home = tmp_path / "home"
    home.mkdir()
    venv = tmp_path / "venv"
    # Reuse the installed dependencies instead of reinstalling them.
    make_venv_over_this_environment(venv)
    env = _venv_env(venv, home)

    build = subprocess.run([str(clone / "binder" / "postBuild")], cwd=clone, env=env,
                           capture_output=True, text=True, timeout=POSTBUILD_TIMEOUT_S,
                           check=False)
    assert build.returncode == 0, f"postBuild failed:\n{build.stdout}\n{build.stderr}"

    # The default cache location from numba-env.sh, under the build's $HOME, is populated.
    cache_dir = home / ".cache" / "tlbwidgets" / "numba"
    assert any(cache_dir.rglob("*.nbi")), f"no numba index files under {cache_dir}"
    assert any(cache_dir.rglob("*.nbc")), f"no numba compiled-code files under {cache_dir}"

    # The venv imports the clone postBuild installed, not the repository under test.
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import tlbwidgets; print(tlbwidgets.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert Path(where.stdout.strip()).is_relative_to(clone)

    # A session: through binder/start, the same simulations load every kernel from the cache.
    session = subprocess.run(
        [str(clone / "binder" / "start"), "python", str(clone / "binder" / "warm_numba_cache.py"),
         "--check"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=POSTBUILD_TIMEOUT_S,
        check=False)
    assert session.returncode == 0, f"session compiled kernels:\n{session.stdout}\n{session.stderr}"
    assert "compilations 0" in session.stdout
