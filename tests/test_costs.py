"""Cost presets: validation, error messages, and that every number is cited.

The citation test parses ``docs/costs.md``: each preset has a ``### `name` ``
heading followed by a markdown table with one row per field (``clock_ghz`` and
every entry of ``COST_FIELDS``) whose value matches the preset, whose tag says
what kind of source it is, and whose source cell is non-trivial; every
``[KEY]`` a row cites is defined under "References".  An uncited, untagged or
stale number therefore fails here.
"""

import re
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import pytest

from tlbwidgets.costs import COST_FIELDS, COST_PRESETS, Costs, resolve_costs

__all__ = []

DOC_PATH = Path(__file__).resolve().parents[1] / "docs" / "costs.md"
REQUIRED_PRESETS = ("default", "intel_2socket", "large_8socket", "amd_broadcast",
                    "kvm_guest")
# The tags docs/costs.md defines for the kind of source behind a number.
TAGS = ("fit", "derived", "measurement", "vendor", "kernel", "estimate", "choice")
# A source must say more than a word: at least this many characters of text.
MIN_SOURCE_CHARS = 20


def _parse_rows(text):
    """Return {preset: {field: [cells]}}: the field rows of each ``### `name` ``
    section's table, cells stripped."""
    tables = {}
    current = None
    for line in text.splitlines():
        heading = re.match(r"^###\s+`([A-Za-z0-9_]+)`\s*$", line)
        if heading:
            current = tables.setdefault(heading.group(1), {})
            continue
        if line.startswith("#"):
            current = None
            continue
        if current is None or not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        field = re.fullmatch(r"`([a-z_]+)`", cells[0])
        if field:
            current[field.group(1)] = cells
    return tables


def _parse_cost_tables(text):
    """Return {preset: {field: (value_text, source_text)}} from the markdown:
    the value is the second cell, the source the last one."""
    return {preset: {field: (cells[1], cells[-1]) for field, cells in rows.items()
                     if len(cells) >= 4}
            for preset, rows in _parse_rows(text).items()}


def _parse_tags(text):
    """Return {preset: {field: tag_text}}: the fourth of five cells ('' in a
    table without a tag column)."""
    return {preset: {field: cells[3] if len(cells) == 5 else ""
                     for field, cells in rows.items()}
            for preset, rows in _parse_rows(text).items()}


@pytest.fixture(scope="module")
def doc_text():
    return DOC_PATH.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def doc_tables(doc_text):
    return _parse_cost_tables(doc_text)


def test_required_presets_exist():
    for name in REQUIRED_PRESETS:
        assert name in COST_PRESETS


@pytest.mark.parametrize("name", sorted(COST_PRESETS))
def test_every_preset_validates_and_is_named(name):
    c = COST_PRESETS[name]
    assert c.name == name
    # Re-constructing from its own fields runs __post_init__ again.
    assert Costs(**c.to_dict()) == c
    arr = c.as_array()
    assert arr.dtype == np.int64 and arr.shape == (len(COST_FIELDS),)
    assert (arr >= 0).all()
    assert c.pause >= 1


def test_dataclass_defaults_equal_default_preset():
    assert replace(Costs(), name="default") == COST_PRESETS["default"]


def test_cost_fields_cover_all_integer_dataclass_fields():
    names = [f.name for f in fields(Costs)]
    assert list(COST_FIELDS) == names[:len(COST_FIELDS)]
    assert set(names) - set(COST_FIELDS) == {"clock_ghz", "name"}


@pytest.mark.parametrize("name", sorted(COST_PRESETS))
def test_cross_socket_costs_not_below_same_socket(name):
    c = COST_PRESETS[name]
    assert c.cacheline_remote >= c.cacheline
    assert c.ipi_latency_remote >= c.ipi_latency


@pytest.mark.parametrize("field", COST_FIELDS)
@pytest.mark.parametrize("bad, exc", [(-1, ValueError), (1.5, TypeError), (2.0, TypeError),
                                      (True, TypeError), ("3", TypeError), (None, TypeError)])
def test_bad_integer_field_raises_naming_the_field(field, bad, exc):
    with pytest.raises(exc, match=rf"Costs\.{field}\b"):
        Costs(**{field: bad})


def test_numpy_integers_are_accepted():
    assert Costs(invlpg=np.int64(7)).invlpg == 7


def test_pause_must_be_at_least_one_cycle():
    with pytest.raises(ValueError, match=r"Costs\.pause"):
        Costs(pause=0)


@pytest.mark.parametrize("bad, exc", [(0.0, ValueError), (11.0, ValueError),
                                      (float("nan"), ValueError), (True, TypeError),
                                      ("3", TypeError)])
def test_bad_clock_raises_naming_clock(bad, exc):
    with pytest.raises(exc, match=r"Costs\.clock_ghz"):
        Costs(clock_ghz=bad)


def test_with_changes_one_field_and_validates():
    base = COST_PRESETS["intel_2socket"]
    changed = base.with_(invlpg=7)
    assert changed.invlpg == 7 and changed.cacheline == base.cacheline
    with pytest.raises(ValueError, match=r"Costs\.invlpg"):
        base.with_(invlpg=-1)
    with pytest.raises(ValueError, match=r"no_such_field"):
        base.with_(no_such_field=1)


def test_resolve_costs_accepts_names_objects_and_dicts():
    assert resolve_costs("amd_broadcast") is COST_PRESETS["amd_broadcast"]
    c = Costs(invlpg=3)
    assert resolve_costs(c) is c
    d = resolve_costs({"preset": "large_8socket", "pause": 5})
    assert d.pause == 5 and d.invlpg == COST_PRESETS["large_8socket"].invlpg
    assert d.name == "large_8socket+custom"


def test_resolve_costs_unknown_name_lists_presets():
    with pytest.raises(ValueError) as info:
        resolve_costs("no_such_machine")
    msg = str(info.value)
    assert "costs=" in msg and "no_such_machine" in msg
    for name in COST_PRESETS:
        assert name in msg


def test_resolve_costs_bad_dict_and_type_name_costs():
    with pytest.raises(ValueError, match=r"costs.*bogus"):
        resolve_costs({"bogus": 1})
    with pytest.raises(ValueError, match=r"costs=.*nope"):
        resolve_costs({"preset": "nope"})
    with pytest.raises(TypeError, match=r"costs"):
        resolve_costs(42)
    with pytest.raises(ValueError, match=r"Costs\.invlpg"):
        resolve_costs({"invlpg": -5})


def test_doc_parser_sees_every_preset(doc_tables):
    assert set(COST_PRESETS) <= set(doc_tables)


@pytest.mark.parametrize("name", sorted(COST_PRESETS))
def test_every_preset_number_is_cited_in_docs(name, doc_tables):
    c = COST_PRESETS[name]
    table = doc_tables.get(name, {})
    for field in ("clock_ghz",) + tuple(COST_FIELDS):
        assert field in table, f"docs/costs.md has no row for {name}.{field}"
        value_text, source = table[field]
        number = float(re.match(r"[-+0-9.eE]+", value_text).group(0))
        assert number == float(getattr(c, field)), (
            f"docs/costs.md says {name}.{field} = {value_text}, preset has {getattr(c, field)}")
        assert len(source) >= MIN_SOURCE_CHARS, f"{name}.{field} has no real source: {source!r}"


@pytest.mark.parametrize("name", sorted(COST_PRESETS))
def test_every_preset_number_says_what_kind_of_source_it_has(name, doc_text):
    tags = _parse_tags(doc_text).get(name, {})
    for field in ("clock_ghz",) + tuple(COST_FIELDS):
        assert tags.get(field) in TAGS, (
            f"docs/costs.md row {name}.{field} has tag {tags.get(field)!r}; allowed: {TAGS}")


def test_every_cited_reference_is_defined(doc_text, doc_tables):
    body, references = doc_text.split("\n## References", 1)
    defined = set(re.findall(r"^- \[([A-Z0-9]+)\]", references, flags=re.MULTILINE))
    cited = {key for table in doc_tables.values() for _, source in table.values()
             for key in re.findall(r"\[([A-Z0-9]+)\]", source)}
    cited |= set(re.findall(r"\[([A-Z0-9]+)\]", body))
    assert cited, "the parser found no citation at all"
    assert not cited - defined, f"cited but not under References: {sorted(cited - defined)}"


def test_estimates_give_their_reason(doc_text, doc_tables):
    # An estimate must say why no measurement backs it.
    tags = _parse_tags(doc_text)
    for name, table in tags.items():
        for field, tag in table.items():
            if tag == "estimate":
                source = doc_tables[name][field][1].lower()
                assert re.search(r"no |not |assum|what-if|as `", source), (
                    f"{name}.{field} is an estimate without a reason: {source!r}")


def test_doc_parser_rejects_an_uncited_row():
    text = ("### `x`\n| field | cycles | µs | source |\n|---|---|---|---|\n"
            "| `invlpg` | 200 | 0.067 |  |\n")
    value, source = _parse_cost_tables(text)["x"]["invlpg"]
    assert value == "200" and len(source) < MIN_SOURCE_CHARS
