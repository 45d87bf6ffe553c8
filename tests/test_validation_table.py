"""The validation table: every published row is cited, docs/validation.md is the
script's output, and the held-out primary rows stay within 0.67-1.5x of the simulator.

``benchmarks/validation.py`` holds the published figures (``PUBLISHED``) and writes the
table block of ``docs/validation.md`` (``--write-doc``).  These tests fail if a row loses
its citation, evidence kind or role, if an increment row's published figure is not the
difference it claims to be, if the page's table drifts from what the script computes
(every row's engine-free cells; the simulator cells of a few cheap rows, one per
protocol, and of every checked row; the summary line), or if a held-out primary row
leaves ``HELD_OUT_BAND``.  Only the checked rows and the sample are simulated, all
single shootdowns, so this stays within seconds once the engine is compiled.
"""

import re
from pathlib import Path

import pytest

import tlbwidgets
from tlbwidgets.costs import COST_PRESETS

from benchmark_script import load_benchmark

__all__ = []

ROOT = Path(__file__).resolve().parents[1]
DOC_PATH = ROOT / "docs" / "validation.md"
# A citation must name author, title, venue and date: well over a few words.
MIN_SOURCE_CHARS = 60
# Rows whose simulator cells are recomputed here: one per protocol the table uses,
# all small machines, so the check stays within seconds once the engine is compiled.
SIMULATED_SAMPLE_IDS = ("IPI-2x", "A22-2d", "MK-32")
REQUIRED_KEYS = ("id", "what", "machine", "unit", "preset", "protocol", "cpus", "sockets",
                 "pages", "source", "evidence", "role")
# Columns of HEADER that do not need the engine: id .. formula / published.
ENGINE_FREE_COLUMNS = 7


validation = load_benchmark("validation.py", "validation_script")
# The rows whose figure must stay within HELD_OUT_BAND: held out and primary.
CHECKED_ROWS = [row for row in validation.PUBLISHED if validation.is_checked(row)]
# Held-out rows that the presets are known to miss, with the measured ratio; they
# stay real checks (strict: an unexpected pass fails too), and no cost was tuned to them.
KNOWN_OUTSIDE = {
    "W18-u": "kvm_guest on linux, 2 CPUs: 9.28 us from send to handler simulated against "
             "2.264 us published, ratio 4.10: kvm_guest's IPI costs are measured on this "
             "project's host, whose VM exit (3.5 us) and IPI round trip (9.1 us) cost 3.6-4.5x "
             "those of the published Skylake host (docs/costs.md, kvm_guest)",
    "W18-rt": "kvm_guest on linux, 2 CPUs: 9.41 us simulated against a 2.554 us round trip "
              "published, ratio 3.68: another host, see W18-u (docs/costs.md, kvm_guest)",
    "W18-bc": "kvm_guest on linux (x2APIC cluster), 80 CPUs: 24.7 us simulated against "
              "92.8 us published, ratio 0.27: one exit per cluster of 16 and no host work "
              "per destination in the model, on another host's costs (docs/validation.md)",
}


def _band_params():
    return [pytest.param(row, id=row["id"],
                         marks=[pytest.mark.xfail(strict=True, reason=KNOWN_OUTSIDE[row["id"]])]
                         if row["id"] in KNOWN_OUTSIDE else [])
            for row in CHECKED_ROWS]


def _doc_table():
    """{id: cells} of the markdown table under '## Results' in docs/validation.md."""
    text = DOC_PATH.read_text(encoding="utf-8")
    section = text.split(validation.DOC_BEGIN, 1)[1].split(validation.DOC_END, 1)[0]
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
        if row["evidence"] == "project":
            assert row["source"].startswith("Project measurement"), row["id"]
        assert row["role"] in validation.ROLES, row["id"]
        assert row.get("quantity", "latency") in ("latency", "send_to_handler"), row["id"]
        assert row["unit"] in ("cycles", "us"), row["id"]
        assert ("value" in row) != ("low" in row and "high" in row), row["id"]
        assert row["preset"] in COST_PRESETS, row["id"]
        assert row["protocol"] in tlbwidgets.PROTOCOLS, row["id"]
        assert 1 <= row["sockets"] <= row["cpus"], row["id"]
        if "minus" in row:
            assert "derived" in row, f"{row['id']}: an increment must show its arithmetic"
            m = row["minus"]
            assert 1 <= m["sockets"] <= m["cpus"] <= row["cpus"], row["id"]
            assert (m["cpus"], m.get("pages", row["pages"])) != (row["cpus"], row["pages"])


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
        # The evidence and role columns do not need the engine either.
        assert table[row["id"]][header.index("evidence")] == row["evidence"], row["id"]
        assert table[row["id"]][header.index("role")] == row["role"], row["id"]


@pytest.mark.parametrize("row_id", SIMULATED_SAMPLE_IDS)
def test_doc_simulator_cells_match_a_fresh_run(row_id):
    _, table = _doc_table()
    row = next(r for r in validation.PUBLISHED if r["id"] == row_id)
    assert table[row_id] == validation.cells(validation.row_result(row))


@pytest.fixture(scope="module")
def checked_results():
    return {row["id"]: validation.row_result(row) for row in CHECKED_ROWS}


def test_there_are_held_out_primary_rows_to_check():
    assert len(CHECKED_ROWS) >= 5
    assert set(KNOWN_OUTSIDE) <= {row["id"] for row in CHECKED_ROWS}
    # Fitted, context and secondary rows never count.
    assert not validation.is_checked(dict(role="fitted", evidence="primary"))
    assert not validation.is_checked(dict(role="context", evidence="primary"))
    assert not validation.is_checked(dict(role="held out", evidence="secondary"))


@pytest.mark.parametrize("row", _band_params())
def test_held_out_primary_rows_stay_within_the_band(row, checked_results):
    result = checked_results[row["id"]]
    if result["sim"] is None and "unknown option" in result["note"]:
        pytest.skip(f"{row['id']} needs an option this engine does not have yet "
                    f"({result['note']})")
    assert result["sim"] is not None, f"{row['id']}: {result['note']}"
    low, high = validation.HELD_OUT_BAND
    ratio = validation.ratio(result)
    assert low <= ratio <= high, (
        f"{row['id']}: simulator / published = {ratio:.2f}, outside {low}-{high}x "
        f"({result['sim']:.4g} against {row['value']:g} {row['unit']})")


@pytest.mark.parametrize("row", CHECKED_ROWS, ids=lambda r: r["id"])
def test_doc_cells_of_checked_rows_match_a_fresh_run(row, checked_results):
    _, table = _doc_table()
    assert table[row["id"]] == validation.cells(checked_results[row["id"]])


def test_doc_summary_line_matches_a_fresh_run(checked_results):
    text = DOC_PATH.read_text(encoding="utf-8")
    block = text.split(validation.DOC_BEGIN, 1)[1].split(validation.DOC_END, 1)[0]
    expected = validation.summary_line(list(checked_results.values()))
    assert expected in block.splitlines()


def test_write_doc_replaces_only_the_generated_block(tmp_path, monkeypatch):
    monkeypatch.setattr(validation, "rows", lambda: iter(()))
    page = tmp_path / "validation.md"
    page.write_text(f"before\n{validation.DOC_BEGIN}\nold\n{validation.DOC_END}\nafter\n")
    validation.write_doc(page)
    text = page.read_text()
    assert text.startswith("before\n") and text.endswith("\nafter\n") and "old" not in text
    assert validation.HEADER[0] in text
    page.write_text("no markers here\n")
    with pytest.raises(ValueError, match="generated block"):
        validation.write_doc(page)


def test_linux_on_2_and_8_sockets_lands_near_the_quoted_latr_figures():
    # The multi-socket linux figures quoted from LATR (secondary, so outside
    # the check above): each simulated shootdown within 0.67-1.5x of its
    # quoted figure, and their growth from 16 CPUs / 2 sockets to 120 / 8
    # within 1.5-4x (the quotation's is 2.4x).  No cost is fitted to them.
    rows = {row["id"]: row for row in validation.PUBLISHED}
    small = validation.row_result(rows["L18i-16"])
    large = validation.row_result(rows["L18i-120"])
    for result in (small, large):
        assert result["note"] == "completed"
        assert 0.67 <= validation.ratio(result) <= 1.5, (result["id"], validation.ratio(result))
    assert 1.5 <= large["sim"] / small["sim"] <= 4
