"""The browser harness itself: a slider-driven bqplot chart renders and redraws in Voila and in
JupyterLab. If these fail, the widget stack (not tlbwidgets' code) is broken in the browser."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from widget_page import (
    line_path_d,
    move_slider,
    open_in_lab_and_run_all,
    save_screenshot,
    wait_for_line_change,
    wait_for_lines,
)

# A fixture, not a course notebook: it lives with the tests and stays out of the wheel.
SMOKE_NOTEBOOK = Path(__file__).parent / "notebooks" / "_smoke.ipynb"
SLIDER_STEPS = 4
# _smoke.ipynb starts its slider at 1 and steps by 1.
EXPECTED_READOUT = str(1 + SLIDER_STEPS)


def _drag_slider_and_check_redraw(page, screenshot_dir, prefix: str) -> None:
    wait_for_lines(page)
    # JupyterLab scrolls inside the notebook panel, so bring the chart into the screenshot.
    page.locator(".bqplot").first.scroll_into_view_if_needed()
    before = line_path_d(page)
    save_screenshot(page, screenshot_dir, f"{prefix}-before")

    readout = move_slider(page, SLIDER_STEPS)
    after = wait_for_line_change(page, before)
    save_screenshot(page, screenshot_dir, f"{prefix}-after")

    assert readout == EXPECTED_READOUT
    assert after != before
    # A steeper slope ends the line higher: its last point has a smaller SVG y coordinate.
    assert _last_y(after) < _last_y(before)


def _last_y(path_d: str) -> float:
    last_point = path_d.replace("M", "L").split("L")[-1]
    return float(last_point.split(",")[1])


def test_voila_renders_chart_that_follows_slider(page, voila, screenshot_dir):
    server = voila(SMOKE_NOTEBOOK)
    page.goto(server.url)
    _drag_slider_and_check_redraw(page, screenshot_dir, "smoke-voila")


def test_jupyterlab_runs_notebook_and_chart_follows_slider(page, lab, screenshot_dir):
    parts = urlsplit(lab.url)
    open_in_lab_and_run_all(page, f"{parts.scheme}://{parts.netloc}", SMOKE_NOTEBOOK.name)
    _drag_slider_and_check_redraw(page, screenshot_dir, "smoke-lab")
