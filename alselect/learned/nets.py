"""Network building blocks shared by DAAL and VAAL: MLPs, the ScoreNet, discriminators, the VAE."""

from __future__ import annotations

import torch
from torch import nn


def mlp(sizes: list[int], dropout: float = 0.0) -> nn.Sequential:
    """Linear layers ``sizes[0] -> ... -> sizes[-1]`` with ReLU (and dropout, when > 0) after
    every hidden layer; the last layer is linear. ``len(sizes) - 1`` layers in all."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def kaiming_(module: nn.Module) -> nn.Module:
    """He-uniform weights (gain for ReLU) and zero biases on every linear layer: the variance of
    the activations is kept through a deep ReLU stack, where Xavier's halves at every layer."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.kaiming_uniform_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
    return module


def xavier_(module: nn.Module) -> nn.Module:
    """Xavier-uniform weights and zero biases on every linear layer (DAAL §3.1)."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    return module


INITS = {"xavier": xavier_, "kaiming": kaiming_}


class ScoreMLP(nn.Module):
    """The ScoreNet architecture: a 5-layer MLP ``in -> width x4 -> 1``. As the ScoreNet it ends
    in a sigmoid score; as a discriminator (no dropout) it gives a logit and exposes its last
    hidden layer, through which DAAL measures reconstructions (Eq. 3)."""

    LAYERS = 5

    def __init__(self, d_in: int, width: int, dropout: float = 0.0):
        super().__init__()
        self.body = mlp([d_in] + [width] * (self.LAYERS - 1), dropout)
        self.act = nn.Sequential(nn.ReLU(), *( [nn.Dropout(dropout)] if dropout > 0 else []))
        self.head = nn.Linear(width, 1)
        xavier_(self)

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(last hidden layer, logit)."""
        h = self.hidden(x)
        return h, self.head(h).squeeze(-1)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.forward(x)[1])


class VAE(nn.Module):
    """Encoder and decoder, 7-layer MLPs each (DAAL §3.1) with dropout after every hidden layer.
    The encoder's last layer gives the mean and log-variance of q(e|x). ``init``: ``xavier`` or
    ``kaiming`` weights (see ``kaiming_``)."""

    LAYERS = 7

    def __init__(self, d_in: int, width: int, latent: int, dropout: float, init: str = "xavier"):
        super().__init__()
        self.latent = latent
        init_ = INITS[init]
        self.encoder = init_(mlp([d_in] + [width] * (self.LAYERS - 1) + [2 * latent], dropout))
        self.decoder = init_(mlp([latent] + [width] * (self.LAYERS - 1) + [d_in], dropout))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu, logvar

    @staticmethod
    def sample(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """The reparameterisation e = mu + exp(logvar / 2) * eps."""
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
