"""Device and precision: ``--device cuda|cpu`` and ``--precision fp32|bf16|fp16`` (autocast)."""

from __future__ import annotations

import contextlib

import torch

from .errors import InferError

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(name: str | None) -> torch.device:
    """``None`` picks cuda when available; asking for cuda without a GPU is an error."""
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise InferError(f"--device {name!r} is not a device; use cpu, cuda or cuda:INDEX") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            why = "this torch build has no CUDA support" if torch.version.cuda is None else "no CUDA GPU is visible"
            raise InferError(f"--device {name} was requested but {why} (torch {torch.__version__}); use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise InferError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) are visible")
    elif device.type != "cpu":
        raise InferError(f"--device {name!r} is not supported; use cpu or cuda")
    return device


def autocast(device: torch.device, precision: str):
    """The forward-pass context: autocast for bf16/fp16, nothing for fp32."""
    if precision not in PRECISIONS:
        raise InferError(f"--precision {precision!r} is not one of: {', '.join(PRECISIONS)}")
    dtype = PRECISIONS[precision]
    if dtype is None:
        return contextlib.nullcontext()
    if device.type == "cuda" and dtype is torch.bfloat16 and not torch.cuda.is_bf16_supported():
        raise InferError(f"--precision bf16: the GPU {torch.cuda.get_device_name(device)} does not support bfloat16; use fp16")
    return torch.autocast(device_type=device.type, dtype=dtype)
