"""``tw.diagnose()``: versions and the known fixes for "Error displaying widget"."""

import importlib.metadata
import os
import platform
import sys

__all__ = ["diagnose", "KNOWN_FIXES", "PACKAGES"]

PACKAGES = ("tlbwidgets", "ipywidgets", "jupyterlab_widgets", "widgetsnbextension", "bqplot",
            "traitlets", "ipykernel", "jupyterlab", "notebook", "voila", "numba", "numpy")

KNOWN_FIXES = (
    "'Error displaying widget: model not found' after a kernel restart: re-run the cell that "
    "creates the widget (models live in the kernel and die with it).",
    "'Error displaying widget' in JupyterLab: the front-end widget manager does not match the "
    "kernel's ipywidgets. ipywidgets 8 needs jupyterlab_widgets 3.x installed in the SAME "
    "environment as JupyterLab (pip install -U 'ipywidgets>=8,<9' jupyterlab_widgets), then "
    "restart JupyterLab and reload the page.",
    "Charts missing but sliders shown: bqplot's front end is absent or of another version; "
    "pip install 'bqplot>=0.13' in the JupyterLab environment and reload the page.",
    "Kernel and server in different environments (conda/venv): install ipywidgets and bqplot "
    "in both, or register the kernel from the server's environment (python -m ipykernel "
    "install --user).",
    "Classic Notebook < 7: jupyter nbextension enable --py widgetsnbextension (and bqplot).",
    "VS Code / other front ends: update the Jupyter extension; ipywidgets 8 needs a recent one.",
    "Binder: widgets need the packages in binder/requirements.txt or environment.yml; rebuild "
    "the image after changing them.",
)


def _version(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def diagnose(print_report=True):
    """Collect versions and environment facts, print them with the known fixes.

    Returns a dict (``versions``, ``python``, ``executable``, ``platform``,
    ``env``, ``fixes``) so a test or a bug report can use it.  Reads only.
    """
    info = {
        "versions": {p: _version(p) for p in PACKAGES},
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "platform": platform.platform(),
        "env": {k: os.environ[k] for k in ("CONDA_DEFAULT_ENV", "VIRTUAL_ENV",
                                           "NUMBA_DISABLE_JIT", "NUMBA_CACHE_DIR",
                                           "JUPYTER_PATH", "BINDER_SERVICE_HOST")
                if k in os.environ},
        "fixes": list(KNOWN_FIXES),
    }
    if print_report:
        lines = ["tlbwidgets diagnose", "-------------------"]
        lines += [f"{k:>20}: {v}" for k, v in info["versions"].items()]
        lines += [f"{'python':>20}: {info['python']} ({info['executable']})",
                  f"{'platform':>20}: {info['platform']}"]
        lines += [f"{k:>20}: {v}" for k, v in info["env"].items()]
        lines += ["", "If you see 'Error displaying widget':"]
        lines += [f"  {i + 1}. {fix}" for i, fix in enumerate(KNOWN_FIXES)]
        print("\n".join(lines))
    return info
