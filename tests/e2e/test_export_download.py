"""In the browser, export reaches the person who clicked. In the explorer served as
`python -m tlbwidgets app` serves it, CSV offers a link that downloads a zip of the run's
tables, and nothing is written on the server; in JupyterLab, JSON downloads the same way."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from urllib.parse import urlsplit

from harness import NOTEBOOKS_DIR
from widget_page import open_in_lab_and_run_all, save_screenshot, wait_for_figure_or_cell_error

FIRST_RENDER_TIMEOUT_MS = 180_000


def _click_export_then_download(page, button, filename, folder, on_link_shown):
    """Press the export ``button``, click the download link it shows, check the browser
    saves ``filename``, and return where the downloaded file was saved in ``folder``."""
    page.get_by_role("button", name=button).click()
    link = page.get_by_role("link", name=re.compile(rf"Download {re.escape(filename)}"))
    link.wait_for(timeout=FIRST_RENDER_TIMEOUT_MS)
    on_link_shown()
    with page.expect_download(timeout=60_000) as download_info:
        link.click()
    download = download_info.value
    assert download.suggested_filename == filename
    saved = folder / filename
    download.save_as(saved)
    return saved


def test_explorer_csv_export_downloads_a_zip_in_the_browser(page, voila, screenshot_dir,
                                                            warm_engine, tmp_path):
    server = voila("app.ipynb")
    page.goto(server.url)
    wait_for_figure_or_cell_error(page, timeout_ms=FIRST_RENDER_TIMEOUT_MS)
    # Export only once the first run is on screen: its echo names the protocol.
    page.get_by_text(re.compile(r"cpus=\d+")).first.wait_for(timeout=FIRST_RENDER_TIMEOUT_MS)

    saved = _click_export_then_download(page, "CSV", "tlbwidgets_run_csv.zip", tmp_path,
                                        lambda: save_screenshot(page, screenshot_dir,
                                                                "export-voila-link"))
    archive = zipfile.ZipFile(saved)
    assert "tlbwidgets_run_summary.csv" in archive.namelist()
    summary = list(csv.DictReader(io.StringIO(
        archive.read("tlbwidgets_run_summary.csv").decode())))
    assert summary and int(summary[0]["shootdowns"]) > 0
    assert any(name.endswith("_shootdowns.csv") for name in archive.namelist())
    # The kernel runs beside the notebook Voila serves: nothing was written there.
    assert not list(NOTEBOOKS_DIR.glob("tlbwidgets_run*"))


def test_json_export_downloads_in_jupyterlab(page, lab, screenshot_dir, warm_engine, tmp_path):
    parts = urlsplit(lab.url)
    open_in_lab_and_run_all(page, f"{parts.scheme}://{parts.netloc}", "export.ipynb")
    saved = _click_export_then_download(page, "JSON", "tlbwidgets_run.json", tmp_path,
                                        lambda: save_screenshot(page, screenshot_dir,
                                                                "export-lab-link"))
    data = json.loads(saved.read_text())
    assert list(data) == ["mailbox"]
    assert data["mailbox"]["summary"]["shootdowns"] == 1
