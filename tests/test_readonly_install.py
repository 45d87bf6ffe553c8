"""A read-only install works: a warm read-only numba cache (``NUMBA_CACHE_DIR``
or the package's ``__pycache__``) is used as is, and a package whose
directory and ``HOME`` are both read-only imports, runs, compiles into a
private temporary directory with one warning, and the next process loads
from there.

The package is copied into a temporary directory and run in fresh processes.
Directories are made read-only with ``chmod``, or, as root (whom ``chmod``
does not stop), with read-only bind mounts in a private mount namespace
(``unshare --mount``); writes there fail with EROFS even for root, and
nothing outside the test's process sees the mounts."""

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap

import pytest

import tlbwidgets
from compile_events import COUNT_COMPILES

pytestmark = pytest.mark.slow

_RUN = COUNT_COMPILES + textwrap.dedent("""
    import json, os, sys, warnings

    blocked = []
    for d in sys.argv[1:]:
        try:
            open(os.path.join(d, "probe"), "w").close()
        except OSError:
            blocked.append(d)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import tlbwidgets as tw
        r = tw.simulate(cpus=4, protocol="mailbox", workload="uniform", accesses=300)
    print(json.dumps({
        "blocked": blocked, "compiled": len(compiled), "module": tw.__file__,
        "warnings": [str(w.message) for w in caught
                     if w.category.__name__ == "CacheFallbackWarning"],
        "summary": r.summary()}, default=str))
""")


def _readonly_supported():
    if os.geteuid() != 0:
        return True, ""
    if shutil.which("unshare") is None:
        return False, "running as root without unshare(1): cannot make a directory read-only"
    probe = subprocess.run(["unshare", "--mount", "true"], capture_output=True)
    if probe.returncode != 0:
        return False, ("running as root and unshare --mount is not permitted here: cannot "
                       "make a directory read-only for root")
    return True, ""


def _run(env, readonly, tmp_path):
    """Run _RUN in a new process with the given directories read-only;
    returns its JSON report."""
    dirs = [str(d) for d in readonly]
    cmd = [sys.executable, "-c", _RUN, *dirs]
    if os.geteuid() == 0:
        mounts = " && ".join(f"mount --bind {d} {d} && mount -o remount,bind,ro {d} {d}"
                             for d in dirs)
        cmd = ["unshare", "--mount", "sh", "-c", f'{mounts} && exec "$@"', "sh", *cmd]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900,
                             cwd=tmp_path)
    else:
        modes = {}
        for d in dirs:
            for root, subdirs, files in os.walk(d):
                for p in [root] + [os.path.join(root, f) for f in files]:
                    modes[p] = os.stat(p).st_mode
                    os.chmod(p, modes[p] & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        try:
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900,
                                 cwd=tmp_path)
        finally:
            for p, mode in modes.items():
                os.chmod(p, mode)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["blocked"] == dirs, "the directories were not read-only"
    return report


@pytest.fixture(scope="module")
def install(tmp_path_factory):
    ok, why = _readonly_supported()
    if not ok:
        pytest.skip(why)
    base = tmp_path_factory.mktemp("install")
    pkg = base / "site"
    shutil.copytree(os.path.dirname(tlbwidgets.__file__), pkg / "tlbwidgets",
                    ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
    (base / "home").mkdir()
    return base


def _env(base, tmp, **extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME", "NUMBA_DISABLE_JIT",
                        "PYTHONPATH")}
    env.update(PYTHONPATH=str(base / "site"), HOME=str(base / "home"), TMPDIR=str(tmp),
               PYTHONDONTWRITEBYTECODE="1")
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def cold_readonly(install):
    """The package and HOME read-only, no cache anywhere: the first process
    compiles into the fallback, the second loads from it."""
    tmp = install / "tmp"
    tmp.mkdir()
    readonly = [install / "site", install / "home"]
    first = _run(_env(install, tmp), readonly, install)
    second = _run(_env(install, tmp), readonly, install)
    return first, second


def test_fully_read_only_install_imports_and_runs_with_one_warning(install, cold_readonly):
    first, _ = cold_readonly
    assert first["module"].startswith(str(install / "site"))
    assert first["compiled"] > 0
    assert len(first["warnings"]) == 1
    fallback = install / "tmp" / f"tlbwidgets-numba-{os.getuid()}"
    assert str(fallback) in first["warnings"][0]
    assert list(fallback.rglob("*.nbi"))


def test_next_process_loads_what_the_first_compiled_into_the_fallback(cold_readonly):
    first, second = cold_readonly
    assert second["compiled"] == 0
    assert second["warnings"] == []
    assert second["summary"] == first["summary"]


def test_warm_read_only_numba_cache_dir_is_used_as_is(install, cold_readonly):
    cache = install / "cache"
    shutil.copytree(install / "tmp" / f"tlbwidgets-numba-{os.getuid()}", cache)
    tmp = install / "tmp-cache-dir"
    tmp.mkdir()
    report = _run(_env(install, tmp, NUMBA_CACHE_DIR=str(cache)),
                  [install / "site", install / "home", cache], install)
    assert report["compiled"] == 0
    assert report["warnings"] == []
    assert report["summary"] == cold_readonly[0]["summary"]
    assert list(tmp.glob("tlbwidgets-numba-*")) == []       # nothing fell back


def test_warm_read_only_package_pycache_is_used_as_is(install, cold_readonly):
    # The fallback has NUMBA_CACHE_DIR's layout, a directory per source
    # directory named after it; __pycache__ holds the same files.
    fallback = install / "tmp" / f"tlbwidgets-numba-{os.getuid()}"
    site = install / "site"
    for source_dir in [p for p in site.rglob("*") if p.is_dir()
                       and p.name != "__pycache__"]:
        path = os.path.abspath(source_dir)
        name = f"{source_dir.name}_{hashlib.sha1(path.encode()).hexdigest()}"
        if (fallback / name).is_dir():
            shutil.copytree(fallback / name, source_dir / "__pycache__", dirs_exist_ok=True)
    assert list((site / "tlbwidgets" / "engine" / "__pycache__").glob("*.nbi"))
    tmp = install / "tmp-pycache"
    tmp.mkdir()
    report = _run(_env(install, tmp), [site, install / "home"], install)
    assert report["compiled"] == 0
    assert report["warnings"] == []
    assert report["summary"] == cold_readonly[0]["summary"]
    assert list(tmp.glob("tlbwidgets-numba-*")) == []
