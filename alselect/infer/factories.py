"""Loading the user's model and data: ``PKG.MODULE:FACTORY`` specs, checkpoints, data loaders.

A factory is any callable taking no arguments: ``--model`` returns an ``nn.Module``,
``--data`` a torch ``Dataset`` or ``DataLoader`` (or ``--data`` names a folder of ``.npy``
arrays, see :mod:`alselect.infer.npy_folder`). Every failure becomes an :class:`InferError`
that names the option, what went wrong and how to fix it.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import os
import sys
from collections.abc import Mapping

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, IterableDataset, RandomSampler

from .errors import InferError

#: Keys under which training frameworks nest the state dict inside a checkpoint dict.
STATE_DICT_KEYS = ("state_dict", "model")
#: Prefix ``nn.DataParallel`` / DDP add to every parameter name.
DATA_PARALLEL_PREFIX = "module."


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _import_module(module_name: str, option: str, spec: str):
    if module_name.endswith(".py"):
        if not os.path.isfile(module_name):
            raise InferError(f"{option} {spec!r}: file '{module_name}' does not exist")
        name = "_alselect_user_" + os.path.splitext(os.path.basename(module_name))[0]
        loader_spec = importlib.util.spec_from_file_location(name, module_name)
        module = importlib.util.module_from_spec(loader_spec)
        try:
            loader_spec.loader.exec_module(module)
        except Exception as exc:
            raise InferError(f"{option} {spec!r}: running '{module_name}' failed ({_first_line(exc)})") from None
        return module
    # The console script does not put the working directory on sys.path, unlike `python -m`.
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.append(cwd)
    try:
        return importlib.import_module(module_name)
    except Exception as exc:
        raise InferError(
            f"{option} {spec!r}: cannot import module '{module_name}' ({_first_line(exc)}); check the name "
            "and that its package is importable from here (the current directory is searched)"
        ) from None


def load_callable(spec: str, option: str):
    """Resolve ``PKG.MODULE:NAME`` (or ``path/to/file.py:NAME``; ``NAME`` may be dotted) to a callable."""
    module_name, sep, attr = str(spec).rpartition(":")
    if not sep or not module_name or not attr:
        raise InferError(f"{option} expects PKG.MODULE:FACTORY (or path/to/file.py:FACTORY), got {spec!r}")
    obj = _import_module(module_name, option, spec)
    for part in attr.split("."):
        parent, obj = obj, getattr(obj, part, None)
        if obj is None:
            names = [n for n in dir(parent) if not n.startswith("_")]
            close = difflib.get_close_matches(part, names, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise InferError(f"{option} {spec!r}: '{module_name}' has no attribute '{attr}'{hint}")
    if not callable(obj):
        raise InferError(f"{option} {spec!r} is a {type(obj).__name__}, not a callable factory")
    return obj


def call_factory(spec: str, option: str):
    """Load and call a factory, turning any exception it raises into one clear line."""
    factory = load_callable(spec, option)
    try:
        return factory()
    except Exception as exc:
        raise InferError(f"{option} factory {spec!r} raised {_first_line(exc)}") from None


# ------------------------------------------------------------------------------------ model
def build_model(spec: str, weights: str | None, device: torch.device) -> nn.Module:
    """Call the model factory, load ``weights`` into it, move it to ``device`` in eval mode."""
    model = call_factory(spec, "--model")
    if not isinstance(model, nn.Module):
        raise InferError(f"--model factory {spec!r} returned a {type(model).__name__}; it must return a torch.nn.Module")
    if weights is not None:
        load_weights(model, weights)
    return model.to(device).eval()


def _unwrap_state(state, path: str) -> Mapping:
    if isinstance(state, Mapping):
        for key in STATE_DICT_KEYS:
            if key in state and isinstance(state[key], Mapping):
                state = state[key]
                break
    if not isinstance(state, Mapping) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                 for k, v in state.items()):
        raise InferError(
            f"--weights '{path}' holds a {type(state).__name__}, not a state dict (names -> tensors) nor a dict "
            f"with a {' or '.join(repr(k) for k in STATE_DICT_KEYS)} entry; save it with "
            "torch.save(model.state_dict(), PATH)"
        )
    return state


def _match_prefix(state: Mapping, wanted: set[str]) -> Mapping:
    """Drop a ``module.`` (DataParallel) or other common first component when that makes names match."""
    keys = set(state)
    if keys == wanted or not keys:
        return state
    first = {k.split(".", 1)[0] for k in keys}
    if len(first) == 1 and all("." in k for k in keys):
        prefix = next(iter(first)) + "."
        stripped = {k[len(prefix):]: v for k, v in state.items()}
        if set(stripped) == wanted or prefix == DATA_PARALLEL_PREFIX:
            return stripped
    return state


def load_weights(model: nn.Module, path: str) -> None:
    """Load a checkpoint safely (``torch.load(weights_only=True)``) into ``model``.

    Accepted layouts: a state dict, or a dict holding one under ``'state_dict'`` or
    ``'model'``; a common prefix such as ``module.`` is stripped when that makes the names
    match the model's.
    """
    if not os.path.isfile(path):
        raise InferError(f"--weights '{path}' does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise InferError(
            f"--weights '{path}' cannot be loaded safely with torch.load(weights_only=True) ({_first_line(exc)}); "
            "save a plain state dict with torch.save(model.state_dict(), PATH)"
        ) from None
    wanted = set(model.state_dict())
    state = _match_prefix(_unwrap_state(state, path), wanted)
    missing = sorted(wanted - set(state))
    unexpected = sorted(set(state) - wanted)
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. '{missing[0]}')")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. '{unexpected[0]}')")
        raise InferError(
            f"--weights '{path}' does not match the model: {', '.join(parts)} parameter name(s); "
            "check that --model builds the architecture the checkpoint was trained with"
        )
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split("\n\t")[1:2]).strip() or _first_line(exc)
        raise InferError(f"--weights '{path}' does not fit the model: {detail}") from None


# ------------------------------------------------------------------------------------- data
def build_loader(spec: str, *, batch_size: int, num_workers: int, device: torch.device) -> DataLoader:
    """A ``DataLoader`` over the pool, in pool row order.

    A ``Dataset`` from the factory (or the built-in ``.npy`` folder) is wrapped with
    ``shuffle=False`` and the given batch size and workers; a ``DataLoader`` from the
    factory is used as it is (its own batch size and workers win).
    """
    if os.path.isdir(spec):
        from .npy_folder import NpyFolderDataset

        data = NpyFolderDataset(spec)
    elif ":" not in spec or os.sep in spec.rpartition(":")[2]:
        raise InferError(f"--data {spec!r} is neither an existing folder of .npy arrays nor PKG.MODULE:FACTORY")
    else:
        data = call_factory(spec, "--data")
    if isinstance(data, DataLoader):
        if data.drop_last:
            raise InferError(
                f"--data factory {spec!r} returned a DataLoader with drop_last=True, which would leave samples "
                "out of the pool; build it with drop_last=False"
            )
        return data
    if not isinstance(data, Dataset):
        raise InferError(
            f"--data factory {spec!r} returned a {type(data).__name__}; it must return a torch.utils.data.Dataset "
            "or DataLoader yielding inputs or (inputs, ids)"
        )
    return DataLoader(data, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                      pin_memory=device.type == "cuda", persistent_workers=False)


def expected_rows(loader: DataLoader) -> int | None:
    """Number of samples the loader yields, or None when it cannot be known up front."""
    if isinstance(loader.dataset, IterableDataset):
        return None
    try:
        return len(loader.sampler) if loader.batch_size is not None else len(loader)
    except TypeError:
        return None


def shuffles(loader: DataLoader) -> bool:
    return isinstance(loader.sampler, RandomSampler)
