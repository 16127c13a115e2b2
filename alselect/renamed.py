"""Keywords renamed since an earlier release: passing the old spelling is an error that names
the new one (an :class:`~alselect.errors.InvalidInputError`), never a silent alias."""

from __future__ import annotations

import functools

from .errors import InvalidInputError

#: The R_sr weight of CDAL Eq. 5 (lambda in the paper); ``lam`` is the balance weight of the
#: ``balanced`` strategies (thesis Eq. 4.8-4.9).
SR_LAM = ("sr_lam", "the lambda of R_sr (CDAL Eq. 5); `lam` is the class-balance weight of the balanced strategies")
#: Array-API name of dataset cd/counts, beside ``mixtures`` and ``present`` (cd/mixtures, cd/present).
COUNTS = ("counts", "the regions per pseudo-class of each sample, dataset cd/counts")


def renamed_keywords(**renames: tuple[str, str]):
    """Decorator: ``old=(new, what)`` makes ``f(old=...)`` raise an error naming ``new``."""

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            for old in kwargs.keys() & renames.keys():
                new, what = renames[old]
                raise InvalidInputError(f"{fn.__name__}(): '{old}' was renamed '{new}' ({what})")
            return fn(*args, **kwargs)

        return wrapper

    return decorate
