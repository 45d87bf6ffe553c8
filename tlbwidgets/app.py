"""Launch the explorer as a Voila web app, or the course notebooks in JupyterLab.

Two blocking entry points for people (``serve`` and ``course``, wrapped for the command line
by ``main`` and ``course_main``) sit over two non-blocking ones for programs and tests
(``start_voila`` and ``start_lab``), which return a ``Server`` that can be waited on and
stopped. Every launch runs the server as a child process of the current interpreter
(``python -m voila`` / ``python -m jupyterlab``), so it uses the same environment as
``import tlbwidgets``.

Where the notebooks come from. In a source checkout (including ``pip install -e .``) they are
the repository's ``notebooks/`` folder next to the ``tlbwidgets/`` package. An installed wheel
carries a copy inside the package as ``tlbwidgets/notebooks`` (pyproject's hatch
``force-include``). A source checkout wins when both exist, so edits to the repository's
notebooks are what an editable install serves (``app``). The course never opens either copy
in place (autosave would rewrite tracked or installed files, and exports would land there): it
copies the numbered course notebooks (``NN_name.ipynb``; not the app, not test fixtures) to a
working folder, ``~/tlbwidgets-course`` unless told otherwise, and never overwrites a file that
is already there.

Every server is a child that ends with the launcher, however the launcher ends: Ctrl-C,
SIGTERM or SIGHUP stop it cleanly, and on Linux the kernel sends it SIGTERM when the launcher
dies without cleaning up (SIGKILL), so no orphan keeps the port.

Failures a user can cause (a busy port, Voila or JupyterLab not installed, a notebook that
does not exist) raise ``LaunchError``; ``main`` and ``course_main`` print it as one line and
return exit status 2 instead of showing a traceback.
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Mapping, Sequence

__all__ = [
    "APP_NOTEBOOK",
    "COURSE_INDEX_NOTEBOOK",
    "DEFAULT_COURSE_PORT",
    "DEFAULT_HOST",
    "DEFAULT_VOILA_PORT",
    "LaunchError",
    "Server",
    "build_app_parser",
    "build_course_parser",
    "course",
    "course_notebooks",
    "default_course_dir",
    "course_main",
    "find_notebook",
    "main",
    "notebooks_dir",
    "serve",
    "start_lab",
    "start_voila",
]

APP_NOTEBOOK = "app.ipynb"
COURSE_INDEX_NOTEBOOK = "00_index.ipynb"
DEFAULT_VOILA_PORT = 8866
DEFAULT_COURSE_PORT = 8888
# Bind to loopback only: the app and the course are single-user tools, not public services.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_READY_TIMEOUT_S = 120.0
# The working folder `course` copies the notebooks to, in the user's home by default.
DEFAULT_COURSE_DIR_NAME = "tlbwidgets-course"
# Course notebooks are numbered (00_index.ipynb, 01_tlb_basics.ipynb, ...); the app and any
# fixture are not, so they stay out of a learner's folder.
COURSE_NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"

_PACKAGE_DIR = Path(__file__).resolve().parent
_SOURCE_NOTEBOOKS_DIR = _PACKAGE_DIR.parent / "notebooks"
_PACKAGED_NOTEBOOKS_DIR = _PACKAGE_DIR / "notebooks"
_POLL_INTERVAL_S = 0.1
_STOP_GRACE_S = 10.0
# Signals that end the launcher and, through the cleanup in _run_until_stopped, its server.
_STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP")
                      if hasattr(signal, name))
_PR_SET_PDEATHSIG = 1   # from linux/prctl.h


class LaunchError(RuntimeError):
    """A server could not be started; the message is one line a user can act on."""


def _is_notebooks_dir(path: Path) -> bool:
    return path.is_dir() and any(path.glob("*.ipynb"))


def notebooks_dir() -> Path:
    """Return the folder holding the course notebooks.

    Guarantees: the source checkout's ``notebooks/`` when it exists and holds notebooks,
    otherwise the copy packaged inside ``tlbwidgets``. Raises ``LaunchError`` when neither
    exists (a broken install).
    """
    for candidate in (_SOURCE_NOTEBOOKS_DIR, _PACKAGED_NOTEBOOKS_DIR):
        if _is_notebooks_dir(candidate):
            return candidate
    raise LaunchError(
        f"no notebooks found in {_SOURCE_NOTEBOOKS_DIR} or {_PACKAGED_NOTEBOOKS_DIR}; "
        "reinstall tlbwidgets"
    )


def find_notebook(notebook: str | os.PathLike[str] | None = None) -> Path:
    """Resolve ``notebook`` to an existing ``.ipynb`` file.

    ``None`` means the explorer app (``app.ipynb``). A bare name such as ``"00_index.ipynb"``
    is looked up in ``notebooks_dir()`` when it is not a path to an existing file.
    Raises ``TypeError`` for a non-path value and ``LaunchError`` when nothing is found.
    """
    if notebook is None:
        notebook = APP_NOTEBOOK
    if not isinstance(notebook, (str, os.PathLike)):
        raise TypeError(
            f"notebook must be a path or a notebook name, got {notebook!r} "
            f"({type(notebook).__name__})"
        )
    path = Path(notebook)
    if path.is_file():
        return path.resolve()
    if not path.is_absolute():
        packaged = notebooks_dir() / path
        if packaged.is_file():
            return packaged
    raise LaunchError(f"notebook {str(notebook)!r} not found (looked in . and {notebooks_dir()})")


def _check_port(port: int, host: str) -> None:
    """Raise ``TypeError``/``ValueError`` for a bad port, ``LaunchError`` when it is busy.

    This probe catches the common case (another server already running) with a clear message.
    A port taken between the probe and the child's bind still fails, in the child.
    """
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError(f"port must be an int, got {port!r} ({type(port).__name__})")
    if not 1 <= port <= 65535:
        raise ValueError(f"port must be in 1..65535, got {port}")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise LaunchError(
                    f"port {port} on {host} is already in use; pass another with --port"
                ) from None
            raise LaunchError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def _require_module(module: str, what: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise LaunchError(
            f"{what} is not installed in {sys.executable}; "
            "install it with: pip install 'tlbwidgets[notebook]'"
        )


def _port_accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _log_tail(log_path: Path | None, n_lines: int = 5) -> str:
    if log_path is None or not log_path.is_file():
        return ""
    lines = log_path.read_text(errors="replace").strip().splitlines()
    return " | ".join(line.strip() for line in lines[-n_lines:])


class Server:
    """A Voila or JupyterLab child process listening on ``host:port``.

    ``url`` is the page to open. Use as a context manager, or call ``stop()``: after it
    returns, the process has exited (terminated, then killed if it ignored the request).
    """

    def __init__(
        self,
        process: subprocess.Popen,
        *,
        name: str,
        host: str,
        port: int,
        url: str,
        log_path: Path | None,
    ) -> None:
        self.process = process
        self.name = name
        self.host = host
        self.port = port
        self.url = url
        self.log_path = log_path

    def wait_ready(self, timeout_s: float = DEFAULT_READY_TIMEOUT_S) -> "Server":
        """Block until the server accepts connections; return ``self``.

        Raises ``LaunchError`` (after stopping the process) if the process exits first or
        ``timeout_s`` seconds pass. Only the TCP port is probed, so waiting does not render
        the notebook or start a kernel.
        """
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            status = self.process.poll()
            if status is not None:
                tail = _log_tail(self.log_path)
                raise LaunchError(
                    f"{self.name} exited with status {status} before it was ready"
                    + (f": {tail}" if tail else "")
                )
            if _port_accepts(self.host, self.port):
                return self
            time.sleep(_POLL_INTERVAL_S)
        self.stop()
        raise LaunchError(f"{self.name} was not ready on {self.host}:{self.port} "
                          f"after {timeout_s:g} s")

    def stop(self) -> int:
        """Stop the server (idempotent) and return its exit status."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=_STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"Server(name={self.name!r}, url={self.url!r}, pid={self.process.pid})"


def _end_with_parent_hook():
    """A ``preexec_fn`` asking Linux to SIGTERM the child when its parent dies, or None.

    Only from the main thread: the kernel fires on the exit of the *thread* that forked, and
    a worker thread may end long before the program does. libc's ``prctl`` is looked up here,
    before the fork, so the child runs no import or allocation between fork and exec.
    """
    in_main_thread = threading.current_thread() is threading.main_thread()
    if not sys.platform.startswith("linux") or not in_main_thread:
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent_pid = os.getpid()

    def end_with_parent() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent_pid:   # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return end_with_parent


def _spawn(
    argv: Sequence[str],
    *,
    name: str,
    host: str,
    port: int,
    url: str,
    env: Mapping[str, str] | None,
    log_path: str | os.PathLike[str] | None,
) -> Server:
    log_file: IO[bytes] | None = None
    resolved_log = None
    if log_path is not None:
        resolved_log = Path(log_path)
        resolved_log.parent.mkdir(parents=True, exist_ok=True)
        log_file = open(resolved_log, "wb")
    try:
        process = subprocess.Popen(
            list(argv),
            env=None if env is None else dict(env),
            stdout=log_file,
            stderr=subprocess.STDOUT if log_file is not None else None,
            preexec_fn=_end_with_parent_hook(),
        )
    finally:
        # The child holds its own descriptor; ours is no longer needed.
        if log_file is not None:
            log_file.close()
    return Server(process, name=name, host=host, port=port, url=url, log_path=resolved_log)


def start_voila(
    notebook: str | os.PathLike[str] | None = None,
    *,
    port: int = DEFAULT_VOILA_PORT,
    host: str = DEFAULT_HOST,
    open_browser: bool = False,
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    log_path: str | os.PathLike[str] | None = None,
) -> Server:
    """Start Voila serving one notebook and return at once (see ``Server.wait_ready``).

    The notebook's cells run in a fresh kernel for each page load; only the outputs
    (widgets) are shown. Voila does not retry other ports, so ``port`` is the port used.
    """
    _require_module("voila", "Voila")
    path = find_notebook(notebook)
    _check_port(port, host)
    argv = [
        sys.executable, "-m", "voila", str(path),
        f"--port={port}",
        f"--Voila.ip={host}",
        "--Voila.port_retries=0",
        f"--Voila.open_browser={open_browser}",
        *extra_args,
    ]
    return _spawn(argv, name="voila", host=host, port=port, url=f"http://{host}:{port}/",
                  env=env, log_path=log_path)


def start_lab(
    directory: str | os.PathLike[str],
    *,
    open_notebook: str | None = COURSE_INDEX_NOTEBOOK,
    port: int = DEFAULT_COURSE_PORT,
    host: str = DEFAULT_HOST,
    open_browser: bool = True,
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    log_path: str | os.PathLike[str] | None = None,
) -> Server:
    """Start JupyterLab rooted at ``directory`` and return at once.

    ``url`` opens ``open_notebook`` (a path relative to ``directory``), or the file browser
    when it is ``None``. JupyterLab keeps its token unless ``extra_args`` turns it off; the
    browser it opens itself is logged in with it.
    """
    _require_module("jupyterlab", "JupyterLab")
    root = Path(directory).resolve()
    if not root.is_dir():
        raise LaunchError(f"directory {str(directory)!r} does not exist")
    _check_port(port, host)
    lab_path = "/lab" if open_notebook is None else f"/lab/tree/{open_notebook}"
    # Containers (Docker, CI) often run as root, where jupyter_server refuses to start unless
    # told; the server still binds to ``host`` only.
    running_as_root = hasattr(os, "geteuid") and os.geteuid() == 0
    argv = [
        # tlbwidgets._lab is `python -m jupyterlab` without a spurious deprecation warning.
        sys.executable, "-m", "tlbwidgets._lab",
        f"--ServerApp.root_dir={root}",
        f"--ServerApp.ip={host}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.open_browser={open_browser}",
        f"--LabApp.default_url={lab_path}",
        f"--ServerApp.allow_root={running_as_root}",
        *extra_args,
    ]
    return _spawn(argv, name="jupyterlab", host=host, port=port,
                  url=f"http://{host}:{port}{lab_path}", env=env, log_path=log_path)


def _start_warmer(warm: bool) -> subprocess.Popen | None:
    """Compile the engine in the background while the server starts (see ``warm``); like
    the server, the warmer ends when the launcher dies."""
    if not warm:
        return None
    from .warm import start_warmer
    return start_warmer(preexec_fn=_end_with_parent_hook())


def _stop(process: subprocess.Popen | None) -> None:
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(_STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class _StopSignal(Exception):
    """Raised in the main thread when a stop signal (SIGTERM, SIGHUP) arrives."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_stop_signal(signum: int, _frame: object) -> None:
    raise _StopSignal(signum)


def _run_until_stopped(server: Server, ready_timeout_s: float, banner: str,
                       warmer: subprocess.Popen | None = None) -> int:
    """Wait for readiness, print ``banner``, then block until the server exits or the
    launcher is told to stop; return the exit status (128 + N for signal N, as shells do).

    Guarantee: when this returns or raises, the server process and the engine warmer, if
    one still runs, have exited. Stop signals are caught only in the main thread (Python
    delivers them nowhere else); a second one while the server is stopping is ignored
    (``stop`` kills it after a grace period anyway), and the previous handlers are restored
    on the way out.
    """
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {signum: signal.signal(signum, _raise_stop_signal) for signum in _STOP_SIGNALS}
    try:
        server.wait_ready(ready_timeout_s)
        print(banner, flush=True)
        return server.process.wait()
    except KeyboardInterrupt:
        # The child got the same SIGINT from the terminal; stop() gives it time to shut down.
        return 128 + int(signal.SIGINT)
    except _StopSignal as stop:
        return 128 + stop.signum
    finally:
        for signum in previous:
            signal.signal(signum, signal.SIG_IGN)
        server.stop()
        _stop(warmer)
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def serve(
    notebook: str | os.PathLike[str] | None = None,
    port: int = DEFAULT_VOILA_PORT,
    open_browser: bool = False,
    host: str = DEFAULT_HOST,
    ready_timeout_s: float = DEFAULT_READY_TIMEOUT_S,
    warm: bool = True,
) -> int:
    """Serve the explorer (or ``notebook``) as a Voila app until Ctrl-C; return the exit status.

    With ``warm``, ``python -m tlbwidgets warm`` compiles the engine in the background
    meanwhile (a page's kernel waits for a protocol being compiled instead of compiling it
    again).  Raises ``LaunchError`` for a busy port, a missing notebook or a missing Voila.
    """
    server = start_voila(notebook, port=port, host=host, open_browser=open_browser)
    return _run_until_stopped(
        server, ready_timeout_s, f"tlbwidgets app: {server.url} (Ctrl-C to stop)",
        _start_warmer(warm))


def default_course_dir() -> Path:
    """The working folder ``course`` uses when given none: ``~/tlbwidgets-course``."""
    return Path.home() / DEFAULT_COURSE_DIR_NAME


def course_notebooks(source: Path | None = None) -> list[Path]:
    """The course notebooks in ``source`` (default ``notebooks_dir()``), in reading order:
    the numbered ``NN_name.ipynb`` files, without the app and the test fixtures."""
    source = notebooks_dir() if source is None else source
    return sorted(path for path in source.glob(COURSE_NOTEBOOK_GLOB) if path.is_file())


def _protected_dirs() -> list[Path]:
    """Folders the course must never write into: the installed package and, in a source
    checkout, the whole checkout."""
    protected = [_PACKAGE_DIR]
    if _is_notebooks_dir(_SOURCE_NOTEBOOKS_DIR):
        protected.append(_SOURCE_NOTEBOOKS_DIR.parent.resolve())
    return protected


def _prepare_course_dir(directory: str | os.PathLike[str] | None) -> tuple[Path, list[Path]]:
    """Copy the course notebooks into the working folder; return it and the files copied.

    ``directory`` defaults to ``default_course_dir()``. Raises ``LaunchError`` for a folder
    inside the package or the source checkout, or a path that is a file. Copies never
    overwrite an existing file, so a learner's edits survive a second launch.
    """
    if directory is not None and not isinstance(directory, (str, os.PathLike)):
        raise TypeError(f"directory must be a path, got {directory!r} "
                        f"({type(directory).__name__})")
    target = Path(directory).expanduser() if directory is not None else default_course_dir()
    resolved = target.resolve()
    for protected in _protected_dirs():
        if resolved == protected or resolved.is_relative_to(protected):
            raise LaunchError(
                f"course folder {str(target)!r} is inside {protected}; the course works on a "
                f"copy elsewhere (default {default_course_dir()}): pass another with --dir")
    if target.exists() and not target.is_dir():
        raise LaunchError(f"course folder {str(target)!r} exists and is not a folder")
    copied = []
    for notebook in course_notebooks():
        destination = target / notebook.name
        if not destination.exists():
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(notebook, destination)
            copied.append(destination)
    return target, copied


def course(
    directory: str | os.PathLike[str] | None = None,
    port: int = DEFAULT_COURSE_PORT,
    open_browser: bool = True,
    host: str = DEFAULT_HOST,
    ready_timeout_s: float = DEFAULT_READY_TIMEOUT_S,
    warm: bool = True,
) -> int:
    """Open the course (``00_index.ipynb``) in JupyterLab until Ctrl-C; return the exit status.

    ``directory`` is the learner's working folder (default ``~/tlbwidgets-course``): the
    course notebooks are copied there first, and JupyterLab serves that copy, so autosave
    and exports never touch the package or a source checkout.
    With ``warm``, the engine is compiled in the background meanwhile (see ``serve``).
    """
    _check_port(port, host)   # before copying anything, so a busy port changes nothing
    root, copied = _prepare_course_dir(directory)
    open_notebook = COURSE_INDEX_NOTEBOOK if (root / COURSE_INDEX_NOTEBOOK).is_file() else None
    server = start_lab(root, open_notebook=open_notebook, port=port, host=host,
                       open_browser=open_browser)
    fresh = (f"copied {len(copied)} notebook(s) from {notebooks_dir()}" if copied
             else "your copies are kept; delete a notebook there to get it fresh")
    return _run_until_stopped(
        server, ready_timeout_s,
        f"tlbwidgets course: JupyterLab on {server.url} working in {root} ({fresh}); "
        "the login token is in the log above (Ctrl-C to stop)",
        _start_warmer(warm),
    )


def _add_common_options(parser: argparse.ArgumentParser, default_port: int,
                        browser_default: bool) -> None:
    parser.add_argument("--port", type=int, default=default_port,
                        help=f"port to listen on (default {default_port})")
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help=f"address to listen on (default {DEFAULT_HOST})")
    parser.add_argument("--open-browser", dest="open_browser", action="store_true",
                        default=browser_default,
                        help="open a web browser" + (" (the default)" if browser_default else ""))
    parser.add_argument("--no-browser", dest="open_browser", action="store_false",
                        help="do not open a web browser"
                             + ("" if browser_default else " (the default)"))
    parser.add_argument("--no-warm", dest="warm", action="store_false",
                        help="do not compile the engine in the background as the server "
                             "starts (python -m tlbwidgets warm)")


def build_app_parser(prog: str = "tlbwidgets app") -> argparse.ArgumentParser:
    """Argument parser for ``main`` (usable as a subparser template by the CLI)."""
    parser = argparse.ArgumentParser(
        prog=prog, description="Serve the tlbwidgets explorer as a Voila web app.")
    parser.add_argument("notebook", nargs="?", default=None,
                        help=f"notebook to serve (default: the explorer, {APP_NOTEBOOK})")
    _add_common_options(parser, DEFAULT_VOILA_PORT, browser_default=False)
    return parser


def build_course_parser(prog: str = "tlbwidgets course") -> argparse.ArgumentParser:
    """Argument parser for ``course_main``."""
    parser = argparse.ArgumentParser(
        prog=prog, description="Open the tlbwidgets course notebooks in JupyterLab.")
    parser.add_argument("--dir", dest="directory", default=None,
                        help="working folder the notebooks are copied to and served from "
                             f"(default ~/{DEFAULT_COURSE_DIR_NAME}); existing files are kept")
    _add_common_options(parser, DEFAULT_COURSE_PORT, browser_default=True)
    return parser


def _report(prog: str, exc: Exception) -> int:
    print(f"{prog}: error: {exc}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """``tlbwidgets app [notebook] [--port N] [--host H] [--open-browser] [--no-warm]``;
    returns exit status."""
    parser = build_app_parser()
    args = parser.parse_args(argv)
    try:
        return serve(args.notebook, port=args.port, open_browser=args.open_browser,
                     host=args.host, warm=args.warm)
    except (LaunchError, ValueError, TypeError) as exc:
        return _report(parser.prog, exc)


def course_main(argv: Sequence[str] | None = None) -> int:
    """``tlbwidgets course [--dir D] [--port N] [--host H] [--no-browser] [--no-warm]``;
    returns exit status."""
    parser = build_course_parser()
    args = parser.parse_args(argv)
    try:
        return course(args.directory, port=args.port, open_browser=args.open_browser,
                      host=args.host, warm=args.warm)
    except (LaunchError, ValueError, TypeError, OSError) as exc:
        return _report(parser.prog, exc)


if __name__ == "__main__":
    sys.exit(main())
