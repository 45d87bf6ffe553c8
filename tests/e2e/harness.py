"""Constants and helpers shared by the end-to-end fixtures and tests (not a test module)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from tlbwidgets import app

__all__ = [
    "BROWSER_ARGS",
    "DEFAULT_CHROMIUM",
    "FIXTURE_NOTEBOOKS_DIR",
    "LOG_DIR",
    "NOTEBOOKS_DIR",
    "REPO_ROOT",
    "SCREENSHOT_DIR",
    "SERVER_READY_TIMEOUT_S",
    "VIEWPORT",
    "free_port",
    "running_under_ci",
    "server_env",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
# Notebooks made for the tests (not part of the course or the wheel).
FIXTURE_NOTEBOOKS_DIR = Path(__file__).resolve().parent / "notebooks"
SCREENSHOT_DIR = REPO_ROOT / "artifacts" / "screenshots"
LOG_DIR = REPO_ROOT / "artifacts" / "logs"
DEFAULT_CHROMIUM = "/usr/bin/chromium"

# Headless, sandbox-free (CI runs as root) and quiet: no GPU, no QUIC, no first-run UI and no
# background traffic, since CI has no network beyond package registries.
BROWSER_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
# Starting a server takes a few seconds; the bound only keeps a hung start from eating the
# CI budget.
SERVER_READY_TIMEOUT_S = 90.0
VIEWPORT = {"width": 1280, "height": 900}


def running_under_ci() -> bool:
    """True when the ``CI`` environment variable is set to a true-looking value."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


def free_port() -> int:
    """A TCP port on the loopback address that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((app.DEFAULT_HOST, 0))
        return probe.getsockname()[1]


def server_env(tmp_dir: Path) -> dict[str, str]:
    """Environment for server processes: Jupyter config/runtime/IPython dirs isolated under
    ``tmp_dir``, and this checkout importable by kernels even when it is not pip-installed."""
    env = dict(os.environ)
    for name in ("config", "runtime", "ipython"):
        (tmp_dir / name).mkdir(parents=True, exist_ok=True)
    env["JUPYTER_CONFIG_DIR"] = str(tmp_dir / "config")
    env["JUPYTER_RUNTIME_DIR"] = str(tmp_dir / "runtime")
    env["IPYTHONDIR"] = str(tmp_dir / "ipython")
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    return env
