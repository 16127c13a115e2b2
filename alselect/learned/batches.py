"""Mini-batch streams over feature matrices (seeded by a local generator)."""

from __future__ import annotations

import torch


def epoch_batches(n: int, batch: int, g: torch.Generator):
    """Index batches covering ``range(n)`` once, in a fresh random order."""
    order = torch.randperm(n, generator=g, device=g.device)
    return [order[i:i + batch] for i in range(0, n, batch)]


class Cycle:
    """An endless stream of index batches over ``range(n)``: each pass is a fresh permutation,
    so every row is drawn once per pass even when n is smaller than the batch."""

    def __init__(self, n: int, g: torch.Generator):
        self.n, self.g = n, g
        self.order = torch.randperm(n, generator=g, device=g.device)
        self.pos = 0

    def take(self, size: int) -> torch.Tensor:
        parts, left = [], size
        while left:
            if self.pos == self.n:
                self.order = torch.randperm(self.n, generator=self.g, device=self.g.device)
                self.pos = 0
            step = min(left, self.n - self.pos)
            parts.append(self.order[self.pos:self.pos + step])
            self.pos += step
            left -= step
        return torch.cat(parts)


def score_in_batches(fn, x: torch.Tensor, batch: int = 8192) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([fn(x[i:i + batch]) for i in range(0, x.shape[0], batch)])
