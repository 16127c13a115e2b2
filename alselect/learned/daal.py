r"""DAAL: the dual adversarial network of Wang et al. (ScoreNet + VAE + uDis/rDis), on features.

Algorithm 1, per batch (x_l labeled, x_u unlabeled):

1. s = ScoreNet(x_u);  (e_hat, e_tilde) = Encoder((1 - s) x_u, s x_u);
   (x_hat, x_tilde) = Decoder(e_hat, e_tilde)   (uncertainty, representativeness branches)
2. {ScoreNet, Encoder} <- L_recon + L_prior + L_sparsity + adversary * L_G
3. {Decoder}           <- L_recon + L_G
4. {uDis, rDis}        <- maximise L_GAN

L_G is the generator's side of L_GAN (Eq. 4): x_hat should pass uDis as labeled and x_tilde pass
rDis as original. ``adversary=0`` (default) is line 14 of Algorithm 1 as printed; a positive
weight follows the text instead, which has the rater "trained to trick the discriminators".

All three gradients come from the one forward pass of step 1 (as Algorithm 1 writes it: the
forward lines 10-12, then three updates), each through its own Adam optimiser.
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
class DaalConfig:
    epochs: int = 3
    batch: int = 128
    lr: float = 5e-4
    sigma: float = 0.2
    width: int = 256
    latent: int = 32
    dropout: float = 0.4
    threads: int | None = 1  # CPU intra-op threads; None: torch's setting
    adversary: float = 0.0  # weight of L_G in the rater's update; 0: Algorithm 1 line 14 as printed
    gan: str = "minimax"  # generator loss form, see losses.generator_value
    dpp: float = 1.0  # weight of L_DPP in L_sparsity (Eq. 5: 1)
    init: str = "kaiming"  # VAE weights, see nets.kaiming_


class Daal(torch.nn.Module):
    def __init__(self, d: int, cfg: DaalConfig):
        super().__init__()
        self.score_net = ScoreMLP(d, cfg.width, cfg.dropout)
        self.vae = VAE(d, cfg.width, cfg.latent, cfg.dropout, cfg.init)
        self.u_dis = ScoreMLP(d, cfg.width)
        self.r_dis = ScoreMLP(d, cfg.width)

    def losses(self, x_u: torch.Tensor, x_l: torch.Tensor, cfg: DaalConfig) -> dict[str, torch.Tensor]:
        """Every loss of Eq. 1-7 for one batch (one forward pass), and the generator's side of
        L_GAN as ``gen``."""
        s = self.score_net.score(x_u)
        mu_h, lv_h = self.vae.encode((1.0 - s)[:, None] * x_u)
        mu_t, lv_t = self.vae.encode(s[:, None] * x_u)
        x_hat = self.vae.decoder(VAE.sample(mu_h, lv_h))
        x_tilde = self.vae.decoder(VAE.sample(mu_t, lv_t))
        phi_u, logit_l = self.u_dis(torch.cat([x_u, x_l]))  # one pass for x_u's features and x_l's logit
        phi_u, logit_l = phi_u[: x_u.shape[0]], logit_l[x_u.shape[0]:]
        phi_hat, logit_hat = self.u_dis(x_hat)
        psi_u, logit_u = self.r_dis(x_u)
        psi_tilde, logit_tilde = self.r_dis(x_tilde)
        return {
            "recon": losses.feature_nll(phi_u, phi_hat) + losses.feature_nll(psi_u, psi_tilde),
            "prior": losses.prior_kl(mu_h, lv_h) + losses.prior_kl(mu_t, lv_t),
            "sparsity": losses.sparsity(s, x_u, cfg.sigma, cfg.dpp),
            "gan": losses.gan_value(logit_l, logit_hat) + losses.gan_value(logit_u, logit_tilde),
            "gen": losses.generator_value(logit_hat, cfg.gan) + losses.generator_value(logit_tilde, cfg.gan),
        }


def objectives(L: dict[str, torch.Tensor], cfg: DaalConfig) -> dict[str, torch.Tensor]:
    """What each parameter group minimises (lines 14-16 of Algorithm 1, see the module docstring)."""
    return {"rater": L["recon"] + L["prior"] + L["sparsity"] + cfg.adversary * L["gen"],
            "decoder": L["recon"] + L["gen"],
            "dis": -L["gan"]}


def _grads(params: list, loss: torch.Tensor, retain: bool) -> list:
    return list(torch.autograd.grad(loss, params, retain_graph=retain, allow_unused=True))


def _apply(opt: torch.optim.Optimizer, params: list, grads: list) -> None:
    for p, g in zip(params, grads):
        p.grad = g
    opt.step()


def train_daal(x_u: np.ndarray, x_l: np.ndarray, cfg: DaalConfig, *, device: torch.device, seed: int,
               progress=None, tick=None) -> np.ndarray:
    """Train DAAL on unlabeled ``x_u (n, d)`` and labeled ``x_l (m, d)`` features; return the
    ScoreNet's score of every unlabeled row (float64 in [0, 1], evaluation mode)."""
    with seeded(seed, device), cpu_threads(cfg.threads, device):
        g = generator(seed, device)
        xu = torch.as_tensor(x_u, dtype=torch.float32, device=device)
        xl = torch.as_tensor(x_l, dtype=torch.float32, device=device)
        net = Daal(xu.shape[1], cfg).to(device)
        groups = {
            "rater": list(net.score_net.parameters()) + list(net.vae.encoder.parameters()),
            "decoder": list(net.vae.decoder.parameters()),
            "dis": list(net.u_dis.parameters()) + list(net.r_dis.parameters()),
        }
        opts = {k: torch.optim.Adam(v, lr=cfg.lr) for k, v in groups.items()}
        labeled = Cycle(xl.shape[0], g)
        net.train()
        for _ in range(cfg.epochs):
            batches = epoch_batches(xu.shape[0], cfg.batch, g)
            last = {}
            for idx in batches:
                L = net.losses(xu[idx], xl[labeled.take(idx.shape[0])], cfg)
                # all gradients before any update: the steps must not change the weights the
                # other two gradients are taken at
                obj = objectives(L, cfg)
                grads = {k: _grads(groups[k], obj[k], k != "dis") for k in ("rater", "decoder", "dis")}
                for key, opt in opts.items():
                    _apply(opt, groups[key], grads[key])
                last = L
                if progress is not None:
                    progress(1)
            if tick is not None:
                tick({k: float(v.detach()) for k, v in last.items()})
        net.eval()
        return score_in_batches(net.score_net.score, xu).double().cpu().numpy()
