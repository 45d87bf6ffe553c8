"""``tw.diagnose()``: is the simulator compiled, can widgets render here, which versions,
and the known fixes for "Error displaying widget"."""

import importlib.metadata
import os
import platform
import sys
from pathlib import Path

import ipywidgets as widgets

__all__ = ["diagnose", "simulator_status", "widget_status", "KNOWN_FIXES", "PACKAGES"]

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


# Front-end extensions JupyterLab needs to draw tlbwidgets' views (labextension folder names).
_LAB_EXTENSIONS = ("@jupyter-widgets/jupyterlab-manager", "bqplot")


def simulator_status():
    """Whether the engine runs as machine code, and whether it is compiled yet.

    Returns ``{"jit": bool, "compiled_here": bool, "cache_dir": str, "cached": bool,
    "summary": str}``: ``compiled_here`` says the engine's main kernel is compiled in this
    process; ``cached`` says numba's on-disk cache holds an index for it, so a new process
    loads it instead of compiling (numba still recompiles if the index was written for
    another numba version or CPU). Reads only: it compiles nothing.
    """
    import numba

    from ..engine import _core

    kernel = _core.run
    jit = not numba.config.DISABLE_JIT and hasattr(kernel, "signatures")
    compiled_here = jit and bool(kernel.signatures)
    cache_dir, cached = "", False
    if jit:
        try:
            cache_dir = str(kernel._cache.cache_path)   # numba has no public accessor
            cached = any(Path(cache_dir).glob(f"{_core.__name__.rsplit('.', 1)[-1]}.run-*.nbi"))
        except (AttributeError, OSError):
            pass
    if not jit:
        summary = ("interpreted (NUMBA_DISABLE_JIT is set): same results, far slower; "
                   "unset it for class use")
    elif compiled_here:
        summary = "compiled (machine code, loaded in this process)"
    elif cached:
        summary = (f"compiled, in numba's cache ({cache_dir}): the first run loads it "
                   "instead of compiling")
    else:
        summary = ("not compiled yet: the first simulation compiles the engine (tens of "
                   "seconds, more on a busy machine); later runs and new processes reuse it")
    return {"jit": jit, "compiled_here": compiled_here, "cache_dir": cache_dir,
            "cached": cached, "summary": summary}


def _lab_extensions():
    try:
        from jupyter_core.paths import jupyter_path
    except ImportError:
        return {}
    roots = [Path(p) for p in jupyter_path("labextensions")]
    return {name: any((root / name / "package.json").is_file() for root in roots)
            for name in _LAB_EXTENSIONS}


def widget_status():
    """Whether widgets can render here, as far as the kernel can tell.

    Returns ``{"kernel": bool, "lab_extensions": {name: bool}, "problems": [str],
    "summary": str}``. ``kernel`` says this Python runs in a Jupyter kernel (widgets need
    one to reach a page); ``lab_extensions`` says whether JupyterLab's widget manager and
    bqplot's front end are installed where this environment's JupyterLab looks. Only the
    page itself can prove a widget draws: ``diagnose()`` also shows a live one.
    """
    try:
        from IPython import get_ipython
        shell = get_ipython()
    except ImportError:
        shell = None
    kernel = shell is not None and getattr(shell, "kernel", None) is not None
    extensions = _lab_extensions()
    problems = []
    if not kernel:
        problems.append("not in a Jupyter kernel: widgets need JupyterLab, Notebook 7, "
                        "Voila or VS Code to draw")
    missing = [name for name, found in extensions.items() if not found]
    if missing:
        problems.append(f"JupyterLab front-end extensions not found here: {', '.join(missing)} "
                        "(fine if the page is served from another environment; see fixes 2-4)")
    summary = ("yes, as far as the kernel can tell" if not problems
               else "probably not: " + "; ".join(problems))
    return {"kernel": kernel, "lab_extensions": extensions, "problems": problems,
            "summary": summary}


def _live_check():
    # The front end draws this only if its widget manager works; otherwise the page shows
    # "Error displaying widget" or a plain-text line, which the report explains.
    return widgets.HTML(
        "<div style='border-left:4px solid #009E73;padding:2px 8px'>"
        "&#10003; Widgets render here: this green-edged line is a live widget.</div>")


def diagnose(print_report=True):
    """Say whether the simulator is compiled and whether widgets can render here, with
    versions, environment facts and the known fixes.

    Returns a dict (``simulator``, ``widgets``, ``versions``, ``python``, ``executable``,
    ``platform``, ``env``, ``fixes``) so a test or a bug report can use it. With
    ``print_report`` it prints the report and, in a kernel, shows a live widget whose
    drawing is the final answer. Compiles nothing and changes nothing.
    """
    info = {
        "simulator": simulator_status(),
        "widgets": widget_status(),
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
        lines = ["tlbwidgets diagnose", "-------------------",
                 f"{'simulator':>20}: {info['simulator']['summary']}",
                 f"{'widgets can render':>20}: {info['widgets']['summary']}", ""]
        lines += [f"{k:>20}: {v}" for k, v in info["versions"].items()]
        lines += [f"{'python':>20}: {info['python']} ({info['executable']})",
                  f"{'platform':>20}: {info['platform']}"]
        lines += [f"{k:>20}: {v}" for k, v in info["env"].items()]
        lines += ["", "If you see 'Error displaying widget':"]
        lines += [f"  {i + 1}. {fix}" for i, fix in enumerate(KNOWN_FIXES)]
        print("\n".join(lines))
        if info["widgets"]["kernel"]:
            from IPython.display import display
            display(_live_check())
    return info
