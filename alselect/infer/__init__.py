"""`alselect infer`: run a PyTorch model over an unlabeled pool and write a pool file.

Importing this package does not import torch; the modules that need it (``run``,
``factories``, ``summaries``, ...) are imported by the ``infer`` command when it runs. The
user-facing documentation is ``docs/infer.md``.
"""

from .errors import InferError

__all__ = ["InferError", "run_infer"]


def __getattr__(name):
    if name == "run_infer":
        from .run import run_infer

        return run_infer
    raise AttributeError(name)
