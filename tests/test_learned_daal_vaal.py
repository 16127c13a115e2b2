"""DAAL and VAAL through `select`: picks, scores, seeds, the labeled-set rule, and VAAL finding an
unlabeled cluster that the labeled set lacks."""

import numpy as np
import pytest

import alselect
from alselect.errors import SelectionError
from conftest import random_probs

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

SMALL = dict(epochs=2, width=16, latent=4, batch=32, threads=1)


def novel_cluster_pool(make_pool, rng, d=32):
    """Labeled rows come from clusters 0 and 1; the unlabeled part also holds cluster 2."""
    centers = rng.normal(size=(3, d)) * 2
    blob = lambda c, n: (centers[c] + rng.normal(size=(n, d))).astype(np.float32)  # noqa: E731
    emb = np.concatenate([blob(0, 200), blob(1, 200), blob(2, 50), blob(0, 100), blob(1, 100)])
    n = emb.shape[0]
    path = make_pool(probs=random_probs(rng, n, 3), embeddings=emb, labeled=np.arange(450, n))
    return path, np.arange(400, 450)


def test_vaal_picks_the_cluster_missing_from_the_labeled_set(make_pool, rng):
    path, novel = novel_cluster_pool(make_pool, rng)
    sel = alselect.select(path, "vaal", 50, seed=0, epochs=20, width=64, latent=8, batch=64, threads=1)
    assert np.isin(sel.indices, novel).mean() >= 0.8


@pytest.mark.parametrize("strategy", ["daal", "vaal"])
def test_scores_seeds_and_labeled_rows(make_pool, rng, strategy):
    path, _ = novel_cluster_pool(make_pool, rng, d=8)
    state = torch.get_rng_state()
    a = alselect.select(path, strategy, 20, seed=5, **SMALL)
    assert torch.equal(state, torch.get_rng_state())
    b = alselect.select(path, strategy, 20, seed=5, **SMALL)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.scores, b.scores)
    assert ((a.scores >= 0) & (a.scores <= 1)).all()
    assert (np.diff(a.scores) <= 0).all()
    assert not np.isin(a.indices, np.arange(450, 650)).any()


def test_daal_scores_every_unlabeled_row_in_unit_interval(make_pool, rng):
    from alselect.learned.daal import DaalConfig, train_daal

    x_u, x_l = rng.normal(size=(70, 6)).astype(np.float32), rng.normal(size=(10, 6)).astype(np.float32)
    s = train_daal(x_u, x_l, DaalConfig(epochs=2, width=16, latent=4, batch=16, threads=1),
                   device=torch.device("cpu"), seed=1)
    assert s.shape == (70,) and s.dtype == np.float64
    assert np.isfinite(s).all() and ((s >= 0) & (s <= 1)).all()


def _daal_batch(rng, init="kaiming", adversary=1.0, seed=0):
    from alselect.learned.daal import Daal, DaalConfig

    x = rng.normal(size=(96, 32))
    x /= np.linalg.norm(x, axis=1, keepdims=True)  # -p scale=l2
    xu, xl = torch.as_tensor(x[:64], dtype=torch.float32), torch.as_tensor(x[64:], dtype=torch.float32)
    cfg = DaalConfig(width=64, latent=8, dropout=0.0, init=init, adversary=adversary)
    torch.manual_seed(seed)
    net = Daal(32, cfg)
    kept = {}
    score = net.score_net.score
    net.score_net.score = lambda v: kept.setdefault("s", score(v))
    return net, cfg, net.losses(xu, xl, cfg), kept


def test_daal_objectives_give_the_rater_the_generator_side_of_l_gan(rng):
    from alselect.learned.daal import objectives

    net, cfg, L, _ = _daal_batch(rng, adversary=0.5)
    obj = objectives(L, cfg)
    base = L["recon"] + L["prior"] + L["sparsity"]
    assert torch.allclose(obj["rater"], base + 0.5 * L["gen"])
    assert torch.allclose(obj["decoder"], L["recon"] + L["gen"]) and torch.equal(obj["dis"], -L["gan"])
    # the discriminators' judgement reaches the ScoreNet only through L_G (L_GAN's x_l, x_u terms
    # do not depend on it)
    g = torch.autograd.grad(L["gen"], list(net.score_net.parameters()))
    assert sum(float(t.abs().sum()) for t in g) > 0
    _, cfg0, L0, _ = _daal_batch(rng, adversary=0.0)
    assert torch.allclose(objectives(L0, cfg0)["rater"], L0["recon"] + L0["prior"] + L0["sparsity"])


def test_kaiming_vae_passes_the_discriminators_signal_to_the_scores(rng):
    """Through the Xavier-initialised 7-layer VAE the gradient that L_recon + L_G send to the
    scores is ~1e-6 of the sparsity loss's (the ScoreNet then learns from L_sparsity alone)."""
    ratios = {}
    for init in ("xavier", "kaiming"):
        _, _, L, kept = _daal_batch(np.random.default_rng(3), init=init)
        adv = torch.autograd.grad(L["recon"] + L["gen"], kept["s"], retain_graph=True)[0].abs().mean()
        ratios[init] = float(adv / torch.autograd.grad(L["sparsity"], kept["s"])[0].abs().mean())
    assert ratios["kaiming"] > 100 * ratios["xavier"]


@pytest.mark.parametrize("strategy", ["daal", "vaal"])
def test_needs_a_labeled_set(make_pool, rng, strategy):
    path = make_pool(probs=random_probs(rng, 20, 3), embeddings=rng.normal(size=(20, 4)).astype(np.float32))
    with pytest.raises(SelectionError, match="needs labeled samples"):
        alselect.select(path, strategy, 3, seed=0, **SMALL)


def test_bad_parameters_are_selection_errors(make_pool, rng):
    path, _ = novel_cluster_pool(make_pool, rng, d=4)
    with pytest.raises(SelectionError, match="sigma"):
        alselect.select(path, "daal", 3, sigma=1.5)
    with pytest.raises(SelectionError, match="epochs"):
        alselect.select(path, "vaal", 3, epochs=0)
    with pytest.raises(SelectionError, match="device"):
        alselect.select(path, "daal", 3, device="tpu")
    with pytest.raises(SelectionError, match="gan"):
        alselect.select(path, "daal", 3, gan="wasserstein")
    with pytest.raises(SelectionError, match="dpp"):
        alselect.select(path, "daal", 3, dpp=-1)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
@pytest.mark.parametrize("strategy", ["daal", "cdal-rl"])
def test_cuda_without_a_gpu_is_a_clear_error(make_pool, rng, strategy):
    path, _ = novel_cluster_pool(make_pool, rng, d=4)
    with pytest.raises(SelectionError, match="use -p device=cpu"):
        alselect.select(path, strategy, 3, seed=0, device="cuda")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("strategy", ["daal", "vaal", "cdal-rl"])
def test_runs_on_cuda(make_pool, rng, strategy):
    path, _ = novel_cluster_pool(make_pool, rng, d=8)
    params = dict(epochs=2) if strategy == "cdal-rl" else SMALL
    a = alselect.select(path, strategy, 10, seed=3, device="cuda", **params)
    b = alselect.select(path, strategy, 10, seed=3, device="cuda", **params)
    assert a.indices.size == 10 and not np.isin(a.indices, np.arange(450, 650)).any()
    assert ((a.scores >= 0) & (a.scores <= 1)).all()
    np.testing.assert_array_equal(a.indices, b.indices)


def test_console_script_prints_only_the_picks(make_pool, rng):
    import subprocess
    import sys

    path, _ = novel_cluster_pool(make_pool, rng, d=4)
    cmd = [sys.executable, "-m", "alselect", "pick", path, "-s", "vaal", "-b", "5", "--seed", "1",
           "-p", "epochs=1", "-p", "width=8", "-p", "latent=2"]
    out = [subprocess.run(cmd, capture_output=True, text=True, timeout=300) for _ in range(2)]
    assert out[0].returncode == 0, out[0].stderr
    rows = out[0].stdout.split()
    assert len(rows) == 5 and all(r.isdigit() and int(r) < 450 for r in rows)
    assert out[0].stdout == out[1].stdout
