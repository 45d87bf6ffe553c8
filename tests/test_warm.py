"""``python -m tlbwidgets warm`` compiles ahead, and a process that needs a
protocol the warmer is still compiling waits for it instead of compiling the
same code again.  Fresh processes on an empty numba cache."""

import fcntl
import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from compile_events import COUNT_COMPILES
from tlbwidgets import warm

pytestmark = pytest.mark.slow

_KERNEL = COUNT_COMPILES + textwrap.dedent("""
    import json
    import tlbwidgets as tw
    from tlbwidgets.warm import engine_lock
    with engine_lock("mailbox") as waited_s:
        pass
    r = tw.simulate(cpus=4, protocol="mailbox", workload="uniform", accesses=300)
    print(json.dumps({"compiled": compiled, "waited_s": waited_s,
                      "outcome": r.summary()["outcome"]}))
""")


def _env(cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    env.pop("NUMBA_DISABLE_JIT", None)
    return env


def _held(path):
    """Whether another process holds the lock at path."""
    if not os.path.exists(path):
        return False
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
        return False


def test_kernel_waits_for_the_warmer_and_compiles_nothing(tmp_path):
    env = _env(tmp_path)
    path = subprocess.run(
        [sys.executable, "-c", "from tlbwidgets.warm import lock_path; print(lock_path('mailbox'))"],
        env=env, capture_output=True, text=True, check=True).stdout.strip()
    warmer = subprocess.Popen([sys.executable, "-m", "tlbwidgets", "warm", "--protocol", "mailbox"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not _held(path):
            assert warmer.poll() is None, warmer.communicate()
            assert time.monotonic() < deadline, "the warmer never took the compile lock"
            time.sleep(0.05)
        kernel = subprocess.run([sys.executable, "-c", _KERNEL], env=env, capture_output=True,
                                text=True, timeout=900)
        out, err = warmer.communicate(timeout=900)
    finally:
        if warmer.poll() is None:
            warmer.kill()
            warmer.wait()
    assert warmer.returncode == 0, err
    assert out.startswith("warm: mailbox ready in "), out
    assert kernel.returncode == 0, kernel.stderr[-3000:]
    report = json.loads(kernel.stdout.strip().splitlines()[-1])
    assert report["waited_s"] > 0.5
    assert report["compiled"] == []
    assert report["outcome"] == "completed"


def test_warm_rejects_an_unknown_protocol_naming_it():
    out = subprocess.run([sys.executable, "-m", "tlbwidgets", "warm", "--protocol", "nope"],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert "'nope'" in out.stderr and "mailbox" in out.stderr


def test_warm_function_rejects_an_unknown_protocol():
    with pytest.raises(ValueError, match="'nope'"):
        warm.warm(["nope"])


def test_a_free_lock_is_taken_at_once(tmp_path):
    # In this process the engine may be compiled already (then no lock at
    # all); either way nothing waits.
    with warm.engine_lock("mailbox", wait_s=0) as waited_s:
        assert waited_s < 0.5


def test_start_warmer_runs_the_warm_command_in_the_background():
    process = warm.start_warmer(["mailbox"])
    assert process.args[1:4] == ["-m", "tlbwidgets", "warm"]
    assert process.wait(timeout=900) == 0
