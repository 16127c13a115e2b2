"""The exception tree of alselect.

Every layer raises these, never a bare builtin. Each class derives from :class:`AlselectError`
and from the builtin a Python user would expect to catch (``ValueError`` for bad values,
``FileNotFoundError`` for a missing file, ...), so both ``except AlselectError`` and the
usual ``except ValueError`` work. Every message states the value, the rule it breaks and the
fix; the CLI prints it as one ``Error: ...`` line with exit status 1.
"""


class AlselectError(Exception):
    """Base class of every error alselect raises on purpose."""


class InvalidInputError(AlselectError, ValueError):
    """An argument of the Python API or the CLI is out of its documented range."""


class SelectionError(InvalidInputError):
    """Invalid selection request: budget, labeled set, strategy or parameter."""


class PoolFormatError(AlselectError, ValueError):
    """The file is not HDF5, not an alselect pool, or structurally invalid."""


class PoolNotFoundError(PoolFormatError, FileNotFoundError):
    """An input file (pool, list, array) does not exist or cannot be opened."""


class PoolValueError(AlselectError, ValueError):
    """A dataset of the pool holds values outside its rules (NaN, negative probabilities, ...)."""


class MissingDatasetError(AlselectError, LookupError):
    """A strategy or command needs a dataset the pool does not hold."""


class PoolLockedError(AlselectError, BlockingIOError):
    """Another process holds the pool open for writing."""


class OutputError(AlselectError, OSError):
    """An output cannot be written where asked (it is an input, not writable, ...)."""


class MissingExtraError(AlselectError, ImportError):
    """A command needs an optional extra that is not installed.

    The message names the install command, e.g. ``pip install 'alselect[torch]'``."""

    def __init__(self, extra: str, what: str):
        super().__init__(f"{what} needs the optional '{extra}' extra; install it with "
                         f"pip install 'alselect[{extra}]'")
        self.extra = extra


class SolverError(AlselectError, RuntimeError):
    """A numerical solve could not produce a result (infeasible, numerical failure)."""


class InternalError(AlselectError, RuntimeError):
    """An internal consistency check failed: a bug in alselect (or in a plug-in strategy), not bad input."""


def require_extra(module: str, extra: str, what: str):
    """Import ``module`` or raise :class:`MissingExtraError` naming ``extra``."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(extra, what) from None
