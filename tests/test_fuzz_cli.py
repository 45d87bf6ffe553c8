"""Random command lines for ``simulate`` and ``sweep``: the status is 0, or
2 with exactly one line on stderr (no traceback, no usage block), and a
command line that names an output file it cannot write runs nothing."""

from hypothesis import given, strategies as st

from tlbwidgets.cli import main

from fuzz_values import RUN_SECONDS, Timed, fuzz_settings

# Values a learner might type: good ones (kept small so that runs are quick),
# bad ones, huge ones and odd characters.
_VALUES = ["2", "4", "0", "-3", "1025", "abc", "²", "1e3", "2.5", "", "none", "true",
           "99999999999999999999999", "9223372036854775808", "mailbox", "linux", "nope",
           "single", "uniform", "ack_race", "default", "amd_broadcast"]
_SETS = ["pages=2", "accesses=100", "accesses=100000000", "think_cycles=1000000000001",
         "think_cycles=5", "quiet_cycles=9223372036854775807", "ack_timeout_spins=none",
         "ack_timeout_spins=0", "vm_pages=16", "vm_pages=abc", "unmap_rate=1.5",
         "offline=1,2", "offline=[1", "bogus=1", "pages", "=3", "tick_cycles=0",
         "max_events=1000", "max_events=0"]


def _simulate_argv():
    flag = st.sampled_from(["--cpus", "--sockets", "--protocol", "--workload", "--costs",
                            "--seed", "--set", "--json", "--frobnicate", "-x"])
    item = st.one_of(
        st.tuples(flag, st.sampled_from(_VALUES)).map(list),
        st.tuples(st.just("--set"), st.sampled_from(_SETS)).map(list),
        flag.map(lambda f: [f]),
        st.text(max_size=4).map(lambda t: [t]))
    return st.lists(item, max_size=4).map(
        lambda items: ["simulate", "--set", "accesses=100", "--set", "max_events=20000",
                       *[tok for it in items for tok in it]])


def _sweep_argv(tmp):
    item = st.one_of(
        st.tuples(st.sampled_from(["--cpus", "--seeds", "--sockets"]),
                  st.lists(st.sampled_from(_VALUES), min_size=0, max_size=2)).map(
            lambda t: [t[0], *t[1]]),
        st.tuples(st.sampled_from(["--protocol", "--workload", "--costs", "--columns"]),
                  st.sampled_from(_VALUES)).map(list),
        st.tuples(st.just("--option"), st.sampled_from(_SETS)).map(list),
        st.tuples(st.sampled_from(["--json", "--csv", "--checkpoint"]),
                  st.sampled_from([f"{tmp}/out.x", f"{tmp}/plain/out.x", tmp, ""])).map(list),
        st.sampled_from([["--workers", "0"], ["--no-progress"], ["--bogus"], ["-o"]]))
    return st.lists(item, max_size=3).map(
        lambda items: ["sweep", "--workers", "1", "--no-progress", "--cpus", "2",
                       "--option", "accesses=100", *[tok for it in items for tok in it]])


def _check(argv, capsys):
    with Timed() as t:
        status = main(argv)
    out, err = capsys.readouterr()
    assert t.seconds < RUN_SECONDS, argv
    assert status in (0, 2), (argv, status, err)
    lines = err.strip().splitlines()
    assert "Traceback" not in err, err
    if status == 2:
        assert len(lines) == 1 and "error" in lines[0], (argv, err)
    return status, out


@fuzz_settings(120)
@given(argv=_simulate_argv())
def test_simulate_command_lines_run_or_fail_in_one_line(argv, capsys):
    status, out = _check(argv, capsys)
    if status == 0:
        assert "outcome" in out


@fuzz_settings(60)
@given(data=st.data())
def test_sweep_command_lines_run_or_fail_in_one_line(data, capsys, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    (tmp / "plain").write_text("a file, not a folder")
    argv = data.draw(_sweep_argv(str(tmp)))
    status, out = _check(argv, capsys)
    if status == 0:
        assert "protocol" in out and ("outcome" in out or "--columns" in argv)
    if f"{tmp}/plain/out.x" in argv:      # no file can be made under a file
        assert status == 2

