r"""VAAL (Sinha et al.) on pool features: a VAE embeds labeled and unlabeled features in one
latent space, a discriminator on the latent means tells labeled (1) from unlabeled (0), and the
VAE is trained to fool it. The picks are the unlabeled samples the discriminator is least sure
are labeled. Built from DAAL's blocks (``nets``, ``losses``).

Per batch: ``vae_steps`` VAE updates on
``MSE(x_l) + MSE(x_u) + beta (KL_l + KL_u) + adversary (BCE(D(mu_l), 1) + BCE(D(mu_u), 1))``,
then one discriminator update on ``BCE(D(mu_l), 1) + BCE(D(mu_u), 0)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from . import losses
from .batches import Cycle, epoch_batches, score_in_batches
from .nets import VAE, ScoreMLP
from .runtime import cpu_threads, generator, seeded


@dataclass(frozen=True)
class VaalConfig:
    epochs: int = 3
    batch: int = 128
    lr: float = 5e-4
    width: int = 256
    latent: int = 32
    dropout: float = 0.0
    beta: float = 1.0
    adversary: float = 1.0
    vae_steps: int = 2
    threads: int | None = 1  # CPU intra-op threads; None: torch's setting


def _vae_loss(vae: VAE, dis: ScoreMLP, x: torch.Tensor, beta: float, adversary: float) -> torch.Tensor:
    mu, logvar = vae.encode(x)
    x_hat = vae.decoder(VAE.sample(mu, logvar))
    fool = losses.bce_logits(dis(mu)[1], 1.0)
    return losses.vaal_reconstruction(x, x_hat) + beta * losses.prior_kl(mu, logvar) + adversary * fool


def train_vaal(x_u: np.ndarray, x_l: np.ndarray, cfg: VaalConfig, *, device: torch.device, seed: int,
               progress=None, tick=None) -> np.ndarray:
    """Train VAAL; return, per unlabeled row, 1 - D(mu) (the probability of being unlabeled)."""
    with seeded(seed, device), cpu_threads(cfg.threads, device):
        g = generator(seed, device)
        xu = torch.as_tensor(x_u, dtype=torch.float32, device=device)
        xl = torch.as_tensor(x_l, dtype=torch.float32, device=device)
        vae = VAE(xu.shape[1], cfg.width, cfg.latent, cfg.dropout).to(device)
        dis = ScoreMLP(cfg.latent, cfg.width).to(device)
        opt_vae = torch.optim.Adam(vae.parameters(), lr=cfg.lr)
        opt_dis = torch.optim.Adam(dis.parameters(), lr=cfg.lr)
        labeled = Cycle(xl.shape[0], g)
        vae.train()
        dis.train()
        for _ in range(cfg.epochs):
            for idx in epoch_batches(xu.shape[0], cfg.batch, g):
                bu, bl = xu[idx], xl[labeled.take(idx.shape[0])]
                for _step in range(cfg.vae_steps):
                    loss = _vae_loss(vae, dis, bl, cfg.beta, cfg.adversary) + \
                        _vae_loss(vae, dis, bu, cfg.beta, cfg.adversary)
                    opt_vae.zero_grad(set_to_none=True)
                    loss.backward()
                    opt_vae.step()
                with torch.no_grad():
                    mu_l, mu_u = vae.encode(bl)[0], vae.encode(bu)[0]
                d_loss = losses.bce_logits(dis(mu_l)[1], 1.0) + losses.bce_logits(dis(mu_u)[1], 0.0)
                opt_dis.zero_grad(set_to_none=True)
                d_loss.backward()
                opt_dis.step()
                if progress is not None:
                    progress(1)
            if tick is not None:
                tick({"vae": float(loss.detach()), "dis": float(d_loss.detach())})
        vae.eval()
        dis.eval()
        p_labeled = score_in_batches(lambda x: dis.score(vae.encode(x)[0]), xu)
        return (1.0 - p_labeled).double().cpu().numpy()
