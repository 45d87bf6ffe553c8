"""Fresh virtual environments for tests that install tlbwidgets the way a user would
(not a test module)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

__all__ = ["environment_site_dirs", "make_venv_over_this_environment", "venv_python"]


def environment_site_dirs() -> list[str]:
    """The site-packages folders this interpreter imports from, in its order: a venv's own
    (plus its base's, when it was made with --system-site-packages), a conda env's, or a
    system install's (Debian's dist-packages included)."""
    return [entry for entry in sys.path
            if Path(entry).name in ("site-packages", "dist-packages") and Path(entry).is_dir()]


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def make_venv_over_this_environment(venv: Path) -> Path:
    """Make a fresh venv that also imports every package of the environment running the
    tests, and return its site-packages folder.

    `python -m venv --system-site-packages` is not that when the tests run in a venv: the new
    venv's "system" is the base interpreter, which lacks the venv's numba and Jupyter. So the
    venv is made plain, and a .pth file adds this environment's site folders after its own.
    Its name sorts after the .pth of anything installed into the venv (an editable install's
    included), so what the test installs there is found before this environment's copy.
    Without pip of its own (``--without-pip``), this environment's pip, seen through the
    .pth, installs into the venv.
    """
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    where = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    purelib = Path(subprocess.run([str(venv_python(venv)), "-c", where], capture_output=True,
                                  text=True, check=True).stdout.strip())
    lines = [f"import site; site.addsitedir({entry!r})\n" for entry in environment_site_dirs()]
    (purelib / "zz_test_environment.pth").write_text("".join(lines))
    return purelib
