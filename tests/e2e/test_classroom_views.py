"""Every course notebook and the explorer app, at projector sizes, as a class would see them.

Each page is opened once and then checked at 1024x768 and at 1280x720: no browser console
error, and no chart text, control, table or chart that is cut, overlapping or too small to
read (``layout_check``). Screenshots of what the learner sees land in
``artifacts/screenshots/``; with ``TLBWIDGETS_UPDATE_DOCS_IMG=1`` the ones the README and
``docs/`` show are copied to ``docs/img/`` as well.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import shutil
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from harness import NOTEBOOKS_DIR, REPO_ROOT
from layout_check import layout_problems
from widget_page import open_in_lab_and_run_all, wait_for_figure_or_cell_error

VIEWPORTS = ((1024, 768), (1280, 720))
RENDER_TIMEOUT_MS = 180_000
COURSE_NOTEBOOKS = sorted(p.name for p in NOTEBOOKS_DIR.glob("[0-9]*.ipynb"))
DOCS_IMG = REPO_ROOT / "docs" / "img"
# screenshot name -> the docs/img file it becomes
DOCS_SHOTS = {
    "app-cost-1024x768": "explorer.png",
    "app-timeline-1024x768": "timeline.png",
    "app-staleness-1024x768": "staleness.png",
    "app-scaling-1024x768": "scaling.png",
    "02_one_shootdown-stepper-1024x768": "stepper.png",
}
APP_TABS = ("Cost", "Staleness", "Timeline", "Scaling")
LOCAL_HOSTS = ("127.0.0.1", "localhost", "")
STEPS_SHOWN = 12  # the step a stepper's screenshot shows (pushes done, IPIs in flight)


def _offline_cdn_miss(msg) -> bool:
    """A stylesheet or font the Jupyter front end fetches from a CDN (Font Awesome), which
    fails when the machine is offline as CI is; the page works without it."""
    url = (msg.location or {}).get("url", "")
    host = urlsplit(url).hostname or ""
    return msg.text.startswith("Failed to load resource") and host not in LOCAL_HOSTS


@pytest.fixture
def console_errors(page):
    """Browser console errors and uncaught page errors seen by ``page`` (a live list)."""
    errors: list[str] = []

    def on_console(msg):
        if msg.type == "error" and not _offline_cdn_miss(msg):
            errors.append(f"{msg.text} ({(msg.location or {}).get('url', '')})")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    return errors


def _shot(page, screenshot_dir: Path, name: str, element=None) -> None:
    path = screenshot_dir / f"{name}.png"
    if element is not None:
        element.screenshot(path=str(path))
    else:
        page.screenshot(path=str(path))
    if os.environ.get("TLBWIDGETS_UPDATE_DOCS_IMG") == "1" and name in DOCS_SHOTS:
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_IMG / DOCS_SHOTS[name])


def _settle(page, ms: int = 300) -> None:
    # A resize or a tab switch makes bqplot redraw on the next animation frames (a
    # window resize reaches the figures through a debounced relayout: give it longer).
    page.evaluate(f"() => new Promise(r => requestAnimationFrame(() => "
                  f"requestAnimationFrame(() => setTimeout(r, {ms}))))")


# A page still redrawing after a resize (bqplot relayouts are debounced and, on a busy
# machine, late) is checked again until it has settled; a problem that stays this long
# is one a learner would see.
SETTLE_LIMIT_S = 8.0


# bqplot lays out a figure that is partly below the fold when it comes into view: a
# learner scrolls to it. (Seen with the stepper board of notebook 2 at 1024x768: lane
# labels reported cut until the board was scrolled to, then none.)
_SCROLL_FIGURES_JS = """() => {
    for (const fig of document.querySelectorAll('.bqplot')) fig.scrollIntoView({block: 'nearest'});
}"""


def _assert_clean(page, where: str, console_errors: list[str]) -> None:
    deadline = time.monotonic() + SETTLE_LIMIT_S
    problems = layout_problems(page)
    if problems:
        page.evaluate(_SCROLL_FIGURES_JS)
    while problems and time.monotonic() < deadline:
        _settle(page, 500)
        problems = layout_problems(page)
    assert not console_errors, f"{where}: browser console errors:\n" + "\n".join(console_errors)
    assert not problems, f"{where}: a learner would see:\n" + "\n".join(problems)


def test_explorer_app_fits_a_projector(page, voila, screenshot_dir, console_errors,
                                       warm_engine):
    server = voila("app.ipynb")
    page.set_viewport_size({"width": VIEWPORTS[0][0], "height": VIEWPORTS[0][1]})
    page.goto(server.url)
    wait_for_figure_or_cell_error(page, timeout_ms=RENDER_TIMEOUT_MS)
    page.get_by_text(re.compile(r"shown: ")).first.wait_for(timeout=RENDER_TIMEOUT_MS)
    for width, height in VIEWPORTS:
        page.set_viewport_size({"width": width, "height": height})
        _settle(page, 1200)
        for tab in APP_TABS:
            page.locator(".lm-TabBar-tab", has_text=tab).first.click()
            if tab == "Scaling":
                # The tab opens with data: the explorer swept its starting configuration.
                page.get_by_text(re.compile(r"swept \d+ runs")).first.wait_for(
                    timeout=RENDER_TIMEOUT_MS)
            _settle(page)
            _shot(page, screenshot_dir, f"app-{tab.lower()}-{width}x{height}")
            _assert_clean(page, f"app, {tab} tab, {width}x{height}", console_errors)


_RUNNING_JS = """() => {
    const panel = '.jp-NotebookPanel:not(.lm-mod-hidden)';
    const busy = document.querySelector(
        `${panel} .jp-Notebook-ExecutionIndicator:not([data-status='idle'])`) !== null;
    const prompts = [...document.querySelectorAll(`${panel} .jp-CodeCell .jp-InputPrompt`)];
    // '[*]' runs or waits its turn, '[ ]' has not been reached yet (hidden cells show none).
    return busy || prompts.some(p => /\\[[ *]\\]/.test(p.textContent));
}"""


def _wait_until_run(page, timeout_ms: int = RENDER_TIMEOUT_MS) -> None:
    """Wait until the open notebook has finished running: the kernel is idle and no cell
    shows '[*]' or '[ ]', twice in a row a second apart (the kernel idles briefly between
    cells)."""
    settled = 0
    for _ in range(timeout_ms // 1000):
        settled = settled + 1 if not page.evaluate(_RUNNING_JS) else 0
        if settled == 2:
            return
        page.wait_for_timeout(1000)
    prompts = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-InputPrompt")
    raise AssertionError(f"the notebook was still running after {timeout_ms / 1000:.0f} s: "
                         f"prompts {prompts.all_inner_texts()}")


def _shut_down_kernels(base_url: str) -> None:
    """End every kernel of the session's JupyterLab, so the next test's notebook does not
    start beside a dozen idle ones (the server runs without a token, on loopback; a DELETE
    carries the XSRF cookie the server hands out with any page)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(f"{base_url}/lab", timeout=30).close()
    xsrf = next((c.value for c in jar if c.name == "_xsrf"), "")
    with opener.open(f"{base_url}/api/kernels", timeout=30) as response:
        kernels = json.load(response)
    for kernel in kernels:
        request = urllib.request.Request(f"{base_url}/api/kernels/{kernel['id']}",
                                         method="DELETE", headers={"X-XSRFToken": xsrf})
        opener.open(request, timeout=30).close()


@pytest.mark.parametrize("notebook", COURSE_NOTEBOOKS)
def test_course_notebook_fits_a_projector(notebook, page, lab, screenshot_dir, console_errors,
                                          warm_engine, request):
    parts = urlsplit(lab.url)
    page.set_viewport_size({"width": VIEWPORTS[0][0], "height": VIEWPORTS[0][1]})
    # A fresh JupyterLab that opens a notebook before it has listed its kernels asks which
    # kernel to start; let it list them first (the launcher shows a card per kernel).
    base = f"{parts.scheme}://{parts.netloc}"
    request.addfinalizer(lambda: _shut_down_kernels(base))
    page.goto(f"{base}/lab?reset")
    page.locator(".jp-LauncherCard", has_text="Python 3").first.wait_for(
        timeout=RENDER_TIMEOUT_MS)
    open_in_lab_and_run_all(page, base, notebook)
    # A presenter hides the file browser (Ctrl+B): the notebook gets the projector's width.
    left = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
    if left.count():
        left.first.click()
    _wait_until_run(page)
    # A traceback, not any stderr: progress bars and warnings also write there.
    errors = page.locator(".jp-OutputArea-output[data-mime-type="
                          "'application/vnd.jupyter.stderr']",
                          has_text=re.compile(r"Traceback|\w+Error\b"))
    assert errors.count() == 0, f"{notebook}: a cell failed:\n{errors.first.inner_text()}"
    stem = notebook.removesuffix(".ipynb")
    for width, height in VIEWPORTS:
        page.set_viewport_size({"width": width, "height": height})
        _settle(page, 1200)
        _assert_clean(page, f"{notebook} at {width}x{height}", console_errors)
        stepper = page.locator(".jp-OutputArea-output:has(.widget-toggle-buttons)"
                               ":has(.bqplot)").first
        box = stepper.bounding_box() if stepper.count() else None
        if box and box["height"] < height:
            # A few steps in, the board shows queued ops and IPIs in flight; it must
            # still fit.
            stepper.scroll_into_view_if_needed()
            step = int(stepper.locator(".widget-readout").first.inner_text())
            for _ in range(STEPS_SHOWN - step):
                stepper.get_by_role("button", name=re.compile("Next")).click()
            stepper.get_by_text(re.compile(rf"Step {STEPS_SHOWN} of \d+")).wait_for()
            _settle(page)
            _assert_clean(page, f"{notebook} at {width}x{height}, stepped", console_errors)
            _shot(page, screenshot_dir, f"{stem}-stepper-{width}x{height}", element=stepper)
        _shot(page, screenshot_dir, f"{stem}-{width}x{height}")
