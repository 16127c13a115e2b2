"""Capturing embeddings with a forward hook, and switching dropout on for MC sampling.

Default layer: for classification the *input* of the last ``nn.Linear`` (the penultimate
features), for segmentation the input of the last ``nn.Conv2d`` (the features the pixel
classifier reads). A layer named with ``--embedding-layer`` is captured at its *output*.
Captured tensors are pooled to (B, D): 4-D (B, D, H, W) outputs are averaged over H and W,
3-D (B, T, D) outputs (token sequences) over T.
"""

from __future__ import annotations

import difflib
from contextlib import contextmanager

import torch
from torch import nn

from .errors import InferError

#: How many layer names an error message lists.
MAX_NAMES_LISTED = 12


def _default_layer(model: nn.Module, task: str) -> tuple[str, nn.Module] | None:
    kinds = (nn.Linear,) if task == "classification" else (nn.Conv2d,) if task == "segmentation" else ()
    found = None
    for name, module in model.named_modules():
        if kinds and isinstance(module, kinds):
            found = (name, module)
    return found


def resolve_layer(model: nn.Module, name: str | None, task: str) -> tuple[str, nn.Module, bool] | None:
    """(name, module, capture_input) of the layer to hook, or None when there is no default one."""
    if name is None:
        found = _default_layer(model, task)
        return None if found is None else (found[0], found[1], True)
    modules = dict(model.named_modules())
    if name in modules and name != "":
        return name, modules[name], False
    names = [n for n in modules if n]
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.4)
    hint = f" (closest: '{close[0]}')" if close else ""
    listed = ", ".join(names[:MAX_NAMES_LISTED]) + (f", ... ({len(names)} in all)" if len(names) > MAX_NAMES_LISTED else "")
    raise InferError(f"--embedding-layer '{name}' is not a layer of the model{hint}; its layers are: {listed or 'none'}")


def pool_features(x: torch.Tensor) -> torch.Tensor:
    """(B, D) float32 from a hooked tensor: spatial mean for 4-D, token mean for 3-D."""
    if x.ndim == 4:
        x = x.float().mean(dim=(2, 3))
    elif x.ndim == 3:
        x = x.float().mean(dim=1)
    elif x.ndim != 2:
        raise InferError(
            f"the embedding layer produced a tensor of shape {tuple(x.shape)}; expected (B, D), (B, T, D) "
            "or (B, D, H, W); choose another --embedding-layer"
        )
    return x.float()


class EmbeddingHook:
    """Keeps the latest tensor seen at one layer; ``enabled`` is off during MC passes."""

    def __init__(self, name: str, module: nn.Module, capture_input: bool):
        self.name = name
        self.value: torch.Tensor | None = None
        self.enabled = True
        if capture_input:
            self._handle = module.register_forward_pre_hook(self._pre)
        else:
            self._handle = module.register_forward_hook(self._post)

    def _keep(self, value) -> None:
        if not self.enabled:
            return
        if isinstance(value, (tuple, list)):
            value = value[0] if value else None
        if not isinstance(value, torch.Tensor):
            raise InferError(f"layer '{self.name}' does not produce a tensor ({type(value).__name__}); choose another --embedding-layer")
        # Pool (or copy) now: a later in-place op (ReLU(inplace=True)) must not change what we keep.
        pooled = pool_features(value)
        self.value = pooled.clone() if pooled is value else pooled

    def _pre(self, module, args):
        self._keep(args)

    def _post(self, module, args, output):
        self._keep(output)

    def take(self, batch_size: int) -> torch.Tensor:
        value, self.value = self.value, None
        if value is None:
            raise InferError(f"layer '{self.name}' was not called during the forward pass; choose another --embedding-layer")
        if value.shape[0] != batch_size:
            raise InferError(
                f"layer '{self.name}' saw a tensor whose first axis ({value.shape[0]}) is not the batch "
                f"({batch_size}); choose a layer that runs once per image"
            )
        return value

    def remove(self) -> None:
        self._handle.remove()


def dropout_modules(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]


@contextmanager
def mc_dropout(model: nn.Module):
    """Dropout modules in train mode, everything else (BatchNorm included) in eval mode."""
    drops = dropout_modules(model)
    model.eval()
    for m in drops:
        m.train()
    try:
        yield
    finally:
        model.eval()
