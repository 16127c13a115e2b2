"""The strategy registry: metadata only, so listing strategies imports no kernel.

Each :class:`StrategySpec` names the pool datasets it needs, its parameters with defaults,
whether it ranks by a score or picks sequentially, and the ``module:function`` that
implements it (imported only when the strategy runs). Implementations have the signature
``impl(ctx: Context, budget: int, **params) -> Ranking | Picks`` (see ``alselect.selection``).
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import SelectionError

RANKING = "ranking"
SEQUENTIAL = "sequential"


def parse_bool(value) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{value!r} is not a boolean (use true or false)")


@dataclass(frozen=True)
class Param:
    """One strategy parameter, given as ``-p name=value`` or as a keyword of :func:`alselect.select`."""

    name: str
    default: Any
    help: str
    type: Callable[[Any], Any] = str
    choices: tuple | None = None

    def parse(self, strategy: str, value):
        try:
            parsed = self.type(value)
        except (TypeError, ValueError) as exc:
            raise SelectionError(
                f"parameter '{self.name}' of strategy '{strategy}' got {value!r}: {exc}; {self.help}"
            ) from None
        if self.choices is not None and parsed not in self.choices:
            raise SelectionError(
                f"parameter '{self.name}' of strategy '{strategy}' got {value!r}; "
                f"it must be one of: {', '.join(map(str, self.choices))}"
            )
        return parsed


@dataclass(frozen=True)
class StrategySpec:
    name: str
    summary: str
    needs: tuple[str, ...]
    impl: str
    order: str = RANKING
    randomized: bool | Callable[[dict], bool] = False  # a callable decides from the parsed parameters
    params: tuple[Param, ...] = ()
    reference: str = ""
    extra_needs: str = field(default="", compare=False)  # prose for needs that depend on parameters

    def parse_params(self, raw: dict) -> dict:
        known = {p.name: p for p in self.params}
        unknown = [k for k in raw if k not in known]
        if unknown:
            valid = ", ".join(known) if known else "none"
            raise SelectionError(
                f"strategy '{self.name}' has no parameter '{unknown[0]}'; its parameters are: {valid} "
                "(see `alselect strategies`)"
            )
        out = {p.name: p.default for p in self.params}
        for key, value in raw.items():
            out[key] = known[key].parse(self.name, value)
        return out

    def is_randomized(self, params: dict) -> bool:
        return self.randomized(params) if callable(self.randomized) else bool(self.randomized)

    def load(self) -> Callable:
        module, func = self.impl.split(":")
        return getattr(importlib.import_module(module), func)


_U = "alselect.strategies.uncertainty"

_SPECS = [
    StrategySpec("random", "uniformly random unlabeled samples (reproducible with --seed)", (), f"{_U}:random",
                 randomized=True, reference="baseline"),
    StrategySpec("entropy", "highest Shannon entropy of the predicted class distribution", ("probs",),
                 f"{_U}:entropy", reference="parting-with-illusions §3.1; thesis Eq. 4.7"),
    StrategySpec("margin", "smallest gap between the best and second-best class probability", ("probs",),
                 f"{_U}:margin", reference="thesis §2.5.2 (margin sampling)"),
    StrategySpec("least-confidence", "lowest probability of the predicted class (1 - max p)", ("probs",),
                 f"{_U}:least_confidence", reference="thesis §2.5.2"),
    StrategySpec("bald", "highest mutual information between prediction and model (MC dropout / ensemble)",
                 ("mc_probs",), f"{_U}:bald", reference="thesis §3.4.1, §4.5 (BALD, natural log)"),
    StrategySpec("variation-ratio", "highest 1 - modal fraction of the ensemble / MC members' predicted classes",
                 ("mc_probs",), f"{_U}:variation_ratio", reference="parting-with-illusions Eq. 1"),
    StrategySpec("dispersion", "highest label dispersion: 1 - modal fraction of per-epoch predicted labels",
                 ("epoch_preds",), f"{_U}:dispersion", reference="thesis chapter 3, Eq. 3.1"),
    StrategySpec("score", "top-k of a named external per-sample score stored in the pool", (), f"{_U}:score",
                 params=(Param("name", "", "name of the score in the pool's 'scores' group (default: the only one)"),
                         Param("order", "desc", "desc picks the largest scores first, asc the smallest",
                               choices=("desc", "asc"))),
                 reference="external scores (VAAL discriminator, predicted loss, ...)",
                 extra_needs="scores/<name>"),
]

_E = "alselect.strategies.embedding"
_INIT = Param("init", "max-norm", "first pick when nothing is labeled: the largest-norm sample, or a seeded random one",
              choices=("max-norm", "random"))

_SPECS += [
    StrategySpec("kcenter", "core-set k-center greedy: repeatedly the sample farthest from its nearest center (exact)",
                 (), f"{_E}:kcenter", order=SEQUENTIAL,
                 randomized=lambda params: params["init"] == "random",
                 params=(Param("features", "embeddings", "the space: embeddings, or the probability vectors",
                               choices=("embeddings", "probs")), _INIT),
                 reference="core-set (Sener & Savarese); UWE paper §3.1 baseline",
                 extra_needs="embeddings (probs with -p features=probs)"),
    StrategySpec("kmeanspp", "k-means++ seeding on the embeddings: D² sampling without replacement",
                 ("embeddings",), f"{_E}:kmeanspp", order=SEQUENTIAL, randomized=True, params=(_INIT,),
                 reference="k-means++ (Arthur & Vassilvitskii); BADGE's sampler"),
    StrategySpec("badge", "BADGE: k-means++ seeding on gradient embeddings (p - onehot(argmax p)) x f, factored",
                 ("probs", "embeddings"), f"{_E}:badge", order=SEQUENTIAL, randomized=True,
                 params=(Param("labeled_centers", False, "also use labeled samples as initial centers (the BADGE "
                               "paper and code do not)", type=parse_bool),),
                 reference="UWE paper §3.1 (BADGE recap); Ash et al."),
    StrategySpec("uwe", "uncertainty-weighted embeddings u(x)^tau f(x), then k-center greedy or k-means++",
                 ("probs", "embeddings"), f"{_E}:uwe", order=SEQUENTIAL,
                 randomized=lambda params: params["sampler"] == "kmeanspp",
                 params=(Param("uncertainty", "entropy", "u(x): entropy, bvsb (p_second / p_best), "
                               "least-confidence (1 - p_best), or margin (1 - (p_best - p_second))",
                               choices=("entropy", "bvsb", "least-confidence", "margin")),
                         Param("tau", 1.0, "exponent tau on the uncertainty (paper §5.2)", type=float),
                         Param("normalize", "none", "none (paper) or minmax-normalise u first (authors' code)",
                               choices=("none", "minmax")),
                         Param("sampler", "kcenter", "kcenter (labeled = initial centers) or kmeanspp",
                               choices=("kcenter", "kmeanspp"))),
                 reference="UWE paper §3.2-3.4, §5.2"),
]

_B = "alselect.strategies.balanced"
_OMEGA = (Param("b0", -1, "labeled-set size at the first cycle (default: derived, see docs/class-balance.md)", type=int),
          Param("cycle", 0, "active-learning cycle c of Eq. 4.4 (default: derived from b0, or 1)", type=int),
          Param("target", "uniform", "target class distribution: uniform, or a file with one weight per class"))

_SPECS += [
    StrategySpec("balanced", "most informative samples under an L1 class-balance penalty, solved exactly (MIP)",
                 ("probs",), f"{_B}:balanced",
                 params=(Param("lam", 1.0, "weight lambda of the L1 balance term (choose the smallest lambda after "
                               "which the L1 term stops falling; thesis Fig. 4.4)", type=float),
                         Param("u", "entropy", "informativeness: entropy (Eq. 4.7), bald, margin, "
                               "least-confidence, or score (Eq. 4.9)",
                               choices=("entropy", "bald", "margin", "least-confidence", "score")),
                         Param("score", "", "with u=score: NAME of the pool score, NAME:asc when smaller is more "
                               "informative (VAAL)"),
                         *_OMEGA,
                         Param("time_limit", 0.0, "seconds; when hit, the best feasible selection and its certified "
                               "gap are returned (0 = no limit)", type=float),
                         Param("gap", 1e-4, "relative optimality gap at which the solve stops (0 = exact optimum)",
                               type=float)),
                 reference="thesis §4.4, Eq. 4.4-4.9, Algorithm 1",
                 extra_needs="labels of the labeled samples; mc_probs for u=bald; scores/<name> for u=score"),
    StrategySpec("balanced-kcenter", "k-center greedy with the class-balance penalty (thesis Algorithm 2)",
                 ("probs", "embeddings"), f"{_B}:balanced_kcenter", order=SEQUENTIAL,
                 params=(Param("lam", 1.0, "weight lambda of the L1 balance penalty", type=float), *_OMEGA,
                         Param("scale", "paper", "paper: lambda as written; code: lambda / C as in the authors' code",
                               choices=("paper", "code"))),
                 reference="thesis §4.4, Algorithm 2",
                 extra_needs="labels of the labeled samples"),
]

_C = "alselect.strategies.contextual"

_SPECS += [
    StrategySpec("cdal-cs", "core-set (k-center greedy) with contextual diversity (symmetric KL of class mixtures)",
                 ("probs",), f"{_C}:cdal_cs", order=SEQUENTIAL,
                 randomized=lambda params: params["first"] == "random",
                 params=(Param("reduce", "sum", "sum the per-class symmetric KL over shared classes (paper Eq. 2) "
                               "or take the mean (released code)", choices=("sum", "mean")),
                         Param("classes", "", "comma-separated class names or indices to restrict CD to (Fig. 7b)"),
                         Param("layout", "auto", "where mixtures come from: cd/ mixtures, regions/, or the "
                               "softmax of a classification pool", choices=("auto", "mixtures", "regions", "classification")),
                         Param("first", "greedy", "greedy: labeled samples are the initial centers (paper); "
                               "random: a seeded random first pick even with a labeled set (released code)",
                               choices=("greedy", "random"))),
                 reference="CDAL §3.1-3.2 Eq. 1-2, §4.3, §5 Fig. 7b",
                 extra_needs="cd/mixtures or regions/probs (segmentation, detection); probs alone for classification"),
]

REGISTRY: dict[str, StrategySpec] = {s.name: s for s in _SPECS}


def register(spec: StrategySpec) -> None:
    """Add a strategy (used by the built-in strategy groups and by plug-ins)."""
    REGISTRY[spec.name] = spec


def get_strategy(name: str) -> StrategySpec:
    try:
        return REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, REGISTRY, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise SelectionError(
            f"unknown strategy '{name}'{hint}; choose one of: {', '.join(REGISTRY)} (see `alselect strategies`)"
        ) from None
