"""Export reaches the person who clicked: CSV and JSON become a download link holding the
files, nothing is written where the kernel runs unless asked, and the link's contents are
the same files a server-side export writes."""

import base64
import csv
import io
import json
import re
import zipfile

import pytest

import tlbwidgets as tw
from tlbwidgets.widgets.export import ExportBar, csv_files, json_text, TABLES


@pytest.fixture(scope="module")
def results():
    return {"mailbox": tw.simulate(cpus=4, protocol="mailbox", workload="uniform", seed=1),
            "mailbox fixed": tw.simulate(cpus=4, protocol="mailbox_fixed", workload="uniform",
                                         seed=1)}


@pytest.fixture
def bar(results, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)     # the kernel's working folder: must stay empty by default
    return ExportBar(lambda: results, lambda: {})


def _link(bar):
    """(file name, bytes) of the download link the bar shows."""
    match = re.search(r'<a download="([^"]+)" href="data:([^;]+);base64,([^"]+)"',
                      bar.download.value)
    assert match, bar.download.value
    return match.group(1), match.group(2), base64.b64decode(match.group(3))


def test_csv_export_offers_one_zip_of_every_table_and_writes_nothing(bar, results, tmp_path):
    names = bar.export("CSV")
    filename, mime, data = _link(bar)
    assert names == [filename] == ["tlbwidgets_run_csv.zip"] and mime == "application/zip"
    assert list(tmp_path.iterdir()) == []
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.namelist() == list(csv_files(results, "tlbwidgets_run"))
    assert len(archive.namelist()) == 1 + len(results) * len(TABLES)
    summary = list(csv.DictReader(io.StringIO(archive.read("tlbwidgets_run_summary.csv").decode())))
    assert [row["run"] for row in summary] == list(results)
    assert [int(row["shootdowns"]) for row in summary] == [
        r.summary()["shootdowns"] for r in results.values()]
    rows = list(csv.reader(io.StringIO(
        archive.read("tlbwidgets_run_mailbox_fixed_shootdowns.csv").decode())))
    assert len(rows) == 1 + len(results["mailbox fixed"].shootdowns)
    assert "click the link" in bar.message.value and "server" not in bar.message.value


def test_json_export_offers_the_runs_and_writes_nothing(bar, results, tmp_path):
    bar.prefix_text.value = "lecture3"
    bar.export("JSON")
    filename, mime, data = _link(bar)
    assert filename == "lecture3.json" and mime == "application/json"
    assert list(tmp_path.iterdir()) == []
    payload = json.loads(data)
    assert list(payload) == list(results)
    assert payload["mailbox"]["summary"]["violations"] == results["mailbox"].summary()["violations"]
    assert data.decode() == json_text(results)


def test_saving_on_the_server_is_explicit_and_writes_the_same_files(bar, results, tmp_path):
    bar.server_box.value = True
    assert bar.save_on_server
    names = bar.export("CSV")
    _, _, data = _link(bar)
    written = names[1:]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(written)
    archive = zipfile.ZipFile(io.BytesIO(data))
    for path in written:
        assert (tmp_path / path).read_bytes() == archive.read(path)
    assert "also saved on the server" in bar.message.value


def test_export_before_any_run_says_so_and_offers_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bar = ExportBar(lambda: {}, lambda: {})
    assert bar.export("CSV") == []
    assert "run a simulation first" in bar.message.value and bar.download.value == ""
