"""Fixtures for end-to-end tests that drive a real Chromium against Voila and JupyterLab.

Design:
- The browser is Debian's Chromium (``/usr/bin/chromium``, or ``TLBWIDGETS_CHROMIUM``), driven
  by Playwright's Python package; no Playwright-downloaded browser is used. Each session gets a
  fresh user-data-dir, so no profile state leaks between runs.
- Servers are started through ``tlbwidgets.app`` (the same launcher users run) on free
  loopback ports with the token disabled and no browser of their own. They are always
  stopped at teardown, and their logs are kept in ``artifacts/logs/`` for failed runs.
- JupyterLab serves a temporary copy of ``notebooks/`` and of the fixture notebooks in
  ``tests/e2e/notebooks/``, so tests never write checkpoints or outputs into the repository.
- Under CI (``CI`` set to a true value) a missing Chromium or Playwright FAILS the tests; on a
  developer machine they are skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable, Iterator

import pytest

from harness import (
    BROWSER_ARGS,
    DEFAULT_CHROMIUM,
    FIXTURE_NOTEBOOKS_DIR,
    LOG_DIR,
    NOTEBOOKS_DIR,
    SCREENSHOT_DIR,
    SERVER_READY_TIMEOUT_S,
    VIEWPORT,
    free_port,
    running_under_ci,
    server_env,
)
from tlbwidgets import app

def _unavailable(reason: str) -> None:
    if running_under_ci():
        pytest.fail(f"{reason} (CI is set, so the browser tests must run)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Path of the Chromium executable; fails under CI / skips locally when it is missing."""
    path = os.environ.get("TLBWIDGETS_CHROMIUM", DEFAULT_CHROMIUM)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        _unavailable(f"no Chromium executable at {path} (apt-get install chromium)")
    return path


@pytest.fixture(scope="session")
def browser_context(chromium_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """A Playwright browser context on Debian's Chromium with a fresh user-data-dir."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright Python package is not installed (pip install playwright)")
    user_data_dir = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(user_data_dir),
            executable_path=chromium_path,
            headless=True,
            args=list(BROWSER_ARGS),
            viewport=VIEWPORT,
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser_context, request: pytest.FixtureRequest) -> Iterator:
    """A fresh tab; browser console errors are attached to the test report on failure."""
    tab = browser_context.new_page()
    console_errors: list[str] = []
    tab.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)
    tab.on("pageerror", lambda exc: console_errors.append(f"pageerror: {exc}"))
    yield tab
    if console_errors:
        request.node.add_report_section("call", "browser console errors", "\n".join(console_errors))
    tab.close()


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    return SCREENSHOT_DIR


@pytest.fixture
def voila(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[[str], app.Server]]:
    """Factory: ``voila("name.ipynb")`` (in notebooks/) or ``voila(absolute_path)`` starts
    Voila on a free port and waits until it is ready.

    Every server started through it is stopped at teardown, pass or fail.
    """
    servers: list[app.Server] = []
    env = server_env(tmp_path / "jupyter")

    def start(notebook: str | Path) -> app.Server:
        log_path = LOG_DIR / f"voila-{request.node.name}-{len(servers)}.log"
        server = app.start_voila(
            notebook if Path(notebook).is_absolute() else NOTEBOOKS_DIR / notebook,
            port=free_port(),
            open_browser=False,
            # Tracebacks on the page, so a failing cell shows its error in the test report.
            extra_args=["--Voila.token=", "--Voila.auto_token=False", "--show_tracebacks=True"],
            env=env,
            log_path=log_path,
        )
        servers.append(server)
        return server.wait_ready(SERVER_READY_TIMEOUT_S)

    try:
        yield start
    finally:
        for server in servers:
            server.stop()


@pytest.fixture(scope="session")
def warm_engine() -> None:
    """Compile the engine's kernels in this process before a notebook kernel needs them.

    Kernels started by Voila or JupyterLab inherit this environment, so they load the same
    numba cache instead of compiling while the browser waits (minutes on a cold 2-core
    machine). The rest of the suite reuses the cache too.
    """
    import tlbwidgets as tw

    tw.simulate(cpus=4, protocol=tw.PROTOCOLS[0], workload="uniform", seed=0)


_LAB_SETTINGS = {
    # No "fetch Jupyter news?" toast over the notebook in screenshots, and no news request.
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        '{"fetchNews": "false", "checkForUpdates": false}',
    # Lay out every cell, on screen or not, so the layout checks measure the whole notebook.
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": '{"windowingMode": "none"}',
}


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[app.Server]:
    """One JupyterLab for the session, token disabled, serving a temporary copy of notebooks/."""
    base = tmp_path_factory.mktemp("jupyterlab")
    root = base / "notebooks"
    shutil.copytree(NOTEBOOKS_DIR, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    for fixture in FIXTURE_NOTEBOOKS_DIR.glob("*.ipynb"):
        shutil.copy2(fixture, root / fixture.name)
    settings_dir = base / "settings"
    for relative, text in _LAB_SETTINGS.items():
        path = settings_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    server = app.start_lab(
        root,
        open_notebook=None,
        port=free_port(),
        open_browser=False,
        extra_args=[
            "--IdentityProvider.token=",
            "--ServerApp.password=",
            f"--LabApp.user_settings_dir={settings_dir}",
            f"--LabApp.workspaces_dir={base / 'workspaces'}",
        ],
        env=server_env(base / "jupyter"),
        log_path=LOG_DIR / "jupyterlab.log",
    )
    try:
        yield server.wait_ready(SERVER_READY_TIMEOUT_S)
    finally:
        server.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Mark every test that drives Chromium so `-m "not browser"` can deselect them.
    for item in items:
        if "browser_context" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)

