r"""The losses of DAAL (Wang et al., Eq. 1-7) and VAAL, on batches.

Every function returns a scalar tensor and averages over the batch ("the expectation is
approximated as the empirical mean of the training samples", DAAL §3.2).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

DPP_JITTER = 1e-6
"""Added to the diagonal of the selected block of D before its log-determinant: D(s_x') is only
positive semi-definite (rank <= feature dimension, or repeated samples)."""


def prior_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """L_prior (Eq. 1): KL(q(e|x) || N(0, I)) = -1/2 sum_j (1 + logvar - mu^2 - exp(logvar)),
    summed over latent dimensions, averaged over the batch."""
    return (-0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp()).sum(-1)).mean()


def feature_nll(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """One term of L_recon (Eq. 3): -log p(phi(x) | e) with p a unit-variance Gaussian centred on
    the reconstruction's hidden features phi(x_hat): 1/2 ||phi(x) - phi(x_hat)||^2 plus
    d/2 log(2 pi), averaged over the batch."""
    d = real.shape[-1]
    return (0.5 * (real - fake).pow(2).sum(-1)).mean() + 0.5 * d * math.log(2.0 * math.pi)


def gan_value(real_logit: torch.Tensor, fake_logit: torch.Tensor) -> torch.Tensor:
    """One discriminator's part of L_GAN (Eq. 4): E log D(real) + E log(1 - D(fake)), with
    D = sigmoid(logit) evaluated through log-sigmoids (no log(0))."""
    return F.logsigmoid(real_logit).mean() + F.logsigmoid(-fake_logit).mean()


GAN_FORMS = ("nonsaturating", "minimax")


def generator_value(fake_logit: torch.Tensor, form: str) -> torch.Tensor:
    """The generator's side of one discriminator's L_GAN term, to be minimised: ``minimax``
    E log(1 - D(fake)) (Eq. 4 as written; its gradient vanishes when D rejects the fake
    confidently) or ``nonsaturating`` -E log D(fake) (the same fixed point, Goodfellow et al. §3)."""
    if form == "minimax":
        return F.logsigmoid(-fake_logit).mean()
    return -F.logsigmoid(fake_logit).mean()


def length_regulariser(s: torch.Tensor, sigma: float) -> torch.Tensor:
    """L_LR (Eq. 6): || sigma - mean(s) ||_2 (a scalar, so its absolute value)."""
    return (sigma - s.mean()).abs()


def dpp_subset(s: torch.Tensor, sigma: float) -> torch.Tensor:
    """x': the ceil(sigma n) samples of the batch with the largest scores (ties: first)."""
    k = max(1, min(s.shape[0], math.ceil(sigma * s.shape[0])))
    return torch.topk(s.detach(), k, sorted=True).indices


def _logdet_pd(m: torch.Tensor) -> torch.Tensor:
    """log |m| of a symmetric positive-definite matrix from its Cholesky factor."""
    chol, info = torch.linalg.cholesky_ex(m)
    if int(info) != 0:  # lost definiteness to rounding: fall back to the eigenvalues
        return torch.log(torch.linalg.eigvalsh(m).clamp_min(torch.finfo(m.dtype).tiny)).sum()
    return 2.0 * torch.log(torch.diagonal(chol)).sum()


def dpp_loss(s: torch.Tensor, x: torch.Tensor, sigma: float, jitter: float = DPP_JITTER) -> torch.Tensor:
    """L_DPP (Eq. 6-7): -log P(s_x'; D) = -(log|D(s_x')| - log|D + I|) with
    D_ij = s_i s_j x_i^T x_j over the batch and x' its top ceil(sigma n) scores.

    Computed in float64; D(s_x') gets ``jitter`` on its diagonal (it is only semi-definite),
    D + I is positive definite as it stands."""
    s64, x64 = s.double(), x.double()
    phi = s64[:, None] * x64
    D = phi @ phi.T
    sel = dpp_subset(s, sigma)
    sub = D[sel][:, sel] + jitter * torch.eye(sel.shape[0], dtype=D.dtype, device=D.device)
    eye = torch.eye(D.shape[0], dtype=D.dtype, device=D.device)
    return (_logdet_pd(D + eye) - _logdet_pd(sub)).to(s.dtype)


def sparsity(s: torch.Tensor, x: torch.Tensor, sigma: float, dpp: float = 1.0) -> torch.Tensor:
    """L_sparsity = L_LR + dpp * L_DPP (Eq. 5 with dpp = 1); dpp = 0 skips the determinants."""
    lr = length_regulariser(s, sigma)
    return lr + dpp * dpp_loss(s, x, sigma) if dpp else lr


def vaal_reconstruction(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """VAAL's reconstruction term as a Gaussian log-likelihood: ||x - x_hat||^2 summed over the
    feature dimensions, averaged over the batch. (VAAL's image code averages over pixels too;
    on a few hundred feature dimensions that lets the KL term collapse the posterior.)"""
    return (x_hat - x).pow(2).sum(-1).mean()


def bce_logits(logit: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logit, torch.full_like(logit, target))
