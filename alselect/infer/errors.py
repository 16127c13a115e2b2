"""The error type of `alselect infer` (printed by the CLI as one ``Error: ...`` line)."""

from ..errors import AlselectError


class InferError(AlselectError):
    """A model/data factory, checkpoint, layer name, device or dataset item that cannot be used."""
