"""Learned selectors (the ``alselect[torch]`` extra): CDAL-RL, DAAL and VAAL on pool features.

Each adapter checks for torch first, so without the extra the strategies still list (needs,
parameters) and ``pick`` stops with one ``pip install 'alselect[torch]'`` line. The networks and
training loops live in :mod:`alselect.learned`; docs/learned.md has every choice they make.
"""

from __future__ import annotations

import numpy as np

from ..contract import RANKING, Context, Param, Range, Ranking, StrategySpec
from ..errors import InvalidInputError, SelectionError, require_extra
from .contextual import LAYOUTS, load_cd_inputs


def _positive(kind):
    def parse(value):
        v = kind(value)
        if not v > 0:
            raise InvalidInputError("it must be > 0")
        return v
    parse.__name__ = kind.__name__
    return parse


def _fraction(value):
    v = float(value)
    if not 0.0 < v < 1.0:
        raise InvalidInputError("it must be strictly between 0 and 1")
    return v


def _unit(value):
    v = float(value)
    if not 0.0 <= v <= 1.0:
        raise InvalidInputError("it must be between 0 and 1")
    return v


def _dropout(value):
    v = float(value)
    if not 0.0 <= v < 1.0:
        raise InvalidInputError("it must be in [0, 1)")
    return v


def _count(value):
    v = int(value)
    if v < 0:
        raise InvalidInputError("it must be >= 0")
    return v


_int, _float = _positive(int), _positive(float)


def _torch(strategy: str):
    return require_extra("torch", "torch", f"strategy '{strategy}'")


def _ticker(update, fmt):
    """Advance the bar by one and show ``fmt(value)`` beside it where the bar can (click's
    ``current_item``); a plain ``update(n)`` callable just advances."""
    def tick(value):
        try:
            update(1, fmt(value))
        except TypeError:
            update(1)
    return tick


def _scores(ctx: Context, values: np.ndarray) -> Ranking:
    scores = np.full(ctx.pool.n_rows, np.nan)
    scores[np.flatnonzero(ctx.candidates)] = values
    return Ranking(scores)


# --------------------------------------------------------------------------- cdal-rl
def cdal_rl(ctx: Context, budget: int, hidden: int, episodes: int, epochs: int, lr: float, weight_decay: float,
            beta: float, reward: str, alpha: float, lam: float, layout: str, reduce: str, chunk: int,
            step_rows: int, sample: int, vr_sample: int, device: str) -> Ranking:
    _torch("cdal-rl")
    from ..learned.policy import PolicyConfig, train_policy
    from ..learned.reward import Reward
    from ..learned.runtime import resolve_device, torch_seed

    dev = resolve_device(device, "cdal-rl")
    with ctx.progress("reading class mixtures", 1) as update:
        inputs = load_cd_inputs(ctx.pool, layout)
        update(1)
    cand = np.flatnonzero(ctx.candidates)
    mix, present = inputs.mixtures[cand], inputs.present[cand]
    n, K, C = mix.shape
    features = (mix * present[..., None]).reshape(n, K * C)  # absent classes' rows are zeros (§3.3)
    emb = ctx.read("embeddings", dtype=np.float32)[cand] if ctx.pool.has("embeddings") else None
    if emb is None:
        ctx.note("cdal-rl: the pool has no embeddings, so R_vr is left out of the reward")
    counts = None
    if reward == "paper" and inputs.layout != "classification" and inputs.counts is not None:
        counts = np.asarray(inputs.counts[cand], dtype=np.float64)
        if lam <= 0:  # the per-class region count a budget-sized uniform selection would hold
            lam = max(budget * counts.sum() / (n * counts.shape[1]), np.finfo(float).tiny)
        ctx.note(f"cdal-rl: R_sr with lambda = {lam:.6g}")
    seed = torch_seed(ctx.seed, ctx.rng)
    rw = Reward(mix, present, budget, np.random.default_rng([seed, 1]), embeddings=emb, counts=counts,
                lam=lam, mode=reward, alpha=alpha, reduce=reduce, sample=sample, vr_sample=vr_sample)
    cfg = PolicyConfig(hidden=hidden, episodes=episodes, epochs=epochs, lr=lr, weight_decay=weight_decay,
                       beta=beta, chunk=chunk, step_rows=step_rows)
    with ctx.progress("cdal-rl: training", epochs) as update:
        p, history = train_policy(features, rw, budget, cfg, device=dev, seed=seed,
                                  tick=_ticker(update, lambda r: f"reward {r:.4g}"))
    best = int(np.argmax(history))
    ctx.note(f"cdal-rl: '{inputs.layout}' layout on {dev.type}; mean episode reward {history[0]:.4g} "
             f"(epoch 1) -> {history[-1]:.4g} (epoch {epochs}); picks from epoch {best + 1} "
             f"(best, {history[best]:.4g})")
    return _scores(ctx, p)


# --------------------------------------------------------------------------- daal, vaal
def _split_features(ctx: Context, strategy: str, scale: str):
    X = ctx.read("embeddings", dtype=np.float32)
    if ctx.labeled.size == 0:
        raise SelectionError(f"strategy '{strategy}' trains a labeled-vs-unlabeled discriminator and needs "
                             "labeled samples; mark some with --labeled or in the pool's 'labeled' dataset, "
                             "or use a strategy that runs without labels (e.g. kcenter)")
    if not np.isfinite(X).all():
        row = int(np.flatnonzero(~np.isfinite(X).all(axis=1))[0])
        raise SelectionError(f"embeddings row {row} contains NaN or inf; embeddings must be finite")
    if scale == "l2":  # unit rows: x_i^T x_j of the DPP kernel becomes a cosine similarity
        X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), np.finfo(np.float32).tiny)
    elif scale == "standard":
        X = (X - X.mean(axis=0)) / np.maximum(X.std(axis=0), np.finfo(np.float32).tiny)
    return X[np.flatnonzero(ctx.candidates)], X[ctx.labeled]


def daal(ctx: Context, budget: int, epochs: int, batch: int, lr: float, sigma: float, width: int, latent: int,
         dropout: float, scale: str, device: str, threads: int, adversary: float = 0.0, gan: str = "minimax",
         dpp: float = 1.0, init: str = "kaiming") -> Ranking:
    _torch("daal")
    from ..learned.daal import DaalConfig, train_daal
    from ..learned.runtime import resolve_device, torch_seed

    dev = resolve_device(device, "daal")
    x_u, x_l = _split_features(ctx, "daal", scale)
    cfg = DaalConfig(epochs=epochs, batch=batch, lr=lr, sigma=sigma, width=width, latent=latent, dropout=dropout,
                     threads=threads or None, adversary=adversary, gan=gan, dpp=dpp, init=init)
    steps = epochs * -(-x_u.shape[0] // batch)
    with ctx.progress("daal: training", steps) as update:
        s = train_daal(x_u, x_l, cfg, device=dev, seed=torch_seed(ctx.seed, ctx.rng), progress=update)
    ctx.note(f"daal: {epochs} epochs over {x_u.shape[0]} unlabeled / {x_l.shape[0]} labeled on {dev.type}")
    return _scores(ctx, s)


def vaal(ctx: Context, budget: int, epochs: int, batch: int, lr: float, width: int, latent: int, dropout: float,
         beta: float, adversary: float, vae_steps: int, scale: str, device: str, threads: int) -> Ranking:
    _torch("vaal")
    from ..learned.runtime import resolve_device, torch_seed
    from ..learned.vaal import VaalConfig, train_vaal

    dev = resolve_device(device, "vaal")
    x_u, x_l = _split_features(ctx, "vaal", scale)
    cfg = VaalConfig(epochs=epochs, batch=batch, lr=lr, width=width, latent=latent, dropout=dropout, beta=beta,
                     adversary=adversary, vae_steps=vae_steps, threads=threads or None)
    steps = epochs * -(-x_u.shape[0] // batch)
    with ctx.progress("vaal: training", steps) as update:
        s = train_vaal(x_u, x_l, cfg, device=dev, seed=torch_seed(ctx.seed, ctx.rng), progress=update)
    ctx.note(f"vaal: {epochs} epochs over {x_u.shape[0]} unlabeled / {x_l.shape[0]} labeled on {dev.type}")
    return _scores(ctx, s)


# ---- registry entries (metadata only; see alselect.contract)
_DEVICE = Param("device", "auto", "where the network trains: auto (cuda when a GPU is visible), cpu or cuda",
                choices=("auto", "cpu", "cuda"))
_SCALES = ("l2", "standard", "none")
_SCALE = Param("scale", "l2", "feature scaling before training: l2 (unit rows, so the DPP kernel x_i^T x_j is "
               "a cosine), standard (z-score per dimension) or none", choices=_SCALES)
_VAAL_SCALE = Param("scale", "none", "feature scaling before training: none (the task model's features), l2 or "
                    "standard", choices=_SCALES)
_THREADS = Param("threads", 1, "CPU threads for training (0: torch's default); the layers are small, so one "
                 "thread wastes nothing and extra threads stall on a busy machine", type=_count)
_WIDTH = Param("width", 256, "hidden width of every MLP layer (the paper does not give it)", type=_int)
_LATENT = Param("latent", 32, "VAE latent size (the paper does not give it)", type=_int)
_DROPOUT = Param("dropout", 0.4, "dropout after every hidden layer of the VAE and the ScoreNet (DAAL §3.1)",
                 type=_dropout)
_BATCH = Param("batch", 128, "mini-batch size (unlabeled rows; as many labeled rows beside them)", type=_int)
_LR = Param("lr", 5e-4, "Adam learning rate (DAAL §4.2)", type=_float)

SPECS = [
    StrategySpec("cdal-rl", "CDAL-RL: Bi-LSTM policy trained with REINFORCE on the contextual-diversity reward; "
                 "top budget of its probabilities", ("probs",), f"{__name__}:cdal_rl", order=RANKING,
                 randomized=True,
                 params=(Param("hidden", 256, "LSTM cell size (paper: 256; 1024 for 100 classes)", type=_int),
                         Param("episodes", 5, "episodes (sampled selections) per epoch", type=_int),
                         Param("epochs", 60, "policy-training epochs (one Adam step each)", type=_int),
                         Param("lr", 1e-5, "Adam learning rate (paper §3.3: 1e-5; released code: 1e-2)", type=_float),
                         Param("weight_decay", 1e-5, "Adam weight decay (paper and released code: 1e-5)", type=float,
                               range=Range(0)),
                         Param("beta", 0.01, "weight of the length penalty (mean p - budget/n)^2 (released code)",
                               type=float, range=Range(0)),
                         Param("reward", "paper", "paper: alpha R_cd + (1 - alpha)(R_vr + R_sr); code: "
                               "0.5 R_vr + 1.5 R_cd, mean-pair R_cd, squared/50 R_vr, no R_sr",
                               choices=("paper", "code")),
                         Param("alpha", 0.75, "weight alpha of R_cd in the paper's reward", type=_unit),
                         Param("lam", 0.0, "lambda of R_sr (Eq. 5); 0 = the per-class region count of a "
                               "budget-sized uniform selection", type=float, range=Range(0)),
                         Param("layout", "auto", "where mixtures come from: cd/ mixtures, regions/, or the softmax "
                               "of a classification pool", choices=LAYOUTS),
                         Param("reduce", "sum", "CD over shared classes: sum (paper Eq. 2) or mean",
                               choices=("sum", "mean")),
                         Param("chunk", 4096, "longest LSTM sequence; longer pools are cut into chunks", type=_int),
                         Param("step_rows", 16384, "images per backward pass (bounds memory on long pools)",
                               type=_int),
                         Param("sample", 512, "R_cd is estimated on at most this many of an episode's picks",
                               type=_int),
                         Param("vr_sample", 2048, "R_vr is estimated on this many unlabeled images", type=_int),
                         _DEVICE),
                 reference="CDAL §3.2-3.3 Eq. 3-5, §5",
                 test_params={"epochs": 2, "episodes": 2, "hidden": 8},
                 extra_needs="cd/mixtures or regions/probs (segmentation, detection); probs alone for "
                             "classification; embeddings for R_vr"),
    StrategySpec("daal", "DAAL: dual adversarial network (ScoreNet + VAE + uncertainty and representativeness "
                 "discriminators); top budget of the ScoreNet scores", ("embeddings",), f"{__name__}:daal",
                 order=RANKING, randomized=True,
                 params=(Param("epochs", 3, "training epochs over the unlabeled rows (paper: 100-150 on a GPU; "
                               "3 keeps N = 50k, D = 512 under 10 minutes on a busy 2-core CPU)", type=_int),
                         _BATCH, _LR,
                         Param("sigma", 0.2, "sigma of the length regulariser and DPP subset (Eq. 6)",
                               type=_fraction),
                         _WIDTH, _LATENT, _DROPOUT, _SCALE, _DEVICE, _THREADS,
                         Param("adversary", 0.0, "weight of the generator side of L_GAN in the ScoreNet and "
                               "encoder update: 0 is Algorithm 1 line 14; > 0 the text's 'rater trained to trick "
                               "the discriminators'", type=float, range=Range(0)),
                         Param("gan", "minimax", "generator loss of the decoder and the rater: minimax "
                               "(log(1 - D(fake)), Eq. 4 as written) or nonsaturating (-log D(fake))",
                               choices=("minimax", "nonsaturating")),
                         Param("dpp", 1.0, "weight of the DPP loss in L_sparsity (Eq. 5: 1; 0 leaves only the "
                               "length regulariser)", type=float, range=Range(0)),
                         Param("init", "kaiming", "VAE weight initialisation: kaiming (He, for its 7 ReLU "
                               "layers) or xavier (as the ScoreNet's)", choices=("kaiming", "xavier"))),
                 reference="DAAL (Wang et al.) §3, Algorithm 1, Eq. 1-7, §4.2",
                 test_params={"epochs": 1, "width": 16, "latent": 4},
                 extra_needs="a labeled set"),
    StrategySpec("vaal", "VAAL on embeddings: VAE + labeled/unlabeled discriminator; the unlabeled samples the "
                 "discriminator is least sure are labeled", ("embeddings",), f"{__name__}:vaal",
                 order=RANKING, randomized=True,
                 params=(Param("epochs", 3, "training epochs over the unlabeled rows", type=_int),
                         _BATCH, _LR, _WIDTH, _LATENT,
                         Param("dropout", 0.0, "dropout after every hidden layer of the VAE (VAAL's VAE has "
                               "none; DAAL's 0.4 leaves the discriminator too noisy a latent)",
                               type=_dropout),
                         Param("beta", 1.0, "weight of the VAE's KL term (VAAL code: 1)", type=float, range=Range(0)),
                         Param("adversary", 1.0, "weight of the VAE's fool-the-discriminator term (VAAL code: 1)",
                               type=float, range=Range(0)),
                         Param("vae_steps", 2, "VAE updates per discriminator update (VAAL code: 2)", type=_int),
                         _VAAL_SCALE, _DEVICE, _THREADS),
                 reference="VAAL (Sinha et al.) on task features, as compared in DAAL §4.5 and the thesis ch. 5",
                 test_params={"epochs": 1, "width": 16, "latent": 4},
                 extra_needs="a labeled set"),
]
