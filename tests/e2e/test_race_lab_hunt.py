"""The race lab in Chromium: Hunt finds every hazard of the seed from the lab's defaults.

Each hunt must end with the steppers at the guilty step (its narration names the violation
or the overflow, not step 1), and the page must stay clean at 1280 px (``layout_check``):
also with the shared-ACK race hunted on 8 CPUs, the two 8-CPU steppers side by side.
"""

from __future__ import annotations

import re
from pathlib import Path

from layout_check import layout_problems
from widget_page import move_slider, save_screenshot

RACE_LAB_NOTEBOOK = Path(__file__).parent / "notebooks" / "race_lab.ipynb"
FIRST_RENDER_TIMEOUT_MS = 180_000
HUNT_TIMEOUT_MS = 120_000
# (hazard button, what the hunted scenario's caption says, what the guilty step narrates)
HUNTS = (
    ("shared ACK flag", "'two_unmappers', 4,", "VIOLATION"),
    ("interrupts-off timeout", "'irq_off_window', 3,", "VIOLATION"),
    ("short range", "'short_range', 3,", "VIOLATION"),
    ("queue overflow", "workload='munmap_storm'", "mailbox is full"),
)


def _guilty_step(page, evidence: str) -> int:
    """The step the first stepper shows, after waiting until it narrates ``evidence``."""
    narration = page.locator(".widget-html", has_text=re.compile(
        rf"Step \d+ of \d+:[^\n]*{re.escape(evidence)}")).first
    narration.wait_for(timeout=HUNT_TIMEOUT_MS)
    return int(re.search(r"Step (\d+) of", narration.inner_text()).group(1))


def _hunt(page, caption: str) -> None:
    page.locator("button.widget-button", has_text=re.compile(r"^\s*Hunt\s*$")).first.click()
    page.locator(".widget-html", has_text=caption).first.wait_for(timeout=HUNT_TIMEOUT_MS)
    page.get_by_text(re.compile(r"found: ")).first.wait_for(timeout=HUNT_TIMEOUT_MS)


def _shot_steppers(page, screenshot_dir: Path, name: str) -> None:
    """The two steppers (the one box of the lab that holds charts), as the learner sees it."""
    box = page.locator(".widget-hbox", has=page.locator(".bqplot")).last
    # Voila scrolls inside the window: a tall window keeps the whole box on screen.
    page.set_viewport_size({"width": 1280, "height": 2400})
    _settle(page)
    box.screenshot(path=str(screenshot_dir / f"{name}.png"))
    page.set_viewport_size({"width": 1280, "height": 720})


def _settle(page, ms: int = 500) -> None:
    page.evaluate(f"() => new Promise(r => requestAnimationFrame(() => "
                  f"requestAnimationFrame(() => setTimeout(r, {ms}))))")


def _assert_clean(page, where: str) -> None:
    problems = layout_problems(page)
    assert not problems, f"{where}: a learner would see:\n" + "\n".join(problems)


def test_hunt_finds_every_hazard_and_opens_the_steppers_at_the_guilty_step(
        page, voila, screenshot_dir, warm_engine):
    page.set_viewport_size({"width": 1280, "height": 720})
    server = voila(RACE_LAB_NOTEBOOK)
    page.goto(server.url)
    # Before a hunt the lab holds no board (the steppers join the page once they
    # have something to show), so wait for its Hunt button.
    page.locator(".widget-button", has_text="Hunt").first.wait_for(
        timeout=FIRST_RENDER_TIMEOUT_MS)
    save_screenshot(page, screenshot_dir, "race-lab-before-hunt-1280")
    for hazard, caption, evidence in HUNTS:
        page.locator(".widget-toggle-button", has_text=hazard).first.click()
        _hunt(page, caption)
        assert _guilty_step(page, evidence) > 1
        _settle(page)
        stem = re.sub(r"\W+", "-", hazard)
        save_screenshot(page, screenshot_dir, f"race-lab-{stem}-1280")
        _shot_steppers(page, screenshot_dir, f"race-lab-{stem}-steppers-1280")
        _assert_clean(page, f"race lab, {hazard}")

    # Back to step 1 and to the violation again, then the race on 8 CPUs side by side.
    page.locator(".widget-toggle-button", has_text="shared ACK flag").first.click()
    page.locator(".widget-html", has_text="on 4 CPUs").first.wait_for()  # the hazard's CPUs
    assert move_slider(page, 4) == "8"
    page.locator(".widget-html", has_text="on 8 CPUs").first.wait_for()
    _hunt(page, "'two_unmappers', 8,")
    step = _guilty_step(page, "VIOLATION")
    page.get_by_role("button", name=re.compile("Back to step 1")).click()
    page.locator(".widget-html", has_text=re.compile(r"Step 1 of \d+:")).first.wait_for()
    page.get_by_role("button", name=re.compile("Jump to the violation")).click()
    assert _guilty_step(page, "VIOLATION") == step
    _settle(page)
    save_screenshot(page, screenshot_dir, "race-lab-8-cpus-1280")
    _shot_steppers(page, screenshot_dir, "race-lab-8-cpus-steppers-1280")
    _assert_clean(page, "race lab, shared ACK flag on 8 CPUs")
