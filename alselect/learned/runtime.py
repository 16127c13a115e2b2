"""Device choice and seeding for the learned selectors."""

from __future__ import annotations

import contextlib

import numpy as np
import torch

from ..errors import SelectionError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str, strategy: str) -> torch.device:
    """``auto``: cuda when a GPU is visible, else cpu; ``cuda`` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        why = "this torch build has no CUDA support" if torch.version.cuda is None else "no CUDA GPU is visible"
        raise SelectionError(f"strategy '{strategy}': -p device=cuda was requested but {why} "
                             f"(torch {torch.__version__}); use -p device=cpu or -p device=auto")
    return torch.device(name)


def torch_seed(seed: int | None, rng: np.random.Generator) -> int:
    """The seed of the torch side: the run's seed, or one drawn from the run's generator."""
    return int(seed) if seed is not None else int(rng.integers(0, 2**31 - 1))


@contextlib.contextmanager
def seeded(seed: int, device: torch.device):
    """Seed torch's global generators for network initialisation and restore them afterwards,
    so a selection leaves the caller's random state as it found it."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def generator(seed: int, device: torch.device) -> torch.Generator:
    """A local generator (sampling, shuffling) that leaves the global one alone."""
    g = torch.Generator(device=device)
    g.manual_seed(seed)
    return g


@contextlib.contextmanager
def cpu_threads(n: int | None, device: torch.device):
    """Run with ``n`` intra-op CPU threads (restored afterwards); ``None`` keeps torch's setting."""
    if n is None or device.type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
