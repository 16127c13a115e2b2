r"""CDAL-RL: a Bi-LSTM selection policy trained with REINFORCE on the CDAL reward.

The pool's unlabeled images form a sequence (row order); the input at each step is the image's
vectorised mixture matrix (rows P_I^c for the classes present, zeros otherwise). A one-layer
bidirectional LSTM, two linear layers and a sigmoid give p_i, the probability of selecting image
i (a Bernoulli action).

Per epoch: one forward pass gives p; ``episodes`` action vectors a ~ Bernoulli(p) are drawn; each
is rewarded with R (:class:`Reward`); the policy takes one Adam step on

    beta (mean(p) - budget / n)^2  -  sum_episodes (R - b) mean_i log pi(a_i)

(the REINFORCE estimator with a moving-average baseline b <- 0.9 b + 0.1 mean R, gradient norm
clipped at 5). The baseline starts at the first epoch's mean reward: the released code starts it
at 0, which on the CD reward's scale (tens to thousands, every reward positive) makes the first
updates push every sampled action up and can saturate all p at 1 before learning begins. The selection is the top-``budget`` of the probabilities of the epoch whose
episodes had the best mean reward.

Long pools: the sequence is cut into chunks of at most ``chunk`` images, run as one batch of
sequences (the LSTM carries no state across chunks), and the backward pass runs over groups of
chunks of at most ``step_rows`` images at a time. The loss is a sum over images once the rewards
are known, so accumulating the groups' gradients gives exactly the full-sequence gradient of the
chunked policy, with memory bounded by ``step_rows`` instead of the pool size.

On CPU the policy trains on one thread (its per-step products are too small to share).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, pad_sequence

from .runtime import cpu_threads, generator, seeded

BASELINE_DECAY = 0.9
CLIP_NORM = 5.0


@dataclass(frozen=True)
class PolicyConfig:
    hidden: int = 256
    episodes: int = 5
    epochs: int = 60
    lr: float = 1e-5
    weight_decay: float = 1e-5
    beta: float = 0.01
    chunk: int = 4096
    step_rows: int = 16384


class BiLstmPolicy(nn.Module):
    def __init__(self, n_in: int, hidden: int):
        super().__init__()
        self.lstm = nn.LSTM(n_in, hidden, num_layers=1, batch_first=True, bidirectional=True)
        self.fc1 = nn.Linear(2 * hidden, hidden)
        self.fc2 = nn.Linear(hidden, 1)

    def forward(self, seqs: list[torch.Tensor]) -> torch.Tensor:
        """Selection probabilities of the concatenated sequences, shape (sum of lengths,)."""
        lengths = torch.tensor([s.shape[0] for s in seqs])
        packed = pack_padded_sequence(pad_sequence(seqs, batch_first=True), lengths, batch_first=True,
                                      enforce_sorted=False)
        out, _ = pad_packed_sequence(self.lstm(packed)[0], batch_first=True)
        p = torch.sigmoid(self.fc2(torch.relu(self.fc1(out)))).squeeze(-1)
        return torch.cat([p[b, :n] for b, n in enumerate(lengths.tolist())])


def chunk_bounds(n: int, chunk: int) -> list[tuple[int, int]]:
    """``ceil(n / chunk)`` consecutive chunks of nearly equal length covering ``range(n)``."""
    k = -(-n // chunk)
    edges = np.linspace(0, n, k + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def group_chunks(bounds: list[tuple[int, int]], step_rows: int) -> list[list[tuple[int, int]]]:
    groups, cur, rows = [], [], 0
    for a, b in bounds:
        if cur and rows + (b - a) > step_rows:
            groups.append(cur)
            cur, rows = [], 0
        cur.append((a, b))
        rows += b - a
    groups.append(cur)
    return groups


def train_policy(features: np.ndarray, reward, budget: int, cfg: PolicyConfig, *, device: torch.device,
                 seed: int, tick=None):
    """Train the policy on ``features (n, F)`` (one row per unlabeled image, in sequence order).

    ``reward(actions: ndarray of bool, p: ndarray) -> float`` scores one episode.
    Returns ``(p_best, epoch_rewards)``: the best epoch's probabilities (float64, (n,)) and the
    mean episode reward of every epoch."""
    n = features.shape[0]
    target = budget / n
    # the LSTM's per-step products are small: more CPU threads only add synchronisation
    # (measured 5-60x slower with 2 threads on a loaded 2-core machine)
    with seeded(seed, device), cpu_threads(1, device):
        g = generator(seed, device)
        x = torch.as_tensor(features, dtype=torch.float32, device=device)
        net = BiLstmPolicy(x.shape[1], cfg.hidden).to(device)
        opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        groups = group_chunks(chunk_bounds(n, cfg.chunk), cfg.step_rows)

        def probs(group):
            return net([x[a:b] for a, b in group])

        baseline, best, best_p, history = None, -np.inf, None, []
        for _ in range(cfg.epochs):
            if len(groups) == 1:  # the whole pool in one pass: keep its graph
                p_grad = probs(groups[0])
                p = p_grad.detach()
            else:
                with torch.no_grad():
                    p = torch.cat([probs(gr) for gr in groups])
            actions = [torch.bernoulli(p, generator=g) for _ in range(cfg.episodes)]
            p_np = p.double().cpu().numpy()
            rewards = [float(reward(a.bool().cpu().numpy(), p_np)) for a in actions]
            if baseline is None:  # start the baseline at the first rewards, not at 0 (see module doc)
                baseline = float(np.mean(rewards))
            advantage = torch.tensor([r - baseline for r in rewards], dtype=torch.float32, device=device)
            # d/dp of beta (mean p - target)^2 is constant given mean p: a linear surrogate per group
            # gives the exact gradient group by group
            length_coef = 2.0 * cfg.beta * (float(p.mean()) - target) / n
            opt.zero_grad(set_to_none=True)
            for gr in groups:
                pg = p_grad if len(groups) == 1 else probs(gr)
                a0, a1 = gr[0][0], gr[-1][1]
                acts = torch.stack([a[a0:a1] for a in actions])  # (episodes, rows)
                logp = acts * torch.log(pg.clamp_min(1e-12)) + (1 - acts) * torch.log((1 - pg).clamp_min(1e-12))
                loss = length_coef * pg.sum() - (advantage[:, None] * logp).sum() / n
                loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), CLIP_NORM)
            opt.step()
            mean_r = float(np.mean(rewards))
            baseline = BASELINE_DECAY * baseline + (1.0 - BASELINE_DECAY) * mean_r
            history.append(mean_r)
            if mean_r > best:
                best, best_p = mean_r, p_np
            if tick is not None:
                tick(mean_r)
        return best_p, np.asarray(history)
