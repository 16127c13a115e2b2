"""Where compiled kernels are cached, and the notice printed when they compile.

numba caches a compiled kernel next to its source (``alselect/kernels/__pycache__``), or
when that is not writable in the per-user cache (``$XDG_CACHE_HOME/numba``, ``~/.cache/numba``);
``NUMBA_CACHE_DIR`` overrides both. A read-only install run without a writable home (a
container running as ``nobody``) has none of these, and numba then refuses to define a cached
function at all. :func:`configure` adds two fallbacks behind numba's own choices:

1. a private directory ``alselect-numba-<uid>`` in the temporary directory, used only when it is
   owned by this user and writable by nobody else (cache files are pickles: loading one runs
   code, so a directory another user could write to is never read);
2. no cache at all: the kernels compile in every run instead of failing.

Threads: the parallel kernels split rows evenly between numba's threads, so one thread that
loses its core to another job holds up the whole pass. :func:`configure` therefore runs them on
the cores that are idle when the first kernel loads (:func:`idle_cores`), unless
``NUMBA_NUM_THREADS`` says how many to use.

Nothing here imports numba until :func:`configure` runs, which ``alselect.kernels`` does just
before the first kernel module imports numba.
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile

#: the notice printed (once per process) when a kernel is compiled rather than loaded
COMPILE_NOTICE = "compiling kernels for first use (cached afterwards)..."

_configured = False
_notice = None      # callable taking the message, set by notify_compiles()
_noticed = False
_temp_dir = None


def temp_cache_dir() -> str | None:
    """The private per-user cache directory in the temp dir, created if needed; None if unusable."""
    global _temp_dir
    if _temp_dir is None:
        _temp_dir = _make_temp_cache_dir() or ""
    return _temp_dir or None


def _make_temp_cache_dir() -> str | None:
    try:
        base = tempfile.gettempdir()
    except (FileNotFoundError, OSError):
        return None
    uid = os.getuid() if hasattr(os, "getuid") else 0
    path = os.path.join(base, f"alselect-numba-{uid}")
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode) or (hasattr(os, "getuid") and st.st_uid != uid) \
                or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return None
        tempfile.TemporaryFile(dir=path).close()
    except OSError:
        return None
    return path


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def idle_cores() -> int:
    """Cores not taken by other runnable threads right now (at least 1)."""
    cores = available_cores()
    try:
        with open("/proc/loadavg") as f:  # 4th field: runnable/total scheduling entities, now
            busy = int(f.read().split()[3].split("/")[0]) - 1  # minus this thread
    except (OSError, ValueError, IndexError):
        try:
            busy = round(os.getloadavg()[0])
        except (AttributeError, OSError):
            busy = 0
    return max(1, min(cores, cores - busy))


def configure() -> None:
    """Install the cache fallbacks and the compile notice (idempotent; imports numba)."""
    global _configured
    if _configured:
        return
    _configured = True
    from numba.core import caching, dispatcher, event

    # numba < 0.59 names these with a leading underscore
    base = getattr(caching, "UserProvidedCacheLocator", None) or caching._UserProvidedCacheLocator

    class TempDirCacheLocator(base):
        """Like numba's NUMBA_CACHE_DIR locator, rooted at :func:`temp_cache_dir`."""

        def __init__(self, py_func, py_file, root):
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            self._cache_path = os.path.join(root, self.get_suitable_cache_subpath(py_file))

        def get_cache_path(self):
            return self._cache_path

        @classmethod
        def from_function(cls, py_func, py_file):
            root = temp_cache_dir()
            if root is None or not os.path.exists(py_file):
                return None
            self = cls(py_func, py_file, root)
            try:
                self.ensure_cache_path()
            except OSError:
                return None
            return self

    impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl  # renamed in numba 0.6x
    impl._locator_classes.append(TempDirCacheLocator)

    enable = dispatcher.Dispatcher.enable_caching

    def enable_caching(self):
        try:
            enable(self)
        except RuntimeError as exc:
            if "no locator available" not in str(exc):
                raise
            self._cache = caching.NullCache()  # nothing writable: compile each run

    dispatcher.Dispatcher.enable_caching = enable_caching

    class Notice(event.Listener):
        def on_start(self, ev):
            # object-mode blocks (the progress hook) are never cached and compile in a moment
            if not isinstance(ev.data.get("dispatcher"), dispatcher.LiftedCode):
                _announce()

        def on_end(self, ev):
            pass

    event.register("numba:compile", Notice())

    if "NUMBA_NUM_THREADS" not in os.environ:
        import numba

        numba.set_num_threads(min(numba.config.NUMBA_NUM_THREADS, idle_cores()))


def _announce() -> None:
    global _noticed
    if _notice is not None and not _noticed:
        _noticed = True
        _notice(COMPILE_NOTICE)


def notify_compiles(write=None) -> None:
    """Call ``write(COMPILE_NOTICE)`` once, the first time a kernel actually compiles.

    Loading a kernel from the cache says nothing. ``write`` defaults to a line on stderr.
    Does not import numba.
    """
    global _notice
    _notice = write or (lambda message: print(message, file=sys.stderr, flush=True))
