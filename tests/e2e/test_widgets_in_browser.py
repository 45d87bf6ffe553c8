"""The course's real widgets render in a browser and respond to a learner's input.

The explorer is served exactly as ``python -m tlbwidgets app`` serves it (Voila on
notebooks/app.ipynb); the stepper from a one-cell fixture notebook.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from widget_page import (
    marks_snapshot,
    move_slider,
    open_in_lab_and_run_all,
    save_screenshot,
    wait_for_figure_or_cell_error,
    wait_for_marks_change,
)

# The first page load runs the notebook (a simulation) in a fresh kernel.
FIRST_RENDER_TIMEOUT_MS = 180_000
STEPPER_NOTEBOOK = Path(__file__).parent / "notebooks" / "stepper.ipynb"
STEPPER_CLICKS = 5


def test_explorer_app_draws_charts_and_reruns_when_cpus_change(page, voila, screenshot_dir,
                                                                 warm_engine):
    server = voila("app.ipynb")
    page.goto(server.url)
    wait_for_figure_or_cell_error(page, timeout_ms=FIRST_RENDER_TIMEOUT_MS)
    page.wait_for_function("() => document.querySelectorAll('.bqplot svg path.line').length > 0",
                           timeout=FIRST_RENDER_TIMEOUT_MS)
    before = marks_snapshot(page)
    assert before.strip(), "the explorer's figures drew no marks"
    save_screenshot(page, screenshot_dir, "explorer-voila-before")

    # The CPUs slider is the explorer's first slider; one arrow press adds one CPU.
    cpus_before = int(page.locator(".widget-slider .widget-readout").first.inner_text())
    cpus_after = int(move_slider(page, 1))
    assert cpus_after == cpus_before + 1

    after = wait_for_marks_change(page, before, timeout_ms=FIRST_RENDER_TIMEOUT_MS)
    # The status line echoes the configuration of the run the charts now show.
    page.get_by_text(re.compile(rf"cpus={cpus_after}\b")).first.wait_for(timeout=60_000)
    save_screenshot(page, screenshot_dir, "explorer-voila-after")
    assert after != before


def test_stepper_steps_forward_and_redraws_the_board(page, voila, screenshot_dir, warm_engine):
    server = voila(STEPPER_NOTEBOOK)
    page.goto(server.url)
    wait_for_figure_or_cell_error(page, timeout_ms=FIRST_RENDER_TIMEOUT_MS)
    page.get_by_text(re.compile(r"Step 1 of \d+")).first.wait_for(timeout=FIRST_RENDER_TIMEOUT_MS)
    first = marks_snapshot(page)
    save_screenshot(page, screenshot_dir, "stepper-voila-step1")

    next_button = page.get_by_role("button", name=re.compile("Next"))
    for step in range(2, 2 + STEPPER_CLICKS):
        next_button.click()
        page.get_by_text(re.compile(rf"Step {step} of \d+")).first.wait_for(timeout=30_000)

    later = wait_for_marks_change(page, first)
    save_screenshot(page, screenshot_dir, f"stepper-voila-step{1 + STEPPER_CLICKS}")
    assert later != first

    # ...and backward again: the board returns exactly to step 1.
    _step_back_to_the_start(page, STEPPER_CLICKS)
    assert wait_for_marks_change(page, later) == first


def _step_back_to_the_start(page, clicks):
    prev_button = page.get_by_role("button", name=re.compile("Prev")).first
    for _ in range(clicks):
        prev_button.click()
    page.get_by_text(re.compile(r"Step 1 of \d+")).first.wait_for(timeout=30_000)


def test_course_stepper_in_jupyterlab_steps_forward_and_back(page, lab, screenshot_dir,
                                                            warm_engine):
    """The course's notebook 02 in JupyterLab: run all, step the stepper
    forward, then back to where it started."""
    parts = urlsplit(lab.url)
    open_in_lab_and_run_all(page, f"{parts.scheme}://{parts.netloc}",
                            "02_one_shootdown.ipynb")
    page.get_by_text(re.compile(r"Step 1 of \d+")).first.wait_for(
        timeout=FIRST_RENDER_TIMEOUT_MS)
    board = page.locator(".bqplot").first
    board.scroll_into_view_if_needed()
    first = marks_snapshot(page)
    next_button = page.get_by_role("button", name=re.compile("Next")).first
    for step in range(2, 2 + STEPPER_CLICKS):
        next_button.click()
        page.get_by_text(re.compile(rf"Step {step} of \d+")).first.wait_for(timeout=30_000)
    later = wait_for_marks_change(page, first)
    save_screenshot(page, screenshot_dir, "stepper-lab-forward")
    _step_back_to_the_start(page, STEPPER_CLICKS)
    assert wait_for_marks_change(page, later) == first
    save_screenshot(page, screenshot_dir, "stepper-lab-back")
