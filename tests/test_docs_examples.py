"""The examples in docs/ do what the text around them says, and the
modules are layered as documented (no import circles)."""

import ast
from pathlib import Path

import tlbwidgets as tw

ROOT = Path(__file__).parents[1]


def _python_block(doc, marker):
    """The fenced ```python block of ``docs/<doc>`` that contains ``marker``."""
    text = (ROOT / "docs" / doc).read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0] for b in text.split("```python\n")[1:]]
    found = [b for b in blocks if marker in b]
    assert len(found) == 1, f"{doc}: {len(found)} python blocks hold {marker!r}"
    return found[0]


def test_the_ack_race_example_of_model_md_shows_one_violation_after_the_safe_time():
    # the example as printed runs (r.violations[0] exists) ...
    code = _python_block("model.md", 'workload="ack_race")')
    names = {"tw": tw}
    exec(compile(code, "docs/model.md", "exec"), names)
    r, v, sd = names["r"], names["v"], names["sd"]
    assert r.config["offset_cycles"] == 3_100       # the default the workload table states
    assert "default 3,100" in (ROOT / "docs" / "model.md").read_text(encoding="utf-8")
    # ... and its comments hold
    assert r.summary()["violations"] == 1
    assert (v["cpu"], v["vpn"], v["time"]) == (3, 2, 26_517)
    assert sd["initiator"] == 7 and v["time"] >= sd["safe"]
    d = r.deliveries
    flushed = d[(d["shootdown"] == sd["id"]) & (d["cpu"] == v["cpu"])]["flushed"]
    assert len(flushed) == 1 and flushed[0] > sd["end"]
    # the repair makes B wait for the victim's own flush
    fixed = tw.simulate(cpus=8, protocol="mailbox_fixed", workload="ack_race")
    assert fixed.summary()["violations"] == 0


def test_the_short_range_example_of_model_md_runs_and_its_comments_hold():
    code = _python_block("model.md", 'workload="short_range")')
    names = {"tw": tw}
    exec(compile(code, "docs/model.md", "exec"), names)
    r = names["r"]
    assert r.shootdowns[["pages", "flushed_pages", "kind"]].tolist() == [(2, 1, "page")]
    assert sorted(set(r.violations["vpn"].tolist())) == [2]
    assert sorted(set(r.violations["cpu"].tolist())) == [0, 1, 2, 3]
    sub = tw.simulate(cpus=4, protocol="mailbox", workload="short_range", byte_offset=100,
                      byte_len=1000)
    assert sub.shootdowns["flushed_pages"].tolist() == [0]
    assert sorted(set(sub.violations["vpn"].tolist())) == [1]


def test_the_ack_race_on_4_cpus_shows_only_where_model_md_says():
    for sockets in (1, 2):
        for offset in range(2_000, 6_000, 250):
            r = tw.simulate(cpus=4, sockets=sockets, protocol="mailbox", workload="ack_race",
                            offset_cycles=offset)
            assert r.summary()["violations"] == 0
    # two sockets, inside the narrow band: the packed line's remote store opens it
    race = dict(cpus=4, sockets=2, workload="ack_race", offset_cycles=2_125,
                victim_section_cycles=2_700)
    assert tw.simulate(protocol="mailbox", **race).summary()["violations"] == 1
    assert tw.simulate(protocol="mailbox", ack_layout="padded",
                       **race).summary()["violations"] == 0
    assert tw.simulate(protocol="mailbox_fixed", **race).summary()["violations"] == 0


def _imports(module_path):
    """The tlbwidgets modules a source file imports (relative ones resolved)."""
    tree = ast.parse(module_path.read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                out.add(node.module or "")
            elif node.module and node.module.startswith("tlbwidgets."):
                out.add(node.module[len("tlbwidgets."):])
    return out


def test_workloads_and_scenarios_do_not_import_each_other():
    pkg = ROOT / "tlbwidgets"
    assert "workloads" not in _imports(pkg / "scenarios.py")
    assert not {"workloads", "scenarios"} & _imports(pkg / "_workload.py")
    # and the scenarios are still named workloads
    assert set(tw.workloads.WORKLOADS) >= {"mutual_wait", "idle_cpus",
                                          "concurrent_initiators", "threshold_edge"}
