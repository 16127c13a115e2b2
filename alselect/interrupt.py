"""Ending a command promptly on SIGINT / SIGTERM / SIGHUP, wherever it is.

The CLI calls :func:`installed` around the whole command. Inside it, these signals raise
:class:`Interrupted` in the main thread at the next Python bytecode; ``finally`` and
``except BaseException`` blocks then remove temporary files, and the CLI exits with status
128 + signal number (130 SIGINT, 143 SIGTERM, 129 SIGHUP) without writing any output.

:class:`Interrupted` derives from ``BaseException``, not ``Exception``, so no
``except Exception`` handler (ours or a dependency's) mistakes it for an error.

Code that runs a long time without executing Python bytecode must give the signal a way
in:

- numba kernels: the sequential engines call ``kernels.progress_hook.tick``, which enters
  object mode often enough for the pending signal to be raised there (and calls
  :func:`check`);
- a solver or a C call that releases the GIL: run it with :func:`call`, which waits for it
  in short slices so the signal handler runs; or pass :func:`requested` to the solver's own
  interrupt callback (HiGHS: ``kCallbackMipInterrupt``);
- a pure-Python loop: call :func:`check` now and then (cheap: one attribute read).

Where an exception could be swallowed or garbled (inside h5py, whose Cython callbacks turn
it into a TypeError; inside weakref callbacks, which only print it: the "Exception ignored
in ... WeakValueDictionary" of an interrupted h5py write; in numba's unpickling on entry
to an object-mode block, which turns it into a SystemError) the handler records the
signal and a helper thread delivers it again every :data:`RETRY_SECONDS` until it lands in
ordinary code; loops around h5py calls call :func:`check` per block. An ``Interrupted``
dropped by some other destructor reaches ``sys.unraisablehook``, where it is re-armed the
same way, so an interrupt is never lost; :func:`check` raises for any signal received.

Outside :func:`installed` (library use) the functions here do nothing unusual: Python's
own ``KeyboardInterrupt`` applies.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from contextlib import contextmanager

#: Signals turned into :class:`Interrupted` (SIGHUP: the terminal went away).
SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
#: Seconds between checks while :func:`call` waits for its worker.
POLL_SECONDS = 0.05


class Interrupted(BaseException):
    """The process received SIGINT, SIGTERM or SIGHUP; ``exit_status`` is 128 + the signal number."""

    def __init__(self, signum: int):
        self.signum = int(signum)
        super().__init__(f"interrupted by {signal.Signals(self.signum).name}")

    @property
    def exit_status(self) -> int:
        return 128 + self.signum


#: Modules inside which an exception raised by a signal handler may be swallowed or turned
#: into another error (h5py's Cython callbacks, weakref callbacks, logging's error handler):
#: there the signal is only recorded and delivered again a moment later.
UNSAFE_MODULES = ("h5py", "weakref", "logging")
#: Functions called from C glue that would turn an exception into a SystemError: numba
#: unpickles the object-mode callee (progress_hook.report) on entry to the objmode block.
UNSAFE_TOP = ("numba.core.serialize",)
#: Seconds between deliveries of a deferred signal.
RETRY_SECONDS = 0.02


class _State:
    signum: int | None = None    # first signal received while installed
    unwinding = False            # an Interrupted has been raised and not swallowed since
    active = False
    busy = False                 # inside our own unraisable hook
    retrying = False


_state = _State()

def requested() -> int | None:
    """The signal number received while :func:`installed` is active, or None."""
    return _state.signum


def check() -> None:
    """Raise :class:`Interrupted` if a signal was received (a no-op otherwise)."""
    if _state.signum is not None and _state.active:
        _state.unwinding = True
        raise Interrupted(_state.signum)


def _unsafe(frame) -> bool:
    if frame is not None and frame.f_globals.get("__name__", "") in UNSAFE_TOP:
        return True
    while frame is not None:
        if frame.f_globals.get("__name__", "").startswith(UNSAFE_MODULES):
            return True
        frame = frame.f_back
    return False


def _redeliver_later() -> None:
    if _state.retrying:
        return
    _state.retrying = True
    main = threading.main_thread().ident

    def ping():
        try:
            while _state.active and not _state.unwinding:
                time.sleep(RETRY_SECONDS)
                if _state.active and not _state.unwinding:
                    signal.pthread_kill(main, _state.signum or signal.SIGINT)
        finally:
            _state.retrying = False

    threading.Thread(target=ping, name="alselect-interrupt-retry", daemon=True).start()


def _handler(signum, frame):
    if _state.signum is None:
        _state.signum = signum
    if _state.unwinding:
        return  # cleanup of the first interrupt is running: let it finish
    if _state.busy or _unsafe(frame):
        _redeliver_later()
        return
    _state.unwinding = True
    raise Interrupted(_state.signum)


def _unraisable(previous):
    def hook(info):
        if isinstance(info.exc_value, Interrupted):
            # raised inside a destructor and dropped there: deliver the signal again, so
            # that the handler runs in ordinary code
            _state.busy = True
            try:
                _state.unwinding = False
                _redeliver_later()
            finally:
                _state.busy = False
            return
        previous(info)

    return hook


@contextmanager
def installed():
    """Turn :data:`SIGNALS` into :class:`Interrupted` for the block (main thread only)."""
    if threading.current_thread() is not threading.main_thread() or _state.active:
        yield
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    previous_hook = sys.unraisablehook
    _state.signum, _state.unwinding, _state.active, _state.busy = None, False, True, False
    for s in SIGNALS:
        signal.signal(s, _handler)
    sys.unraisablehook = _unraisable(previous_hook)
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        sys.unraisablehook = previous_hook
        _state.active, _state.signum, _state.unwinding = False, None, False


def call(fn, *args, **kwargs):
    """Run ``fn(*args, **kwargs)`` in a worker thread and return its result, ending early on
    a signal.

    For C code that releases the GIL but never returns to Python (a MIP solve): the main
    thread waits in slices of :data:`POLL_SECONDS`, so the signal handler runs and
    :class:`Interrupted` is raised within that time. The abandoned worker is a daemon
    thread; the process is expected to exit at once (the CLI uses ``os._exit``, as a normal
    interpreter exit may wait for such a thread). Without :func:`installed` it simply calls
    ``fn``.
    """
    if not _state.active or threading.current_thread() is not threading.main_thread():
        return fn(*args, **kwargs)
    box: dict = {}

    def run():
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc

    worker = threading.Thread(target=run, name="alselect-interruptible", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(POLL_SECONDS)
        check()
    if "error" in box:
        raise box["error"]
    return box["value"]
