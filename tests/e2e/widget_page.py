"""Page helpers shared by the end-to-end tests: find charts, move sliders, run notebooks.

They wait on what a learner would see (SVG marks drawn, slider value shown) with bounded
timeouts, never on fixed sleeps.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "CHART_TIMEOUT_MS",
    "LINE_PATH",
    "line_path_d",
    "marks_snapshot",
    "move_slider",
    "open_in_lab_and_run_all",
    "save_screenshot",
    "wait_for_figure_or_cell_error",
    "wait_for_line_change",
    "wait_for_lines",
    "wait_for_marks_change",
]

# First render in a fresh kernel (widget manager, bqplot bundle, cell execution) takes a few
# seconds on 2 cores; 60 s only bounds a hang.
CHART_TIMEOUT_MS = 180_000  # generous: CI machines have 2 cores and a kernel may be starting
# bqplot 0.13 draws each Lines mark as an SVG <path class="line"> inside the figure's SVG.
LINE_PATH = ".bqplot svg path.line"


def wait_for_lines(page, minimum: int = 1, timeout_ms: int = CHART_TIMEOUT_MS) -> None:
    """Wait until at least ``minimum`` line paths with drawn geometry (non-empty ``d``) exist."""
    page.wait_for_function(
        """([selector, minimum]) => {
            const drawn = [...document.querySelectorAll(selector)]
                .filter(p => (p.getAttribute('d') || '').length > 10);
            return drawn.length >= minimum;
        }""",
        arg=[LINE_PATH, minimum],
        timeout=timeout_ms,
    )


def line_path_d(page, index: int = 0) -> str:
    """The ``d`` attribute (the drawn geometry) of the ``index``-th line path."""
    return page.locator(LINE_PATH).nth(index).get_attribute("d") or ""


def wait_for_line_change(page, before: str, index: int = 0,
                         timeout_ms: int = CHART_TIMEOUT_MS) -> str:
    """Wait until the ``index``-th line's geometry differs from ``before``; return the new one."""
    page.wait_for_function(
        """([selector, index, before]) => {
            const path = document.querySelectorAll(selector)[index];
            return path !== undefined && (path.getAttribute('d') || '') !== before;
        }""",
        arg=[LINE_PATH, index, before],
        timeout=timeout_ms,
    )
    return line_path_d(page, index)


def move_slider(page, steps: int, index: int = 0) -> str:
    """Press the arrow key ``steps`` times on the ``index``-th slider handle (keyboard, like a
    learner using Tab + arrows); return the slider's readout text afterwards."""
    handle = page.locator(".widget-slider .noUi-handle").nth(index)
    handle.focus()
    key = "ArrowRight" if steps >= 0 else "ArrowLeft"
    for _ in range(abs(steps)):
        handle.press(key)
    readout = page.locator(".widget-slider .widget-readout").nth(index)
    return readout.inner_text()


def open_in_lab_and_run_all(page, lab_base_url: str, notebook: str,
                            timeout_ms: int = CHART_TIMEOUT_MS) -> None:
    """Open ``notebook`` in JupyterLab, wait for its kernel, and run all cells from the menu.

    ``?reset`` starts from an empty workspace, so a notebook another test opened in the same
    server is not restored beside this one (and "Run All" cannot go to the wrong tab). A
    click that lands while JupyterLab is still settling is retried until the first code cell
    shows an execution count.
    """
    page.goto(f"{lab_base_url}/lab/tree/{notebook}?reset")
    panel = ".jp-NotebookPanel:has(.jp-Notebook):visible"
    page.wait_for_selector(f"{panel} .jp-Notebook", timeout=timeout_ms)
    # The toolbar's kernel status reads "Idle" once the kernel has started.
    page.wait_for_selector(f"{panel} .jp-Notebook-ExecutionIndicator[data-status='idle']",
                           timeout=timeout_ms)
    started = f"{panel} .jp-CodeCell .jp-InputPrompt:text-matches('\\[(\\d+|\\*)\\]')"
    for attempt in range(3):
        page.locator(f"{panel} .jp-Notebook").first.click(position={"x": 5, "y": 5})
        page.locator(".lm-MenuBar-item", has_text="Run").first.click()
        page.locator(".lm-Menu-item[data-command='runmenu:run-all']").click()
        try:
            page.wait_for_selector(started, timeout=30_000)
            return
        except Exception:
            if attempt == 2:
                raise


def save_screenshot(page, directory: Path, name: str) -> Path:
    """Save a full-page PNG as ``directory/name.png`` and return its path."""
    path = directory / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# Geometry and colour of every drawn mark in the figures on screen (axes and legends left out),
# so "the chart changed" means the data drawn changed, not a relabelled axis.
_MARKS_SNAPSHOT_JS = """() => [...document.querySelectorAll('.bqplot svg')]
    .filter(svg => svg.getBoundingClientRect().width > 0)
    .map(svg => [...svg.querySelectorAll('path, rect, circle, text')]
        .filter(e => !e.closest('.axis') && !e.closest('.g_legend') && !e.closest('defs')
                  && !e.classList.contains('plotarea_background')
                  && !e.classList.contains('plotarea_events')
                  && !e.classList.contains('mainheading'))
        .map(e => [e.tagName, e.getAttribute('class'), e.getAttribute('d'), e.getAttribute('x'),
                   e.getAttribute('y'), e.getAttribute('width'), e.getAttribute('height'),
                   e.getAttribute('transform'), e.getAttribute('fill'), e.style.fill,
                   e.tagName === 'text' ? e.textContent : ''].join('|'))
        .join(';'))
    .join('\\n')"""


def marks_snapshot(page) -> str:
    """A string that changes whenever any visible figure draws different data.

    Clip-path rectangles (inside ``<defs>``) are left out: they follow the figure's
    layout size, which JupyterLab may still be settling while a test steps a chart,
    and they draw no data.
    """
    return page.evaluate(_MARKS_SNAPSHOT_JS)


def wait_for_marks_change(page, before: str, timeout_ms: int = CHART_TIMEOUT_MS) -> str:
    """Wait until ``marks_snapshot`` differs from ``before``; return the new snapshot."""
    page.wait_for_function(f"before => ({_MARKS_SNAPSHOT_JS})() !== before", arg=before,
                           timeout=timeout_ms)
    return marks_snapshot(page)


def wait_for_figure_or_cell_error(page, timeout_ms: int = CHART_TIMEOUT_MS) -> None:
    """Wait for the first bqplot figure; fail at once, with the message, if a cell errored.

    Voila (run with ``--show_tracebacks=True``) and JupyterLab render a failed cell as an
    error output instead of the widget, which would otherwise only surface as a timeout.
    """
    error_selector = ("[data-mime-type='application/vnd.jupyter.stderr'], "
                      ".jp-OutputArea-output.jp-mod-error, .jp-RenderedText.jp-mod-error")
    page.wait_for_function(
        "sel => document.querySelector('.bqplot svg') !== null || document.querySelector(sel) !== null",
        arg=error_selector, timeout=timeout_ms)
    errors = page.locator(error_selector)
    if errors.count() and page.locator(".bqplot svg").count() == 0:
        raise AssertionError("a notebook cell failed:\n" + errors.first.inner_text()[-2000:])
