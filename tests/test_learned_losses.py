"""The DAAL/VAAL losses and building blocks against NumPy formulas on tiny tensors."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

from alselect.learned import losses  # noqa: E402
from alselect.learned.nets import VAE, ScoreMLP  # noqa: E402


@pytest.fixture
def t_rng():
    return np.random.default_rng(7)


def T(a):
    return torch.tensor(a, dtype=torch.float64)


def log_sigmoid(z):
    return -np.log1p(np.exp(-z))


def test_prior_kl_matches_the_gaussian_kl(t_rng):
    mu, logvar = t_rng.normal(size=(5, 3)), t_rng.normal(size=(5, 3)) * 0.5
    var = np.exp(logvar)
    # KL(N(mu, var) || N(0, 1)) per dimension, summed, batch mean
    want = np.mean(np.sum(0.5 * (var + mu**2 - 1.0 - np.log(var)), axis=1))
    assert float(losses.prior_kl(T(mu), T(logvar))) == pytest.approx(want, rel=1e-12)
    assert float(losses.prior_kl(T(np.zeros((2, 3))), T(np.zeros((2, 3))))) == 0.0


def test_feature_nll_is_the_unit_gaussian_negative_log_likelihood(t_rng):
    real, fake = t_rng.normal(size=(4, 6)), t_rng.normal(size=(4, 6))
    want = np.mean([-np.sum(-0.5 * (r - f) ** 2 - 0.5 * math.log(2 * math.pi)) for r, f in zip(real, fake)])
    assert float(losses.feature_nll(T(real), T(fake))) == pytest.approx(want, rel=1e-12)


def test_gan_value_is_eq4(t_rng):
    real, fake = t_rng.normal(size=7) * 3, t_rng.normal(size=7) * 3
    want = np.mean(np.log(1 / (1 + np.exp(-real)))) + np.mean(np.log(1 - 1 / (1 + np.exp(-fake))))
    assert float(losses.gan_value(T(real), T(fake))) == pytest.approx(want, rel=1e-10)
    # saturated logits stay finite (log-sigmoid, not log(sigmoid))
    assert np.isfinite(float(losses.gan_value(T([200.0]), T([200.0]))))
    assert float(losses.gan_value(T([-50.0]), T([0.0]))) == pytest.approx(log_sigmoid(-50.0) + np.log(0.5))


@pytest.mark.parametrize("form", ["nonsaturating", "minimax"])
def test_generator_value_is_the_generator_side_of_eq4(t_rng, form):
    fake = t_rng.normal(size=7) * 3
    d_fake = 1 / (1 + np.exp(-fake))
    want = -np.mean(np.log(d_fake)) if form == "nonsaturating" else np.mean(np.log(1 - d_fake))
    assert float(losses.generator_value(T(fake), form)) == pytest.approx(want, rel=1e-10)
    assert np.isfinite(float(losses.generator_value(T([-200.0, 200.0]), form)))
    # minimising either moves D(fake) towards 1 (the fake passes as real)
    z = torch.tensor([0.3], dtype=torch.float64, requires_grad=True)
    losses.generator_value(z, form).backward()
    assert float(z.grad) < 0


def test_length_regulariser():
    s = T([0.1, 0.5, 0.9, 0.3])
    assert float(losses.length_regulariser(s, 0.2)) == pytest.approx(abs(0.2 - 0.45))
    assert float(losses.length_regulariser(T([0.2, 0.2]), 0.2)) == pytest.approx(0.0, abs=1e-15)


def numpy_dpp(s, x, sigma, jitter):
    D = np.outer(s, s) * (x @ x.T)
    k = max(1, math.ceil(sigma * s.size))
    sel = np.argsort(-s, kind="stable")[:k]
    sub = D[np.ix_(sel, sel)] + jitter * np.eye(k)
    sign_a, logdet_a = np.linalg.slogdet(sub)
    sign_b, logdet_b = np.linalg.slogdet(D + np.eye(s.size))
    assert sign_a > 0 and sign_b > 0
    return -(logdet_a - logdet_b)


@pytest.mark.parametrize("n,d,sigma", [(10, 6, 0.2), (12, 3, 0.5), (8, 16, 0.9)])
def test_dpp_loss_matches_numpy_slogdet(t_rng, n, d, sigma):
    s, x = t_rng.uniform(0.05, 1.0, size=n), t_rng.normal(size=(n, d))
    got = float(losses.dpp_loss(T(s), T(x), sigma))
    assert got == pytest.approx(numpy_dpp(s, x, sigma, losses.DPP_JITTER), rel=1e-9)


def test_dpp_loss_is_finite_with_a_singular_subset_and_has_gradients(t_rng):
    x = np.repeat(t_rng.normal(size=(1, 4)), 6, axis=0)  # identical rows: D(s_x') has rank 1
    s = torch.tensor(t_rng.uniform(0.2, 0.9, size=6), requires_grad=True)
    loss = losses.dpp_loss(s, T(x), 0.5)
    assert np.isfinite(loss.item())
    assert loss.item() == pytest.approx(numpy_dpp(s.detach().numpy(), x, 0.5, losses.DPP_JITTER), rel=1e-7)
    loss.backward()
    assert torch.isfinite(s.grad).all()


def test_dpp_subset_is_the_top_sigma_n_scores():
    s = T([0.1, 0.9, 0.4, 0.8, 0.2])
    assert sorted(losses.dpp_subset(s, 0.4).tolist()) == [1, 3]  # ceil(0.4 * 5) = 2


def test_sparsity_is_lr_plus_dpp(t_rng):
    s, x = T(t_rng.uniform(0.1, 1, 9)), T(t_rng.normal(size=(9, 5)))
    assert float(losses.sparsity(s, x, 0.2)) == pytest.approx(
        float(losses.length_regulariser(s, 0.2)) + float(losses.dpp_loss(s, x, 0.2)), rel=1e-12)


def test_sparsity_weights_the_dpp_term(t_rng):
    s, x = T(t_rng.uniform(0.1, 1, 9)), T(t_rng.normal(size=(9, 5)))
    lr, dpp = float(losses.length_regulariser(s, 0.2)), float(losses.dpp_loss(s, x, 0.2))
    assert float(losses.sparsity(s, x, 0.2, dpp=0.25)) == pytest.approx(lr + 0.25 * dpp, rel=1e-12)
    assert float(losses.sparsity(s, x, 0.2, dpp=0.0)) == lr


def test_dpp_gradient_on_the_scores(t_rng):
    """d L_DPP / d s_i = (2 / s_i) ([D (D + I)^-1]_ii - [i in x']): the subset term pushes every
    member of x' up by 2 / s_i whatever its features, and log|D + I| pushes every sample down in
    proportion to its leverage (docs/learned.md)."""
    n, d, sigma = 10, 16, 0.4  # x' (4 rows in 16 dimensions) well conditioned: the jitter is negligible
    s_np, x = t_rng.uniform(0.2, 1.0, size=n), t_rng.normal(size=(n, d))
    s = torch.tensor(s_np, requires_grad=True)
    losses.dpp_loss(s, T(x), sigma).backward()
    D = np.outer(s_np, s_np) * (x @ x.T)
    leverage = np.diag(D @ np.linalg.inv(D + np.eye(n)))
    member = np.isin(np.arange(n), np.argsort(-s_np)[:4])
    np.testing.assert_allclose(s.grad.numpy(), 2 / s_np * (leverage - member), rtol=1e-5, atol=1e-8)


def test_vaal_reconstruction(t_rng):
    x, y = t_rng.normal(size=(3, 4)), t_rng.normal(size=(3, 4))
    assert float(losses.vaal_reconstruction(T(x), T(y))) == pytest.approx(np.mean(np.sum((x - y) ** 2, 1)))


def test_architectures_follow_daal_section_3_1():
    def linears(m):
        return [l for l in m.modules() if isinstance(l, torch.nn.Linear)]

    def dropouts(m):
        return [l.p for l in m.modules() if isinstance(l, torch.nn.Dropout)]

    score, dis = ScoreMLP(10, 8, dropout=0.4), ScoreMLP(10, 8)
    vae = VAE(10, 8, 3, dropout=0.4)
    assert len(linears(score)) == 5 and len(linears(dis)) == 5
    assert len(linears(vae.encoder)) == 7 and len(linears(vae.decoder)) == 7
    assert dropouts(dis) == [] and set(dropouts(vae)) == {0.4} and set(dropouts(score)) == {0.4}
    assert linears(vae.encoder)[-1].out_features == 6 and linears(vae.decoder)[-1].out_features == 10
    for layer in linears(score):  # Xavier-uniform bound sqrt(6 / (fan_in + fan_out)), zero bias
        bound = math.sqrt(6.0 / (layer.in_features + layer.out_features))
        assert float(layer.weight.detach().abs().max()) <= bound and float(layer.bias.detach().abs().max()) == 0.0
    h, logit = dis(torch.zeros(2, 10))
    assert h.shape == (2, 8) and logit.shape == (2,)
    he = VAE(10, 64, 3, dropout=0.4, init="kaiming")
    wide = linears(he.encoder)[1]  # 64 -> 64: He bound sqrt(6 / 64) = 0.31 > Xavier's sqrt(6 / 128) = 0.22
    for layer in linears(he):  # He-uniform bound sqrt(6 / fan_in), zero bias
        assert float(layer.weight.detach().abs().max()) <= math.sqrt(6.0 / layer.in_features)
        assert float(layer.bias.detach().abs().max()) == 0.0
    assert float(wide.weight.detach().abs().max()) > math.sqrt(6.0 / 128)
