"""Exceptions raised by alselect.

Every message states what is wrong, the rule it breaks, and how to fix it; the CLI prints
it as a one-line ``Error: ...`` with a non-zero exit status.
"""


class AlselectError(ValueError):
    """Base class: bad input or a pool that cannot be used.

    Subclasses ``ValueError`` so that library users can catch either.
    """


class PoolFormatError(AlselectError):
    """The file is missing, not HDF5, not an alselect pool, or structurally invalid."""


class PoolValueError(AlselectError):
    """A dataset of the pool holds values outside its rules (NaN, negative probabilities, ...)."""


class MissingDatasetError(AlselectError):
    """A strategy needs a dataset the pool does not hold."""


class SelectionError(AlselectError):
    """Invalid selection request: budget, labeled set, strategy or parameter."""
