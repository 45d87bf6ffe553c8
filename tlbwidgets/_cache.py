"""Where compiled kernels are kept: numba's on-disk cache, read-only or not.

numba keeps a function's machine code in the first directory it can *write*
of ``NUMBA_CACHE_DIR``, the package's ``__pycache__`` and the user-wide
``~/.cache/numba``.  A directory it can only read is skipped, warm or not, and
with none writable ``cache=True`` fails at import ("cannot cache function
...: no locator available").  A classroom JupyterHub installs the package
read-only and often fills a shared cache at build time: every student then
recompiled for minutes, or could not import tlbwidgets at all.

:class:`EngineCache` (the cache of every kernel, see ``_jit``) separates
reading from writing.  Guarantees:

* it reads ``NUMBA_CACHE_DIR`` when that is set (so an empty one means
  compiling afresh, as with numba), otherwise ``__pycache__`` and then
  ``~/.cache/numba``: each of them that exists, writable or not, in that
  order, then the directory it writes to.  A warm read-only cache is used as
  is;
* it writes into the first writable one of numba's order
  (``NUMBA_CACHE_DIR``, ``__pycache__``, ``~/.cache/numba``); when none is,
  the first kernel it has to save goes into a private directory of this
  user under the system's temporary directory (``tlbwidgets-numba-<uid>``,
  read by the next process of the same user too), with one warning; when
  even that cannot be made, it saves nothing (every new process compiles)
  and warns once.  A warm read-only install therefore runs without a word;
* a directory it cannot read counts as empty.  It never raises at import;
* a cached kernel is used only if *every* jitted module of the package is
  byte for byte what it was compiled from.  numba stamps a function's cache
  with its own file's time and size alone, but a kernel's machine code holds
  its callees from other files too: after an engine file changed (a
  ``git pull``, an upgrade over an old ``__pycache__``) a caller in an
  unchanged file would silently run the old callee.  The stamp here is a hash
  of the contents of every module that uses the jit policy
  (:func:`package_stamp`), so any such change recompiles everything once.

When ``NUMBA_CACHE_LOCATOR_CLASSES`` is set, numba's own cache is used
unchanged: the user chose the locators.
"""

import functools
import hashlib
import inspect
import os
import stat
import tempfile
import warnings

from numba.core import caching, config

__all__ = ["EngineCache", "CacheFallbackWarning", "make_cache", "package_stamp"]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_JIT_IMPORT = b"_jit import jit"
"""What a module that defines jitted kernels says (``from .._jit import jit``)."""


def _numba_class(name):
    # numba >= 0.61 names the locators without the leading underscore.
    return getattr(caching, name, None) or getattr(caching, "_" + name)


_USER_PROVIDED = _numba_class("UserProvidedCacheLocator")
_IN_TREE = _numba_class("InTreeCacheLocator")
_USER_WIDE = _numba_class("UserWideCacheLocator")
_SOURCE_FILE_BACKED = _numba_class("SourceFileBackedLocatorMixin")


@functools.lru_cache(maxsize=None)
def package_stamp():
    """SHA-256 (hex) of the jit policy and of every module of the package that
    uses it, by path and contents: the source stamp of every cached kernel
    (see the module docstring).  Computed once per process (a few ms)."""
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(_PACKAGE_DIR):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                text = f.read()
            if _JIT_IMPORT in text or name in ("_jit.py", "_cache.py"):
                digest.update(os.path.relpath(path, _PACKAGE_DIR).encode() + b"\0")
                digest.update(hashlib.sha256(text).digest())
    return digest.hexdigest()


def _stamped(locator):
    """``locator`` with the package-wide source stamp instead of its file's."""
    locator.get_source_stamp = package_stamp
    return locator


class CacheFallbackWarning(UserWarning):
    """No writable numba cache directory: compiled code goes elsewhere."""


def _fallback_path():
    """This user's private cache directory under the temporary directory."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return os.path.join(tempfile.gettempdir(), f"tlbwidgets-numba-{uid}")


def _private(path):
    """Whether path is a directory of this user that no one else may write:
    another user could have made it first, and its files are unpickled."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    uid = os.getuid() if hasattr(os, "getuid") else st.st_uid
    return (stat.S_ISDIR(st.st_mode) and st.st_uid == uid
            and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH))


@functools.lru_cache(maxsize=None)
def _fallback_root():
    """Make the fallback directory, once per process, and warn that it is
    used; None (and a warning) if no directory can be made."""
    root = _fallback_path()
    try:
        os.makedirs(root, mode=0o700, exist_ok=True)
        if not _private(root):
            root = tempfile.mkdtemp(prefix="tlbwidgets-numba-")
        tempfile.TemporaryFile(dir=root).close()
    except OSError:
        warnings.warn(
            "tlbwidgets: no writable numba cache directory (NUMBA_CACHE_DIR, the package's "
            "__pycache__, ~/.cache/numba, the temporary directory); compiled kernels are not "
            "kept, so every new Python process compiles them again (set NUMBA_CACHE_DIR to a "
            "writable directory to avoid it)", CacheFallbackWarning, stacklevel=2)
        return None
    warnings.warn(
        f"tlbwidgets: no writable numba cache directory (NUMBA_CACHE_DIR, the package's "
        f"__pycache__, ~/.cache/numba); compiled kernels are kept in {root} instead (set "
        f"NUMBA_CACHE_DIR to choose the place)", CacheFallbackWarning, stacklevel=2)
    return root


class _FallbackLocator(_SOURCE_FILE_BACKED, caching._CacheLocator):
    """numba locator for the private temporary directory."""

    def __init__(self, py_func, py_file, root):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._cache_path = os.path.join(root, self.get_suitable_cache_subpath(py_file))

    def get_cache_path(self):
        return self._cache_path


class _Given:
    """A locator "class" whose search always yields one given locator."""

    def __init__(self, locator):
        self._locator = locator

    def from_function(self, py_func, py_file):
        return self._locator


class _ImplAt(caching.CompileResultCacheImpl):
    def __init__(self, py_func, locator):
        self._locator_classes = [_Given(locator)]
        super().__init__(py_func)


class _CacheAt(caching.FunctionCache):
    """numba's function cache kept in one given directory (numba itself
    would take the first writable one of its list)."""

    def __init__(self, py_func, locator):
        self._locator = locator
        super().__init__(py_func)

    def _impl_class(self, py_func):
        return _ImplAt(py_func, self._locator)


def _writable(locator):
    try:
        locator.ensure_cache_path()
    except OSError:
        return False
    return True


class EngineCache(caching._Cache):
    """numba cache of one function that reads read-only directories too;
    see the module docstring."""

    def __init__(self, py_func):
        self._py_func = py_func
        py_file = inspect.getfile(py_func)
        in_tree = [_stamped(_IN_TREE(py_func, py_file)), _stamped(_USER_WIDE(py_func, py_file))]
        if config.CACHE_DIR:        # the user's choice, and nothing else, is read
            readable = [_stamped(_USER_PROVIDED(py_func, py_file))]
            writable = readable + in_tree       # numba's order
        else:
            readable = writable = in_tree
        writer = next((loc for loc in writable if _writable(loc)), None)
        order = [loc for loc in readable
                 if loc is writer or os.path.isdir(loc.get_cache_path())]
        if writer is not None and writer not in order:
            order.append(writer)
        # Without a writable directory, what earlier processes of this user
        # compiled is in the fallback; this process makes it on its first save.
        self._fallback = None
        if writer is None:
            self._fallback = _stamped(_FallbackLocator(py_func, py_file, _fallback_path()))
            if _private(_fallback_path()):
                order.append(self._fallback)
        self._caches = [_CacheAt(py_func, loc) for loc in order]
        self._writer = self._caches[order.index(writer)] if writer is not None else None

    @property
    def cache_path(self):
        if self._writer is not None:
            return self._writer.cache_path
        return self._caches[0].cache_path if self._caches else None

    def load_overload(self, sig, target_context):
        for cache in self._caches:
            try:
                data = cache.load_overload(sig, target_context)
            except OSError:      # unreadable: as if empty
                continue
            if data is not None:
                return data
        return None

    def save_overload(self, sig, data):
        if self._writer is None and self._fallback is not None:
            root = _fallback_root()
            if root is not None:
                locator = _stamped(_FallbackLocator(self._py_func, self._fallback._py_file,
                                                    root))
                if _writable(locator):
                    self._writer = _CacheAt(self._py_func, locator)
            self._fallback = None
        if self._writer is not None:
            self._writer.save_overload(sig, data)

    def enable(self):
        for cache in self._caches:
            cache.enable()

    def disable(self):
        for cache in self._caches:
            cache.disable()

    def flush(self):
        if self._writer is not None:
            self._writer.flush()


def make_cache(py_func):
    """The cache for a jitted ``py_func``: :class:`EngineCache`, or numba's
    own when ``NUMBA_CACHE_LOCATOR_CLASSES`` chooses the locators."""
    if getattr(config, "CACHE_LOCATOR_CLASSES", None):
        return caching.FunctionCache(py_func)
    return EngineCache(py_func)
