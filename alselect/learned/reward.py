r"""The CDAL-RL episode reward, from the reward functions of :mod:`alselect.cdal` (the ones
``alselect score`` reports), evaluated on samples so that it fits in the RL inner loop.

An episode's selection S is its sampled actions, cut to a uniformly random ``budget`` of them
when more are sampled: the reward scores sets of the size the final selection has, and
selecting more than the budget only dilutes the set (cutting by probability instead lets every
p drift to 1 and the policy stop exploring). Then, with k = |S|:

- R_cd (Eq. 3): the CD sum over ordered pairs of a uniform subset of ``sample`` rows of S, scaled
  by k(k-1) / (m(m-1)), an unbiased estimate of the sum over S (exact when k <= sample);
- R_vr (Eq. 4): the mean over ``vr_sample`` unlabeled rows drawn uniformly (an unbiased
  estimate of the mean over the pool) of the distance to the nearest image of S;
- R_sr (Eq. 5): exact (a sum of per-class counts).

``mode="paper"``: R = alpha R_cd + (1 - alpha)(R_vr + R_sr) with R_vr as Eq. 4 (Euclidean,
unit scale). ``mode="code"`` (the authors' released code): R = 0.5 R_vr + 1.5 R_cd, R_cd the
mean over all ordered pairs (diagonal included), R_vr on squared distances divided by 50, no R_sr.
An episode that selects nothing is rewarded 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import cdal


@dataclass
class Reward:
    mixtures: np.ndarray  # (n, K, C) of the unlabeled images, sequence order
    present: np.ndarray  # (n, K)
    budget: int
    rng: np.random.Generator
    embeddings: np.ndarray | None = None  # (n, D)
    counts: np.ndarray | None = None  # (n, C) regions per pseudo-class, for R_sr
    sr_lam: float | None = None  # lambda of R_sr (CDAL Eq. 5)
    mode: str = "paper"
    alpha: float = cdal.ALPHA
    reduce: str = "sum"
    sample: int = 512
    vr_sample: int = 2048

    def selection(self, actions: np.ndarray, p: np.ndarray) -> np.ndarray:
        sel = np.flatnonzero(actions)
        if sel.size > self.budget:
            sel = np.sort(self.rng.choice(sel, self.budget, replace=False))
        return sel

    def r_cd(self, sel: np.ndarray) -> float:
        k = sel.size
        if k < 2:
            return 0.0
        m = min(k, self.sample)
        sub = sel if m == k else np.sort(self.rng.choice(sel, m, replace=False))
        total = cdal.reward_cd(self.mixtures[sub], self.present[sub], np.arange(m), reduce=self.reduce)
        total *= (k * (k - 1)) / (m * (m - 1))
        return total / (k * k) if self.mode == "code" else total

    def r_vr(self, sel: np.ndarray) -> float:
        if self.embeddings is None:
            return 0.0
        n = self.embeddings.shape[0]
        rows = None if n <= self.vr_sample else np.sort(self.rng.choice(n, self.vr_sample, replace=False))
        if self.mode == "code":
            return cdal.reward_vr(self.embeddings, sel, squared=True, scale=0.02, rows=rows)
        return cdal.reward_vr(self.embeddings, sel, rows=rows)

    def r_sr(self, sel: np.ndarray) -> float:
        if self.mode == "code" or self.counts is None:
            return 0.0
        return cdal.reward_sr(self.counts, sel, self.sr_lam)

    def of_selection(self, sel: np.ndarray) -> float:
        if sel.size == 0:
            return 0.0
        if self.mode == "code":
            return 0.5 * self.r_vr(sel) + 1.5 * self.r_cd(sel)
        return self.alpha * self.r_cd(sel) + (1.0 - self.alpha) * (self.r_vr(sel) + self.r_sr(sel))

    def __call__(self, actions: np.ndarray, p: np.ndarray) -> float:
        return self.of_selection(self.selection(actions, p))
