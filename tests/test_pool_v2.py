"""Format version 2: ragged region data and precomputed class mixtures; version-1 files still read."""

import h5py
import numpy as np
import pytest

import alselect
from alselect.errors import PoolFormatError, PoolValueError
from clihelp import assert_clean_error, run
from conftest import SAMPLE_POOL, random_probs


@pytest.fixture
def region_arrays(rng):
    n, c = 8, 3
    per = rng.integers(0, 5, size=n)
    per[2] = 0  # an image without regions
    offsets = np.concatenate([[0], np.cumsum(per)])
    r = int(offsets[-1])
    present = rng.random((n, c)) < 0.6
    return dict(
        probs=random_probs(rng, n, c),
        regions_probs=random_probs(rng, r, c), regions_offsets=offsets, regions_weights=rng.random(r),
        regions_features=rng.normal(size=(r, 5)).astype(np.float32), regions_boxes=rng.random((r, 4)),
        cd_mixtures=random_probs(rng, n * c, c).reshape(n, c, c) * present[..., None],
        cd_present=present, cd_counts=rng.integers(0, 9, size=(n, c)),
    )


def test_round_trip_and_version_stamp(make_pool, region_arrays, rng):
    path = make_pool(**region_arrays)
    with alselect.open_pool(path) as pool:
        assert pool.version == 2
        np.testing.assert_array_equal(pool.region_offsets(), region_arrays["regions_offsets"])
        np.testing.assert_allclose(pool.read("regions/probs"), region_arrays["regions_probs"])
        mixtures, present, counts = pool.read_cd()
        np.testing.assert_allclose(mixtures, region_arrays["cd_mixtures"], rtol=1e-6)
        np.testing.assert_array_equal(present, region_arrays["cd_present"])
        np.testing.assert_array_equal(counts, region_arrays["cd_counts"])
        assert pool.problems() == []
    v1 = make_pool(probs=random_probs(rng, 5, 2))
    with alselect.open_pool(v1) as pool:
        assert pool.version == 1  # files that need no v2 group keep version 1
    with alselect.open_pool(SAMPLE_POOL) as pool:
        assert pool.version == 1


def test_inspect_reports_region_data(make_pool, region_arrays):
    path = make_pool(**region_arrays)
    out = run("inspect", path).stdout
    r = int(region_arrays["regions_offsets"][-1])
    assert "version 2" in out and f"regions: {r} in all" in out and "with weights, features, boxes" in out
    assert "classes present per sample" in out and "regions/probs" in out


def test_pack_cli_region_options(tmp_path, region_arrays):
    args = []
    for key, value in region_arrays.items():
        np.save(tmp_path / f"{key}.npy", value)
        args += ["--" + key.replace("_", "-").replace("cd-mixtures", "cd-mixtures"), tmp_path / f"{key}.npy"]
    result = run("pack", "-o", tmp_path / "pool.h5", *args)
    assert result.exit_code == 0, result.output
    assert "validation: OK" in run("inspect", tmp_path / "pool.h5").stdout


@pytest.mark.parametrize("change,fragment", [
    (lambda a: a.update(regions_offsets=a["regions_offsets"][::-1].copy()), "must start at 0"),
    (lambda a: a["regions_offsets"].__setitem__(3, a["regions_offsets"][4] + 1), "not monotone"),
    (lambda a: a.update(regions_offsets=a["regions_offsets"][:-1]), "expected (N+1=9,)"),
    (lambda a: a["regions_offsets"].__setitem__(-1, a["regions_offsets"][-1] + 2), "ends at"),
    (lambda a: a.update(regions_probs=np.full((a["regions_probs"].shape[0], 4), 0.25)), "(R, C=3)"),
    (lambda a: a["regions_probs"].__setitem__((0, 0), np.nan), "NaN"),
    (lambda a: a.update(regions_boxes=a["regions_boxes"][:, :3]), "regions/boxes"),
    (lambda a: a.update(regions_offsets=None), "--regions-probs needs --regions-offsets"),
    (lambda a: a.update(cd_present=None), "--cd-mixtures needs --cd-present"),
    (lambda a: a["cd_mixtures"].__setitem__((1,), a["cd_mixtures"][1] * 2 + 0.1), "must sum to 1"),
])
def test_bad_region_data_is_refused(make_pool, region_arrays, change, fragment):
    change(region_arrays)
    with pytest.raises(PoolValueError, match=None) as info:
        make_pool(**region_arrays)
    assert fragment in str(info.value)


def test_bad_offsets_in_a_file_are_refused_on_open(make_pool, region_arrays, tmp_path):
    path = make_pool(**region_arrays)
    with h5py.File(path, "r+") as f:
        f["regions/offsets"][4] = 0
    with pytest.raises(PoolFormatError, match="not monotone"):
        alselect.open_pool(path)
    out = tmp_path / "o.txt"
    assert_clean_error(run("pick", path, "-s", "entropy", "-b", 1, "-o", out), "not monotone")
    assert not out.exists()
