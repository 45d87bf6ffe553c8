"""The validation table: every published row is cited, and docs/validation.md is the
script's output.

``benchmarks/validation.py`` holds the published figures (``PUBLISHED``) and prints the
table pasted into ``docs/validation.md``.  These tests fail if a row loses its citation
or evidence kind, if an increment row's published figure is not the difference it claims
to be, or if the page's table drifts from what the script computes (every row's
engine-free cells; the simulator cells of a few cheap rows, one per protocol).
"""

import importlib.util
import re
from pathlib import Path

import pytest

import tlbwidgets
from tlbwidgets.costs import COST_PRESETS

__all__ = []

ROOT = Path(__file__).resolve().parents[1]
DOC_PATH = ROOT / "docs" / "validation.md"
SCRIPT_PATH = ROOT / "benchmarks" / "validation.py"
# A citation must name author, title, venue and date: well over a few words.
MIN_SOURCE_CHARS = 60
# Rows whose simulator cells are recomputed here: one per protocol the table uses,
# all small machines, so the check stays within seconds once the engine is compiled.
SIMULATED_SAMPLE_IDS = ("IPI-2x", "A22-2d", "MK-32")
REQUIRED_KEYS = ("id", "what", "machine", "unit", "preset", "protocol", "cpus", "sockets",
                 "pages", "source", "evidence", "circular")
# Columns of HEADER that do not need the engine: id .. formula / published.
ENGINE_FREE_COLUMNS = 7


def _load_validation():
    spec = importlib.util.spec_from_file_location("validation_script", SCRIPT_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


validation = _load_validation()


def _doc_table():
    """{id: cells} of the markdown table under '## Results' in docs/validation.md."""
    text = DOC_PATH.read_text(encoding="utf-8")
    section = text.split("## Results", 1)[1].split("\n## ", 1)[0]
    table = {}
    header = None
    for line in section.splitlines():
        if not line.startswith("|") or line.startswith("|---"):
            continue
        row = tuple(c.strip() for c in line.strip().strip("|").split("|"))
        if header is None:
            header = row
            continue
        table[row[0]] = row
    return header, table


def _engine_free_result(row):
    """A row_result-shaped dict without running the engine (sim left empty)."""
    return dict(row, formula=validation._to_unit(validation.formula_cycles(row), row),
                sim=None, note="")


def test_every_published_row_is_cited_and_well_formed():
    ids = [row["id"] for row in validation.PUBLISHED]
    assert len(ids) == len(set(ids)), "duplicate ids in PUBLISHED"
    for row in validation.PUBLISHED:
        missing = [k for k in REQUIRED_KEYS if k not in row]
        assert not missing, f"{row.get('id')}: missing {missing}"
        assert len(row["source"].strip()) >= MIN_SOURCE_CHARS, f"{row['id']}: thin citation"
        assert row["evidence"] in validation.EVIDENCE_KINDS, row["id"]
        if row["evidence"] == "secondary":
            # A secondary figure must say so in its citation, not only in a column.
            assert row["source"].startswith("Secondary"), row["id"]
        assert row["unit"] in ("cycles", "us"), row["id"]
        assert ("value" in row) != ("low" in row and "high" in row), row["id"]
        assert row["preset"] in COST_PRESETS, row["id"]
        assert row["protocol"] in tlbwidgets.PROTOCOLS, row["id"]
        assert 1 <= row["sockets"] <= row["cpus"], row["id"]
        if "minus" in row:
            assert "derived" in row, f"{row['id']}: an increment must show its arithmetic"
            assert 1 <= row["minus"]["sockets"] <= row["minus"]["cpus"] < row["cpus"]


def _number(text):
    """'1436' -> 1436.0, '29.5k' -> 29500.0."""
    return float(text[:-1]) * 1000 if text.endswith("k") else float(text)


@pytest.mark.parametrize("row", [r for r in validation.PUBLISHED if "derived" in r],
                         ids=lambda r: r["id"])
def test_increment_rows_are_the_difference_they_claim(row):
    match = re.fullmatch(r"([\d.]+k?) - ([\d.]+k?) (ns|cycles)", row["derived"])
    assert match, f"{row['id']}: cannot read derived={row['derived']!r}"
    difference = _number(match.group(1)) - _number(match.group(2))
    if match.group(3) == "ns":
        assert row["unit"] == "us"
        difference /= 1000.0
    else:
        assert row["unit"] == "cycles"
    assert row["value"] == pytest.approx(difference, rel=1e-9)


def test_doc_table_has_every_row_in_order_with_the_scripts_published_cells():
    header, table = _doc_table()
    assert header == validation.HEADER
    assert list(table) == [row["id"] for row in validation.PUBLISHED]
    for row in validation.PUBLISHED:
        expected = validation.cells(_engine_free_result(row))[:ENGINE_FREE_COLUMNS]
        assert table[row["id"]][:ENGINE_FREE_COLUMNS] == expected, row["id"]
        # The evidence column does not need the engine either.
        assert table[row["id"]][header.index("evidence")] == row["evidence"], row["id"]


@pytest.mark.parametrize("row_id", SIMULATED_SAMPLE_IDS)
def test_doc_simulator_cells_match_a_fresh_run(row_id):
    _, table = _doc_table()
    row = next(r for r in validation.PUBLISHED if r["id"] == row_id)
    assert table[row_id] == validation.cells(validation.row_result(row))
