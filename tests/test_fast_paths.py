"""The shortcut paths give the kernels' very bits: NumPy scores for small pools, fused float16 BALD,
and the screened probability-row scores that validate in their own pass."""

import os
import subprocess
import sys

import numpy as np
import pytest

import alselect
from alselect import numpy_scores
from alselect.errors import PoolValueError
from alselect.pool import PoolWriter, open_pool

from conftest import ROOT, SAMPLE_POOL, random_probs

K = pytest.importorskip("alselect.kernels.uncertainty")


def _bits(a):
    return np.ascontiguousarray(a, dtype=np.float64).view(np.int64)


def _sparse_probs(rng, shape, dtype):
    """Probability rows with exact zeros and ones, ties and tiny values."""
    p = rng.random(shape) ** 4
    p[p < 0.02] = 0.0
    p[..., 0] += 1e-3
    p /= p.sum(axis=-1, keepdims=True)
    p = p.astype(dtype)
    p.reshape(-1, shape[-1])[::97] = 0
    p.reshape(-1, shape[-1])[::97, 1] = 1  # one-hot rows
    p.reshape(-1, shape[-1])[5::89] = 0
    p.reshape(-1, shape[-1])[5::89, :2] = 0.5  # ties
    return p


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["entropy", "least_confidence", "margin", "bvsb"])
def test_numpy_row_scores_are_the_kernel_bits(rng, dtype, name):
    p = _sparse_probs(rng, (3000, 17), dtype)
    assert np.array_equal(_bits(numpy_scores.KERNELS[name](p)), _bits(getattr(K, name)(p)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["bald", "variation_ratio"])
def test_numpy_member_scores_are_the_kernel_bits(rng, dtype, name):
    m = _sparse_probs(rng, (800, 7, 11), dtype)
    assert np.array_equal(_bits(numpy_scores.KERNELS[name](m)), _bits(getattr(K, name)(m)))


def test_numpy_dispersion_is_the_kernel_result(rng):
    e = rng.integers(0, 6, size=(13, 2000))
    e[:, :50] = 3  # no dispersion
    assert np.array_equal(_bits(numpy_scores.dispersion(e)), _bits(K.dispersion(e)))


def test_numpy_scores_on_one_class():
    p = np.ones((4, 1), dtype=np.float32)
    for name in ("entropy", "least_confidence", "margin", "bvsb"):
        assert np.array_equal(_bits(numpy_scores.KERNELS[name](p)), _bits(getattr(K, name)(p)))


def test_small_pool_pick_loads_no_numba():
    code = ("import sys, alselect; r = alselect.select(sys.argv[1], 'entropy', 20); "
            "print('numba' in sys.modules, len(r.indices))")
    out = subprocess.run([sys.executable, "-c", code, SAMPLE_POOL], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "20"]


def test_small_pool_scores_equal_kernel_scores():
    with open_pool(SAMPLE_POOL) as pool:
        probs = pool.read("probs")
        unlabeled = np.setdiff1d(np.arange(pool.n_rows), pool.labeled_rows())
    got = alselect.select(SAMPLE_POOL, "entropy", 50)
    kernel = K.entropy(probs)
    assert np.array_equal(_bits(got.scores), _bits(kernel[got.indices]))
    order = unlabeled[np.lexsort((unlabeled, -kernel[unlabeled]))][:50]
    assert np.array_equal(got.indices, order)


# ------------------------------------------------------------------ fused float16 BALD

def _tables():
    values = np.arange(1 << 16, dtype=np.uint16).view(np.float16).astype(np.float64)
    return values, K.xlogx_table(values)


def test_xlogx_table_is_the_kernel_product():
    values, table = _tables()
    ok = (values > 0) & np.isfinite(values)
    assert np.all(table[~ok] == 0)
    # each entry is the same float64 product the row entropy takes for that value
    one_hot = np.zeros((ok.sum(), 2))
    one_hot[:, 0] = values[ok]
    assert np.array_equal(_bits(0.0 - table[ok]), _bits(K.entropy(one_hot)))


def test_bald_float16_is_bald_on_the_widened_values(rng):
    m = _sparse_probs(rng, (1500, 10, 23), np.float16)
    values, table = _tables()
    scores, suspect = K.bald_float16(m.view(np.uint16), values, table, 1e-2)
    assert np.array_equal(_bits(scores), _bits(K.bald(m.astype(np.float32))))
    sums = m.astype(np.float64).sum(axis=2)
    assert np.array_equal(suspect, (np.abs(sums - 1) > 1e-2 - 1e-12).any(axis=1))


def test_bald_float16_flags_bad_rows(rng):
    m = random_probs(rng, 400 * 5, 8, np.float16).reshape(400, 5, 8)
    m[10, 2, 3] = np.nan
    m[20, 0] = 0.0
    m[20, 0, 0] = 1.0
    m[20, 0, 1] = -0.0  # negative zero is a valid zero
    m[30, 4, 1] = -0.25
    m[40, 1] = 0.0  # sums to 0
    m[50, 3, 0] = np.inf
    values, table = _tables()
    _, suspect = K.bald_float16(m.view(np.uint16), values, table, 1e-2)
    assert set(np.flatnonzero(suspect)) == {10, 30, 40, 50}


def _float16_pool(path, mc):
    n = mc.shape[0]
    with PoolWriter(path, n) as w:
        w.create("probs", (n, mc.shape[2]), np.float32)[:] = np.float32(1 / mc.shape[2])
        w.create("mc_probs", mc.shape, np.float16)[:] = mc
    return str(path)


@pytest.fixture
def big_f16(rng):
    # above SMALL_POOL_VALUES, so the fused path runs
    n, t, c = 3000, 10, 10
    assert n * t * c > numpy_scores.SMALL_POOL_VALUES
    return _sparse_probs(rng, (n, t, c), np.float16)


def test_bald_pick_on_float16_uses_the_same_bits(tmp_path, big_f16):
    path = _float16_pool(tmp_path / "f16.h5", big_f16)
    got = alselect.select(path, "bald", 200)
    ref = numpy_scores.bald(big_f16.astype(np.float32))
    order = np.lexsort((np.arange(ref.size), -ref))[:200]
    assert np.array_equal(got.indices, order)
    assert np.array_equal(_bits(got.scores), _bits(ref[order]))


@pytest.mark.parametrize("damage", ["sum", "negative", "nan", "sum-and-negative-later"])
def test_bald_float16_errors_are_the_readers(tmp_path, big_f16, damage):
    mc = big_f16.copy()
    if damage == "sum":
        mc[1234, 3] *= np.float16(1.05)
    elif damage == "negative":
        mc[2000, 0, 0] = -0.5
    elif damage == "nan":
        mc[17, 9, 9] = np.nan
    else:  # the reader reports the negative value first, whatever its row
        mc[100, 0] *= np.float16(1.1)
        mc[2500, 1, 1] = -0.1
    path = _float16_pool(tmp_path / "bad.h5", mc)
    with open_pool(path) as pool, pytest.raises(PoolValueError) as expected:
        pool.read("mc_probs")
    with pytest.raises(PoolValueError) as got:
        alselect.select(path, "bald", 10)
    assert str(got.value) == str(expected.value)


def test_bald_float16_borderline_row_is_judged_by_the_reader(tmp_path, big_f16):
    mc = big_f16.copy()
    row = np.zeros(10, dtype=np.float16)
    row[:2] = [0.5, 0.5]
    row[2] = np.float16(0.0099)  # sum 1.0099..., inside the float16 tolerance of 1e-2
    mc[7, 4] = row
    path = _float16_pool(tmp_path / "edge.h5", mc)
    with open_pool(path) as pool:
        pool.read("mc_probs")  # accepted by the reader ...
    got = alselect.select(path, "bald", 5)  # ... so accepted here too
    assert got.indices.shape == (5,)


KINDS = ["entropy", "least_confidence", "margin"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", KINDS)
def test_screened_scores_are_the_kernel_bits_and_flag_bad_rows(rng, dtype, name):
    p = _sparse_probs(rng, (2000, 9), dtype)
    scores, suspect = K.probs_scores_screened(p, K.SCREENED_KINDS[name], 1e-4)
    assert np.array_equal(_bits(scores), _bits(getattr(K, name)(p)))
    assert not suspect.any()
    bad = p.copy()
    bad[3, 2] = np.nan
    bad[30, 0] = np.inf
    bad[300, 1] = -0.125
    bad[301] = 0.0
    bad[301, 4] = -0.0  # negative zero is a valid zero, but the row sums to 0
    bad[1999, 0] += 2e-4  # sum off by 2e-4
    _, suspect = K.probs_scores_screened(bad, K.SCREENED_KINDS[name], 1e-4)
    assert set(np.flatnonzero(suspect)) == {3, 30, 300, 301, 1999}


def _probs_pool(path, p, logits=False):
    with PoolWriter(path, p.shape[0]) as w:
        w.create("logits" if logits else "probs", p.shape, p.dtype)[:] = p
    return str(path)


@pytest.fixture
def big_probs(rng):
    n, c = 30000, 10  # above SMALL_POOL_VALUES, so the screened path runs
    assert n * c > numpy_scores.SMALL_POOL_VALUES
    return _sparse_probs(rng, (n, c), np.float32)


@pytest.mark.parametrize("strategy", ["entropy", "least-confidence", "margin"])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_screened_picks_are_the_numpy_bits(tmp_path, big_probs, strategy, dtype):
    p = big_probs.astype(dtype)
    got = alselect.select(_probs_pool(tmp_path / "p.h5", p), strategy, 300)
    ref = getattr(numpy_scores, strategy.replace("-", "_"))(p.astype(np.float32) if dtype == np.float16 else p)
    key = ref if strategy == "margin" else -ref  # margin: smallest first
    order = np.lexsort((np.arange(ref.size), key))[:300]
    assert np.array_equal(got.indices, order)
    assert np.array_equal(_bits(got.scores), _bits(ref[order]))


@pytest.mark.parametrize("strategy", ["entropy", "least-confidence", "margin"])
@pytest.mark.parametrize("damage", ["sum", "negative", "nan", "inf", "sum-and-negative-later"])
@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_screened_errors_are_the_readers(tmp_path, big_probs, strategy, damage, dtype):
    p = big_probs.astype(dtype)
    if damage == "sum":
        p[12345] *= dtype(1.05)
    elif damage == "negative":
        p[20000, 0] = -0.5
    elif damage == "nan":
        p[17, 9] = np.nan
    elif damage == "inf":
        p[29999, 3] = np.inf
    else:  # the reader reports the negative value first, whatever its row
        p[100] *= dtype(1.1)
        p[25000, 1] = -0.1
    path = _probs_pool(tmp_path / "bad.h5", p)
    with open_pool(path) as pool, pytest.raises(PoolValueError) as expected:
        pool.read("probs")
    with pytest.raises(PoolValueError) as got:
        alselect.select(path, strategy, 10)
    assert str(got.value) == str(expected.value)


def test_screened_borderline_row_is_judged_by_the_reader(tmp_path, big_probs):
    p = big_probs.astype(np.float64)
    p[7] = 0.0
    p[7, :2] = [0.5, 0.5 + 1e-4 - 5e-13]  # inside the tolerance, inside the kernel's margin
    path = _probs_pool(tmp_path / "edge.h5", p)
    with open_pool(path) as pool:
        pool.read("probs")
    assert alselect.select(path, "entropy", 5).indices.shape == (5,)


def test_screened_scores_of_probs_derived_from_logits(tmp_path, rng):
    logits = rng.normal(size=(30000, 10)).astype(np.float32) * 3
    path = _probs_pool(tmp_path / "logits.h5", logits, logits=True)
    with open_pool(path) as pool:
        probs = pool.read("probs")
    got = alselect.select(path, "entropy", 50)
    ref = numpy_scores.entropy(probs)
    assert np.array_equal(got.indices, np.lexsort((np.arange(ref.size), -ref))[:50])


def test_bench_scripts_have_no_local_paths():
    bench = os.path.join(ROOT, "bench")
    for name in os.listdir(bench):
        if name.endswith(".py"):
            text = open(os.path.join(bench, name)).read()
            assert "/work/" not in text and "__path__" not in text, name
