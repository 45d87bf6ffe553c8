"""``python -m tlbwidgets``: echoes its configuration, prints a summary,
exits non-zero with one line (no traceback) on bad arguments."""

import json
import subprocess
import sys

import pytest

from tlbwidgets.cli import main, parse_value


def _run(*args):
    return subprocess.run([sys.executable, "-m", "tlbwidgets", *args],
                          capture_output=True, text=True, timeout=600)


def test_simulate_prints_config_and_summary():
    p = _run("simulate", "--cpus", "4", "--protocol", "mailbox", "--workload", "single",
             "--seed", "1", "--set", "pages=3")
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "configuration" in out and "summary" in out
    for key in ("cpus", "protocol", "workload", "seed", "pages", "ack_timeout_spins",
                "latency_cycles_median", "violations", "outcome"):
        assert key in out
    assert "completed" in out


def test_simulate_takes_the_apic_mode(capsys):
    import tlbwidgets as tw
    assert main(["simulate", "--cpus", "20", "--protocol", "linux", "--workload", "single",
                 "--set", "apic_mode=physical", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["config"]["apic_mode"] == "physical"
    r = tw.simulate(cpus=20, protocol="linux", workload="single", apic_mode="physical")
    assert data["summary"]["latency_cycles_median"] == r.summary()["latency_cycles_median"]


def test_simulate_takes_the_ack_layout(capsys):
    import tlbwidgets as tw
    assert main(["simulate", "--cpus", "16", "--sockets", "2", "--workload", "single",
                 "--set", "ack_layout=padded", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["config"]["ack_layout"] == "padded"
    r = tw.simulate(cpus=16, sockets=2, workload="single", ack_layout="padded")
    packed = tw.simulate(cpus=16, sockets=2, workload="single")
    assert data["summary"]["latency_cycles_median"] == r.summary()["latency_cycles_median"]
    assert r.summary()["latency_cycles_median"] != packed.summary()["latency_cycles_median"]


def test_simulate_json_matches_the_api(capsys):
    import tlbwidgets as tw
    assert main(["simulate", "--cpus", "4", "--workload", "single", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    r = tw.simulate(cpus=4, workload="single")
    assert data["summary"]["latency_cycles_median"] == r.summary()["latency_cycles_median"]
    assert data["config"]["cpus"] == 4


@pytest.mark.parametrize("args,words", [
    (["simulate", "--cpus", "0"], ["cpus", "0"]),
    (["simulate", "--protocol", "nope"], ["protocol", "nope"]),
    (["simulate", "--set", "bogus=1"], ["bogus"]),
    (["simulate", "--set", "apic_mode=flat"], ["apic_mode", "flat", "x2apic_cluster"]),
    (["simulate", "--set", "ack_layout=tight"], ["ack_layout", "tight", "packed", "padded"]),
    (["simulate", "--set", "pages"], ["KEY=VALUE"]),
    (["frobnicate"], ["unknown command"]),
    (["simulate", "--workload", "short_range", "--set", "byte_offset=5000"],
     ["byte_offset", "between 0 and 4095", "5000"]),
])
def test_bad_arguments_exit_nonzero_with_one_line(args, words):
    p = _run(*args)
    assert p.returncode != 0
    assert "Traceback" not in p.stderr
    lines = [l for l in p.stderr.strip().splitlines() if l.strip()]
    assert len(lines) == 1, p.stderr
    for w in words:
        assert w in lines[0]


def test_a_byte_range_unmap_runs_from_the_command_line(capsys):
    assert main(["simulate", "--cpus", "3", "--workload", "short_range", "--set",
                 "byte_offset=100", "--set", "byte_len=1000", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["config"]["byte_len"] == 1000
    assert data["summary"]["violations"] >= 1      # the sub-page range flushed nothing


def test_parse_value():
    assert parse_value("3") == 3 and parse_value("0.5") == 0.5
    assert parse_value("none") is None and parse_value("True") is True
    assert parse_value("1,2") == (1, 2) and parse_value("uniform") == "uniform"
