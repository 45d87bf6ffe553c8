"""In the browser, the explorer's CSV export reaches the person who clicked: the app served
as `python -m tlbwidgets app` serves it offers a link, and clicking it downloads a zip of the
run's tables; nothing is written on the server."""

from __future__ import annotations

import csv
import io
import re
import zipfile

from harness import NOTEBOOKS_DIR
from widget_page import save_screenshot, wait_for_figure_or_cell_error

FIRST_RENDER_TIMEOUT_MS = 180_000


def test_explorer_csv_export_downloads_a_zip_in_the_browser(page, voila, screenshot_dir,
                                                            warm_engine, tmp_path):
    server = voila("app.ipynb")
    page.goto(server.url)
    wait_for_figure_or_cell_error(page, timeout_ms=FIRST_RENDER_TIMEOUT_MS)
    # Export only once the first run is on screen: its echo names the protocol.
    page.get_by_text(re.compile(r"cpus=\d+")).first.wait_for(timeout=FIRST_RENDER_TIMEOUT_MS)

    page.get_by_role("button", name="CSV").click()
    link = page.get_by_role("link", name=re.compile(r"Download tlbwidgets_run_csv\.zip"))
    link.wait_for(timeout=60_000)
    save_screenshot(page, screenshot_dir, "export-voila-link")
    with page.expect_download(timeout=60_000) as download_info:
        link.click()
    download = download_info.value

    assert download.suggested_filename == "tlbwidgets_run_csv.zip"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    archive = zipfile.ZipFile(saved)
    assert "tlbwidgets_run_summary.csv" in archive.namelist()
    summary = list(csv.DictReader(io.StringIO(
        archive.read("tlbwidgets_run_summary.csv").decode())))
    assert summary and int(summary[0]["shootdowns"]) > 0
    assert any(name.endswith("_shootdowns.csv") for name in archive.namelist())
    # The kernel runs beside the notebook Voila serves: nothing was written there.
    assert not list(NOTEBOOKS_DIR.glob("tlbwidgets_run*"))
