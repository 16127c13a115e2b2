"""Checks every registered strategy against its own StrategySpec (in the spirit of
scikit-learn's check_estimator): the implementation imports, its parameters are the declared
ones, its result kind is the declared order, ``randomized`` matches its use of the random
stream, and it runs on float16/float32 pools and on pools with one or only ``budget`` rows
left. Strategies added later are picked up from the registry with no edit here."""

import inspect
import itertools

import numpy as np
import pytest

from alselect.contract import RANKING, Context, Picks, Ranking
from alselect.errors import AlselectError, MissingExtraError
from alselect.pool import MemoryPool
from alselect.selection import select
from alselect.strategies import REGISTRY
from registry_pools import pool_arrays

SPECS = list(REGISTRY.values())
IDS = [spec.name for spec in SPECS]


def _skip_missing_extra(exc):
    if isinstance(exc, MissingExtraError):
        pytest.skip(str(exc))


class SpyContext:
    """Delegates to a Context and records whether the strategy touched its randomness."""

    def __init__(self, ctx):
        object.__setattr__(self, "_ctx", ctx)
        object.__setattr__(self, "touched", set())

    def __getattr__(self, name):
        if name in ("rng", "seed"):
            self.touched.add(name)
        return getattr(self._ctx, name)


def _run_impl(spec, pool, budget, params, seed=7):
    labeled = pool.labeled_rows()
    candidates = np.ones(pool.n_rows, dtype=bool)
    candidates[labeled] = False
    ctx = Context(pool=pool, candidates=candidates, labeled=labeled, seed=seed, rng=np.random.default_rng(seed),
                  strategy=spec.name)
    spy = SpyContext(ctx)
    result = spec.load()(spy, budget, **spec.parse_params(params))
    return result, spy.touched


def _variants(spec):
    """The test parameters, then each categorical parameter set to each of its other choices."""
    yield dict(spec.test_params)
    for p in spec.params:
        for choice in p.choices or ():
            if choice != p.default:
                yield {**spec.test_params, p.name: choice}


@pytest.fixture(scope="module")
def pool32():
    with MemoryPool(pool_arrays(dtype=np.float32)) as pool:
        yield pool


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_impl_imports_and_takes_the_declared_parameters(spec):
    impl = spec.load()
    names = list(inspect.signature(impl).parameters)
    assert names[:2] == ["ctx", "budget"], f"{spec.impl} must take (ctx, budget, **params)"
    assert names[2:] == [p.name for p in spec.params], (
        f"{spec.name}: the spec declares {[p.name for p in spec.params]}, the implementation reads {names[2:]}")
    for p in spec.params:
        assert p.parse(spec.name, p.default) == p.default, f"{spec.name}: default of '{p.name}' does not parse"


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_result_kind_and_randomness_match_the_spec(spec, pool32):
    ran = 0
    for params in _variants(spec):
        try:
            result, touched = _run_impl(spec, pool32, 5, params)
        except AlselectError as exc:  # a variant needing another parameter or dataset
            _skip_missing_extra(exc)
            assert params != spec.test_params, f"{spec.name} fails with its default parameters: {exc}"
            continue
        ran += 1
        expected = Ranking if spec.order == RANKING else Picks
        assert isinstance(result, expected), (
            f"{spec.name} is declared '{spec.order}' but returned {type(result).__name__} with {params or 'defaults'}")
        randomized = spec.is_randomized(spec.parse_params(params))
        # a randomized ranking strategy may leave its randomness to the seeded tie-break
        tie_break = randomized and spec.order == RANKING and not touched
        assert bool(touched) == randomized or tie_break, (
            f"{spec.name} with {params or 'defaults'}: declared randomized={randomized}, "
            f"but it {'used' if touched else 'did not use'} ctx.rng/ctx.seed")
    assert ran


RANDOMIZED = [s for s in SPECS if s.is_randomized(s.parse_params(s.test_params))]


@pytest.mark.parametrize("spec", RANDOMIZED, ids=[s.name for s in RANDOMIZED])
def test_randomized_strategies_follow_the_seed(spec, pool32):
    runs = {seed: select(pool32, spec.name, 6, seed=seed, **spec.test_params).indices for seed in (0, 1, 2, 3)}
    again = select(pool32, spec.name, 6, seed=0, **spec.test_params).indices
    np.testing.assert_array_equal(runs[0], again)
    assert any(not np.array_equal(runs[0], runs[s]) for s in (1, 2, 3)), f"{spec.name} ignores the seed"


def _check_selection(sel, pool, budget):
    labeled = set(pool.labeled_rows().tolist())
    assert sel.indices.shape == (budget,) and sel.scores.shape == (budget,)
    assert len(set(sel.indices.tolist())) == budget
    assert not labeled & set(sel.indices.tolist())
    assert ((sel.indices >= 0) & (sel.indices < pool.n_rows)).all()
    assert not np.isneginf(sel.scores).any()


@pytest.mark.parametrize("dtype", [np.float16, np.float32], ids=["float16", "float32"])
@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_runs_on_every_storage_dtype(spec, dtype):
    with MemoryPool(pool_arrays(dtype=dtype, seed=1)) as pool:
        try:
            sel = select(pool, spec.name, 4, seed=0, **spec.test_params)
        except MissingExtraError as exc:
            pytest.skip(str(exc))
        _check_selection(sel, pool, 4)


@pytest.mark.parametrize("dtype", [np.float16, np.float32], ids=["float16", "float32"])
@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_large_pool_paths_pick_the_same(spec, dtype, monkeypatch):
    """Pools above numpy_scores.SMALL_POOL_VALUES take the numba kernels (and bald's fused
    float16 pass); the small-pool NumPy versions are bit-identical, so the picks must agree."""
    from alselect import numpy_scores

    for params in _variants(spec):  # every categorical choice, e.g. aggregate=detections
        with MemoryPool(pool_arrays(dtype=dtype, seed=1)) as pool:
            monkeypatch.setattr(numpy_scores, "SMALL_POOL_VALUES", 1 << 18)
            try:
                small = select(pool, spec.name, 4, seed=0, **params)
            except AlselectError as exc:  # a variant needing another parameter, dataset or device
                _skip_missing_extra(exc)
                assert params != spec.test_params, f"{spec.name} fails with its default parameters: {exc}"
                continue
            monkeypatch.setattr(numpy_scores, "SMALL_POOL_VALUES", 0)
            large = select(pool, spec.name, 4, seed=0, **params)
        np.testing.assert_array_equal(large.indices, small.indices, err_msg=str(params))
        np.testing.assert_array_equal(large.scores, small.scores, err_msg=str(params))


@pytest.mark.parametrize("left,budget", [(1, 1), (3, 3)], ids=["one-unlabeled-row", "all-but-the-budget-labeled"])
@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_runs_with_only_the_budget_left(spec, left, budget):
    n = 24
    with MemoryPool(pool_arrays(n, n_labeled=n - left, seed=2)) as pool:
        try:
            sel = select(pool, spec.name, budget, seed=0, **spec.test_params)
        except MissingExtraError as exc:
            pytest.skip(str(exc))
        _check_selection(sel, pool, budget)
        assert sorted(sel.indices.tolist()) == list(range(n - left, n))


def test_every_registered_parameter_states_its_rule():
    """Numeric parameters declare a range (listed by `alselect strategies`), categorical ones choices."""
    for spec, p in itertools.chain.from_iterable(((s, p) for p in s.params) for s in SPECS):
        if p.type in (int, float):
            assert p.range is not None, f"{spec.name} -p {p.name} is numeric but declares no range"
